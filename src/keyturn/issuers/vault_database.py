"""A database password rotated by Vault/OpenBao's database secrets engine (a static role).

``generator: {type: vault-database-static-role, role: NAME, mount: database, store: STORE,
verify: {host, port, database} | false}``. Vault owns the database account: keyturn asks
it to rotate (``POST {mount}/rotate-role/{role}``), reads the new password
(``{mount}/static-creds/{role}``) and distributes it like any other value. The value is
the password alone: a static role's username never changes (it is in the role's config,
and ``static-creds`` shows it), so consumers keep it as plain configuration.

Vault sets the new password the moment it rotates, and the old one dies then
(``overlap`` False: grace 0; a failed smoke check cannot roll back — there is nothing to
go back to). The credential id is ``role@last_vault_rotation``. Revoking it is normally
nothing to do: the next rotation replaced it, which the role's ``last_vault_rotation``
proves; only when that password is still the role's (an abandoned rotation) does revoke
rotate once more, so the unused password dies too.

The Vault connection is the named ``store:``'s (address, namespace, CA, token/JWT/AppRole
auth — :mod:`keyturn.stores.vault_auth`). ``verify`` logs in to PostgreSQL with the new
password before it is promoted. Imports hvac and pg8000 only inside methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, Union

from pydantic import Field, PrivateAttr

from keyturn._internal import pg
from keyturn._internal.configbase import ConfigModel
from keyturn.errors import KeyturnError, ServiceError, UsageError
from keyturn.issuers.base import IssueRequest, Issued
from keyturn.values import SecretValue

KIND = "vault-database-static-role"
_MOUNT = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"
T = TypeVar("T")


class PostgresLogin(ConfigModel):
    """Where the new password is tried before promotion (a PostgreSQL login)."""

    host: str = Field(min_length=1, description="PostgreSQL host the role logs in to")
    port: int = Field(default=5432, ge=1, le=65535)
    database: str = Field(default="postgres", min_length=1, max_length=63)
    sslmode: Literal["disable", "require", "verify-ca", "verify-full"] | None = Field(
        default=None, description="Default: disable on loopback, verify-full elsewhere")
    sslrootcert: str | None = Field(default=None, description="CA bundle for verify-ca/verify-full")

    def endpoint(self) -> pg.Endpoint:
        return pg.Endpoint(self.host, self.port, self.database, self.sslmode or pg.default_sslmode(self.host),
                           self.sslrootcert)


class VaultDatabaseStaticRoleGen(ConfigModel):
    type: Literal["vault-database-static-role"]
    role: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.@-]+$", description="Static role name")
    mount: str = Field(default="database", pattern=_MOUNT, description="Path of the database secrets engine")
    store: str = Field(min_length=1, description="A vault/openbao store of stores: whose connection and auth are used")
    verify: Union[PostgresLogin, Literal[False]] = Field(description=(
        "PostgreSQL connection to log in to with the new password before promotion, or false"))
    _store: tuple[str, Any] | None = PrivateAttr(default=None)

    def bind_store(self, name: str, config: Any) -> None:
        """Called by the manifest with the named store's config (a Vault/OpenBao one)."""
        if getattr(config, "type", None) not in ("vault", "openbao"):
            raise ValueError(f"store {name!r} is a {getattr(config, 'type', '?')} store; generator {KIND} "
                             "needs a vault or openbao store for its connection")
        self._store = (name, config)


