"""Which SDKs a manifest needs beyond keyturn's core: the extras ``vault``, ``aws``,
``azure``, ``postgres`` (and the ``requirements/<extra>.txt`` locks of the same names)
that its stores' types, its issuers (``aws-iam-access-key``, ``postgres-password``,
``vault-database-static-role``) and its ``aws-sts:`` / ``vault-token:`` checks call.
``keyturn manifest stores`` prints them so that ``actions/setup`` (``stores: auto``)
installs only those. Imports no SDK.
"""

from __future__ import annotations

from keyturn.issuers.registry import BUILTIN as ISSUERS
from keyturn.manifest import LoadedManifest
from keyturn.stores.registry import EXTRAS as STORE_EXTRAS


#: the extras with a lock of their own (requirements/<name>.txt, installed with core.txt);
#: ``github`` is part of core. scripts/derive_requirements.py keeps the same list (SDKS).
LOCKED = frozenset({"vault", "aws", "azure", "postgres"})
#: extras core already holds
IN_CORE = frozenset({"github"})


def store_extras(loaded: LoadedManifest) -> list[str]:
    """The extras the manifest needs beyond core, sorted, each once (a plugin's extra
    without a lock is named too: actions/setup then says it cannot install it)."""
    model = loaded.model
    named = {STORE_EXTRAS[config.type] for config in model.stores.values()}
    for secret in model.secrets.values():
        for check in (*secret.validate_, *secret.smoke):
            named.add(getattr(type(check), "extra", "") or "")  # the check config's optional dependency
        _, issuer_extras = ISSUERS.get(secret.generator.type, ("", ""))
        named.update(issuer_extras.split(","))
    return sorted(named - {""} - IN_CORE)
