"""HashiCorp Vault / OpenBao KV v2 store (hvac).

Layout in the mount:

* ``PATH`` — the secret readers use; its latest version is CURRENT (invariant I1).
  Older versions stay readable by number until they are revoked (deleted or destroyed).
* ``PATH.keyturn-rotation`` — the rotation journal (keyturn's bookkeeping: tracked
  versions, the in-flight operation, its lease and ledger; never a value), one version
  kept, written with check-and-set on the KV version number.
* ``PATH.keyturn-pending`` — the PENDING value and its rotation id, one version kept,
  removed when the rotation ends.

Promotion writes the pending value as a new version of ``PATH`` with ``cas`` equal to
the version that was latest when the rotation began, so a concurrent writer is
detected (I7); other keys of the entry are kept as they are. A write whose response was
lost and whose retry then fails check-and-set is read back: if what is stored is what we
wrote, it is ours and adopted. Imports hvac lazily; never imports a target or the engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar, Union

from pydantic import Field

from keyturn._internal.configbase import ConfigModel, Duration
from keyturn.errors import Conflict, StoreUnavailable, UsageError
from keyturn.stores.base import PENDING_SUFFIX, ROTATION_SUFFIX, RotationId, SecretRef, SecretState, VersionId, parse_iso
from keyturn.values import SecretValue, visible_ascii

T = TypeVar("T")


# ---------------------------------------------------------------------------- manifest config
class VaultTokenAuth(ConfigModel):
    method: Literal["token"] = "token"
    token_env: str = Field(default="VAULT_TOKEN", description="Environment variable holding the token")


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_MOUNT = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$"


class VaultJwtAuth(ConfigModel):
    """JWT auth with the job's GitHub Actions OIDC token (needs ``id-token: write``)."""

    method: Literal["jwt"]
    role: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.@-]+$",
                      description="JWT auth role (its bound_audiences/bound_subject pin this job)")
    audience: str = Field(default="vault", min_length=1, pattern=r"^\S+$",
                          description="Audience (aud) requested for the OIDC token; one of the role's bound_audiences")
    mount: str = Field(default="jwt", pattern=_MOUNT, description="Path the jwt auth method is enabled at")


class VaultAppRoleAuth(ConfigModel):
    """AppRole: role id and secret id read from the environment variables named here."""

    method: Literal["approle"]
    role_id_env: str = Field(default="VAULT_ROLE_ID", pattern=_ENV_NAME,
                             description="Environment variable holding the role id")
    secret_id_env: str = Field(default="VAULT_SECRET_ID", pattern=_ENV_NAME,
                               description="Environment variable holding the secret id")
    mount: str = Field(default="approle", pattern=_MOUNT, description="Path the approle auth method is enabled at")


VaultAuth = Annotated[Union[VaultTokenAuth, VaultJwtAuth, VaultAppRoleAuth], Field(discriminator="method")]


class VaultStoreConfig(ConfigModel):
    type: Literal["vault", "openbao"]
    address: str | None = Field(default=None, description="Default: $VAULT_ADDR")
    mount: str = Field(default="secret", description="KV v2 mount path")
    key: str = Field(default="value", description="Key inside the KV entry that holds the value")
    namespace: str | None = None
    ca_cert: str | None = Field(default=None, description="CA bundle for https (default: system CAs)")
    retire: Literal["delete", "destroy"] = Field(
        default="delete", description="How previous versions are revoked: soft-delete or destroy"
    )
    timeout: Duration = timedelta(seconds=30)
    auth: VaultAuth = VaultTokenAuth()

#: capabilities keyturn needs, per path suffix ("" = the secret itself)
NEEDED = {
    "data/{p}": {"read", "create", "update"},
    "metadata/{p}": {"read"},
    "data/{p}.keyturn-rotation": {"read", "create", "update"},
    "metadata/{p}.keyturn-rotation": {"update"},
    "data/{p}.keyturn-pending": {"read", "create", "update"},
    "metadata/{p}.keyturn-pending": {"update", "delete"},
}


def lacking(got: Mapping[str, Any], wanted: Mapping[str, set[str]]) -> list[str]:
    """What ``sys/capabilities-self`` (``got``: path → capabilities) does not grant of
    ``wanted``, as ``"<caps> on <path>"``: ``root`` grants everything, ``deny`` nothing,
    and ``sudo`` is no substitute for the capability itself. Shared by the store's and
    the database issuer's preflights."""
    missing = []
    for path, need in wanted.items():
        have = set(got.get(path) or [])
        if "root" in have:
            continue
        if "deny" in have or not need <= have:
            missing.append(f"{', '.join(sorted(need if 'deny' in have else need - have))} on {path}")
    return missing


