"""Which store SDKs a manifest needs: the extras ``vault``, ``aws``, ``azure`` (and the
``requirements/<extra>.txt`` locks of the same names) that its stores' types and its
``aws-sts:`` / ``vault-token:`` checks call. ``keyturn manifest stores`` prints them so that
``actions/setup`` (``stores: auto``) installs only those. Imports no SDK.
"""

from __future__ import annotations

from keyturn.manifest import LoadedManifest
from keyturn.stores.registry import EXTRAS as STORE_EXTRAS
from keyturn.validators.registry import EXTRAS as CHECK_EXTRAS


def store_extras(loaded: LoadedManifest) -> list[str]:
    """The extras the manifest needs, sorted, each once."""
    model = loaded.model
    needed = {STORE_EXTRAS[config.type] for config in model.stores.values()}
    for secret in model.secrets.values():
        for check in (*secret.validate_, *secret.smoke):
            extra = CHECK_EXTRAS.get(type(check))
            if extra:
                needed.add(extra)
    return sorted(needed)
