"""The store protocol: what the rotation engine needs from a secret store.

Every method does one protocol stage and is idempotent. Rotation state needed to
resume (the in-flight :class:`RotationRecord` and the PENDING value) lives in the
store itself, written with check-and-set (``token``), never only on the runner's disk.
``describe`` returns metadata only. No SDK is imported here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, NewType, Protocol, runtime_checkable

from keyturn.values import SecretValue

VersionId = NewType("VersionId", str)
RotationId = NewType("RotationId", str)

#: Stages a rotation has *completed*, in order.
STAGES = ("begun", "created", "verified", "promoted", "distributed", "smoked", "rolling_back")


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class SecretRef:
    """Where one manifest secret lives in its store."""

    name: str
    path: str
    key: str


@dataclass(frozen=True)
class SecretState:
    exists: bool
    current: VersionId | None = None
    previous: VersionId | None = None
    generation: int = 0
    previous_generation: int | None = None
    rotated_at: datetime | None = None
    grace_until: datetime | None = None
    managed: bool = False  # keyturn metadata present and consistent with the store


@dataclass(frozen=True)
class RotationRecord:
    """An in-flight rotation, persisted in the store (never contains a value)."""

    rotation_id: RotationId
    secret: str
    mode: str
    reason: str | None
    actor: str
    started: str
    stage: str = "begun"
    old_version: VersionId | None = None
    old_generation: int = 0
    new_version: VersionId | None = None
    generation: int = 1
    promoted_at: str | None = None
    grace_until: str | None = None
    #: A PREVIOUS still live when this rotation began: superseded, retired by it.
    retire_version: VersionId | None = None
    retire_generation: int | None = None
    lock_owner: str = ""
    lock_expires: str = ""
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)

    def at_least(self, stage: str) -> bool:
        return STAGES.index(self.stage) >= STAGES.index(stage)

    def with_(self, **changes: Any) -> RotationRecord:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RotationRecord:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@runtime_checkable
class Store(Protocol):
    """A backend holding versions of secrets. ``label`` is e.g. ``vault:secret``."""

    @property
    def label(self) -> str: ...

    def preflight(self, ref: SecretRef) -> None:
        """Refuse configurations that cannot rotate safely (raise UsageError)."""
        ...

    def describe(self, ref: SecretRef) -> SecretState: ...

    def read(self, ref: SecretRef, version: VersionId) -> SecretValue: ...

    def load_rotation(self, ref: SecretRef) -> tuple[RotationRecord | None, int]:
        """The in-flight record and its CAS token (0 when none)."""
        ...

    def save_rotation(self, ref: SecretRef, record: RotationRecord, token: int) -> int:
        """Write ``record`` if the stored token still equals ``token`` (0 = create
        only). Returns the new token; raises Conflict when someone else wrote."""
        ...

    def create_pending(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue) -> SecretValue:
        """Stage PENDING for this rotation; adopt (and return) an existing pending
        value of the same rotation instead of replacing it."""
        ...

    def read_pending(self, ref: SecretRef, rotation_id: RotationId) -> SecretValue | None:
        """The PENDING value of this rotation, or None."""
        ...

    def promote(
        self, ref: SecretRef, record: RotationRecord, value: SecretValue
    ) -> VersionId:
        """PENDING → CURRENT when CURRENT is still ``record.old_version`` (CAS);
        adopts a promotion already done for this record. Returns the new version."""
        ...

    def rollback(self, ref: SecretRef, record: RotationRecord) -> VersionId:
        """Make ``record.old_version``'s value CURRENT again and revoke the new one."""
        ...

    def finish(self, ref: SecretRef, rotation_id: RotationId) -> None:
        """Remove the pending value and the rotation record (release)."""
        ...

    def retire(self, ref: SecretRef, versions: list[VersionId]) -> list[VersionId]:
        """Revoke versions (delete/destroy/disable); returns those revoked."""
        ...

    def live_versions(self, ref: SecretRef) -> list[VersionId]:
        """Every version not yet revoked (emergency mode revokes all but CURRENT)."""
        ...
