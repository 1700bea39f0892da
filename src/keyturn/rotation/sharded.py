"""A rotation in three phases, for a secret whose targets outgrow one token's rate limit:

1. ``keyturn rotate NAME --until promoted [--shard-targets N]`` — create, verify, promote;
   the operation stays in the journal with its lease released (and records N).
2. ``keyturn rotate NAME --shard I/N`` — N jobs, each writing its own slice of the targets
   (:mod:`keyturn.rotation.shards`) with its own token or GitHub App installation
   (``KEYTURN_GITHUB_TOKEN_SHARD_<I>`` etc., see :func:`pin`), recording only its own ledger rows.
3. ``keyturn rotate NAME`` — the ordinary resume: once every shard's rows are confirmed,
   smoke → complete (a missing or failed shard is named, exit 4).

A shard never takes the operation's lease: it holds a lease of its own under ``op.shards``,
and every journal write is a compare-and-set that, on a conflict, reloads the document and
re-applies only this shard's rows (so concurrent shards never lose each other's rows). It
refuses to start while someone holds the operation's lease (a phase-1 run still promoting, a
finish, an abort), and stops if the operation moved on. Never imports an SDK.
"""

from __future__ import annotations

import random
import time
from typing import Any

from keyturn._internal import faults
from keyturn.errors import Conflict, KeyturnError, ServiceError, SmokeFailed
from keyturn.rotation import shards
from keyturn.rotation.context import Runtime
from keyturn.rotation.engine import LedgerBatches, Rotation
from keyturn.rotation.journal import DEFAULT_TTL, conflict_message, lease_is_live
from keyturn.rotation.lifecycle import _other_op
from keyturn.rotation.record import Operation, OpRecord, Stage, iso
from keyturn.rotation.secretop import Outcome, SecretOp, target_key
from keyturn.rotation.shards import Shard
from keyturn.targets.batch import write_ordered
from keyturn.targets.registry import BoundTarget
from keyturn.values import SecretValue

__all__ = ["PINNED", "ShardFailed", "distribute", "pin", "promote"]

#: variables a shard may have its own copy of: ``<own>_SHARD_<I>`` replaces ``<variable>``
PINNED = (("KEYTURN_GITHUB_TOKEN", "GITHUB_TOKEN"), ("KEYTURN_GITHUB_APP_ID", "KEYTURN_GITHUB_APP_ID"),
          ("KEYTURN_GITHUB_APP_PRIVATE_KEY", "KEYTURN_GITHUB_APP_PRIVATE_KEY"),
          ("KEYTURN_GITHUB_APP_INSTALLATION_ID", "KEYTURN_GITHUB_APP_INSTALLATION_ID"))
CAS_ATTEMPTS = 60


class ShardFailed(ServiceError):
    """Targets of one shard failed; its confirmed rows are recorded (exit 4)."""

    def __init__(self, secret: str, shard: Shard, failed: list[tuple[str, str]]) -> None:
        parts = "; ".join(f"{label} ({why})" for label, why in failed)
        super().__init__(f"{secret}: shard {shard.label}: {len(failed)} target(s) failed: {parts} — fix and re-run "
                         f"`keyturn rotate {secret} --shard {shard.label}` (its confirmed targets are skipped)")
        self.failed = failed


# ---------------------------------------------------------------------------- phase 1
class _Promoted(Exception):
    def __init__(self, op: OpRecord) -> None:
        super().__init__("promoted")
        self.op = op


class _UntilPromoted(Rotation):
    """A rotation that stops once promoted: distributing is the shards' job."""

    def _distribute(self, op: OpRecord, current: SecretValue, previous: SecretValue | None) -> OpRecord:
        raise _Promoted(op)


def promote(rt: Runtime, name: str, *, mode: str = "scheduled", reason: str | None = None,
            value: SecretValue | None = None, shard_count: int | None = None) -> Outcome:
    """Phase 1: create, verify and promote (or resume up to there), record ``shard_count``
    and release the lease so that the shards can start."""
    rot = _UntilPromoted(rt, name, mode=mode, reason=reason, value=value)
    rot.preflight()
    _other_op(rt, rot, (Operation.FINALIZE.value, Operation.ROLLBACK.value, Operation.ABORT.value))
    found = rot.journal.doc.op
    if (found is not None and found.operation == Operation.ROTATE.value and found.at_least(Stage.DISTRIBUTED)
            and not found.at_least(Stage.ROLLING_BACK)):
        rot.step(f"rotation {found.rotation_id} is past promote (stage {found.stage}); finish it with "
                 f"`keyturn rotate {name}`")
        return Outcome(name, "promoted", found.rotation_id, found.new_version or "", found.old_version or "",
                       message="already distributed")
    try:
        return rot.run()  # only when the run did not stop at distribute (a resumed rollback, …)
    except _Promoted as stop:
        op = stop.op
    except (SmokeFailed, Conflict):
        raise
    except KeyturnError as exc:
        if rot.journal.doc.op is not None:
            rot.notify(rot.journal.doc.op, "failed", str(exc))
        raise
    try:
        if shard_count:
            op = shards.with_count(op, shard_count)
        op = rot.journal.checkpoint(op)
        rot.audit("rotation.handoff", op, until="promoted", shards=shard_count or None)
    finally:
        rot.journal.release()
    how = (f"`keyturn rotate {name} --shard I/{shard_count}` for I in 1..{shard_count}" if shard_count
           else f"`keyturn rotate {name} --shard I/N` jobs (or `keyturn rotate {name}`)")
    rot.step(f"promoted; lease released — distribute with {how}, then finish with `keyturn rotate {name}`")
    return Outcome(name, "promoted", op.rotation_id, op.new_version or "", op.old_version or "")


