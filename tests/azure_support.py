"""Fixtures and helpers for the Azure Key Vault store tests: a session-wide HTTPS fake
of Key Vault (unique secret names isolate tests), a static bearer credential, a real
``SecretClient`` reader that bypasses keyturn, and the keyless-login fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from keyturn.stores.azure import AzureStore, AzureStoreConfig, kv_name
from keyturn.stores.base import SecretRef
from tests.fakes.azure_keyvault import FakeKeyVault
from tests.fakes.identity import FakeActionsOidc, FakeAuthority

CLIENT_ID = "11111111-2222-3333-4444-555555555555"


class StaticCredential:
    """Any object with azure-core's get_token signature is a credential."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, claims: str | None = None, tenant_id: str | None = None,
                  enable_cae: bool = False, **kw: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="session")
def keyvault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKeyVault]:
    kv = FakeKeyVault(page_size=3).start(str(tmp_path_factory.mktemp("keyvault")))
    try:
        yield kv
    finally:
        kv.stop()


@pytest.fixture
def fresh_vault(tmp_path: Any) -> Iterator[FakeKeyVault]:
    """A vault of its own (faults, purge protection, another token)."""
    kv = FakeKeyVault(page_size=3).start(str(tmp_path))
    try:
        yield kv
    finally:
        kv.stop()


@pytest.fixture
def identity(keyvault: FakeKeyVault) -> Iterator[tuple[FakeActionsOidc, FakeAuthority]]:
    oidc = FakeActionsOidc().start()
    authority = FakeAuthority(ctx=keyvault.tls_context(), tenant=keyvault.tenant, client_id=CLIENT_ID,
                              assertion=oidc.jwt, access_token=keyvault.token).start()
    try:
        yield oidc, authority
    finally:
        oidc.stop()
        authority.stop()


def oidc_env(kv: FakeKeyVault, oidc: FakeActionsOidc, authority: FakeAuthority) -> dict[str, str]:
    return {"ACTIONS_ID_TOKEN_REQUEST_URL": oidc.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": oidc.request_token,
            "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_TENANT_ID": kv.tenant, "AZURE_AUTHORITY_HOST": authority.url}


def make_store(kv: FakeKeyVault, *, token: str | None = None, **kw: Any) -> AzureStore:
    config = AzureStoreConfig(type="azure", vault_url=kv.url, ca_cert=kv.ca_pem)
    return AzureStore("kv", config, {}, credential=StaticCredential(token or kv.token), backoff=0.01, **kw)


def reader(kv: FakeKeyVault) -> SecretClient:
    return SecretClient(kv.url, StaticCredential(kv.token), verify_challenge_resource=False,
                        connection_verify=kv.ca_pem, retry_total=0)


def read_by_name(kv: FakeKeyVault, ref: SecretRef) -> str | None:
    """What an ordinary reader gets by name (None: absent, or newest version disabled)."""
    try:
        value = reader(kv).get_secret(kv_name(ref.path)).value
    except ResourceNotFoundError:
        return None
    except HttpResponseError as exc:
        if exc.status_code == 403:
            return None
        raise
    return str(value) if value is not None else None
