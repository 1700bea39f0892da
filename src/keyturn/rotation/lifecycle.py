"""After the rotation: ``finalize`` (retire PREVIOUS once its grace window ended) and
a manual ``rollback`` (make PREVIOUS CURRENT again while it is still in grace).

Both take the same per-secret lease as a rotation, so they never interleave with one
(I7), and both are safe to repeat. Never imports an SDK.
"""

from __future__ import annotations

from keyturn.errors import Conflict, DistributionFailed, KeyturnError, UsageError
from keyturn.rotation.context import Runtime
from keyturn.rotation.engine import Outcome, Rotation, new_rotation_id
from keyturn.rotation.locking import Lease, new_owner
from keyturn.stores.base import RotationRecord, iso
from keyturn.targets.base import retire_entries


def finalize(rt: Runtime, name: str, *, force: bool = False) -> Outcome:
    store = rt.store_for(name)
    ref = rt.ref(name)
    state = store.describe(ref)
    if not state.exists or not state.previous:
        rt.progress.step(name, "nothing to retire")
        return Outcome(name, "skipped", message="no previous version")
    now = rt.clock()
    if state.grace_until and state.grace_until > now and not force:
        rt.progress.step(name, f"previous version {state.previous} in grace until {iso(state.grace_until)}")
        return Outcome(name, "skipped", message=f"in grace until {iso(state.grace_until)}")
    lease = Lease(store, ref, new_owner(), rt.clock)
    existing, _ = store.load_rotation(ref)
    if existing is not None:
        raise Conflict(
            f"{name}: rotation {existing.rotation_id} is unfinished (stage {existing.stage}) — finish it "
            f"with `keyturn rotate {name}` before finalize"
        )
    record = lease.acquire(lambda: RotationRecord(
        rotation_id=new_rotation_id(), secret=name, mode="finalize", reason=None, actor=rt.actor,
        started=iso(now) or "", old_version=state.previous, new_version=state.current,
        generation=state.generation, old_generation=state.previous_generation or 0,
    ))
    failures = []
    for bound in rt.targets_for(name):
        names = retire_entries(bound.shape, bound.entry_name, state.previous_generation)
        if not names:
            continue
        try:
            bound.target.delete(names)
            rt.progress.step(name, f"  removed {', '.join(names)} from {bound.label}")
        except KeyturnError as exc:  # reported below; PREVIOUS stays until a re-run succeeds
            failures.append((bound.label, str(exc)))
    if failures:
        store.finish(ref, record.rotation_id)
        raise DistributionFailed(name, failures)
    revoked = store.retire(ref, [state.previous])
    rt.record("rotation.retire", secret=name, store=store.label,
              versions={"current": state.current or "", "retired": ",".join(revoked)},
              mode="finalize", rotation_id=record.rotation_id)
    store.finish(ref, record.rotation_id)
    rt.progress.step(name, f"retired version(s) {', '.join(revoked) or 'none'}")
    return Outcome(name, "retired", record.rotation_id, state.current or "", ",".join(revoked))


def rollback(rt: Runtime, name: str, *, reason: str | None = None) -> Outcome:
    """Manual rollback during the grace window: PREVIOUS becomes CURRENT again."""
    store = rt.store_for(name)
    ref = rt.ref(name)
    existing, _ = store.load_rotation(ref)
    if existing is not None and existing.at_least("promoted"):
        # An unfinished rotation: roll it back through the engine.
        rot = Rotation(rt, name, mode=existing.mode, reason=reason or existing.reason)
        record = rot.lease.acquire(lambda: existing)
        return _restore(rot, record, reason)
    if existing is not None:
        raise Conflict(f"{name}: rotation {existing.rotation_id} has not promoted anything; "
                       f"re-run `keyturn rotate {name}` to finish it")
    state = store.describe(ref)
    if not state.previous:
        raise UsageError(f"{name}: no PREVIOUS version to roll back to (retired, or never rotated)")
    rot = Rotation(rt, name, mode="scheduled", reason=reason)
    record = rot.lease.acquire(lambda: RotationRecord(
        rotation_id=new_rotation_id(), secret=name, mode="rollback", reason=reason, actor=rt.actor,
        started=iso(rt.clock()) or "", stage="distributed", old_version=state.previous,
        old_generation=state.previous_generation or 0, new_version=state.current,
        generation=state.generation, promoted_at=iso(state.rotated_at),
    ))
    return _restore(rot, record, reason)


def _restore(rot: Rotation, record: RotationRecord, reason: str | None) -> Outcome:
    restored, failures = rot.restore_previous(record, f"manual rollback ({reason or 'no reason given'})")
    if failures:
        raise DistributionFailed(rot.name, failures)
    return Outcome(rot.name, "rolled_back", record.rotation_id, version=restored,
                   previous=record.new_version or "",
                   message=f"version {record.old_version}'s value is CURRENT again (as version {restored})")