class VaultDatabaseStaticRoleIssuer:
    kind = KIND
    fields: tuple[str, ...] = ()
    overlap = False
    human_revoke = False

    def __init__(self, secret: str, config: VaultDatabaseStaticRoleGen, environ: Mapping[str, str],
                 base_dir: Any = None) -> None:
        from keyturn.stores.vault import VaultStore

        if config.verify is not False:
            import pg8000  # noqa: F401 - a missing driver is a one-line usage error when the issuer is built
        self.secret = secret
        self.config = config
        bound = config._store
        if bound is None:
            raise UsageError(f"{secret}: generator {KIND}: store {config.store!r} is not in stores:")
        self.store_name, store_config = bound
        self.vault = VaultStore(self.store_name, store_config, environ)
        self.where = f"{secret}: generator {KIND} ({config.mount}/static-roles/{config.role})"

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, fn: Callable[[Any], T]) -> T:
        import hvac.exceptions as hx
        import requests

        path = f"{self.config.mount}/{what}/{self.config.role}"
        try:
            return fn(self.vault.client())
        except KeyturnError:
            raise
        except requests.exceptions.SSLError:  # a ConnectionError too: caught first
            raise ServiceError(f"{self.where}: TLS verification failed for {self.vault.address} — set "
                               f"stores.{self.store_name}.ca_cert") from None
        except (requests.ConnectionError, requests.Timeout, hx.VaultDown) as exc:
            raise ServiceError(f"{self.where}: {path} failed ({exc.__class__.__name__}) at {self.vault.address} — "
                               f"is the server of store {self.store_name!r} up and unsealed?") from None
        except hx.Forbidden:
            raise ServiceError(f"{self.where}: permission denied on {path} — the policy of store "
                               f"{self.store_name!r}'s token needs read on {self.config.mount}/static-roles/"
                               f"{self.config.role} and {self.config.mount}/static-creds/{self.config.role}, "
                               f"update on {self.config.mount}/rotate-role/{self.config.role}") from None
        except hx.Unauthorized:
            raise ServiceError(f"{self.where}: token rejected on {path} — check store {self.store_name!r}'s auth") \
                from None
        except hx.InvalidPath:
            raise self._missing() from None
        except hx.VaultError as exc:
            first = (str(exc).splitlines() or [exc.__class__.__name__])[0].split(", on ")[0][:200]
            raise ServiceError(f"{self.where}: {path} refused: {first}") from None

    def _missing(self) -> UsageError:
        return UsageError(f"{self.where}: no static role {self.config.role!r} at {self.config.mount}/ — create "
                          f"it (bao write {self.config.mount}/static-roles/{self.config.role} db_name=… "
                          "username=… rotation_period=…) or fix generator.role/mount")

    def _role(self) -> dict[str, Any] | None:
        import hvac.exceptions as hx

        def read(client: Any) -> dict[str, Any] | None:
            try:
                resp = client.secrets.database.read_static_role(self.config.role, mount_point=self.config.mount)
            except hx.InvalidPath:
                return None
            return dict(resp.get("data") or {})

        return self._call("static-roles", read)

    def _rotate(self) -> None:
        self._call("rotate-role", lambda c: c.secrets.database.rotate_static_role_credentials(
            self.config.role, mount_point=self.config.mount))

    def _creds(self) -> dict[str, Any]:
        resp = self._call("static-creds", lambda c: c.secrets.database.get_static_credentials(
            self.config.role, mount_point=self.config.mount))
        return dict(resp.get("data") or {})

    # ------------------------------------------------------------------ protocol
    def preflight(self, current: str) -> None:
        if self._role() is None:
            raise self._missing()
        from keyturn.stores.vault import lacking

        wanted = {f"{self.config.mount}/rotate-role/{self.config.role}": {"update"},
                  f"{self.config.mount}/static-creds/{self.config.role}": {"read"}}
        caps = self._call("static-creds", lambda c: c.sys.get_capabilities(paths=list(wanted)))
        missing = lacking(dict(caps.get("data") or caps), wanted)
        if missing:  # a policy to fix, as for the store's own paths (exit 2)
            raise UsageError(f"{self.where}: store {self.store_name!r}'s token lacks capabilities: "
                             + "; ".join(missing) + " — add them to its policy")

    def current_credential(self) -> str:
        return ""  # which rotation the store's value came from is unknown; it dies at the next rotate anyway

    def issue(self, request: IssueRequest) -> Issued:
        # A static role has one password: rotating again (a resumed attempt) replaces
        # whatever an earlier attempt set, so never two new credentials live.
        self._rotate()
        creds = self._creds()
        password, stamp = creds.get("password"), creds.get("last_vault_rotation")
        if not isinstance(password, str) or not password or not isinstance(stamp, str) or not stamp:
            raise ServiceError(f"{self.where}: static-creds answered without a password or last_vault_rotation")
        return Issued(SecretValue(password), f"{self.config.role}@{stamp}")

    def verify(self, issued: Issued) -> str | None:
        if self.config.verify is False:
            return None
        role = self._role() or {}
        username = role.get("username")
        if not isinstance(username, str) or not username:
            return f"static role {self.config.role} names no username"
        return pg.login_works(self.config.verify.endpoint(), username, issued.value)

    def revoke(self, credential_id: str) -> bool:
        role_name, sep, stamp = credential_id.partition("@")
        if not sep or role_name != self.config.role:
            return True  # not a password of this role (a renamed role): nothing keyturn can reach
        role = self._role()
        if role is None:
            return True  # the role (and its account management) is gone
        if str(role.get("last_vault_rotation") or "") != stamp:
            return True  # rotated since: that password no longer works
        self._rotate()  # the password is still the role's (an abandoned rotation): replace it
        after = self._role() or {}
        return str(after.get("last_vault_rotation") or "") != stamp
