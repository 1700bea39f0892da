"""Keyless login to the Key Vault fake from a simulated GitHub Actions job: the
github-oidc client assertion (OIDC request URL served on loopback, a fake Entra ID token
endpoint) and DefaultAzureCredential's workload identity; a missing ``id-token: write``
is reported as exactly that. Nothing leaves 127.0.0.1 (managed identity is excluded)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from keyturn.errors import StoreUnavailable, UsageError
from keyturn.stores.azure import AzureStore, AzureStoreConfig
from keyturn.stores.azure_auth import AzureDefaultAuth, AzureGithubOidcAuth
from keyturn.stores.base import SecretRef
from tests.azure_support import CLIENT_ID, identity, keyvault, oidc_env  # noqa: F401 (fixtures)
from tests.fakes.azure_keyvault import FakeKeyVault

AZURE_VARS = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
              "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "AZURE_USERNAME", "AZURE_TOKEN_CREDENTIALS",
              "IDENTITY_ENDPOINT", "MSI_ENDPOINT")


def _config(kv: FakeKeyVault, auth: Any) -> AzureStoreConfig:
    return AzureStoreConfig(type="azure", vault_url=kv.url, ca_cert=kv.ca_pem, auth=auth)


def _ref() -> SecretRef:
    return SecretRef("S", f"auth/{uuid.uuid4().hex[:10]}", "value")


def test_github_oidc_client_assertion_logs_in(keyvault: FakeKeyVault, identity) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    oidc, authority = identity
    env = oidc_env(keyvault, oidc, authority)
    store = AzureStore("kv", _config(keyvault, AzureGithubOidcAuth(method="github-oidc")), env)
    store.journal(_ref()).save("hello", "")
    assert oidc.audiences == ["api://AzureADTokenExchange"]
    (req,) = authority.requests
    assert req["client_id"] == CLIENT_ID and req["grant_type"] == "client_credentials"
    assert req["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "vault.azure.net" in req["scope"]


def test_github_oidc_unknown_subject_is_refused_by_the_authority(keyvault: FakeKeyVault, identity) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    oidc, authority = identity
    oidc.jwt = "eyJ.some-other-repository.sig"
    store = AzureStore("kv", _config(keyvault, AzureGithubOidcAuth(method="github-oidc")),
                       oidc_env(keyvault, oidc, authority))
    with pytest.raises(StoreUnavailable, match="could not get an Azure access token") as err:
        store.describe(_ref())
    assert oidc.jwt not in str(err.value)


@pytest.mark.parametrize("actions", ["true", ""])
def test_missing_id_token_permission_is_named(keyvault: FakeKeyVault, actions: str) -> None:  # noqa: F811
    env = {"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_TENANT_ID": keyvault.tenant, "GITHUB_ACTIONS": actions}
    with pytest.raises(UsageError, match="add `permissions: id-token: write` to this job") as err:
        AzureStore("kv", _config(keyvault, AzureGithubOidcAuth(method="github-oidc")), env)
    assert err.value.exit_code == 2


def test_github_oidc_refused_request_token_names_the_permission(keyvault: FakeKeyVault, identity) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    oidc, authority = identity
    env = dict(oidc_env(keyvault, oidc, authority), ACTIONS_ID_TOKEN_REQUEST_TOKEN="stale")
    store = AzureStore("kv", _config(keyvault, AzureGithubOidcAuth(method="github-oidc")), env)
    with pytest.raises(UsageError, match=r"refused \(HTTP 401\) — add `permissions: id-token: write`"):
        store.describe(_ref())


def test_github_oidc_needs_client_and_tenant(keyvault: FakeKeyVault) -> None:  # noqa: F811
    with pytest.raises(UsageError, match="needs AZURE_CLIENT_ID and AZURE_TENANT_ID"):
        AzureStore("kv", _config(keyvault, AzureGithubOidcAuth(method="github-oidc")), {})


def test_default_credential_uses_workload_identity(keyvault: FakeKeyVault, identity, tmp_path,  # type: ignore[no-untyped-def]  # noqa: F811
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    oidc, authority = identity
    for var in AZURE_VARS:
        monkeypatch.delenv(var, raising=False)
    token_file = tmp_path / "federated-token"
    token_file.write_text(oidc.jwt)
    env = {"AZURE_CLIENT_ID": CLIENT_ID, "AZURE_TENANT_ID": keyvault.tenant,
           "AZURE_FEDERATED_TOKEN_FILE": str(token_file), "AZURE_AUTHORITY_HOST": authority.url}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    store = AzureStore("kv", _config(keyvault, AzureDefaultAuth(managed_identity=False)), env)
    assert store.describe(_ref()).exists is False
    assert [r["client_id"] for r in authority.requests] == [CLIENT_ID]
    assert oidc.audiences == []  # the token came from the file, as azure/login's workload identity sets up
