"""Per-secret lease kept in the store's rotation record (invariant I7).

The lease is ``owner`` (``host:pid:nonce``) plus an expiry; it is renewed at every
checkpoint. A record whose lease expired, or whose owner is a dead process on this
host (a killed run), may be taken over: that is how a re-run resumes (I3). A live
lease held by someone else is a :class:`~keyturn.errors.Conflict` (exit 3) and this
run changes nothing. All writes go through the store's check-and-set token.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from keyturn.errors import Conflict
from keyturn.stores.base import RotationRecord, SecretRef, Store, iso, parse_iso

DEFAULT_TTL = timedelta(minutes=15)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(record: RotationRecord, now: datetime) -> bool:
    expires = parse_iso(record.lock_expires)
    if not record.lock_owner or expires is None or expires <= now:
        return False
    host, _, rest = record.lock_owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        return _pid_alive(int(pid_text))
    return True


class Lease:
    """Holds the CAS token for one secret's record during a run."""

    def __init__(self, store: Store, ref: SecretRef, owner: str, clock: Callable[[], datetime],
                 ttl: timedelta = DEFAULT_TTL) -> None:
        self.store = store
        self.ref = ref
        self.owner = owner
        self.clock = clock
        self.ttl = ttl
        self.token = 0
        self.record: RotationRecord | None = None
        self.resumed = False

    def acquire(self, fresh: Callable[[], RotationRecord]) -> RotationRecord:
        """Create a new record, or take over a stale one (resume). Conflict if held."""
        now = self.clock()
        record, token = self.store.load_rotation(self.ref)
        if record is not None and lease_is_live(record, now) and record.lock_owner != self.owner:
            raise Conflict(
                f"{self.ref.name}: rotation {record.rotation_id} is in progress (stage {record.stage}, "
                f"held by {record.lock_owner} until {record.lock_expires}) — nothing changed; wait for it "
                "or let the lease expire"
            )
        if record is None:
            record = fresh()
        else:
            self.resumed = True
        self.token = token
        return self.checkpoint(record)

    def checkpoint(self, record: RotationRecord) -> RotationRecord:
        stamped = record.with_(lock_owner=self.owner, lock_expires=iso(self.clock() + self.ttl) or "")
        self.token = self.store.save_rotation(self.ref, stamped, self.token)
        self.record = stamped
        return stamped

    def release(self) -> None:
        """Keep the record (so a re-run resumes) but let anyone take it over now."""
        if self.record is None:
            return
        try:
            released = self.record.with_(lock_expires=iso(self.clock()) or "")
            self.token = self.store.save_rotation(self.ref, released, self.token)
            self.record = released
        except Exception:  # noqa: BLE001 - best effort; the lease expires anyway
            pass
