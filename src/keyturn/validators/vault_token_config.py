"""The ``vault-token`` check's manifest config (``- vault-token: {...}``).

Imports pydantic and :mod:`keyturn._internal.configbase` only: the manifest imports it,
and loading a manifest never imports hvac. The check itself is
:mod:`keyturn.validators.vault_token`.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from keyturn._internal.configbase import ConfigModel, Duration, KeyedConfig


class VaultTokenSpec(ConfigModel):
    address: str | None = Field(default=None, description="Default: $VAULT_ADDR")
    namespace: str | None = None
    ca_cert: str | None = None
    expect_policies: list[str] = Field(default_factory=list, description="Fail unless the token has these")
    timeout: Duration = timedelta(seconds=10)


class VaultTokenCheckConfig(KeyedConfig):
    kind_keys = ("vault-token", "vault_token")
    extra = "vault"

    vault_token: VaultTokenSpec = Field(alias="vault-token")
