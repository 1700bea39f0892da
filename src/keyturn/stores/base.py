"""The store protocol: the version verbs the rotation engine needs from a secret store,
and the journal slot each store provides for keyturn's own bookkeeping.

A :class:`Store` knows versions, not rotations: it describes what is CURRENT, reads a
version, stages a PENDING value for a rotation id (adopting its own on a re-run),
promotes it with a compare-and-set against the head seen at the start, restores an
older version's value, revokes versions and lists what is live. No method takes a
rotation record and no adapter applies engine policy (grace, generations, what to
revoke when): that is :mod:`keyturn.rotation.journal` and the engine.

Where the journal lives is the store's choice (:meth:`Store.journal`): Vault keeps it in
a sibling path, AWS and Azure in a sibling secret. The slot is a text blob with an opaque
compare-and-set token. No SDK is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from keyturn.rotation.record import RotationId, VersionId, iso, parse_iso, utcnow
from keyturn.values import SecretValue

#: Reserved suffixes of sibling entries a store may keep next to a secret.
PENDING_SUFFIX = ".keyturn-pending"
ROTATION_SUFFIX = ".keyturn-rotation"

__all__ = [
    "PENDING_SUFFIX", "ROTATION_SUFFIX",
    "JournalSlot", "RotationId", "SecretRef", "SecretState", "Store", "VersionId", "iso", "parse_iso", "utcnow",
]


@dataclass(frozen=True)
class SecretRef:
    """Where one manifest secret lives in its store, and the secret's ``policy.max_age``
    (a store that can mark a version's expiry, such as Key Vault's ``expires_on``, sets it
    on the version it promotes; None: the store sets none)."""

    name: str
    path: str
    key: str
    max_age: timedelta | None = None


@dataclass(frozen=True)
class SecretState:
    """What the store itself says about a secret (metadata only)."""

    exists: bool
    #: the version readers by name get, or None (absent, or its latest version revoked)
    current: VersionId | None = None
    #: opaque token of the latest write (including revoked versions): promotion's CAS
    head: str = ""
    created_at: datetime | None = None


@runtime_checkable
class JournalSlot(Protocol):
    """One text document per secret with compare-and-set. ``token`` is opaque."""

    def load(self) -> tuple[str | None, str]:
        """The stored text (None when absent) and its token ("" when absent)."""
        ...

    def save(self, text: str, token: str) -> str:
        """Write ``text`` if the stored token still equals ``token`` ("" = create only).
        Returns the new token. A retried write whose first attempt applied is recognised
        (the text read back is ours) and adopted; anyone else's write raises Conflict."""
        ...


@runtime_checkable
class Store(Protocol):
    """A backend holding versions of secrets. ``label`` is e.g. ``vault:secret``."""

    @property
    def label(self) -> str: ...

    @property
    def min_interval(self) -> timedelta:
        """The shortest time the service advises between two rotations of one secret
        (AWS: about 10 minutes); the engine refuses a non-emergency rotation inside it."""
        ...

    def preflight(self, ref: SecretRef) -> None:
        """Read-only: reachable, authenticated, configured so keyturn can rotate safely,
        with the permissions keyturn needs. Raises UsageError / StoreUnavailable."""
        ...

    def describe(self, ref: SecretRef) -> SecretState: ...

    def read(self, ref: SecretRef, version: VersionId) -> SecretValue: ...

    def journal(self, ref: SecretRef) -> JournalSlot: ...

    def create_pending(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue) -> SecretValue:
        """Stage PENDING for this rotation, invisible to readers by name; adopt (and
        return) an existing pending value of the same rotation instead of replacing it."""
        ...

    def read_pending(self, ref: SecretRef, rotation_id: RotationId) -> SecretValue | None: ...

    def discard_pending(self, ref: SecretRef, rotation_id: RotationId) -> None:
        """Remove the pending value of this rotation (repeatable)."""
        ...

    def promote(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue, expect_head: str) -> VersionId:
        """PENDING → CURRENT if the store's head is still ``expect_head`` (CAS); adopt a
        promotion of this value already done. Returns the new CURRENT version."""
        ...

    def restore(self, ref: SecretRef, version: VersionId, expect_current: VersionId | None) -> VersionId:
        """Make ``version``'s value what readers get again, if CURRENT is still
        ``expect_current``; adopt a restore already done. Returns the CURRENT version."""
        ...

    def retire(self, ref: SecretRef, versions: list[VersionId], *, allow_current: bool = False) -> list[VersionId]:
        """Revoke versions (delete/destroy/disable). CURRENT only with ``allow_current``
        (a failed first rotation). Returns those whose revocation was read back."""
        ...

    def live_versions(self, ref: SecretRef) -> list[VersionId]:
        """Every version not yet revoked."""
        ...
