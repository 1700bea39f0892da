"""How the Vault/OpenBao store gets its client token: ``token``, ``jwt`` or ``approle``.

``token`` reads a token from an environment variable (``VAULT_TOKEN`` by default).
``jwt`` asks the runner for the job's GitHub OIDC token (for the configured audience)
and logs in at ``auth/<mount>/login`` with the configured role; ``approle`` logs in at
``auth/<mount>/login`` with a role id and secret id read from environment variables.

Everything that can be checked without the network (variables present and clean, the
job's ``id-token: write`` permission) is checked when the store is built and is a usage
error (exit 2). The login itself happens on the store's first call and again when the
token has used two thirds of its lease; a refusal by the server is a service error
(exit 4) whose one line names the fix (role not found, bound_audiences or bound_subject
mismatch, wrong secret id). No token, secret id or JWT ever reaches a message. Imports
hvac only inside the login; never imports a target or the engine.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from keyturn._internal.oidc import require_token, token_for
from keyturn.errors import StoreUnavailable, UsageError
from keyturn.values import SecretValue, visible_ascii

if TYPE_CHECKING:
    from keyturn.stores.vault import VaultAppRoleAuth, VaultAuth, VaultJwtAuth

#: re-login once this share of the token's lease has passed
RENEW_AT = 2 / 3


def _vault_text(text: str, *values: SecretValue) -> str:
    """Vault's own words for a refused login, as one line of ≤ 200 characters with the
    credentials sent (and their encodings) masked and control characters blanked — a
    server's text is not echoed as it came."""
    from keyturn.redaction import excerpt, forms_of_all

    return excerpt(text.split(", on ")[0], forms_of_all(values), limit=200)


def _env_value(store: str, var: str, what: str, env: Mapping[str, str], auth_method: str) -> SecretValue:
    raw = env.get(var, "")
    if not raw:
        raise UsageError(f"vault:{store}: no {what} — set {var} ({auth_method} auth) for store {store!r}")
    if not visible_ascii(raw):
        raise UsageError(f"vault:{store}: {var} contains whitespace, a control or a non-ASCII character "
                         f"(a trailing newline?) — set it to the bare {what.split()[-1]}")
    return SecretValue(raw, mask=False)  # from a GitHub secret or variable: the runner masks secrets


def _claim(jwt: SecretValue, name: str) -> str:
    """One (unverified) claim of a JWT, for messages: ``sub`` names a job, not a secret."""
    try:
        payload = jwt.reveal().split(".")[1]
        value = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get(name)
    except (IndexError, ValueError, AttributeError):
        return "?"
    return value if isinstance(value, str) else "?"


class VaultLogin:
    """The store's credential: a static token, or a login repeated before the lease ends."""

    def __init__(self, store: str, auth: VaultAuth, env: Mapping[str, str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.auth = auth
        self._env = env
        self._clock = clock
        self._renew_at: float | None = None  # None: not logged in yet
        self.static_token: SecretValue | None = None
        if auth.method == "token":
            self.static_token = _env_value(store, auth.token_env, "token", env, "token")
            self.label = auth.token_env
        elif auth.method == "jwt":
            require_token(f"vault:{store}: jwt auth", env)
            self.label = f"the token of jwt role {auth.role!r}"
        else:
            _env_value(store, auth.role_id_env, "AppRole role id", env, "approle")
            _env_value(store, auth.secret_id_env, "AppRole secret id", env, "approle")
            self.label = f"the token of the AppRole in {auth.role_id_env}"

    def ensure(self, client: Any) -> None:
        """Log in when there is no token yet or its lease is two thirds gone."""
        if self.static_token is not None:
            return
        if self._renew_at is not None and self._clock() < self._renew_at:
            return
        started = self._clock()
        if self.auth.method == "jwt":
            lease = self._jwt(client, self.auth)
        else:
            lease = self._approle(client, self.auth)  # type: ignore[arg-type]
        self._renew_at = started + lease * RENEW_AT if lease > 0 else float("inf")

    # ------------------------------------------------------------------ methods
    def _refused(self, text: str) -> StoreUnavailable:
        return StoreUnavailable(text, store=f"vault:{self.store}")

    def _jwt(self, client: Any, auth: VaultJwtAuth) -> int:
        import hvac.exceptions as hx

        jwt = token_for(f"vault:{self.store}: jwt auth", auth.audience, self._env)
        where = f"auth/{auth.mount}"
        try:
            resp = client.auth.jwt.jwt_login(auth.role, jwt.reveal(), use_token=True, path=auth.mount)
        except hx.Forbidden:
            raise self._refused(f"jwt login at {where}/login: permission denied — is jwt auth enabled "
                                f"at {auth.mount!r}? (stores.{self.store}.auth.mount)") from None
        except (hx.InvalidRequest, hx.InvalidPath, hx.Unauthorized) as exc:
            text = str(exc)
            if "could not be found" in text:
                why = (f"role {auth.role!r} not found at {where} — create it "
                       f"(bao write {where}/role/{auth.role} …) or fix stores.{self.store}.auth.role")
            elif "audience" in text:
                why = (f"audience {auth.audience!r} is not in the bound_audiences of role {auth.role!r} — "
                       f"set stores.{self.store}.auth.audience to one of them, or add it to the role")
            elif "(sub)" in text or "subject" in text:
                why = (f"subject {_claim(jwt, 'sub')!r} does not match the bound_subject of role "
                       f"{auth.role!r} — run the job where the role expects (environment, branch) "
                       f"or fix the role's bound_subject")
            elif "bound claim" in text:
                claim = text.split('claim "')[1].split('"')[0] if 'claim "' in text else "?"
                why = (f"claim {claim!r} ({_claim(jwt, claim)!r}) does not match the bound_claims of role "
                       f"{auth.role!r} — fix the role's bound_claims or run from the expected job")
            elif "expired" in text or "(exp)" in text or "(nbf)" in text or "(iat)" in text:
                why = "the OIDC token is expired or not yet valid — check the runner's clock"
            else:
                why = _vault_text(text, jwt) + f" (role {auth.role!r}; check the jwt config at {where}/config)"
            raise self._refused(f"jwt login refused: {why}") from None
        return int(resp["auth"].get("lease_duration") or 0)

    def _approle(self, client: Any, auth: VaultAppRoleAuth) -> int:
        import hvac.exceptions as hx

        role_id = _env_value(self.store, auth.role_id_env, "AppRole role id", self._env, "approle")
        secret_id = _env_value(self.store, auth.secret_id_env, "AppRole secret id", self._env, "approle")
        where = f"auth/{auth.mount}"
        try:
            resp = client.auth.approle.login(role_id.reveal(), secret_id.reveal(), use_token=True,
                                             mount_point=auth.mount)
        except hx.Forbidden:
            raise self._refused(f"approle login at {where}/login: permission denied — is approle auth "
                                f"enabled at {auth.mount!r}? (stores.{self.store}.auth.mount)") from None
        except (hx.InvalidRequest, hx.InvalidPath, hx.Unauthorized) as exc:
            if "invalid role or secret ID" in str(exc):
                why = (f"invalid role id or secret id — check {auth.role_id_env} and {auth.secret_id_env} "
                       "(a secret id stops working after its secret_id_ttl or secret_id_num_uses)")
            else:
                why = _vault_text(str(exc), role_id, secret_id)
            raise self._refused(f"approle login refused at {where}: {why}") from None
        return int(resp["auth"].get("lease_duration") or 0)
