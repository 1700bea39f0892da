"""HashiCorp Vault / OpenBao KV v2 store (hvac).

Layout in the mount:

* ``PATH`` — the secret readers use; its latest version is CURRENT (invariant I1).
  keyturn keeps its bookkeeping in the entry's ``custom_metadata``
  (``keyturn_generation``, ``keyturn_previous_version``, ``keyturn_grace_until``, …);
  PREVIOUS stays readable by version number until it is retired.
* ``PATH.keyturn-rotation`` — the in-flight rotation record (lease, stage, ledger; no
  value), written with check-and-set.
* ``PATH.keyturn-pending`` — the pending sibling holding the PENDING value and its
  rotation id, kept at ``max_versions=1`` so no old pending value lingers.
  Both are deleted with all their versions when the rotation ends.

Promotion writes the pending value as a new version of ``PATH`` with ``cas`` equal to
the version that was CURRENT when the rotation began, so a concurrent writer is
detected (I7). Imports hvac lazily; never imports a target or the engine.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from keyturn.errors import Conflict, StoreUnavailable, UsageError
from keyturn.manifest import PENDING_SUFFIX, ROTATION_SUFFIX, VaultStoreConfig
from keyturn.stores.base import (
    RotationId,
    RotationRecord,
    SecretRef,
    SecretState,
    VersionId,
    iso,
    parse_iso,
    utcnow,
)
from keyturn.values import SecretValue

T = TypeVar("T")
_META = "keyturn_"


def _clear_previous(custom: dict[str, str]) -> None:
    """Drop the PREVIOUS bookkeeping (after rollback, retire, or a promotion without grace)."""
    for key in ("previous_version", "previous_generation", "grace_until"):
        custom.pop(_META + key, None)


def _created(version_info: dict[str, Any]) -> datetime | None:
    """A KV version's ``created_time`` (RFC 3339 with nanoseconds) to whole seconds."""
    created = version_info.get("created_time")
    return parse_iso(created[:19] + "Z") if created else None


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
        token = env.get(config.auth.token_env)
        if not token:
            raise UsageError(
                f"vault:{name}: no token — set {config.auth.token_env} (token auth) for store {name!r}"
            )
        verify: bool | str = config.ca_cert or env.get("VAULT_CACERT") or True
        self._client = hvac.Client(
            url=address,
            token=token,
            namespace=config.namespace or env.get("VAULT_NAMESPACE") or None,
            verify=verify,
            timeout=int(config.timeout.total_seconds()) or 30,
        )
        self._kv = self._client.secrets.kv.v2
        self.address = address

    @property
    def label(self) -> str:
        return f"vault:{self.name}"

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, ref: SecretRef | None, fn: Callable[[], T]) -> T:
        """Run an hvac call, retrying transport errors and 5xx, translating errors."""
        import hvac.exceptions as hx
        import requests

        secret = ref.name if ref else ""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except (hx.VaultDown, hx.InternalServerError, hx.BadGateway, requests.ConnectionError,
                    requests.Timeout) as exc:
                if attempt >= self.retries:
                    raise StoreUnavailable(
                        f"{what} failed after {attempt + 1} attempts ({exc.__class__.__name__}) at "
                        f"{self.address} — is the server up and unsealed?",
                        store=self.label, secret=secret,
                    ) from None
                time.sleep(self.backoff * (2**attempt))
            except hx.Forbidden:
                raise StoreUnavailable(
                    f"permission denied on {what} ({self.config.mount}/{ref.path if ref else ''}) — the "
                    f"token's policy needs create/read/update/delete on {self.config.mount}/data/* and "
                    f"{self.config.mount}/metadata/* (or {self.config.auth.token_env} is invalid or expired)",
                    store=self.label, secret=secret,
                ) from None
            except hx.Unauthorized:
                raise StoreUnavailable(
                    f"token rejected on {what} — check {self.config.auth.token_env}",
                    store=self.label, secret=secret,
                ) from None
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
        import hvac.exceptions as hx

        def write() -> int:
            try:
                resp = self._kv.create_or_update_secret(
                    path=path, secret=data, cas=cas, mount_point=self.config.mount
                )
            except hx.InvalidRequest as exc:
                if "check-and-set" in str(exc):
                    raise Conflict(
                        f"{ref.name}: {self.label} {path} changed concurrently (check-and-set failed) — "
                        "another rotation or writer is active; re-run when it has finished"
                    ) from None
                raise StoreUnavailable(
                    f"write refused: {str(exc).splitlines()[0][:200]}", store=self.label, secret=ref.name
                ) from None
            return int(resp["data"]["version"])

        return self._call("write", ref, write)

    def _pending_path(self, ref: SecretRef) -> str:
        return ref.path + PENDING_SUFFIX

    def _record_path(self, ref: SecretRef) -> str:
        return ref.path + ROTATION_SUFFIX

    def _one_version(self, ref: SecretRef, path: str) -> None:
        self._call(
            "update metadata",
            ref,
            lambda: self._kv.update_metadata(path=path, mount_point=self.config.mount, max_versions=1),
        )

    def _custom(self, meta: dict[str, Any] | None) -> dict[str, str]:
        return dict((meta or {}).get("custom_metadata") or {})

    def _set_custom(self, ref: SecretRef, custom: dict[str, str]) -> None:
        self._call(
            "update metadata",
            ref,
            lambda: self._kv.update_metadata(path=ref.path, mount_point=self.config.mount, custom_metadata=custom),
        )

    # ------------------------------------------------------------------ protocol
    def preflight(self, ref: SecretRef) -> None:
        import hvac.exceptions as hx

        def config() -> dict[str, Any]:
            try:
                resp: dict[str, Any] = self._kv.read_configuration(mount_point=self.config.mount)
                return dict(resp["data"])
            except hx.InvalidPath:
                raise UsageError(
                    f"{ref.name}: {self.label}: mount {self.config.mount!r} is not a KV v2 engine — "
                    f"enable it with: bao secrets enable -path={self.config.mount} kv-v2"
                ) from None

        mount_max = int(config().get("max_versions") or 0)
        meta = self._metadata(ref)
        secret_max = int((meta or {}).get("max_versions") or 0)
        effective = secret_max or mount_max
        if effective and effective < 2:
            where = f"secret {ref.path}" if secret_max else f"mount {self.config.mount}"
            raise UsageError(
                f"{ref.name}: {self.label}: {where} keeps only {effective} version — keyturn needs at "
                "least 2 (CURRENT + PREVIOUS); raise max_versions"
            )

    def describe(self, ref: SecretRef) -> SecretState:
        meta = self._metadata(ref)
        if not meta or not meta.get("versions"):
            return SecretState(exists=False)
        current = int(meta.get("current_version") or 0)
        versions = meta.get("versions") or {}
        cur_info = versions.get(str(current)) or {}
        if cur_info.get("deletion_time") or cur_info.get("destroyed"):
            return SecretState(exists=False, current=VersionId(str(current)))
        custom = self._custom(meta)
        managed = custom.get(_META + "current_version") == str(current)
        prev = custom.get(_META + "previous_version") if managed else None
        prev_gen = custom.get(_META + "previous_generation") if managed else None
        return SecretState(
            exists=True,
            current=VersionId(str(current)),
            previous=VersionId(prev) if prev else None,
            generation=int(custom.get(_META + "generation", "0") or 0) if managed else 0,
            previous_generation=int(prev_gen) if prev_gen else None,
            rotated_at=parse_iso(custom.get(_META + "rotated_at")) if managed else _created(cur_info),
            grace_until=parse_iso(custom.get(_META + "grace_until")) if managed and prev else None,
            managed=managed,
        )

    def read(self, ref: SecretRef, version: VersionId) -> SecretValue:
        data, _ = self._read_data(ref, ref.path, int(version))
        if not data or ref.key not in data:
            raise StoreUnavailable(
                f"version {version} of {self.config.mount}/{ref.path} has no key {ref.key!r} (deleted or "
                "written outside keyturn)",
                store=self.label, secret=ref.name,
            )
        return SecretValue(str(data[ref.key]))

    def load_rotation(self, ref: SecretRef) -> tuple[RotationRecord | None, int]:
        data, version = self._read_data(ref, self._record_path(ref), None)
        if not data or "record" not in data:
            # A deleted-but-not-purged entry still has a version: CAS needs it.
            return None, version
        return RotationRecord.from_json(data["record"]), version

    def save_rotation(self, ref: SecretRef, record: RotationRecord, token: int) -> int:
        path = self._record_path(ref)
        new_token = self._write(ref, path, {"record": record.to_json()}, cas=token)
        if not token:
            self._one_version(ref, path)
        return new_token

    def create_pending(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue) -> SecretValue:
        path = self._pending_path(ref)
        data, version = self._read_data(ref, path, None)
        if data and data.get("rotation_id") == rotation_id and "value" in data:
            return SecretValue(str(data["value"]))  # adopt: a re-run never makes another
        # Absent, or left over from a rotation that no longer holds the record: replace.
        self._write(ref, path, {"rotation_id": rotation_id, "value": value.reveal()}, cas=version)
        if not version:
            self._one_version(ref, path)
        return value

    def read_pending(self, ref: SecretRef, rotation_id: RotationId) -> SecretValue | None:
        data, _ = self._read_data(ref, self._pending_path(ref), None)
        if not data or "value" not in data or data.get("rotation_id") != rotation_id:
            return None
        return SecretValue(str(data["value"]))

    def promote(self, ref: SecretRef, record: RotationRecord, value: SecretValue) -> VersionId:
        meta = self._metadata(ref)
        latest = int((meta or {}).get("current_version") or 0)
        expected = int(record.old_version or 0)
        if latest == expected:
            new = self._write(ref, ref.path, {ref.key: value.reveal()}, cas=expected)
        elif latest == expected + 1 and self._holds(ref, latest, value):
            new = latest  # promoted before a crash; adopt
        else:
            raise Conflict(
                f"{ref.name}: {self.label} {self.config.mount}/{ref.path} moved from version {expected} to "
                f"{latest} outside this rotation — nothing promoted; inspect and re-run"
            )
        custom = self._custom(meta)  # a data write leaves custom_metadata as it was
        custom.update(
            {
                _META + "current_version": str(new),
                _META + "generation": str(record.generation),
                _META + "rotated_at": record.promoted_at or iso(utcnow()) or "",
                _META + "rotation_id": record.rotation_id,
            }
        )
        if record.old_version and record.grace_until is not None:
            custom[_META + "previous_version"] = str(record.old_version)
            custom[_META + "previous_generation"] = str(record.old_generation)
            custom[_META + "grace_until"] = record.grace_until
        else:
            _clear_previous(custom)
        self._set_custom(ref, custom)
        return VersionId(str(new))

    def _holds(self, ref: SecretRef, version: int, value: SecretValue) -> bool:
        data, _ = self._read_data(ref, ref.path, version)
        if not data or ref.key not in data:
            return False
        return SecretValue(str(data[ref.key]), mask=False).same_as(value)

    def rollback(self, ref: SecretRef, record: RotationRecord) -> VersionId:
        meta = self._metadata(ref)
        latest = int((meta or {}).get("current_version") or 0)
        bad = int(record.new_version or 0)
        custom = self._custom(meta)
        if not record.old_version:
            # First rotation created the secret: there is nothing to restore.
            if bad:
                self._call("delete", ref, lambda: self._kv.delete_secret_versions(
                    path=ref.path, versions=[bad], mount_point=self.config.mount))
            return VersionId("0")
        old_value = self.read(ref, record.old_version)
        if latest == bad:
            new = self._write(ref, ref.path, {ref.key: old_value.reveal()}, cas=latest)
        elif latest > bad and self._holds(ref, latest, old_value):
            new = latest  # already rolled back
        else:
            raise Conflict(
                f"{ref.name}: cannot roll back: {self.config.mount}/{ref.path} is at version {latest}, "
                f"expected {bad} — inspect manually"
            )
        if bad:
            self._revoke(ref, [bad])
        custom.update(
            {
                _META + "current_version": str(new),
                _META + "generation": str(record.old_generation),
                _META + "rotated_at": iso(utcnow()) or "",
                _META + "rotation_id": record.rotation_id,
            }
        )
        _clear_previous(custom)
        self._set_custom(ref, custom)
        return VersionId(str(new))

    def finish(self, ref: SecretRef, rotation_id: RotationId) -> None:
        import hvac.exceptions as hx

        record, _ = self.load_rotation(ref)
        if record is not None and record.rotation_id != rotation_id:
            raise Conflict(f"{ref.name}: the record belongs to rotation {record.rotation_id}; not removed")

        def purge(path: str) -> None:
            try:
                self._kv.delete_metadata_and_all_versions(path=path, mount_point=self.config.mount)
            except hx.InvalidPath:
                pass

        self._call("delete pending", ref, lambda: purge(self._pending_path(ref)))
        self._call("delete rotation record", ref, lambda: purge(self._record_path(ref)))

    def _revoke(self, ref: SecretRef, versions: list[int]) -> None:
        if self.config.retire == "destroy":
            fn = self._kv.destroy_secret_versions
        else:
            fn = self._kv.delete_secret_versions
        self._call("retire", ref, lambda: fn(path=ref.path, versions=versions, mount_point=self.config.mount))

    def retire(self, ref: SecretRef, versions: list[VersionId]) -> list[VersionId]:
        nums = sorted({int(v) for v in versions if v})
        meta = self._metadata(ref) or {}
        current = int(meta.get("current_version") or 0)
        nums = [n for n in nums if n != current]  # never revoke CURRENT
        if nums:
            self._revoke(ref, nums)
        custom = self._custom(meta)
        if custom.get(_META + "previous_version") in {str(n) for n in nums}:
            _clear_previous(custom)
            self._set_custom(ref, custom)
        return [VersionId(str(n)) for n in nums]

    def live_versions(self, ref: SecretRef) -> list[VersionId]:
        """Every version not yet deleted or destroyed (for emergency revocation)."""
        meta = self._metadata(ref) or {}
        out = []
        for num, info in (meta.get("versions") or {}).items():
            if not info.get("deletion_time") and not info.get("destroyed"):
                out.append(VersionId(str(num)))
        return sorted(out, key=int)
