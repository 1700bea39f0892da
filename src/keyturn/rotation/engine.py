"""The rotation state machine: create → verify → promote → distribute → smoke →
complete, with rollback on a failed smoke check and retirement in the same run when
the grace window is 0 (or emergency).

Every stage is idempotent and resumes from the store's own state: the operation record
(stage, versions, per-target ledger) is checkpointed in the journal with check-and-set,
so a run killed anywhere and re-run converges (I3). The journal is written only where a
re-run needs to find the state — the lease and rotation id before the pending write
(issuer rotations: before and after the issuer call), ``verified`` with the promotion
time before promote, ``promoted`` before the first target write, the ledger every batch
of targets, ``distributed`` before a smoke check, ``smoked`` before anything is revoked,
and the end. The other stages (``created``, the last batch of targets, ``distributed``
without a smoke check, ``smoked`` with nothing to revoke) are noted in memory and ride
along with the next write; a kill before it repeats that idempotent work. Values exist only as
:class:`~keyturn.values.SecretValue`; the journal and audit lines carry names, versions,
labels and pass/fail only — never check output (I5). Never imports an SDK.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from collections.abc import Callable, Mapping
from typing import Any

from keyturn._internal import faults
from keyturn.errors import (
    Conflict,
    DistributionFailed,
    KeyturnError,
    SmokeFailed,
    UsageError,
    VerificationFailed,
)
from keyturn.generators import generate, value_warnings
from keyturn.issuers.base import IssueRequest, Issued, Refused, field_value
from keyturn.redaction import EXCERPT_CHARS
from keyturn.manifest import generator_params
from keyturn.rotation import shards
from keyturn.rotation.context import Runtime
from keyturn.rotation.journal import conflict_message
from keyturn.rotation.record import (
    JournalDoc,
    Operation,
    OpRecord,
    Role,
    RotationId,
    Stage,
    TrackedVersion,
    VersionId,
    iso,
    parse_iso,
)
from keyturn.rotation.secretop import Outcome, SecretOp, pick, target_key
from keyturn.targets.base import EntryPlan, Shape, entries_for, entry_names, retire_entries
from keyturn.targets.batch import JobResult, WriteJob, write_ordered
from keyturn.targets.registry import BoundTarget
from keyturn.validators.base import Check, CheckResult
from keyturn.values import SecretValue

MODES = ("scheduled", "emergency")

#: a kill loses at most this many unrecorded target results (or ⅛ of the targets, if
#: more), which the re-run writes again
LEDGER_BATCH = 4
#: added to a stage's check timeouts for the lease (the rest of the stage, a slow store)
LEASE_MARGIN = timedelta(minutes=5)

__all__ = ["MODES", "Outcome", "Rotation", "new_rotation_id"]


def new_rotation_id() -> RotationId:
    # botocore wants ClientRequestTokens of 32+ characters; keep one format for all stores.
    return RotationId(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(12))


class LedgerBatches:
    """When a distribute loop writes its ledger: after every ``max(LEDGER_BATCH, ⌈n/8⌉)``
    of its ``n`` results — or sooner when a third of the lease passed since the last
    write (``aging``: slow writes must not let it expire) — never after the last (the
    write that ends the stage carries it). The journal's bytes grow linearly with n, and
    a kill loses at most one batch of records, whose targets the re-run writes again
    (target writes are idempotent)."""

    def __init__(self, total: int, aging: Callable[[], bool] = lambda: False) -> None:
        self.total = total
        self.every = max(LEDGER_BATCH, -(-total // 8))
        self.aging = aging
        self.seen = 0
        self.unsaved = 0

    def add(self) -> bool:
        """Count one result; True when the ledger is to be written now."""
        self.seen += 1
        self.unsaved += 1
        if (self.unsaved >= self.every or self.aging()) and self.seen < self.total:
            self.unsaved = 0
            return True
        return False


def _checks_seconds(checks: list[Check]) -> float:
    """How long ``checks`` may take one after the other (each check's own ``timeout``)."""
    return sum(float(getattr(check, "timeout", 0) or 0) for check in checks)


def check_rows(results: list[CheckResult], stage: str) -> list[dict[str, Any]]:
    """What the journal and evidence keep of a check: its label and pass/fail, never output."""
    return [{"check": r.label, "ok": r.ok, "detail": "passed" if r.ok else "failed", "stage": stage}
            for r in results]


class Rotation(SecretOp):
    """One secret's rotation within a run."""

    def __init__(self, rt: Runtime, name: str, *, mode: str = "scheduled", reason: str | None = None,
                 value: SecretValue | None = None) -> None:
        if mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "emergency" and not (reason and reason.strip()):
            raise UsageError(f"{name}: emergency rotation needs --reason (it is audited)")
        super().__init__(rt, name)
        self._preflighted = False
        self.mode = mode
        self.reason = reason
        self.grace = timedelta(0) if mode == "emergency" else self.config.policy.grace
        # Everything the manifest says is built (and so validated) before the first write.
        self.verify_checks: list[Check] = rt.checks(list(self.config.validate_))
        self.smoke_checks: list[Check] = rt.checks(list(self.config.smoke))
        # The lease is renewed only when the journal is written: it must outlast the longest
        # stretch without a write, a stage's checks run back to back (a github-workflow smoke
        # check waits up to 15 min by default).
        longest = max(_checks_seconds(self.verify_checks), _checks_seconds(self.smoke_checks))
        self.journal.ttl = max(self.journal.ttl, timedelta(seconds=longest) + LEASE_MARGIN)
        self.params = generator_params(self.config.generator)
        self.supplied = value
        issuer = self.issuer
        if issuer is not None:
            if value is not None and not getattr(issuer, "needs_value", False):
                raise UsageError(f"{name}: generator {issuer.kind} issues its own credential; a value from stdin "
                                 "is only for random and manual generators")
            if value is None and getattr(issuer, "needs_value", False):
                raise UsageError(f"{name}: generator {issuer.kind} takes the new value from a person — "
                                 f"`keyturn rotate {name} --value-from-stdin` (or --value-fd N)")
            if not issuer.overlap:
                self.grace = timedelta(0)  # the old credential dies when the new one is issued

    # ------------------------------------------------------------------ helpers
    def preflight(self) -> None:
        """Read-only checks of the store and every target, before anything is written.
        Targets' caches (public data kept in the journal) are loaded first. Once per
        rotation: ``run`` skips it when the caller (``lifecycle.rotate``) ran it."""
        if self._preflighted:
            return
        self._preflighted = True
        self.rt.check_outputs()
        self.store.preflight(self.ref)
        doc = self.journal.load()
        self.rt.load_target_cache(doc.cache)
        for bound in self.targets:
            bound.target.check_access()
        if self.supplied is not None and (self.issuer is None or not self.issuer.fields):
            # A value a person supplied is known now: every target must be able to hold it
            # before the lease, the pending entry or the store is touched.
            self.preflight_targets(self.targets, self.supplied, self._next_generation(doc))
        if self.issuer is not None:
            self.issuer.preflight(doc.current.credential if doc.current else "")

    @staticmethod
    def _next_generation(doc: JournalDoc) -> int:
        """The generation a new rotation makes: one past every version the journal tracks."""
        return max([doc.current.generation if doc.current else 0] + [v.generation for v in doc.versions]) + 1

    def _fresh(self, doc: JournalDoc) -> OpRecord:
        state = self.store.describe(self.ref)
        cur = doc.current
        if cur is not None and cur.version == state.current:
            self._refuse_too_soon(cur.since)  # raised before the journal is written
        old_gen = cur.generation if cur else 0
        generation = self._next_generation(doc)
        old_credential = ""
        if self.issuer is not None and state.current:
            known = cur.credential if cur is not None and cur.version == state.current else ""
            old_credential = known or self.issuer.current_credential()
        return OpRecord(
            operation=Operation.ROTATE.value, rotation_id=new_rotation_id(), secret=self.name, mode=self.mode,
            reason=self.reason, actor=self.rt.actor, started=iso(self.rt.clock()) or "", store_head=state.head,
            old_version=state.current, old_generation=old_gen, generation=generation,
            retire=tuple(v.version for v in doc.role(Role.PREVIOUS)), old_credential=old_credential,
        )

    def _run_checks(self, checks: list[Check], value: SecretValue) -> list[CheckResult]:
        results = []
        for check in checks:
            result = check.run(self.name, value)
            self.step(f"  {'ok  ' if result.ok else 'FAIL'} {result.display}")  # terminal only; never persisted
            results.append(result)
        return results

    def _prior_generations(self, op: OpRecord) -> list[int]:
        gens = []
        for version in op.retire:
            found = self.journal.doc.find(version)
            if found is not None:
                gens.append(found.generation)
        return gens

    def _plan(self, bound: BoundTarget, current: SecretValue, generation: int,
              previous: SecretValue | None, previous_generation: int | None,
              superseded: list[int] | None = None) -> EntryPlan:
        current = pick(bound, current, self.name)
        previous = pick(bound, previous, self.name) if previous is not None else None
        plan = entries_for(bound.shape, bound.entry_name, current, generation, previous, previous_generation)
        extra: tuple[str, ...] = ()
        if previous is None and previous_generation is not None:
            extra += retire_entries(bound.shape, bound.entry_name, previous_generation)
        for gen in superseded or []:
            if gen not in (generation, previous_generation):
                extra += retire_entries(bound.shape, bound.entry_name, gen)
        written = {e.name for e in plan.write}
        extra = tuple(n for n in extra if n not in written)
        if extra:
            plan = EntryPlan(plan.write, tuple(dict.fromkeys(plan.delete + extra)))
        return plan

    # ------------------------------------------------------------------ run
    def run(self) -> Outcome:
        self.preflight()
        op = self.journal.acquire(self._fresh)
        if op.operation != Operation.ROTATE.value:
            self.journal.release()
            raise Conflict(conflict_message(self.name, op))
        resumed = self.journal.resumed
        if resumed:
            if op.mode != self.mode and self.mode == "emergency":
                self.journal.release()
                raise Conflict(
                    f"{self.name}: a {op.mode} rotation {op.rotation_id} is unfinished (stage {op.stage}); "
                    "re-run without --mode emergency to finish it first (or `keyturn abort`), then rotate again"
                )
            self.mode = op.mode  # the recorded mode governs a resumed rotation (grace, revocation)
            self.grace = timedelta(0) if op.mode == "emergency" else self.config.policy.grace
            self.step(f"resuming {op.mode} rotation {op.rotation_id} from stage {op.stage}")
            self.audit("rotation.resume", op, stage=op.stage)
        else:
            self.step(f"rotation {op.rotation_id} ({self.mode}) begins; current version {op.old_version or 'none'}")
            self.audit("rotation.begin", op)
            op = self._adopt_drift(op)
        try:
            return self._stages(op)
        except (UsageError, VerificationFailed):
            raise
        except KeyturnError:
            self.journal.release()
            raise

    def _refuse_too_soon(self, since_text: str) -> None:
        """Honour the store's advised minimum interval between rotations (not in emergency)."""
        interval = self.store.min_interval
        since = parse_iso(since_text)
        if self.mode == "emergency" or not interval or since is None:
            return
        age = self.rt.clock() - since
        if age < interval:
            raise Conflict(
                f"{self.name}: {self.store.label} advises at most one rotation per "
                f"{int(interval.total_seconds() // 60)} min and the current version is "
                f"{int(age.total_seconds())} s old — nothing changed; wait, or use --mode emergency --reason TEXT"
            )

    def _adopt_drift(self, op: OpRecord) -> OpRecord:
        """A CURRENT written outside keyturn: the version keyturn made CURRENT before stays
        tracked, as PREVIOUS for one grace window (consumers may still use it)."""
        cur = self.journal.doc.current
        if cur is None or cur.version == op.old_version:
            return op
        now = self.rt.clock()
        self.step(f"version {op.old_version or 'none'} was written outside keyturn; version {cur.version} "
                  "stays tracked until its grace window ends")
        versions = self.track(self.journal.doc, cur.version, cur.generation, Role.PREVIOUS, now=now,
                              retire_after=now + self.config.policy.grace, why="replaced outside keyturn")
        return self.journal.checkpoint(op, versions=versions)

    def _abandon(self, op: OpRecord, why: str, reason_code: str) -> None:
        """Nothing was promoted: revoke what was issued, drop the pending value and the operation."""
        self.revoke_unpromoted(op)
        self.store.discard_pending(self.ref, op.rotation_id)
        self.journal.finish()
        self.audit("rotation.abort", op, reason_code=reason_code, why=why)

    def revoke_unpromoted(self, op: OpRecord) -> None:
        """The credential this rotation issued and never promoted dies at its issuer (a
        person is asked to, for a manual one); a failed revocation keeps the operation."""
        if not op.credential:
            return
        awaiting = list(self.journal.doc.awaiting)
        pseudo = TrackedVersion(VersionId(f"pending:{op.rotation_id}"), op.generation, Role.RETIRING.value,
                                credential=op.credential)
        if not self.revoke_at_issuer(op, pseudo, awaiting):
            self.journal.release()
            raise Conflict(f"{self.name}: the credential {op.credential} issued by rotation {op.rotation_id} could "
                           f"not be revoked at {self.issuer.kind if self.issuer else 'its issuer'}; re-run "
                           f"`keyturn abort {self.name} --reason TEXT` to retry")
        if len(awaiting) != len(self.journal.doc.awaiting):
            self.journal.checkpoint(op, awaiting=tuple(awaiting))

    def _issue(self, op: OpRecord) -> tuple[OpRecord, SecretValue]:
        """Create the new value: generated, supplied by a person, or issued where the
        credential lives (journaled before and after the issuer call; see
        :mod:`keyturn.issuers.base` for how a resumed run avoids issuing twice)."""
        rid = op.rotation_id
        issuer = self.issuer
        if issuer is None:
            adopted = self.store.read_pending(self.ref, rid) if self.journal.resumed else None
            if adopted is not None:  # killed after the pending write, before 'verified' was written
                other = self.supplied is not None and not adopted.same_as(self.supplied)
                self.step("adopted the pending value of the interrupted attempt"
                          + (" (not the one supplied now: `keyturn abort` first to use that)" if other else ""))
                return op, adopted
            value = self.supplied if self.supplied is not None else generate(self.config.generator.type,
                                                                               **self.params)
            self.store.create_pending(self.ref, rid, value)
            return op, value
        if op.issuing and op.credential:
            adopted = self.store.read_pending(self.ref, rid)
            if adopted is not None:  # killed after the pending write: adopt it
                self.step(f"adopted credential {op.credential} issued by an earlier attempt")
                return op, adopted
        resumed, lost = op.issuing, op.credential
        if not op.issuing:
            op = self.journal.checkpoint(op.with_(issuing=True))
        elif lost and not issuer.human_revoke:  # its id was recorded, its value lost before the store had it
            self.step(f"credential {lost} from an earlier attempt lost its value; revoking it")
            self.revoke_unpromoted(op)  # op.credential is the lost one
        known = frozenset(v.credential for v in self.journal.doc.versions if v.credential) | frozenset(
            [op.old_credential] if op.old_credential else [])
        issued: Issued = issuer.issue(IssueRequest(
            secret=self.name, rotation_id=rid, started=parse_iso(op.started) or self.rt.clock(), resumed=resumed,
            lost=lost, known=known, current=op.old_credential, environ=self.rt.environ,
            supplied=self.supplied))
        op = self.journal.checkpoint(op.with_(credential=issued.credential_id))
        self.audit("rotation.issue", op, issuer=issuer.kind, credential=issued.credential_id)
        faults.point("issued")
        self.store.create_pending(self.ref, rid, issued.value)
        return op, issued.value

    def _stages(self, op: OpRecord) -> Outcome:
        rid = op.rotation_id
        if op.at_least(Stage.ROLLING_BACK):  # a rollback was interrupted: finish it
            return self.smoke_failed(op, "resumed an interrupted rollback")
        # 1. create (durable with 'verified': a re-run adopts the pending value)
        pending: SecretValue | None = None
        if not op.at_least(Stage.CREATED):
            op, pending = self._issue(op)
            op = self.journal.note(op.with_(stage=Stage.CREATED.value))
            self.audit("rotation.create", op, generator=self.config.generator.type)
            self.step("created pending value")
            faults.point("created")
        elif not op.at_least(Stage.PROMOTED):
            pending = self.store.read_pending(self.ref, rid)
        if pending is None:
            if not op.new_version:
                self._abandon(op, "pending value lost", "pending_lost")
                raise Conflict(f"{self.name}: rotation {rid} lost its pending value; it was abandoned (nothing "
                               "was promoted) — run `keyturn rotate` again")
            pending = self.store.read(self.ref, op.new_version)
        fields = self.issuer.fields if self.issuer is not None else ()
        # A structured value reaches targets field by field: each field is what is masked and stored.
        for part, value in ([(f, field_value(pending, f, secret=self.name)) for f in fields] or [("", pending)]):
            for warning in value_warnings(value):
                self.rt.progress.warn(f"{self.name}{'.' + part if part else ''}: {warning}")

        self.preflight_targets(self.targets, pending, op.generation)

        # 2. verify (pre-promotion): failure = nothing changes (I4)
        if not op.at_least(Stage.VERIFIED):
            results = self._verify_issued(op, pending) + self._run_checks(self.verify_checks, pending)
            failed = [r for r in results if not r.ok]
            if failed:
                op = op.with_(checks=check_rows(results, "validate"), outcome="failed")
                self.audit("rotation.verify", op, result="failed", failed=", ".join(r.label for r in failed))
                self._abandon(op, "pre-promotion check failed", "verify_failed")
                self.evidence(op, outcome="failed", current=op.old_version or "", previous="",
                              revoke_confirmed=False, revoked=[], pending=[], due=None)
                raise VerificationFailed(
                    f"{self.name}: pre-promotion check failed: {failed[0].label} — nothing was changed; "
                    f"version {op.old_version or 'none'} is still CURRENT"
                )
            op = self.journal.checkpoint(self._promotion_times(
                op.with_(stage=Stage.VERIFIED.value, checks=check_rows(results, "validate"))))
            self.audit("rotation.verify", op, result="ok", checks=len(results))
            faults.point("verified")

        # 3. promote
        if not op.at_least(Stage.PROMOTED):
            op = self._promote(op, pending)

        # PREVIOUS is written (dual, versioned shapes) while in grace; a single entry never holds it
        wants_previous = any(b.shape is not Shape.SINGLE for b in self.targets)
        previous = (self.store.read(self.ref, op.old_version)
                    if op.old_version and op.grace_until and wants_previous else None)
        # 4. distribute
        if not op.at_least(Stage.DISTRIBUTED):
            if op.shards:  # sharded: finish only once every shard confirmed its slice (rotation/shards.py)
                shards.require_complete(op, [target_key(b) for b in self.targets], self.rt.clock())
            op = self._distribute(op, pending, previous)
        # 5. smoke
        if not op.at_least(Stage.SMOKED):
            results = self._run_checks(self.smoke_checks, pending)
            rows = op.checks + check_rows(results, "smoke")
            failed = [r for r in results if not r.ok]
            if failed:
                self.audit("rotation.smoke", op, result="failed", failed=", ".join(r.label for r in failed))
                op = self.journal.note(op.with_(checks=rows))  # written with 'rolling back' (or the end)
                if self.issuer is not None and not self.issuer.overlap:
                    return self._no_way_back(op, failed[0].label)
                return self.smoke_failed(op, f"smoke check failed: {failed[0].label}")
            op = self.journal.note(op.with_(stage=Stage.SMOKED.value, checks=rows))  # durable before a revocation
            self.audit("rotation.smoke", op, result="ok", checks=len(results))
            faults.point("smoked")
        return self._complete(op)

    def _verify_issued(self, op: OpRecord, pending: SecretValue) -> list[CheckResult]:
        """The issuer's own check that the new credential works (before user checks)."""
        issuer = self.issuer
        if issuer is None:
            return []
        why = issuer.verify(Issued(pending, op.credential))
        label = f"issuer:{issuer.kind}"
        detail, excerpt = (why.detail, why.excerpt) if isinstance(why, Refused) else (why, "")
        result = CheckResult(ok=why is None, label=label, detail=(detail or "new credential works")[:200],
                             excerpt=excerpt[:EXCERPT_CHARS])
        self.step(f"  {'ok  ' if result.ok else 'FAIL'} {result.display}")
        return [result]

    def _promotion_times(self, op: OpRecord) -> OpRecord:
        """``op`` with the promotion time and the end of the old version's grace window,
        fixed before promote so that a re-run computes the same ones."""
        now = self.rt.clock()
        grace_until = iso(now + self.grace) if op.old_version and self.grace else None
        return op.with_(promoted_at=iso(now), grace_until=grace_until)

    def _promote(self, op: OpRecord, pending: SecretValue) -> OpRecord:
        if not op.promoted_at:  # a journal of an earlier keyturn reached 'verified' without it
            op = self.journal.checkpoint(self._promotion_times(op))
        new_version = self.store.promote(self.ref, op.rotation_id, pending, op.store_head)
        faults.point("promote-write")
        promoted = parse_iso(op.promoted_at) or self.rt.clock()
        doc = self.journal.doc
        versions = doc.versions
        if op.old_version:
            after = parse_iso(op.grace_until) or promoted
            versions = self.track(doc.with_(versions=versions), op.old_version, op.old_generation, Role.PREVIOUS,
                                  now=promoted, retire_after=after, why="grace ended" if op.grace_until else "grace 0",
                                  credential=op.old_credential or None)
        versions = self.track(doc.with_(versions=versions), new_version, op.generation, Role.CURRENT, now=promoted,
                              credential=op.credential or None)
        op = self.journal.checkpoint(op.with_(stage=Stage.PROMOTED.value, new_version=new_version), versions=versions)
        self.audit("rotation.promote", op, generation=op.generation)
        self.step(f"promoted version {new_version} (was {op.old_version or 'none'})")
        faults.point("promoted")
        return op

    def _distribute(self, op: OpRecord, current: SecretValue, previous: SecretValue | None) -> OpRecord:
        """Write every target (up to N at once where a target allows it; results, ledger
        rows and audit lines in target order). The ledger is checkpointed in batches
        that grow with it (each after ≥ 1/8 more rows, and after every failure), so the
        bytes written to the journal grow linearly with the number of targets; a kill
        between checkpoints only makes the re-run rewrite the unrecorded targets
        (writes are idempotent)."""
        ledger = dict(op.ledger)
        failures: list[tuple[str, str]] = []
        planned = self.write_jobs(op, self.targets, current, previous, op.ledger, ledger)
        batches = LedgerBatches(len(planned), self.journal.lease_aging)
        for result, (_, key, bound, i) in zip(write_ordered([p[0] for p in planned]), planned, strict=True):
            row = ledger[key]
            self.record_result(row, bound, result, failures)
            if batches.add():
                op = self.journal.checkpoint(op.with_(ledger=ledger))
            self.audit("rotation.distribute", op.with_(ledger=ledger), target=bound.label, entry=bound.entry_name,
                       status=row["status"], retries=row.get("retries", 0), error=row.get("error"))
            faults.point(f"distribute-{i}")
        cache = dict(self.journal.doc.cache)
        cache.update(self.rt.target_cache(self.targets))
        if failures:
            self.journal.checkpoint(op.with_(ledger=ledger), cache=cache)
            raise DistributionFailed(self.name, failures)
        op = op.with_(stage=Stage.DISTRIBUTED.value, ledger=ledger)
        if self.smoke_checks:  # a check may take long: a kill during it must not rewrite the targets
            op = self.journal.checkpoint(op, cache=cache)
        else:
            op = self.journal.note(op, cache=cache)
        faults.point("distributed")
        return op

    def preflight_targets(self, bounds: list[BoundTarget], value: SecretValue, generation: int) -> None:
        """Refuse names/values a target cannot hold, before any target write."""
        for bound in bounds:
            bound.target.preflight(self._plan(bound, value, generation, None, None).write)

    def write_jobs(self, op: OpRecord, bounds: list[BoundTarget], current: SecretValue,
                   previous: SecretValue | None, ledger: Mapping[str, dict[str, Any]],
                   rows: dict[str, dict[str, Any]]) -> list[tuple[WriteJob, str, BoundTarget, int]]:
        """The writes ``bounds`` still need, each with its ledger key, target and 1-based
        index. A target confirmed in ``ledger`` is skipped; one attempted before (a resumed
        run) that already holds the value is confirmed without a write — but never when it
        has deletes (a failed delete must be retried). Each planned or skipped target's row
        goes to ``rows`` (attempts counted)."""
        promoted = parse_iso(op.promoted_at)
        assert promoted is not None
        # Update times (GitHub's ``updated_at``) and ``promoted_at`` have whole-second
        # resolution: only an update in a later second proves this rotation wrote it.
        since = promoted + timedelta(seconds=1)
        prev_gen = op.old_generation if op.old_version else None
        superseded = self._prior_generations(op)
        planned: list[tuple[WriteJob, str, BoundTarget, int]] = []
        for i, bound in enumerate(bounds, 1):
            key = target_key(bound)
            plan = self._plan(bound, current, op.generation, previous, prev_gen, superseded)
            row = dict(ledger.get(key, {"attempts": 0, "retries": 0}))
            if row.get("status") == "confirmed":
                self.step(f"  skip {bound.label} (already confirmed)")
                continue
            if int(row.get("attempts", 0)) and not plan.delete and bound.target.is_current(plan.write, since=since):
                rows[key] = dict(row, status="confirmed", skipped=True)
                self.step(f"  skip {bound.label} (already current)")
                continue
            rows[key] = dict(row, attempts=int(row.get("attempts", 0)) + 1)
            planned.append((WriteJob(bound.target, plan.write, plan.delete), key, bound, i))
        return planned

    def record_result(self, row: dict[str, Any], bound: BoundTarget, result: JobResult,
                      failures: list[tuple[str, str]]) -> None:
        """One write's outcome into its ledger row (and ``failures``)."""
        if result.error is not None:
            row.update(status="failed", error=str(result.error))
            failures.append((bound.label, str(result.error)))
            self.step(f"  FAIL {bound.label}: {result.error}")
            return
        assert result.report is not None
        confirmed = result.report.confirmed_at or self.rt.clock()
        row.update(status="confirmed", retries=int(row.get("retries", 0)) + result.report.retries,
                   confirmed_at=iso(confirmed), error=None)
        self.step(f"  wrote {bound.label} ({', '.join(e.name for e in result.job.write)})")

    # ------------------------------------------------------------------ rollback
    def restore_previous(self, op: OpRecord, why: str, *,
                         evidence: str | None = None) -> tuple[VersionId | None, list[tuple[str, str]]]:
        """Restore the old CURRENT in the store and every target (a PREVIOUS still in grace
        from the rotation before stays in place); the rolled-back version is revoked.
        With ``evidence`` (an outcome such as ``rolled-back``), the evidence record is written
        once the rollback completed. Returns the restored version and the targets that could
        not be restored (the operation then stays in the journal for a re-run)."""
        if not op.at_least(Stage.ROLLING_BACK):
            op = self.journal.checkpoint(op.with_(stage=Stage.ROLLING_BACK.value))
        self.step(f"rolling back: {why}")
        now = self.rt.clock()
        if not op.at_least(Stage.STORE_RESTORED):
            doc = self.journal.doc
            restored = (self.store.restore(self.ref, op.old_version, op.new_version)
                        if op.old_version and op.new_version else op.old_version)
            versions = doc.versions
            if restored:
                versions = self.track(doc.with_(versions=versions), restored, op.old_generation, Role.CURRENT, now=now,
                                      credential=op.old_credential)
                if restored != op.old_version:  # same value (and credential), now under the restored version
                    versions = self.track(doc.with_(versions=versions), op.old_version, op.old_generation,
                                          Role.RETIRING, now=now, why=f"restored as version {restored}", credential="")
            versions = self.track(doc.with_(versions=versions), op.new_version, op.generation, Role.RETIRING,
                                  now=now, why="rolled back")
            op = self.journal.checkpoint(op.with_(stage=Stage.STORE_RESTORED.value, restored_version=restored),
                                         versions=versions)
            faults.point("rollback-store")
        restored = op.restored_version
        failures = self._restore_targets(op, restored)
        faults.point("rollback-targets")
        if failures:
            self.journal.release()
            return restored, failures
        revoked, left = self.retire_due(op, clean_targets=False, allow_current=restored is None)
        self.audit("rotation.rollback", op, restored_version=restored or None, why=why,
                   revoked=",".join(revoked) or None)
        self.store.discard_pending(self.ref, op.rotation_id)
        self.journal.finish()
        if evidence:
            self.evidence(op.with_(outcome=evidence), outcome=evidence, current=restored or "", previous="",
                          revoke_confirmed=bool(op.new_version) and op.new_version in revoked, revoked=revoked,
                          pending=[v.version for v in left], due=None)
        return restored, failures

    def _restore_targets(self, op: OpRecord, restored: VersionId | None) -> list[tuple[str, str]]:
        doc = self.journal.doc
        now = self.rt.clock()
        prior = doc.previous
        prior_value = None
        if restored and prior is not None and prior.version != op.old_version and not prior.due(now):
            prior_value = self.store.read(self.ref, prior.version)
        old_value = self.store.read(self.ref, restored) if restored else None
        failures: list[tuple[str, str]] = []
        for bound in self.targets:
            try:
                if old_value is None:  # the rotation created the secret: remove what it wrote
                    bound.target.delete(entry_names(bound.shape, bound.entry_name, op.generation))
                    continue
                prior_gen = prior.generation if prior_value is not None and prior is not None else None
                plan = self._plan(bound, old_value, op.old_generation, prior_value, prior_gen)
                deletes = plan.delete
                if bound.shape is Shape.VERSIONED and op.generation not in (op.old_generation, prior_gen):
                    deletes = deletes + retire_entries(bound.shape, bound.entry_name, op.generation)
                bound.target.write(plan.write)
                if deletes:
                    bound.target.delete(deletes)
                self.step(f"  restored {bound.label}")
            except KeyturnError as exc:
                failures.append((bound.label, str(exc)))
        return failures

    def _no_way_back(self, op: OpRecord, label: str) -> Outcome:
        """A failed smoke check for an issuer whose old credential died at issue (a
        Vault static role): there is nothing to roll back to, so the rotation completes
        with the new credential CURRENT and the failure is reported."""
        assert self.issuer is not None
        self._complete(op.with_(stage=Stage.SMOKED.value, outcome="smoke-failed"))
        self.notify(op, "failed", f"smoke check failed: {label}")
        raise SmokeFailed(f"{self.name}: smoke check failed: {label} — NOT rolled back: {self.issuer.kind} "
                          "replaced the old credential when it issued the new one, so the new version stays CURRENT; "
                          "fix the consumer or rotate again")

    def smoke_failed(self, op: OpRecord, why: str) -> Outcome:
        restored, failures = self.restore_previous(op, why, evidence="rolled-back")
        if op.old_version:
            msg = (f"{self.name}: {why} — rolled back: version {op.old_version}'s value is CURRENT again "
                   f"(as version {restored})")
        else:
            msg = (f"{self.name}: {why} — rolled back: the secret did not exist before this rotation; its "
                   "first version was revoked and removed from the targets")
        if failures:
            msg += ("; targets NOT restored: " + "; ".join(f"{t} ({e})" for t, e in failures)
                    + f" — re-run `keyturn rotate {self.name}` to finish the rollback")
        self.notify(op, "rolled-back", why)
        raise SmokeFailed(msg)

    # ------------------------------------------------------------------ complete
    def _complete(self, op: OpRecord) -> Outcome:
        now = self.rt.clock()
        doc = self.journal.doc
        versions = doc.versions
        for version in op.retire:  # the PREVIOUS of the last rotation is superseded by this one's
            found = doc.with_(versions=versions).find(version)
            if found is not None and version not in (op.old_version, op.new_version):
                versions = self.track(doc.with_(versions=versions), version, found.generation, Role.RETIRING,
                                      now=now, why="superseded")
        emergency = op.mode == "emergency"
        if op.old_version and (not op.grace_until or emergency):
            versions = self.track(doc.with_(versions=versions), op.old_version, op.old_generation, Role.RETIRING,
                                  now=now, why="emergency" if emergency else "grace 0")
        if emergency:  # every other live version, keyturn's or not
            tracked = {v.version for v in versions}
            for version in self.store.live_versions(self.ref):
                if version != op.new_version and version not in tracked:
                    versions = self.track(doc.with_(versions=versions), version, 0, Role.RETIRING, now=now,
                                          why="emergency")
        if self.due(doc.with_(versions=versions), now):
            op = self.journal.checkpoint(op, versions=versions)  # 'smoked' is durable before a revocation
        else:
            op = self.journal.note(op, versions=versions)
        revoked, left = self.retire_due(op, clean_targets=False)
        if emergency:
            self.audit("rotation.emergency", op, revoked=",".join(revoked) or "none")
        prev = self.journal.doc.find(op.old_version) if op.old_version else None
        old_revoked = bool(op.old_version) and op.old_version in revoked
        outcome = Outcome(self.name, "completed", op.rotation_id, op.new_version or "",
                          op.old_version or "", ledger=op.ledger, revoked=list(revoked))
        from keyturn.evidence import evidence_stem

        directory = self.rt.manifest.resolve(self.rt.manifest.model.audit.evidence_dir)
        stem = evidence_stem(self.name, op.rotation_id)
        self.audit("rotation.complete", op, evidence=str(directory / f"{stem}.json"))
        outcome.evidence = self.evidence(
            op.with_(outcome="completed"), outcome="completed", current=op.new_version or "",
            previous=prev.version if prev is not None else "", revoke_confirmed=old_revoked, revoked=revoked,
            pending=[v.version for v in left], due=prev.retire_after if prev is not None else None)
        faults.point("completed")
        self.store.discard_pending(self.ref, op.rotation_id)
        self.journal.finish()
        self.notify(op, "completed")
        self.step(f"complete: version {op.new_version} is CURRENT"
                  + (f", previous {op.old_version} valid until {op.grace_until}"
                     if op.grace_until and not old_revoked else ""))
        return outcome
