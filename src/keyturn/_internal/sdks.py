"""Which store SDKs a manifest needs: the extras ``vault``, ``aws``, ``azure`` (and the
``requirements/<extra>.txt`` locks of the same names) that its stores' types and its
``aws-sts:`` / ``vault-token:`` checks call. ``keyturn manifest stores`` prints them so that
``actions/setup`` (``stores: auto``) installs only those. Imports no SDK.
"""

from __future__ import annotations

from keyturn.issuers.registry import BUILTIN as ISSUERS
from keyturn.manifest import LoadedManifest
from keyturn.stores.registry import EXTRAS as STORE_EXTRAS


def store_extras(loaded: LoadedManifest) -> list[str]:
    """The extras the manifest needs, sorted, each once."""
    model = loaded.model
    needed = {STORE_EXTRAS[config.type] for config in model.stores.values()}
    for secret in model.secrets.values():
        for check in (*secret.validate_, *secret.smoke):
            extra = type(check).extra  # the check config's optional dependency, if any
            if extra in STORE_EXTRAS.values():
                needed.add(extra)
        _, issuer_extras = ISSUERS.get(secret.generator.type, ("", ""))
        needed.update(e for e in issuer_extras.split(",") if e in STORE_EXTRAS.values())
    return sorted(needed)
