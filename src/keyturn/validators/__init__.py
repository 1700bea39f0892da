"""Checks run against a value: ``validate:`` (before promotion) and ``smoke:`` (after
distribution). One protocol in :mod:`keyturn.validators.base`, one module per kind."""