# ---------------------------------------------------------------------------- phase 2
def pin(rt: Runtime, shard: Shard) -> list[str]:
    """Give this shard its own GitHub credential: ``KEYTURN_GITHUB_TOKEN_SHARD_<I>`` replaces
    ``GITHUB_TOKEN`` (and ``KEYTURN_GITHUB_APP_*_SHARD_<I>`` the App's variables) for this run.
    Returns the names used (never the values). Call before any target is built."""
    env = dict(rt.environ)
    used = []
    for own, var in PINNED:
        value = env.get(f"{own}_SHARD_{shard.index}")
        if value:
            env[var] = value
            used.append(f"{own}_SHARD_{shard.index}")
    if used:
        rt.environ = env
    return used


def distribute(rt: Runtime, name: str, shard: Shard) -> Outcome:
    """Phase 2: write this shard's slice of a promoted rotation's targets."""
    used = pin(rt, shard)
    run = _ShardRun(rt, name, shard)
    if used:
        run.step(f"shard {shard.label} uses {', '.join(used)}")
    return run.run()


class _ShardRun(Rotation):
    """One shard's distribution. A Rotation for its target plans (``_plan``), but built
    without ``Rotation.__init__``: a shard neither creates, checks nor promotes."""

    def __init__(self, rt: Runtime, name: str, shard: Shard) -> None:  # noqa: D107
        SecretOp.__init__(self, rt, name)
        self.shard = shard
        self.mode = "scheduled"
        self.reason = None
        self.grace = self.config.policy.grace
        self.rid = ""
        self.state: dict[str, Any] = {}
        self.rows: dict[str, dict[str, Any]] = {}

    # -- the journal -------------------------------------------------------------------
    def _check(self, op: OpRecord | None, *, first: bool) -> str:
        """"ok", "gone" (moved on to the finish or completed: stop quietly), else raises."""
        name, label = self.name, self.shard.label
        if op is None or op.operation != Operation.ROTATE.value or (self.rid and op.rotation_id != self.rid):
            if first:
                raise Conflict(f"{name}: no rotation in flight to distribute — start one with `keyturn rotate "
                               f"{name} --until promoted` (shard {label} changed nothing)")
            return "gone"
        if op.at_least(Stage.ROLLING_BACK):
            raise Conflict(f"{name}: rotation {op.rotation_id} is rolling back (stage {op.stage}) — shard {label} "
                           "stopped; finish the rollback with `keyturn rotate NAME`".replace("NAME", name))
        if op.at_least(Stage.DISTRIBUTED):
            return "gone"
        if not op.at_least(Stage.PROMOTED):
            raise Conflict(f"{name}: rotation {op.rotation_id} has not promoted yet (stage {op.stage}) — run "
                           f"`keyturn rotate {name} --until promoted` first (shard {label} changed nothing)")
        now = self.rt.clock()
        if first and lease_is_live(op, now) and op.lock_owner != self.journal.owner:
            raise Conflict(conflict_message(name, op))
        other = shards.runs(op).get(str(self.shard.index))
        if first and other and other.get("owner") != self.journal.owner and shards.run_is_live(other, now):
            raise Conflict(f"{name}: shard {label} of rotation {op.rotation_id} is already running (owner "
                           f"{str(other.get('owner', '?')).split('/')[0]}, since {other.get('since')}, until "
                           f"{other.get('expires')}) — nothing changed; wait for it, or if its runner is gone: "
                           f"`keyturn unlock {name} --reason TEXT` then re-run this shard")
        return "ok"

    def _save(self, *, state: str = "running", first: bool = False, cache: dict[str, Any] | None = None,
              keys: list[str] | None = None) -> OpRecord | None:
        """CAS-write this shard's rows and run record onto the latest journal; on a
        conflict reload and re-apply them. None when the operation moved on."""
        for attempt in range(CAS_ATTEMPTS):
            op = self.journal.doc.op
            if self._check(op, first=first) == "gone":
                return None
            assert op is not None
            now = self.rt.clock()
            ledger = {**op.ledger, **self.rows}
            mine = keys or []
            run = dict(self.state, state=state, targets=len(mine),
                       confirmed=sum(1 for k in mine if ledger.get(k, {}).get("status") == "confirmed"),
                       failed=sum(1 for k in mine if ledger.get(k, {}).get("status") == "failed"),
                       expires=iso(now + DEFAULT_TTL) if state == "running" else iso(now))
            new = shards.with_run(op.with_(ledger=ledger), self.shard, run)
            changes: dict[str, Any] = {"op": new}
            if cache:
                changes["cache"] = {**self.journal.doc.cache, **cache}
            try:
                self.journal.update(**changes)
                return new
            except Conflict:
                if attempt == CAS_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0.01, 0.05 * min(attempt + 1, 8)))  # noqa: S311 - jitter, not crypto
                self.journal.load()
        raise AssertionError("unreachable")

    # -- the run -------------------------------------------------------------------------
    def run(self) -> Outcome:
        name, shard = self.name, self.shard
        self.rt.check_outputs()
        self.store.preflight(self.ref)
        doc = self.journal.load()
        if self._check(doc.op, first=True) == "gone":
            assert doc.op is not None
            self.step(f"rotation {doc.op.rotation_id} is already distributed (stage {doc.op.stage}); shard "
                      f"{shard.label} has nothing to do")
            return Outcome(name, "distributed", doc.op.rotation_id, doc.op.new_version or "",
                           doc.op.old_version or "", message="already distributed")
        assert doc.op is not None
        self.rid = doc.op.rotation_id
        self.rt.load_target_cache(doc.cache)
        keys = [target_key(b) for b in self.targets]
        slice_keys = set(shards.slice_keys(keys, shard))
        mine = [b for b in self.targets if target_key(b) in slice_keys]
        for bound in mine:
            bound.target.check_access()
        now = iso(self.rt.clock()) or ""
        prior = shards.runs(doc.op).get(str(shard.index))
        self.state = {"owner": self.journal.owner, "since": now, "attempt": int((prior or {}).get("attempt", 0)) + 1}
        op = self._save(first=True, keys=[target_key(b) for b in mine])
        if op is None:
            return Outcome(name, "distributed", self.rid, message="already distributed")
        self.audit("rotation.shard", op, shard=shard.label, state="running", targets=len(mine),
                   attempt=self.state["attempt"])
        self.step(f"shard {shard.label}: {len(mine)} of {len(keys)} target(s) of rotation {op.rotation_id}")
        try:
            failures = self._write(op, mine)
        except BaseException:
            try:  # record what was written and free this shard's lease (a SIGKILL leaves it to expire)
                self._save(state="failed", keys=[target_key(b) for b in mine])
            except KeyturnError:
                pass
            raise
        state = "failed" if failures else "done"
        final = self._save(state=state, cache=self.rt.target_cache(mine), keys=[target_key(b) for b in mine])
        self.audit("rotation.shard", op, shard=shard.label, state=state, targets=len(mine),
                   failed=len(failures) or None)
        if failures:
            raise ShardFailed(name, shard, failures)
        confirmed = sum(1 for k in slice_keys if (final or op).ledger.get(k, {}).get("status") == "confirmed")
        self.step(f"shard {shard.label} done: {confirmed} target(s) confirmed; finish with `keyturn rotate {name}` "
                  "once every shard is done")
        return Outcome(name, "distributed", op.rotation_id, op.new_version or "", op.old_version or "",
                       ledger=dict(self.rows))

    def _write(self, op: OpRecord, mine: list[BoundTarget]) -> list[tuple[str, str]]:
        """The engine's distribute loop over this shard's slice (same plans, skip rules and
        batched checkpoints), recording rows in ``self.rows`` only."""
        assert op.new_version
        current = self.store.read(self.ref, op.new_version)
        previous = self.store.read(self.ref, op.old_version) if op.old_version and op.grace_until else None
        self.preflight_targets(mine, current, op.generation)
        keys = [target_key(b) for b in mine]
        planned = self.write_jobs(op, mine, current, previous, op.ledger, self.rows)
        failures: list[tuple[str, str]] = []
        batches = LedgerBatches(len(planned), self.journal.lease_aging)
        for n, (result, (_, key, bound, _i)) in enumerate(
                zip(write_ordered([p[0] for p in planned]), planned, strict=True), 1):
            row = self.rows[key]
            self.record_result(row, bound, result, failures)
            if batches.add() and self._save(keys=keys) is None:
                raise Conflict(f"{self.name}: rotation {self.rid} moved on while shard {self.shard.label} was "
                               "writing — stopped")
            self.audit("rotation.distribute", op, target=bound.label, entry=bound.entry_name, shard=self.shard.label,
                       status=row["status"], retries=row.get("retries", 0), error=row.get("error"))
            faults.point(f"shard-distribute-{n}")
        return failures
