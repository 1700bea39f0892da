"""Operations around the rotation: ``finalize`` (retire what is due), a manual
``rollback``, ``abort`` (abandon an in-flight operation, restoring what it changed) and
``unlock`` (free a lease whose owner is gone) — and the one :func:`resume` that
dispatches an unfinished operation on its recorded kind, so a killed finalize resumes as
finalize and a killed rollback as rollback, whichever command finds it.

All of them take the same per-secret journal lease as a rotation (I7) and are safe to
repeat. Never imports an SDK.
"""

from __future__ import annotations

from keyturn._internal import faults
from keyturn.errors import Conflict, DistributionFailed, KeyturnError, SmokeFailed, UsageError, VerificationFailed
from keyturn.rotation import shards
from keyturn.rotation.context import Runtime
from keyturn.rotation.engine import Rotation, new_rotation_id
from keyturn.rotation.journal import conflict_message, lease_is_live, resume_verb
from keyturn.rotation.record import JournalDoc, Operation, OpRecord, Role, RotationId, Stage, iso
from keyturn.rotation.secretop import Outcome, SecretOp
from keyturn.values import SecretValue

__all__ = ["abort", "confirm_revoked", "finalize", "resume", "rollback", "rotate", "unlock"]


def resume(rt: Runtime, name: str, op: OpRecord) -> Outcome | None:
    """Finish ``op`` (found in the journal) as the operation it is. Returns None for an
    in-flight rotation, which only ``rotate``, ``rollback`` or ``abort`` may continue."""
    if op.operation == Operation.FINALIZE.value:
        rt.progress.step(name, f"finishing an interrupted finalize ({op.rotation_id})")
        return finalize(rt, name)
    if op.operation == Operation.ROLLBACK.value:
        rt.progress.step(name, f"finishing an interrupted rollback ({op.rotation_id})")
        return rollback(rt, name, reason=op.reason)
    if op.operation == Operation.ABORT.value:
        rt.progress.step(name, f"finishing an interrupted abort ({op.rotation_id})")
        return abort(rt, name, reason=op.reason or "resumed")
    return None


def _other_op(rt: Runtime, sop: SecretOp, kinds: tuple[str, ...]) -> None:
    """Finish an unfinished operation of one of ``kinds`` before starting another."""
    doc = sop.journal.doc  # loaded by the preflight
    if doc.op is not None and doc.op.operation in kinds:
        if lease_is_live(doc.op, rt.clock()):
            raise Conflict(conflict_message(sop.name, doc.op))
        resume(rt, sop.name, doc.op)
        sop.journal.load()  # what the resumed operation left (its own journal object wrote it)


def rotate(rt: Runtime, name: str, *, mode: str = "scheduled", reason: str | None = None,
           value: SecretValue | None = None) -> Outcome:
    """Rotate ``name`` (``value``: a new value a person supplied, for random and manual generators)."""
    rot = Rotation(rt, name, mode=mode, reason=reason, value=value)
    rot.preflight()
    _other_op(rt, rot, (Operation.FINALIZE.value, Operation.ROLLBACK.value, Operation.ABORT.value))
    try:
        return rot.run()
    except (SmokeFailed, Conflict):
        raise  # rolled back (notified as such), or another run holds it
    except KeyturnError as exc:
        op = rot.journal.doc.op
        if op is not None or isinstance(exc, VerificationFailed):
            rot.notify(op or OpRecord("rotate", RotationId(""), name, mode, reason, rt.actor, ""), "failed", str(exc))
        raise


