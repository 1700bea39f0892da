"""Explicit store registry: manifest ``type`` → lazily imported adapter class."""

from __future__ import annotations

import importlib
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
    out = []
    for item in CONFIGS:
        module_name, cls_name = item.split(":")
        out.append(getattr(importlib.import_module(module_name), cls_name))
    return tuple(out)


def build_store(name: str, config: Any, environ: Mapping[str, str]) -> Store:
    try:
        target = BUILTIN[config.type]
    except KeyError:
        raise UsageError(f"store {name!r}: unknown type {config.type!r}") from None
    module_name, cls_name = target.split(":")
    extra = EXTRAS[config.type]
    try:
        module = importlib.import_module(module_name)
        store: Store = getattr(module, cls_name)(name, config, environ)  # SDKs are imported here, lazily
    except ImportError as exc:
        raise UsageError(
            f"store {name!r} ({config.type}) needs an optional dependency ({exc.name}) — "
            f"pip install 'keyturn[{extra}]'"
        ) from None
    return store
