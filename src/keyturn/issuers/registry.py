"""Explicit issuer registry: generator ``type`` → lazily imported issuer.

A generator whose ``type`` is listed here is an *issuer* (see :mod:`keyturn.issuers.base`);
every other generator type makes a random value (:mod:`keyturn.generators`). Adding an
issuer = its module (config model + class, SDK imported lazily) + one line in each table.
"""

from __future__ import annotations

from keyturn._internal.plugins import load, load_all, needs_extra
from collections.abc import Mapping
from typing import Any

from keyturn.errors import UsageError
from keyturn.issuers.base import Issuer

#: generator type → ("module:Class", optional dependency extra or "")
BUILTIN: dict[str, tuple[str, str]] = {
    "manual": ("keyturn.issuers.manual:ManualIssuer", ""),
    "aws-iam-access-key": ("keyturn.issuers.aws_iam:AwsIamKeyIssuer", "aws"),
    "postgres-password": ("keyturn.issuers.postgres:PostgresPasswordIssuer", "postgres"),
    "vault-database-static-role": ("keyturn.issuers.vault_database:VaultDatabaseStaticRoleIssuer", "vault,postgres"),
    "command": ("keyturn.issuers.command:CommandIssuer", ""),
}
#: each issuer's manifest config model ("module:Class"); the module must not import an
#: SDK at import time (the manifest imports it).
CONFIGS: tuple[str, ...] = (
    "keyturn.issuers.manual:ManualGen",
    "keyturn.issuers.aws_iam:AwsIamKeyGen",
    "keyturn.issuers.postgres:PostgresPasswordGen",
    "keyturn.issuers.vault_database:VaultDatabaseStaticRoleGen",
    "keyturn.issuers.command:CommandGen",
)


def issuer_config_models() -> tuple[type[Any], ...]:
    return load_all(CONFIGS)


def is_issuer(generator: Any) -> bool:
    return getattr(generator, "type", None) in BUILTIN


def build_issuer(secret: str, generator: Any, environ: Mapping[str, str], base_dir: Any = None) -> Issuer:
    """The issuer for ``secret``'s generator config (SDKs are imported here, lazily)."""
    try:
        target, extra = BUILTIN[generator.type]
    except KeyError:
        raise UsageError(f"{secret}: generator {generator.type!r} is not an issuer") from None
    with needs_extra(f"{secret}: generator {generator.type} needs", extra):
        issuer: Issuer = load(target)(secret, generator, environ, base_dir)  # SDKs are imported here, lazily
    return issuer