def _created(version_info: dict[str, Any]) -> datetime | None:
    """A KV version's ``created_time`` (RFC 3339 with nanoseconds) to whole seconds."""
    created = version_info.get("created_time")
    return parse_iso(created[:19] + "Z") if created else None


def _revoked(info: dict[str, Any]) -> bool:
    return bool(info.get("deletion_time") or info.get("destroyed"))


def _check_address(name: str, address: str, source: str) -> None:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
        port = parts.port  # raises ValueError when out of range
    except ValueError:
        raise UsageError(f"vault:{name}: {source} is not a valid URL (bad port?) — e.g. https://vault:8200") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"vault:{name}: {source} must be an http(s) URL such as https://vault:8200")
    del port


class VaultStore:
    """KV v2 adapter. One instance per manifest store entry."""

    def __init__(
        self,
        name: str,
        config: VaultStoreConfig,
        environ: Mapping[str, str] | None = None,
        *,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        import hvac  # lazy: only users of this store need it

        env = os.environ if environ is None else environ
        self.name = name
        self.config = config
        self.retries = retries
        self.backoff = backoff
        address = config.address or env.get("VAULT_ADDR")
        if not address:
            raise UsageError(f"vault:{name}: no address — set VAULT_ADDR or stores.{name}.address")
        _check_address(name, address, f"stores.{name}.address" if config.address else "VAULT_ADDR")
        from keyturn.stores.vault_auth import VaultLogin

        self._login = VaultLogin(name, config.auth, env)  # env checks only; logs in on the first call
        token = self._login.static_token
        namespace = config.namespace or env.get("VAULT_NAMESPACE") or None
        if namespace and not visible_ascii(namespace):
            where = f"stores.{name}.namespace" if config.namespace else "VAULT_NAMESPACE"
            raise UsageError(f"vault:{name}: {where} contains whitespace or a control character")
        ca = config.ca_cert or env.get("VAULT_CACERT")
        if ca and not os.path.isfile(ca):
            where = f"stores.{name}.ca_cert" if config.ca_cert else "VAULT_CACERT"
            raise UsageError(f"vault:{name}: {where}: no such CA file {ca!r}")
        verify: bool | str = ca or True
        self._client = hvac.Client(
            url=address,
            token=token.reveal() if token is not None else "",  # "": hvac must not read VAULT_TOKEN
            namespace=namespace,
            verify=verify,
            timeout=int(config.timeout.total_seconds()) or 30,
        )
        self._kv = self._client.secrets.kv.v2
        self.address = address
        self._token_env = self._login.label
        self._mount_cfg: dict[str, Any] | None = None
        self._mount_cfg_read = False

    @property
    def label(self) -> str:
        return f"vault:{self.name}"

    @property
    def min_interval(self) -> timedelta:
        return timedelta(0)

    def client(self) -> Any:
        """The hvac client, logged in (for issuers that reach another Vault engine through
        this store's connection and auth, e.g. the database secrets engine)."""
        self._login.ensure(self._client)
        return self._client

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, ref: SecretRef | None, fn: Callable[[], T],
              on_retry: Callable[[], None] | None = None) -> T:
        """Run an hvac call, retrying transport errors and 5xx, translating errors."""
        import hvac.exceptions as hx
        import requests

        secret = ref.name if ref else ""
        for attempt in range(self.retries + 1):
            try:
                self._login.ensure(self._client)
                return fn()
            except requests.exceptions.SSLError:  # a ConnectionError too: caught first, never retried
                raise StoreUnavailable(
                    f"TLS verification failed for {self.address} — set VAULT_CACERT or stores.{self.name}.ca_cert",
                    store=self.label, secret=secret) from None
            except (hx.VaultDown, hx.InternalServerError, hx.BadGateway, requests.ConnectionError,
                    requests.Timeout) as exc:
                if attempt >= self.retries:
                    raise StoreUnavailable(
                        f"{what} failed after {attempt + 1} attempts ({exc.__class__.__name__}) at "
                        f"{self.address} — is VAULT_ADDR right and the server up and unsealed?",
                        store=self.label, secret=secret,
                    ) from None
                if on_retry is not None:
                    on_retry()
                time.sleep(self.backoff * (2**attempt))
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                    requests.exceptions.InvalidSchema):
                raise UsageError(f"{self.label}: {self.address!r} is not a usable URL — check VAULT_ADDR") from None
            except hx.Forbidden:
                raise StoreUnavailable(
                    f"permission denied on {what} ({self.config.mount}/{ref.path if ref else ''}) — "
                    f"{self._token_env} is invalid or expired, or its policy lacks the capability; "
                    f"`keyturn doctor` lists what keyturn needs",
                    store=self.label, secret=secret,
                ) from None
            except hx.Unauthorized:
                raise StoreUnavailable(f"token rejected on {what} — check {self._token_env}",
                                       store=self.label, secret=secret) from None
            except hx.VaultError as exc:
                first = (str(exc).splitlines() or [exc.__class__.__name__])[0][:200]
                raise StoreUnavailable(f"{what} refused: {first}", store=self.label, secret=secret) from None
        raise AssertionError("unreachable")

    def _metadata(self, ref: SecretRef, path: str | None = None) -> dict[str, Any] | None:
        import hvac.exceptions as hx

        def read() -> dict[str, Any] | None:
            try:
                resp: dict[str, Any] = self._kv.read_secret_metadata(
                    path=path or ref.path, mount_point=self.config.mount)
                return dict(resp["data"])
            except hx.InvalidPath:
                return None

        return self._call("read metadata", ref, read)

    def _read_data(self, ref: SecretRef, path: str, version: int | None) -> tuple[dict[str, Any] | None, int]:
        import hvac.exceptions as hx

        def read() -> tuple[dict[str, Any] | None, int]:
            try:
                resp = self._kv.read_secret_version(
                    path=path, version=version, mount_point=self.config.mount, raise_on_deleted_version=False
                )
            except hx.InvalidPath:
                return None, 0
            data = resp["data"]
            return data.get("data"), int(data["metadata"]["version"])

        return self._call("read", ref, read)

    def _write(self, ref: SecretRef, path: str, data: dict[str, str], cas: int) -> int:
        """CAS write. If a retry follows a lost response and then fails check-and-set,
        the entry is read back: our own data at a newer version is adopted."""
        import hvac.exceptions as hx

        retried = False

        def mark() -> None:
            nonlocal retried
            retried = True

        def write() -> int:
            try:
                resp = self._kv.create_or_update_secret(path=path, secret=data, cas=cas, mount_point=self.config.mount)
            except hx.InvalidRequest as exc:
                if "check-and-set" not in str(exc):
                    raise StoreUnavailable(f"write refused: {str(exc).splitlines()[0][:200]}",
                                           store=self.label, secret=ref.name) from None
                if retried:
                    stored, version = self._read_data(ref, path, None)
                    if stored == data and version > cas:
                        return version  # our first attempt applied; its response was lost
                raise Conflict(
                    f"{ref.name}: {self.label} {self.config.mount}/{path} changed concurrently (check-and-set "
                    "failed) — another rotation or writer is active; re-run when it has finished"
                ) from None
            return int(resp["data"]["version"])

        return self._call("write", ref, write, on_retry=mark)

    def _pending_path(self, ref: SecretRef) -> str:
        return ref.path + PENDING_SUFFIX

    def _journal_path(self, ref: SecretRef) -> str:
        return ref.path + ROTATION_SUFFIX

    def _one_version(self, ref: SecretRef, path: str) -> None:
        self._call("update metadata", ref,
                   lambda: self._kv.update_metadata(path=path, mount_point=self.config.mount, max_versions=1))

    def _purge(self, ref: SecretRef, path: str) -> None:
        import hvac.exceptions as hx

        def purge() -> None:
            try:
                self._kv.delete_metadata_and_all_versions(path=path, mount_point=self.config.mount)
            except hx.InvalidPath:
                pass

        self._call("delete", ref, purge)

    # ------------------------------------------------------------------ protocol
    def preflight(self, ref: SecretRef) -> None:
        """Read-only: the mount is KV v2 with room for PREVIOUS, the token has the
        capabilities keyturn needs on the paths, and an adopted secret has the key."""
        import hvac.exceptions as hx

        mount = self.config.mount

        def config() -> dict[str, Any] | None:
            try:
                resp: dict[str, Any] = self._kv.read_configuration(mount_point=mount)
                return dict(resp["data"])
            except hx.InvalidPath:
                raise UsageError(
                    f"{ref.name}: {self.label}: mount {mount!r} does not exist or is not a KV v2 engine — "
                    f"check stores.{self.name}.mount, or enable it: bao secrets enable -path={mount} kv-v2"
                ) from None
            except hx.Forbidden:
                return None  # the policy may not grant <mount>/config: capabilities tell the rest

        if not self._mount_cfg_read:  # the mount's config is read once per run, not per secret
            self._mount_cfg = self._call("read mount config", ref, config)
            self._mount_cfg_read = True
        cfg = self._mount_cfg
        self._check_capabilities(ref)
        meta = self._metadata(ref)
        mount_max = int((cfg or {}).get("max_versions") or 0)
        secret_max = int((meta or {}).get("max_versions") or 0)
        effective = secret_max or mount_max
        if effective and effective < 2:
            where = f"secret {ref.path}" if secret_max else f"mount {mount}"
            raise UsageError(
                f"{ref.name}: {self.label}: {where} keeps only {effective} version — keyturn needs at "
                "least 2 (CURRENT + PREVIOUS); raise max_versions"
            )
        state = self._state(meta)
        if state.exists and state.current:
            data, _ = self._read_data(ref, ref.path, int(state.current))
            if data is not None and ref.key not in data:
                keys = ", ".join(sorted(data)[:5]) or "none"
                raise UsageError(
                    f"{ref.name}: {mount}/{ref.path} (version {state.current}) has no key {ref.key!r} "
                    f"(keys: {keys}) — set `key:` on the secret or the store to the key that holds the value"
                )

    def _check_capabilities(self, ref: SecretRef) -> None:
        mount = self.config.mount
        wanted = dict(NEEDED)
        wanted[("destroy" if self.config.retire == "destroy" else "delete") + "/{p}"] = {"update"}
        paths = {f"{mount}/{k.format(p=ref.path)}": v for k, v in wanted.items()}

        def ask() -> dict[str, Any]:
            resp: dict[str, Any] = self._client.sys.get_capabilities(paths=list(paths))
            return dict(resp.get("data") or resp)

        missing = lacking(self._call("check token capabilities", ref, ask), paths)
        if missing:
            raise UsageError(
                f"{ref.name}: {self.label}: the token ({self._token_env}) lacks capabilities: "
                + "; ".join(missing) + " — add them to its policy"
            )

    def _state(self, meta: dict[str, Any] | None) -> SecretState:
        if not meta or not meta.get("versions"):
            return SecretState(exists=False, head=str(int((meta or {}).get("current_version") or 0)))
        latest = int(meta.get("current_version") or 0)
        info = (meta.get("versions") or {}).get(str(latest)) or {}
        if _revoked(info):
            return SecretState(exists=False, current=None, head=str(latest))
        return SecretState(exists=True, current=VersionId(str(latest)), head=str(latest), created_at=_created(info))

    def describe(self, ref: SecretRef) -> SecretState:
        return self._state(self._metadata(ref))

    def read(self, ref: SecretRef, version: VersionId) -> SecretValue:
        data, _ = self._read_data(ref, ref.path, int(version))
        if not data or ref.key not in data:
            raise StoreUnavailable(
                f"version {version} of {self.config.mount}/{ref.path} has no key {ref.key!r} (revoked, or "
                "written outside keyturn)",
                store=self.label, secret=ref.name,
            )
        return SecretValue(str(data[ref.key]))

    def journal(self, ref: SecretRef) -> VaultJournal:
        return VaultJournal(self, ref)

    def create_pending(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue) -> SecretValue:
        path = self._pending_path(ref)
        data, version = self._read_data(ref, path, None)
        if data and data.get("rotation_id") == rotation_id and "value" in data:
            return SecretValue(str(data["value"]))  # adopt: a re-run never makes another
        # Absent, or left over from an operation that no longer holds the journal: replace.
        self._write(ref, path, {"rotation_id": rotation_id, "value": value.reveal()}, cas=version)
        if not version:
            self._one_version(ref, path)
        return value

    def read_pending(self, ref: SecretRef, rotation_id: RotationId) -> SecretValue | None:
        data, _ = self._read_data(ref, self._pending_path(ref), None)
        if not data or "value" not in data or data.get("rotation_id") != rotation_id:
            return None
        return SecretValue(str(data["value"]))

    def discard_pending(self, ref: SecretRef, rotation_id: RotationId) -> None:
        self._purge(ref, self._pending_path(ref))

    def promote(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue, expect_head: str) -> VersionId:
        meta = self._metadata(ref)
        latest = int((meta or {}).get("current_version") or 0)
        expected = int(expect_head or 0)
        if latest == expected:
            data: dict[str, str] = {}
            info = ((meta or {}).get("versions") or {}).get(str(latest)) or {}
            if latest and not _revoked(info):
                data = {k: str(v) for k, v in (self._read_data(ref, ref.path, latest)[0] or {}).items()}
            data[ref.key] = value.reveal()  # other keys of the entry are kept as they are
            return VersionId(str(self._write(ref, ref.path, data, cas=expected)))
        if latest > expected and self._holds(ref, latest, value):
            return VersionId(str(latest))  # promoted before a crash; adopt
        raise Conflict(
            f"{ref.name}: {self.label} {self.config.mount}/{ref.path} moved from version {expected} to "
            f"{latest} outside this rotation — nothing promoted; `keyturn abort {ref.name} --reason TEXT` "
            "abandons this rotation, then rotate again"
        )

    def _holds(self, ref: SecretRef, version: int, value: SecretValue) -> bool:
        data, _ = self._read_data(ref, ref.path, version)
        if not data or ref.key not in data:
            return False
        return SecretValue(str(data[ref.key]), mask=False).same_as(value)

    def restore(self, ref: SecretRef, version: VersionId, expect_current: VersionId | None) -> VersionId:
        old, _ = self._read_data(ref, ref.path, int(version))
        if not old or ref.key not in old:
            raise StoreUnavailable(f"cannot restore version {version} of {self.config.mount}/{ref.path}: it was "
                                   f"revoked or has no key {ref.key!r}", store=self.label, secret=ref.name)
        meta = self._metadata(ref)
        latest = int((meta or {}).get("current_version") or 0)
        expected = int(expect_current or 0)
        if latest == expected:
            return VersionId(str(self._write(ref, ref.path, {k: str(v) for k, v in old.items()}, cas=latest)))
        if latest > expected and self._holds(ref, latest, SecretValue(str(old[ref.key]), mask=False)):
            return VersionId(str(latest))  # already restored
        raise Conflict(
            f"{ref.name}: cannot restore version {version}: {self.config.mount}/{ref.path} is at version "
            f"{latest}, expected {expected} (written outside keyturn) — inspect it, then "
            f"`keyturn abort {ref.name} --reason TEXT`"
        )

    def retire(self, ref: SecretRef, versions: list[VersionId], *, allow_current: bool = False) -> list[VersionId]:
        meta = self._metadata(ref) or {}
        current = 0 if allow_current else int(meta.get("current_version") or 0)
        infos = meta.get("versions") or {}
        nums = sorted({int(v) for v in versions if v and int(v) != current})  # never CURRENT (by default)
        todo = [n for n in nums if str(n) in infos and not _revoked(infos[str(n)])]
        if todo:
            fn = (self._kv.destroy_secret_versions if self.config.retire == "destroy"
                  else self._kv.delete_secret_versions)
            self._call("retire", ref, lambda: fn(path=ref.path, versions=todo, mount_point=self.config.mount))
            infos = (self._metadata(ref) or {}).get("versions") or {}
        # Read back: gone (pruned by max_versions) or marked deleted/destroyed counts as revoked.
        return [VersionId(str(n)) for n in nums if str(n) not in infos or _revoked(infos[str(n)])]

    def live_versions(self, ref: SecretRef) -> list[VersionId]:
        meta = self._metadata(ref) or {}
        out = [VersionId(str(num)) for num, info in (meta.get("versions") or {}).items() if not _revoked(info)]
        return sorted(out, key=int)


class VaultJournal:
    """The journal slot: ``PATH.keyturn-rotation``, one KV version kept; the token is
    that entry's KV version number (check-and-set)."""

    def __init__(self, store: VaultStore, ref: SecretRef) -> None:
        self.store = store
        self.ref = ref
        self.path = store._journal_path(ref)

    def load(self) -> tuple[str | None, str]:
        data, version = self.store._read_data(self.ref, self.path, None)
        text = data.get("journal") if data else None
        return (str(text) if text is not None else None), (str(version) if version else "")

    def save(self, text: str, token: str) -> str:
        version = self.store._write(self.ref, self.path, {"journal": text}, cas=int(token or 0))
        if not token:
            self.store._one_version(self.ref, self.path)
        return str(version)
