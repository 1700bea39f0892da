"""Issuers: generators that create the credential where it is issued (an IAM access
key, a database password, a vendor API key) and revoke it there at retirement.

See :mod:`keyturn.issuers.base` for the protocol and :mod:`keyturn.issuers.registry`
for the built-in kinds.
"""
