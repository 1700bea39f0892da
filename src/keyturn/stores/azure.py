"""Azure Key Vault store (azure-keyvault-secrets + azure-identity).

Key Vault makes every new version of a secret what readers by name get, so keyturn keeps
three secrets per manifest entry (names: letters, digits and ``-`` only; the manifest
path maps to one by :func:`kv_name`, ``/`` becoming ``--``):

* ``NAME`` — what readers use; its newest version is CURRENT (invariant I1). Older
  versions stay readable by id until retired, which *disables* them (read back).
* ``NAME-keyturn-pending`` — the PENDING value, tagged with its rotation id; deleted and
  purged when the rotation ends. ``promote`` writes the value as a new version of ``NAME``.
* ``NAME-keyturn-rotation`` — the journal (:class:`AzureJournal`); never a value.

Tags carry keyturn's role, rotation id and a per-write nonce. Key Vault has no
compare-and-set, so writes are *compare-and-verify*: compare the state first, write, then
list the versions and check that nothing but our write (or a retried duplicate of it,
same nonce) appeared since the compare; otherwise Conflict. The store head is a digest of
the set of version ids (a disabled newest version makes get-by-name 403, so "latest" is
not always readable). Soft delete is handled deliberately: a soft-deleted pending sibling
is purged (or recovered when purge is refused), a soft-deleted journal is recovered, and
a soft-deleted secret itself is a conflict naming the fix — never a surprise 409.
A promoted version gets ``expires_on`` = promotion time + the secret's ``policy.max_age``
(``SecretRef.max_age``), so Key Vault's own expiry view, Event Grid's ``SecretNearExpiry`` and
Azure Policy see when keyturn will rotate it; a restored value keeps the expiry its version
had (it is that old). Key Vault does not refuse to read an expired secret: the date is
informational. Imports Azure lazily.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from keyturn._internal.configbase import ConfigModel, Duration
from keyturn.errors import Conflict, StoreUnavailable, UsageError
from keyturn.stores.azure_auth import AzureAuth, AzureDefaultAuth, build_credential
from keyturn.stores.azure_calls import DeletedName, Disabled, NotFound, PurgeRefused, call
from keyturn.stores.base import RotationId, SecretRef, SecretState, VersionId, utcnow
from keyturn.values import SecretValue

if TYPE_CHECKING:
    from keyturn.stores.azure_journal import AzureJournal

T = TypeVar("T")
PENDING_TAIL = "-keyturn-pending"
JOURNAL_TAIL = "-keyturn-rotation"
MAX_NAME = 127
TAG_ROLE, TAG_ROTATION, TAG_RESTORED, TAG_WRITE = ("keyturn-role", "keyturn-rotation-id", "keyturn-restored-from",
                                                   "keyturn-write")
_PATH_RE = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)*$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def kv_name(path: str) -> str:
    """The Key Vault secret name for a manifest path: ``/`` → ``--``. One-to-one: a path
    may not contain ``--`` and its segments neither start nor end with ``-``. Raises
    ValueError naming the rule."""
    if not _PATH_RE.fullmatch(path):
        raise ValueError(f"bad path {path!r} for Azure Key Vault: letters, digits and single '-' inside "
                         "'/'-separated segments only (e.g. db/prod-password, which becomes db--prod-password)")
    name = path.replace("/", "--")
    if PENDING_TAIL in name.lower() or JOURNAL_TAIL in name.lower():
        raise ValueError(f"bad path {path!r}: -keyturn-pending and -keyturn-rotation are reserved for keyturn")
    if len(name) + len(JOURNAL_TAIL) + 8 > MAX_NAME:  # room for the journal's "-g<generation>"
        raise ValueError(f"bad path {path!r}: at most {MAX_NAME - len(JOURNAL_TAIL) - 8} characters once '/' is "
                         "'--'")
    return name


class AzureStoreConfig(ConfigModel):
    type: Literal["azure"]
    vault_url: str = Field(description="https://NAME.vault.azure.net")
    ca_cert: str | None = Field(default=None, description="CA bundle for the vault and the authority (default: "
                                "system CAs)")
    timeout: Duration = timedelta(seconds=30)
    auth: AzureAuth = AzureDefaultAuth()

    @field_validator("vault_url")
    @classmethod
    def _url_ok(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"vault_url {v!r} must be the vault's https URL, e.g. https://my-vault.vault.azure.net")
        return v.rstrip("/")

    @property
    def key(self) -> str:
        """Key Vault secrets hold one value: the whole value is rotated."""
        return "value"

    def canonical_path(self, path: str) -> str:
        """The manifest's per-store identity of a path (Key Vault names ignore case)."""
        return kv_name(path).lower()


