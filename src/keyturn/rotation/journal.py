"""The rotation journal: keyturn's per-secret bookkeeping, with a lease, kept in the
store's :class:`~keyturn.stores.base.JournalSlot` with compare-and-set.

Every write goes through one CAS token, so two runs can never both believe they hold a
secret (I7). The lease is an owner id plus an expiry, renewed at every checkpoint. The
owner id is unique per process across hosts and PID namespaces: host name, the PID
namespace's inode, the PID and the process's start time. A lease may be taken over when
it expired, or when its owner is provably dead: same host and PID namespace, and no
process with that PID and start time exists (a killed run resumes at once). Anything
else is a live lease held by someone else: :class:`~keyturn.errors.Conflict`, exit 3,
naming the operation, since when, and the commands that resume, unlock or abort it.

Never imports a store adapter, a target or an SDK.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from keyturn.errors import Conflict, StoreUnavailable
from keyturn.rotation.record import JournalDoc, OpRecord, iso, parse_iso
from keyturn.stores.base import JournalSlot

DEFAULT_TTL = timedelta(minutes=15)


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def new_owner() -> str:
    """``host/pidns/pid/start/nonce`` — unique per process across hosts and namespaces."""
    pid = os.getpid()
    return "/".join([socket.gethostname(), _pid_namespace(), str(pid), _start_time(pid) or "-",
                     secrets.token_hex(4)])


def _owner_dead(owner: str) -> bool:
    parts = owner.split("/")
    if len(parts) != 5:
        return False
    host, ns, pid_text, start, _ = parts
    if host != socket.gethostname() or ns != _pid_namespace() or ns == "-" or not pid_text.isdigit():
        return False  # cannot see that process: only the expiry frees the lease
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    now_start = _start_time(pid)
    return start != "-" and now_start is not None and now_start != start  # PID reused


def lease_is_live(op: OpRecord, now: datetime) -> bool:
    return holder_is_live(op.lock_owner, op.lock_expires, now)


def holder_is_live(owner: str, expires_text: str | None, now: datetime) -> bool:
    """A lease (``owner`` until ``expires_text``) is live: not expired, owner not provably dead."""
    expires = parse_iso(expires_text)
    if not owner or expires is None or expires <= now:
        return False
    return not _owner_dead(owner)


def conflict_message(name: str, op: OpRecord) -> str:
    return (
        f"{name}: a {op.operation} ({op.mode}) operation {op.rotation_id} is in progress: it holds the lease since "
        f"{op.lock_since or op.started} (stage {op.stage}, owner {op.lock_owner.split('/')[0] or '?'}, "
        f"until {op.lock_expires}) — nothing changed; wait for it, or if its runner is gone: "
        f"`keyturn unlock {name} --reason TEXT` then `keyturn {resume_verb(op.operation)} {name}` to resume, "
        f"or `keyturn abort {name} --reason TEXT`"
    )


def resume_verb(operation: str) -> str:
    """The command that resumes an unfinished operation (an abort resumes through rotate)."""
    return operation if operation in ("finalize", "rollback") else "rotate"


class Journal:
    """One secret's journal during one run; holds the CAS token."""

    def __init__(self, slot: JournalSlot, name: str, owner: str, clock: Callable[[], datetime],
                 ttl: timedelta = DEFAULT_TTL) -> None:
        self.slot = slot
        self.name = name
        self.owner = owner
        self.clock = clock
        self.ttl = ttl
        self.token = ""
        self.doc = JournalDoc(secret=name)
        self.held = False
        self.resumed = False
        self._just_loaded = False  # self.doc is what load() read, and nothing was written since
        self._written = time.monotonic()  # the last write (renews the lease)

    # -- reading -------------------------------------------------------------------
    def load(self) -> JournalDoc:
        text, token = self.slot.load()
        self.token = token
        self._just_loaded = True
        if text is None:
            self.doc = JournalDoc(secret=self.name)
        else:
            try:
                self.doc = JournalDoc.from_json(text, self.name)
            except (ValueError, TypeError, KeyError) as exc:
                raise StoreUnavailable(
                    f"the rotation journal is unreadable ({exc.__class__.__name__}) — inspect it; "
                    "keyturn changed nothing", secret=self.name) from None
        return self.doc

    # -- the lease -----------------------------------------------------------------
    def acquire(self, fresh: Callable[[JournalDoc], OpRecord]) -> OpRecord:
        """Take the lease: resume the journal's own unfinished operation (returned as
        is: the caller dispatches on ``operation``) or begin ``fresh(doc)``."""
        doc = self.doc if self._just_loaded else self.load()  # a change since fails the CAS write below
        now = self.clock()
        op = doc.op
        if op is not None and lease_is_live(op, now) and op.lock_owner != self.owner:
            raise Conflict(conflict_message(self.name, op))
        self.resumed = op is not None
        if op is None:
            op = fresh(doc)
        return self.checkpoint(op)

    def stamp(self, op: OpRecord) -> OpRecord:
        now = self.clock()
        since = op.lock_since if op.lock_owner == self.owner and op.lock_since else iso(now) or ""
        return op.with_(lock_owner=self.owner, lock_since=since, lock_expires=iso(now + self.ttl) or "")

    def _write(self, doc: JournalDoc) -> None:
        """One CAS write of ``doc`` (the token moves on; a change by anyone else since
        our last read or write is :class:`~keyturn.errors.Conflict`)."""
        self.token = self.slot.save(doc.to_json(), self.token)
        self.doc = doc
        self._just_loaded = False
        self._written = time.monotonic()

    def lease_aging(self) -> bool:
        """A third of the lease has passed since the last write: write soon (a long run of
        slow target writes — retries, an outage — must not let the lease expire)."""
        return time.monotonic() - self._written >= self.ttl.total_seconds() / 3

    def checkpoint(self, op: OpRecord, **doc_changes: object) -> OpRecord:
        """Write the journal: the operation (stamped with our lease) and any document
        changes (``versions=``, ``cache=``) in one CAS write."""
        stamped = self.stamp(op)
        self._write(self.doc.with_(op=stamped, **doc_changes))
        self.held = True
        return stamped

    def note(self, op: OpRecord, **doc_changes: object) -> OpRecord:
        """Change the operation and the document in memory only: the next write (a
        checkpoint, ``finish`` or ``release``) carries them. For progress a re-run can
        redo — a kill before that write loses only work that is repeated, idempotently."""
        self.doc = self.doc.with_(op=op, **doc_changes)
        return op

    def finish(self, **doc_changes: object) -> None:
        """End the operation (op → none) with the final document changes."""
        self._write(self.doc.with_(op=None, **doc_changes))
        self.held = False

    def update(self, **doc_changes: object) -> None:
        """Change the document without an operation (e.g. the cache); keeps any op."""
        self._write(self.doc.with_(**doc_changes))

    def release(self) -> None:
        """Keep the operation (so a re-run resumes) but let anyone take it over now."""
        if not self.held or self.doc.op is None:
            return
        try:
            self._write(self.doc.with_(op=self.doc.op.with_(lock_expires=iso(self.clock()) or "")))
        except Exception:  # noqa: BLE001 - best effort; the lease expires anyway
            pass
        self.held = False

    def unlock(self) -> OpRecord | None:
        """Free a lease whose owner is gone (``keyturn unlock``): expire it now."""
        doc = self.load()
        if doc.op is None:
            return None
        self._write(doc.with_(op=doc.op.with_(lock_expires=iso(self.clock()) or "", lock_owner="")))
        return doc.op
