"""Azure credentials for the Key Vault store, chosen in the manifest (``auth.method``):

* ``default`` — azure-identity's ``DefaultAzureCredential``: the environment's service
  principal, workload identity (``AZURE_FEDERATED_TOKEN_FILE``), managed identity (unless
  ``managed_identity: false``), then the Azure CLI session that ``azure/login`` leaves.
* ``github-oidc`` — a ``ClientAssertionCredential`` for ``AZURE_CLIENT_ID`` in
  ``AZURE_TENANT_ID`` whose assertion is the job's GitHub OIDC token, requested from
  ``ACTIONS_ID_TOKEN_REQUEST_URL`` with ``ACTIONS_ID_TOKEN_REQUEST_TOKEN`` for the audience
  ``api://AzureADTokenExchange`` (the app's federated credential must trust the repository).
  No ``azure/login`` step and no client secret are needed.

Config models import nothing from Azure; :func:`build_credential` imports azure-identity
lazily. Never imports a target or the engine; no token is ever logged or put in a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from keyturn._internal.configbase import ConfigModel
from keyturn.errors import UsageError

AZURE_AUDIENCE = "api://AzureADTokenExchange"


class AzureDefaultAuth(ConfigModel):
    method: Literal["default"] = "default"
    managed_identity: bool = Field(default=True, description="Include managed identity in the chain")


class AzureGithubOidcAuth(ConfigModel):
    method: Literal["github-oidc"]
    client_id_env: str = Field(default="AZURE_CLIENT_ID", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                               description="Env var with the app (client) id that has the federated credential")
    tenant_id_env: str = Field(default="AZURE_TENANT_ID", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                               description="Env var with the Entra ID tenant id")
    audience: str = Field(default=AZURE_AUDIENCE, min_length=1, description="Audience of the GitHub OIDC token")


AzureAuth = Annotated[Union[AzureDefaultAuth, AzureGithubOidcAuth], Field(discriminator="method")]


def build_credential(label: str, auth: AzureDefaultAuth | AzureGithubOidcAuth, env: Mapping[str, str],
                     verify: bool | str) -> Any:
    """The azure-identity credential the manifest asks for (imports azure-identity)."""
    from azure.identity import ClientAssertionCredential, DefaultAzureCredential

    common: dict[str, Any] = {"connection_verify": verify}
    authority = env.get("AZURE_AUTHORITY_HOST")
    if isinstance(auth, AzureGithubOidcAuth):
        client_id = env.get(auth.client_id_env)
        tenant_id = env.get(auth.tenant_id_env)
        missing = [n for n, v in ((auth.client_id_env, client_id), (auth.tenant_id_env, tenant_id)) if not v]
        if missing:
            raise UsageError(f"{label}: auth method github-oidc needs {' and '.join(missing)} (the app registration "
                             "with a federated credential for this repository, and its tenant)")
        from keyturn._internal.oidc import require_token, token_for

        require_token(label, env)
        audience = auth.audience
        if authority:
            common["authority"] = authority
        return ClientAssertionCredential(
            str(tenant_id), str(client_id), lambda: token_for(label, audience, env, timeout=30).reveal(), **common)
    if authority:
        common["authority"] = authority
    return DefaultAzureCredential(exclude_managed_identity_credential=not auth.managed_identity, **common)