def _head(ids: list[str]) -> str:
    if not ids:
        return ""
    return f"{len(ids)}-{hashlib.sha256(chr(10).join(sorted(ids)).encode()).hexdigest()[:24]}"


class AzureStore:
    """Key Vault adapter. One instance (one ``SecretClient``) per manifest store entry."""

    def __init__(self, name: str, config: AzureStoreConfig, environ: Mapping[str, str] | None = None, *,
                 retries: int = 4, backoff: float = 0.5, credential: Any = None) -> None:
        from azure.keyvault.secrets import SecretClient

        env = os.environ if environ is None else environ
        for logger in ("azure.identity", "azure.core.pipeline.policies.http_logging_policy"):
            # azure-identity logs a failed login with the service's response body; keyturn's own
            # one-line error says what to fix. Left alone when the caller configured the logger.
            if logging.getLogger(logger).level == logging.NOTSET:
                logging.getLogger(logger).setLevel(logging.CRITICAL)
        self.name = name
        self.config = config
        self.retries = retries
        self.backoff = backoff
        verify: bool | str = config.ca_cert or True
        if isinstance(verify, str) and not os.path.isfile(verify):
            raise UsageError(f"azure:{name}: stores.{name}.ca_cert: no such file: {verify}")
        if credential is None:
            credential = build_credential(self.label, config.auth, env, verify)
        seconds = int(config.timeout.total_seconds()) or 30
        self._client = SecretClient(
            vault_url=config.vault_url, credential=credential, retry_total=0, connection_verify=verify,
            connection_timeout=seconds, read_timeout=seconds,
            # The challenge's resource must match the vault's domain, except for a local vault (tests, emulators).
            verify_challenge_resource=urlsplit(config.vault_url).hostname not in LOOPBACK,
        )

    @property
    def label(self) -> str:
        return f"azure:{self.name}"

    @property
    def min_interval(self) -> timedelta:
        return timedelta(0)

    # ------------------------------------------------------------------ plumbing
    def _call(self, ref: SecretRef, op: str, what: str, fn: Callable[[], T], *, preflight: bool = False) -> T:
        return call(self.label, ref.name, op, what, fn, retries=self.retries, backoff=self.backoff,
                    preflight=preflight, ca_hint=f"set stores.{self.name}.ca_cert to the CA bundle",
                    vault_url=self.config.vault_url)

    def names(self, ref: SecretRef) -> tuple[str, str, str]:
        """(secret, pending sibling, journal sibling) names in the vault."""
        try:
            base = kv_name(ref.path)
        except ValueError as exc:
            raise UsageError(f"{ref.name}: {self.label}: {exc}") from None
        return base, base + PENDING_TAIL, base + JOURNAL_TAIL

    def get(self, ref: SecretRef, kv: str, version: str | None = None, *, preflight: bool = False) -> Any | None:
        """The secret bundle (None when absent); raises Disabled for a disabled version."""
        what = f"{kv}/{version}" if version else kv
        try:
            return self._call(ref, "get", what, lambda: self._client.get_secret(kv, version), preflight=preflight)
        except NotFound:
            return None

    def versions(self, ref: SecretRef, kv: str, *, preflight: bool = False) -> list[Any]:
        """Every version's properties (all pages), oldest first ([] when absent)."""
        try:
            items = self._call(ref, "list", kv, lambda: list(self._client.list_properties_of_secret_versions(kv)),
                               preflight=preflight)
        except NotFound:
            return []
        return sorted(items, key=lambda p: p.created_on.timestamp() if p.created_on else 0.0)

    def deleted(self, ref: SecretRef, kv: str, *, preflight: bool = False) -> bool:
        try:
            self._call(ref, "getdeleted", kv, lambda: self._client.get_deleted_secret(kv), preflight=preflight)
        except NotFound:
            return False
        return True

    def write(self, ref: SecretRef, kv: str, value: str, tags: dict[str, str],
            on_deleted: Literal["purge", "recover", "refuse"], *, expires_on: datetime | None = None) -> tuple[Any, str]:
        """Write a new version tagged with a fresh write nonce (and ``expires_on``, when
        given). A soft-deleted name is purged (recovered when purge is refused), recovered,
        or refused as asked."""
        nonce = uuid.uuid4().hex
        tags = {**tags, TAG_WRITE: nonce}
        for _ in range(2):
            try:
                return self._call(ref, "set", kv, lambda: self._client.set_secret(kv, value, tags=tags,
                                                                                  expires_on=expires_on)), nonce
            except DeletedName:
                if on_deleted == "refuse":
                    raise self._soft_deleted(ref, kv) from None
                if on_deleted == "purge" and self.purge(ref, kv):
                    continue
                self._call(ref, "recover", kv, lambda: self._client.begin_recover_deleted_secret(kv).result())
        raise Conflict(f"{ref.name}: {self.label}: {kv} stays soft-deleted after recover/purge — retry later")

    def purge(self, ref: SecretRef, kv: str) -> bool:
        """Purge a soft-deleted secret; False when purge is refused (purge protection)."""
        try:
            self._call(ref, "purge", kv, lambda: self._client.purge_deleted_secret(kv))
        except NotFound:
            pass
        except PurgeRefused:
            return False
        return True

    def disable(self, ref: SecretRef, kv: str, version: str) -> None:
        try:
            self._call(ref, "update", f"{kv}/{version}",
                       lambda: self._client.update_secret_properties(kv, version, enabled=False))
        except NotFound:
            pass

    def verify_write(self, ref: SecretRef, kv: str, before: set[str], mine: Any, nonce: str) -> None:
        """Compare-and-verify: right after our write, the versions are those seen at the
        compare plus ours (retried duplicates of our write are disabled)."""
        extra = [p for p in self.versions(ref, kv) if p.version not in before and p.version != mine.properties.version]
        foreign = [p for p in extra if (p.tags or {}).get(TAG_WRITE) != nonce]
        for p in extra:
            if p not in foreign and p.enabled:
                self.disable(ref, kv, p.version)
        if foreign:
            raise Conflict(
                f"{ref.name}: {self.label}: {kv} was written concurrently (version {foreign[0].version} appeared "
                f"next to ours, {mine.properties.version}) — another rotation or writer is active; inspect the "
                f"secret, then `keyturn abort {ref.name} --reason TEXT` and rotate again")

    def _soft_deleted(self, ref: SecretRef, kv: str) -> Conflict:
        return Conflict(f"{ref.name}: {self.label}: secret {kv} is soft-deleted — recover it (az keyvault secret "
                        f"recover --name {kv}) or purge it (az keyvault secret purge --name {kv}), then re-run")

    def _latest(self, ref: SecretRef, kv: str) -> Any | None:
        try:
            return self.get(ref, kv)
        except Disabled:
            return None

    # ------------------------------------------------------------------ protocol
    def preflight(self, ref: SecretRef) -> None:
        """Read-only: the path maps to a Key Vault name, the identity can list and get the
        secret and its journal, the secret is not soft-deleted. Key Vault has no
        capability query: write permissions show on first use (403 names the action)."""
        if ref.key != "value":
            raise UsageError(f"{ref.name}: {self.label}: Key Vault secrets hold one value — remove `key: {ref.key}`")
        main, _, journal = self.names(ref)
        if not self.versions(ref, main, preflight=True) and self.deleted(ref, main, preflight=True):
            raise self._soft_deleted(ref, main)
        self.versions(ref, journal, preflight=True)
        try:
            self.get(ref, main, preflight=True)
        except Disabled:
            pass  # newest version disabled (a failed first rotation): rotatable

    def describe(self, ref: SecretRef) -> SecretState:
        main = self.names(ref)[0]
        ids = [p.version for p in self.versions(ref, main)]
        if not ids:
            if self.deleted(ref, main):
                raise self._soft_deleted(ref, main)
            return SecretState(exists=False)
        latest = self._latest(ref, main)
        if latest is None:  # newest version disabled: readers by name get 403
            return SecretState(exists=False, current=None, head=_head(ids))
        return SecretState(exists=True, current=VersionId(latest.properties.version), head=_head(ids),
                           created_at=latest.properties.created_on)

    def read(self, ref: SecretRef, version: VersionId) -> SecretValue:
        return SecretValue(str(self._version(ref, version).value))

    def _version(self, ref: SecretRef, version: VersionId) -> Any:
        """One version's bundle (value and properties); StoreUnavailable when disabled or gone."""
        main = self.names(ref)[0]
        try:
            bundle = self.get(ref, main, version)
        except Disabled:
            bundle = None
        if bundle is None or bundle.value is None:
            raise StoreUnavailable(f"version {version} of {main} is disabled or gone (revoked, or changed outside "
                                   "keyturn)", store=self.label, secret=ref.name)
        return bundle

    def journal(self, ref: SecretRef) -> AzureJournal:
        from keyturn.stores.azure_journal import AzureJournal

        return AzureJournal(self, ref, self.names(ref)[2])

    def _pending(self, ref: SecretRef) -> Any | None:
        try:
            return self.get(ref, self.names(ref)[1])
        except Disabled:
            return None

    def create_pending(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue) -> SecretValue:
        bundle = self._pending(ref)
        if bundle is not None and (bundle.properties.tags or {}).get(TAG_ROTATION) == rotation_id:
            return SecretValue(str(bundle.value))  # adopt: a re-run never makes another
        self.write(ref, self.names(ref)[1], value.reveal(), {TAG_ROLE: "pending", TAG_ROTATION: rotation_id},
                 on_deleted="purge")
        return value

    def read_pending(self, ref: SecretRef, rotation_id: RotationId) -> SecretValue | None:
        bundle = self._pending(ref)
        if bundle is None or (bundle.properties.tags or {}).get(TAG_ROTATION) != rotation_id:
            return None
        return SecretValue(str(bundle.value))

    def discard_pending(self, ref: SecretRef, rotation_id: RotationId) -> None:
        """Delete the pending sibling and purge it (a vault with purge protection keeps
        it soft-deleted until its purge date; the next create_pending recovers it)."""
        kv = self.names(ref)[1]
        try:
            self._call(ref, "delete", kv, lambda: self._client.begin_delete_secret(kv).result())
        except NotFound:
            if not self.deleted(ref, kv):
                return
        self.purge(ref, kv)

    def _put_current(self, ref: SecretRef, value: str, tags: dict[str, str], ids: list[str],
                     expires_on: datetime | None) -> VersionId:
        main = self.names(ref)[0]
        bundle, nonce = self.write(ref, main, value, {TAG_ROLE: "current", **tags}, on_deleted="refuse",
                                   expires_on=expires_on)
        self.verify_write(ref, main, set(ids), bundle, nonce)
        return VersionId(bundle.properties.version)

    def promote(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue, expect_head: str) -> VersionId:
        main = self.names(ref)[0]
        ids = [p.version for p in self.versions(ref, main)]
        if _head(ids) == expect_head:
            expires_on = utcnow() + ref.max_age if ref.max_age else None
            return self._put_current(ref, value.reveal(), {TAG_ROTATION: rotation_id}, ids, expires_on)
        latest = self._latest(ref, main)
        if (latest is not None and (latest.properties.tags or {}).get(TAG_ROTATION) == rotation_id
                and SecretValue(str(latest.value), mask=False).same_as(value)):
            return VersionId(latest.properties.version)  # promoted before a crash; adopt
        raise Conflict(f"{ref.name}: {self.label} {main} was written outside this rotation since it began — "
                       f"nothing promoted; `keyturn abort {ref.name} --reason TEXT` abandons this rotation, then "
                       "rotate again")

    def restore(self, ref: SecretRef, version: VersionId, expect_current: VersionId | None) -> VersionId:
        """Write ``version``'s value as a new version (Key Vault cannot move "latest")."""
        main = self.names(ref)[0]
        bundle = self._version(ref, version)
        old = SecretValue(str(bundle.value))
        latest = self._latest(ref, main)
        current = latest.properties.version if latest is not None else None
        if current == expect_current:
            ids = [p.version for p in self.versions(ref, main)]
            return self._put_current(ref, old.reveal(), {TAG_RESTORED: str(version)}, ids,
                                     bundle.properties.expires_on)
        if (latest is not None and (latest.properties.tags or {}).get(TAG_RESTORED) == version
                and SecretValue(str(latest.value), mask=False).same_as(old)):
            return VersionId(latest.properties.version)  # already restored
        raise Conflict(f"{ref.name}: cannot restore version {version}: {main}'s newest version is {current}, "
                       f"expected {expect_current} (written outside keyturn) — inspect it, then "
                       f"`keyturn abort {ref.name} --reason TEXT`")

    def retire(self, ref: SecretRef, versions: list[VersionId], *, allow_current: bool = False) -> list[VersionId]:
        """Disable versions; reported revoked only when read back disabled."""
        main = self.names(ref)[0]
        wanted = list(dict.fromkeys(v for v in versions if v))
        if not allow_current:
            latest = self._latest(ref, main)
            wanted = [v for v in wanted if latest is None or v != latest.properties.version]
        props = {p.version: p for p in self.versions(ref, main)}
        for v in wanted:
            if v in props and props[v].enabled:
                self.disable(ref, main, v)
        props = {p.version: p for p in self.versions(ref, main)}
        return [v for v in wanted if v not in props or not props[v].enabled]

    def live_versions(self, ref: SecretRef) -> list[VersionId]:
        return [VersionId(p.version) for p in self.versions(ref, self.names(ref)[0]) if p.enabled]
