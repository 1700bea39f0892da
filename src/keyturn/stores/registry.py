"""Explicit store registry: manifest ``type`` → lazily imported adapter class."""

from __future__ import annotations

from keyturn._internal.plugins import load, load_all, needs_extra
from collections.abc import Mapping
from typing import Any

from keyturn.errors import UsageError
from keyturn.stores.base import Store

#: type → "module:Class". Adding a backend = one line here + its module.
BUILTIN: dict[str, str] = {
    "vault": "keyturn.stores.vault:VaultStore",
    "openbao": "keyturn.stores.vault:VaultStore",
    "aws": "keyturn.stores.aws:AwsStore",
    "azure": "keyturn.stores.azure:AzureStore",
}
#: type → the optional-dependency extra (and requirements/<extra>.txt lock) holding its SDK.
EXTRAS: dict[str, str] = {"vault": "vault", "openbao": "vault", "aws": "aws", "azure": "azure"}
#: the manifest config model of each backend ("module:Class"), one per module; the
#: module must not import its SDK at import time (the manifest imports it).
CONFIGS: tuple[str, ...] = (
    "keyturn.stores.vault:VaultStoreConfig",
    "keyturn.stores.aws:AwsStoreConfig",
    "keyturn.stores.azure:AzureStoreConfig",
)


def store_config_models() -> tuple[type[Any], ...]:
    """The config model classes of every built-in store, for the manifest's union."""
    return load_all(CONFIGS)


def build_store(name: str, config: Any, environ: Mapping[str, str]) -> Store:
    try:
        target = BUILTIN[config.type]
    except KeyError:
        raise UsageError(f"store {name!r}: unknown type {config.type!r}") from None
    with needs_extra(f"store {name!r} ({config.type}) needs", EXTRAS[config.type]):
        store: Store = load(target)(name, config, environ)  # SDKs are imported here, lazily
    return store
