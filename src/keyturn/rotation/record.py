"""The rotation journal's records: what keyturn knows about one secret's lifecycle.

A :class:`JournalDoc` is keyturn's own bookkeeping for one secret, kept in a slot the
store provides (see :class:`keyturn.stores.base.JournalSlot`) and never containing a
value. It has two parts:

* ``versions`` — every version keyturn made CURRENT (or found CURRENT and rotated away
  from) that has not been revoked yet, each with its role and the time after which it
  must be revoked. This is what makes retirement a promise on every path (I8): a version
  leaves this list only when its revocation was read back.
* ``op`` — the in-flight operation (:class:`OpRecord`: rotate, finalize, rollback or
  abort), its stage, lease and per-target ledger. A killed operation resumes as itself.

Pure data and (de)serialisation; imports nothing from stores, targets or SDKs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any, NewType

VersionId = NewType("VersionId", str)
RotationId = NewType("RotationId", str)

SCHEMA = 2


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Operation(str, Enum):
    ROTATE = "rotate"
    FINALIZE = "finalize"
    ROLLBACK = "rollback"
    ABORT = "abort"


class Stage(str, Enum):
    """Stages an operation has *completed*, in order. Rotations walk the first six;
    a rollback (manual, smoke failure or abort after promotion) enters ROLLING_BACK;
    finalize walks BEGUN → TARGETS_CLEANED → DONE."""

    BEGUN = "begun"
    CREATED = "created"
    VERIFIED = "verified"
    PROMOTED = "promoted"
    DISTRIBUTED = "distributed"
    SMOKED = "smoked"
    ROLLING_BACK = "rolling_back"
    STORE_RESTORED = "store_restored"
    TARGETS_CLEANED = "targets_cleaned"


_ORDER = [s.value for s in Stage]


class Role(str, Enum):
    CURRENT = "current"
    PREVIOUS = "previous"  # valid until retire_after (the grace window)
    RETIRING = "retiring"  # to be revoked as soon as possible (superseded, rolled back, grace 0)


@dataclass(frozen=True)
class TrackedVersion:
    version: VersionId
    generation: int
    role: str
    since: str = ""
    retire_after: str | None = None
    why: str = ""
    #: the credential's id at its issuer (an access key id; never the value), if issued
    credential: str = ""

    def due(self, now: datetime) -> bool:
        if self.role == Role.CURRENT.value:
            return False
        after = parse_iso(self.retire_after)
        return after is None or after <= now


@dataclass(frozen=True)
class OpRecord:
    """An in-flight operation (never contains a value)."""

    operation: str
    rotation_id: RotationId
    secret: str
    mode: str
    reason: str | None
    actor: str
    started: str
    stage: str = Stage.BEGUN.value
    #: the store's head (opaque CAS token) when the operation began
    store_head: str = ""
    old_version: VersionId | None = None
    old_generation: int = 0
    new_version: VersionId | None = None
    generation: int = 1
    promoted_at: str | None = None
    grace_until: str | None = None
    restored_version: VersionId | None = None
    #: versions this operation must revoke before it completes
    retire: tuple[VersionId, ...] = ()
    lock_owner: str = ""
    lock_since: str = ""
    lock_expires: str = ""
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = ""
    #: an issuer was called for this rotation (a resumed run must clean up a lost issue)
    issuing: bool = False
    #: the new credential's id at its issuer, and the old one's
    credential: str = ""
    old_credential: str = ""
    #: a sharded distribution (``rotation/shards.py``): shard count and each shard's run
    shards: dict[str, Any] = field(default_factory=dict)

    def at_least(self, stage: Stage) -> bool:
        return _ORDER.index(self.stage) >= _ORDER.index(stage.value)

    def with_(self, **changes: Any) -> OpRecord:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpRecord:
        known = set(cls.__dataclass_fields__)
        clean = {k: v for k, v in data.items() if k in known}
        if "retire" in clean:
            clean["retire"] = tuple(clean["retire"])
        return cls(**clean)


@dataclass(frozen=True)
class Awaiting:
    """A revocation only a person can do (a vendor dashboard), recorded until
    ``keyturn confirm-revoked``."""

    version: VersionId
    credential: str
    since: str
    instructions: str = ""


def _op_dict(op: OpRecord) -> dict[str, Any]:
    data = asdict(op)
    if not data["shards"]:
        del data["shards"]  # an unsharded operation's record is as it always was
    return data


@dataclass(frozen=True)
class JournalDoc:
    secret: str
    versions: tuple[TrackedVersion, ...] = ()
    op: OpRecord | None = None
    #: public data a target may cache across runs (e.g. GitHub scope public keys)
    cache: dict[str, Any] = field(default_factory=dict)
    #: revocations waiting for a person's confirmation
    awaiting: tuple[Awaiting, ...] = ()

    # -- views -----------------------------------------------------------------
    def role(self, role: Role) -> list[TrackedVersion]:
        return [v for v in self.versions if v.role == role.value]

    @property
    def current(self) -> TrackedVersion | None:
        found = self.role(Role.CURRENT)
        return found[0] if found else None

    @property
    def previous(self) -> TrackedVersion | None:
        found = self.role(Role.PREVIOUS)
        return max(found, key=lambda v: v.generation) if found else None

    def find(self, version: VersionId | None) -> TrackedVersion | None:
        return next((v for v in self.versions if v.version == version), None) if version else None

    def due(self, now: datetime) -> list[TrackedVersion]:
        return [v for v in self.versions if v.due(now)]

    def with_(self, **changes: Any) -> JournalDoc:
        return replace(self, **changes)

    def without(self, versions: set[str]) -> tuple[TrackedVersion, ...]:
        return tuple(v for v in self.versions if v.version not in versions)

    # -- serialisation -----------------------------------------------------------
    def to_json(self) -> str:
        data = {
            "schema": SCHEMA,
            "secret": self.secret,
            "versions": [asdict(v) for v in self.versions],
            "op": _op_dict(self.op) if self.op else None,
            "cache": self.cache,
            "awaiting": [asdict(a) for a in self.awaiting],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str, secret: str) -> JournalDoc:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError("unknown journal schema")
        versions = tuple(
            TrackedVersion(**{k: v for k, v in item.items() if k in TrackedVersion.__dataclass_fields__})
            for item in data.get("versions") or []
        )
        op = OpRecord.from_dict(data["op"]) if data.get("op") else None
        awaiting = tuple(
            Awaiting(**{k: v for k, v in item.items() if k in Awaiting.__dataclass_fields__})
            for item in data.get("awaiting") or []
        )
        return cls(secret=data.get("secret") or secret, versions=versions, op=op,
                   cache=dict(data.get("cache") or {}), awaiting=awaiting)