# ---------------------------------------------------------------------------- finalize
def finalize(rt: Runtime, name: str, *, force: bool = False) -> Outcome:
    """Revoke every tracked version whose time has come (``--force``: every PREVIOUS too),
    removing its grace-only target entries first."""
    sop = SecretOp(rt, name)
    sop.store.preflight(sop.ref)
    doc = sop.journal.load()
    now = rt.clock()
    if doc.op is not None and doc.op.operation == Operation.ROTATE.value:
        if lease_is_live(doc.op, now):
            raise Conflict(conflict_message(name, doc.op))
        raise Conflict(f"{name}: rotation {doc.op.rotation_id} is unfinished (stage {doc.op.stage}) — finish it "
                       f"with `keyturn rotate {name}` (or `keyturn abort {name} --reason TEXT`), then finalize")
    if doc.op is not None and doc.op.operation in (Operation.ROLLBACK.value, Operation.ABORT.value):
        resume(rt, name, doc.op)
        doc = sop.journal.load()
    resuming = doc.op is not None
    due = [v for v in doc.versions if v.role != Role.CURRENT.value and (force or v.due(now))]
    if not due and not resuming:
        prev = doc.previous
        if prev is not None:
            rt.progress.step(name, f"previous version {prev.version} in grace until {prev.retire_after}")
            return Outcome(name, "skipped", message=f"in grace until {prev.retire_after}")
        rt.progress.step(name, "nothing to retire")
        return Outcome(name, "skipped", message="nothing to retire")
    op = sop.journal.acquire(lambda d: OpRecord(
        operation=Operation.FINALIZE.value, rotation_id=new_rotation_id(), secret=name, mode="finalize",
        reason="forced" if force else None, actor=rt.actor, started=iso(now) or "",
        new_version=d.current.version if d.current else None, generation=d.current.generation if d.current else 0,
    ))
    if op.operation != Operation.FINALIZE.value:
        sop.journal.release()
        raise Conflict(conflict_message(name, op))
    if op.reason == "forced" and not force:  # a resumed finalize --force stays forced
        force = True
        due = [v for v in sop.journal.doc.versions if v.role != Role.CURRENT.value]
    if force:
        versions = sop.journal.doc.versions
        for v in due:
            versions = sop.track(sop.journal.doc.with_(versions=versions), v.version, v.generation, Role.RETIRING,
                                 now=now, why="finalize --force")
        op = sop.journal.checkpoint(op, versions=versions)
    faults.point("finalize-begun")
    revoked, left = sop.retire_due(op, clean_targets=True)
    if left:
        sop.journal.release()
        raise DistributionFailed(name, [(f"{sop.store.label} version {v.version}", "not revoked") for v in left])
    sop.journal.finish()
    return Outcome(name, "retired", op.rotation_id, op.new_version or "", ",".join(revoked), revoked=revoked)


# ---------------------------------------------------------------------------- rollback
def rollback(rt: Runtime, name: str, *, reason: str | None = None) -> Outcome:
    """Make PREVIOUS (still in grace) CURRENT again; or roll back an unfinished rotation
    that promoted; or finish an interrupted rollback."""
    rot = Rotation(rt, name, mode="scheduled", reason=reason)
    rot.store.preflight(rot.ref)
    doc = rot.journal.load()
    existing = doc.op
    if existing is not None and lease_is_live(existing, rt.clock()):
        raise Conflict(conflict_message(name, existing))
    if existing is not None and existing.operation == Operation.FINALIZE.value:
        finalize(rt, name)
        doc = rot.journal.load()
        existing = doc.op
    if existing is not None and existing.operation == Operation.ROTATE.value and not existing.at_least(Stage.PROMOTED):
        raise Conflict(f"{name}: rotation {existing.rotation_id} has not promoted anything (stage {existing.stage}); "
                       f"re-run `keyturn rotate {name}` to finish it, or `keyturn abort {name} --reason TEXT`")
    if existing is None:
        prev, cur = doc.previous, doc.current
        if prev is None or cur is None or prev.due(rt.clock()):
            raise UsageError(f"{name}: no PREVIOUS version in its grace window to roll back to (retired, or "
                             "never rotated) — rotate instead")
    op = rot.journal.acquire(lambda d: _rollback_op(rt, name, d, reason))
    _no_running_shard(rot, op)
    if op.operation == Operation.ROTATE.value and not op.at_least(Stage.ROLLING_BACK):
        op = op.with_(reason=reason or op.reason)
    restored, failures = rot.restore_previous(op, f"manual rollback ({reason or 'no reason given'})")
    if failures:
        raise DistributionFailed(name, failures)
    return Outcome(name, "rolled_back", op.rotation_id, version=restored or "", previous=op.new_version or "",
                   message=f"version {op.old_version}'s value is CURRENT again (as version {restored})")


def _rollback_op(rt: Runtime, name: str, doc: JournalDoc, reason: str | None) -> OpRecord:
    prev, cur = doc.previous, doc.current
    assert prev is not None and cur is not None
    return OpRecord(
        operation=Operation.ROLLBACK.value, rotation_id=new_rotation_id(), secret=name, mode="scheduled",
        reason=reason, actor=rt.actor, started=iso(rt.clock()) or "", stage=Stage.DISTRIBUTED.value,
        old_version=prev.version, old_generation=prev.generation, new_version=cur.version,
        generation=cur.generation,
    )


# ---------------------------------------------------------------------------- abort / unlock
def abort(rt: Runtime, name: str, *, reason: str) -> Outcome:
    """Abandon the in-flight operation: before promotion the pending value is dropped;
    after it the old CURRENT is restored in the store and targets and the new version
    revoked. An interrupted finalize is simply closed (what is due stays due)."""
    if not reason.strip():
        raise UsageError("abort needs --reason TEXT (it is audited)")
    rot = Rotation(rt, name, mode="scheduled", reason=reason)
    doc = rot.journal.load()
    found = doc.op
    if found is None:
        rt.progress.step(name, "nothing in flight")
        return Outcome(name, "skipped", message="nothing in flight")
    if lease_is_live(found, rt.clock()):
        raise Conflict(conflict_message(name, found))
    op = rot.journal.acquire(lambda d: found)
    _no_running_shard(rot, op)
    rot.audit("rotation.abort", op, why=reason, stage=op.stage, operation=op.operation)
    if op.operation == Operation.ROTATE.value and op.at_least(Stage.PROMOTED):
        restored, failures = rot.restore_previous(op, f"aborted ({reason})", evidence="aborted")
        if failures:
            raise DistributionFailed(name, failures)
        return Outcome(name, "aborted", op.rotation_id, version=restored or "",
                       message=f"rolled back to version {op.old_version}'s value")
    if op.operation == Operation.ROLLBACK.value:
        restored, failures = rot.restore_previous(op, f"aborted rollback finished ({reason})")
        if failures:
            raise DistributionFailed(name, failures)
        return Outcome(name, "aborted", op.rotation_id, version=restored or "", message="the rollback was finished")
    if op.operation == Operation.ROTATE.value:
        rot.revoke_unpromoted(op)
        rot.store.discard_pending(rot.ref, op.rotation_id)
        if op.at_least(Stage.CREATED):
            rot.evidence(op.with_(outcome="aborted"), outcome="aborted", current=op.old_version or "", previous="",
                         revoke_confirmed=False, revoked=[], pending=[], due=None)
    rot.journal.finish()
    rt.progress.step(name, f"aborted {op.operation} {op.rotation_id}; nothing was live")
    return Outcome(name, "aborted", op.rotation_id, message="nothing had been promoted")


def _no_running_shard(rot: SecretOp, op: OpRecord) -> None:
    """Checked with the lease held: a shard still writing its slice (rotation/shards.py) wins."""
    try:
        shards.refuse_running(op, rot.rt.clock())
    except Conflict:
        rot.journal.release()
        raise


def unlock(rt: Runtime, name: str, *, reason: str) -> Outcome:
    """Expire the lease of an unfinished operation whose runner is gone (audited)."""
    if not reason.strip():
        raise UsageError("unlock needs --reason TEXT (it is audited)")
    sop = SecretOp(rt, name)
    op = sop.journal.unlock()
    freed = shards.released(sop.journal.doc.op, iso(rt.clock()) or "") if sop.journal.doc.op else None
    if freed is not None:  # the leases of sharded distribution runs go too
        sop.journal.update(op=freed)
    if op is None:
        rt.progress.step(name, "no lease held")
        return Outcome(name, "skipped", message="no lease held")
    sop.audit("rotation.unlock", op, why=reason, owner=op.lock_owner.split("/")[0] or None, stage=op.stage,
              operation=op.operation)
    rt.progress.step(name, f"lease of {op.operation} {op.rotation_id} released; resume with "
                     f"`keyturn {resume_verb(op.operation)} {name}` or abandon with "
                     f"`keyturn abort {name} --reason TEXT`")
    return Outcome(name, "unlocked", op.rotation_id)


# ---------------------------------------------------------------------------- confirm-revoked
def confirm_revoked(rt: Runtime, name: str, *, credential: str | None = None, reason: str) -> Outcome:
    """Record that a person revoked an old credential at its vendor (a manual
    generator's key, or one whose issuer the manifest no longer names). Audited."""
    if not reason.strip():
        raise UsageError("confirm-revoked needs --reason TEXT (it is audited)")
    sop = SecretOp(rt, name)
    sop.store.preflight(sop.ref)
    doc = sop.journal.load()
    if not doc.awaiting:
        rt.progress.step(name, "no revocation is waiting for confirmation")
        return Outcome(name, "skipped", message="nothing to confirm")
    chosen = [a for a in doc.awaiting if credential in (None, a.credential, a.version)]
    if not chosen:
        raise UsageError(f"{name}: no pending revocation {credential!r}; pending: "
                         + ", ".join(a.credential or f"version {a.version}" for a in doc.awaiting))
    if credential is None and len(doc.awaiting) > 1:
        raise UsageError(f"{name}: {len(doc.awaiting)} revocations are pending — name one with --credential ID "
                         "(" + ", ".join(a.credential or a.version for a in doc.awaiting) + ")")
    left = tuple(a for a in doc.awaiting if a not in chosen)
    sop.journal.update(awaiting=left)
    stub = OpRecord("confirm-revoked", RotationId(""), name, "manual", reason, rt.actor, iso(rt.clock()) or "")
    for a in chosen:
        sop.audit("rotation.revoke_confirmed", stub, version=a.version, credential=a.credential or None, why=reason)
    rt.progress.step(name, "recorded as revoked: " + ", ".join(a.credential or f"version {a.version}" for a in chosen))
    return Outcome(name, "confirmed", message=", ".join(a.credential or a.version for a in chosen))
