"""The rotation state machine: create → verify → promote → distribute → smoke →
complete, plus rollback, finalize (retire after grace) and emergency mode.

Every stage is idempotent and resumes from the store's own state: the rotation
record (stage reached, versions, per-target ledger) is checkpointed in the store with
check-and-set after each stage, so a run killed anywhere and re-run converges (I3).
Values exist only as :class:`~keyturn.values.SecretValue`; audit records and errors
carry names, versions and labels only (I5). Never imports an SDK.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
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
from keyturn.manifest import generator_params
from keyturn.rotation.context import Runtime
from keyturn.rotation.locking import Lease, new_owner
from keyturn.stores.base import (
    RotationId,
    RotationRecord,
    SecretRef,
    Store,
    VersionId,
    iso,
    parse_iso,
)
from keyturn.targets.base import EntryPlan, Shape, entries_for, entry_names, retire_entries
from keyturn.targets.registry import BoundTarget
from keyturn.validators.base import Check, CheckResult
from keyturn.values import SecretValue

MODES = ("scheduled", "emergency")


@dataclass
class Outcome:
    secret: str
    status: str  # completed | rolled_back | failed | verify_failed | conflict | retired | skipped
    rotation_id: str = ""
    version: str = ""
    previous: str = ""
    message: str = ""
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)


def new_rotation_id() -> RotationId:
    # botocore wants ClientRequestTokens of 32+ characters; keep one format for all stores.
    return RotationId(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(12))


class Rotation:
    """One secret's rotation within a run."""

    def __init__(self, rt: Runtime, name: str, *, mode: str = "scheduled", reason: str | None = None) -> None:
        if mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}, not {mode!r}")
        if mode == "emergency" and not (reason and reason.strip()):
            raise UsageError(f"{name}: emergency rotation needs --reason (it is audited)")
        self.rt = rt
        self.name = name
        self.config = rt.secret(name)
        self.mode = mode
        self.reason = reason
        self.ref: SecretRef = rt.ref(name)
        self.store: Store = rt.store_for(name)
        self.targets: list[BoundTarget] = rt.targets_for(name)
        self.lease = Lease(self.store, self.ref, new_owner(), rt.clock)
        grace = timedelta(0) if mode == "emergency" else self.config.policy.grace
        self.grace = grace

    # ------------------------------------------------------------------ helpers
    def _audit(self, event: str, record: RotationRecord, **details: Any) -> None:
        versions = {k: v for k, v in (("current", record.new_version), ("previous", record.old_version)) if v}
        self.rt.record(
            event,
            secret=self.name,
            store=self.store.label,
            versions=versions,
            mode=record.mode,
            reason=record.reason,
            rotation_id=record.rotation_id,
            details={k: v for k, v in details.items() if v is not None} or None,
        )

    def _step(self, message: str) -> None:
        self.rt.progress.step(self.name, message)

    def _fresh(self) -> RotationRecord:
        state = self.store.describe(self.ref)
        return RotationRecord(
            rotation_id=new_rotation_id(),
            secret=self.name,
            mode=self.mode,
            reason=self.reason,
            actor=self.rt.actor,
            started=iso(self.rt.clock()) or "",
            old_version=state.current if state.exists else None,
            old_generation=state.generation if state.exists else 0,
            generation=(state.generation if state.exists else 0) + 1,
            retire_version=state.previous if state.exists else None,
            retire_generation=state.previous_generation if state.exists and state.previous else None,
        )

    def _run_checks(self, checks: list[Check], value: SecretValue) -> list[CheckResult]:
        results = []
        for check in checks:
            result = check.run(self.name, value)
            self._step(f"  {'ok  ' if result.ok else 'FAIL'} {result.label} ({result.detail})")
            results.append(result)
        return results

    def _plan(self, bound: BoundTarget, current: SecretValue, generation: int,
              previous: SecretValue | None, previous_generation: int | None,
              superseded_generation: int | None = None) -> EntryPlan:
        plan = entries_for(bound.shape, bound.entry_name, current, generation, previous, previous_generation)
        extra: tuple[str, ...] = ()
        if previous is None and previous_generation is not None:
            extra += retire_entries(bound.shape, bound.entry_name, previous_generation)
        if superseded_generation is not None and superseded_generation not in (generation, previous_generation):
            extra += retire_entries(bound.shape, bound.entry_name, superseded_generation)
        written = {e.name for e in plan.write}
        extra = tuple(n for n in extra if n not in written)
        if extra:
            plan = EntryPlan(plan.write, tuple(dict.fromkeys(plan.delete + extra)))
        return plan

    # ------------------------------------------------------------------ run
    def run(self) -> Outcome:
        self.store.preflight(self.ref)
        record = self.lease.acquire(self._fresh)
        rid = record.rotation_id
        if self.lease.resumed:
            if record.mode != self.mode and self.mode == "emergency":
                raise Conflict(
                    f"{self.name}: a {record.mode} rotation {rid} is unfinished (stage {record.stage}); "
                    "re-run without --mode emergency to finish it first, then rotate again"
                )
            # The recorded mode governs a resumed rotation (grace, revocation).
            self.mode = record.mode
            self.grace = timedelta(0) if record.mode == "emergency" else self.config.policy.grace
            self._step(f"resuming {record.mode} rotation {rid} from stage {record.stage}")
            self._audit("rotation.resume", record, stage=record.stage)
        else:
            self._step(f"rotation {rid} ({self.mode}) begins; current version {record.old_version or 'none'}")
            self._audit("rotation.begin", record)
        try:
            return self._stages(record)
        except Conflict:
            raise
        except KeyturnError:
            self.lease.release()
            raise

    def _stages(self, record: RotationRecord) -> Outcome:
        rid = record.rotation_id
        if record.stage == "rolling_back":  # a rollback was interrupted: finish it
            return self._smoke_failed(record, "resumed an interrupted rollback")
        # 1. create
        if not record.at_least("created"):
            params = generator_params(self.config.generator)
            value = generate(self.config.generator.type, **params)
            self.store.create_pending(self.ref, rid, value)
            record = self.lease.checkpoint(record.with_(stage="created"))
            self._audit("rotation.create", record, generator=self.config.generator.type)
            self._step("created pending value")
            faults.point("created")
        pending = self.store.read_pending(self.ref, rid) if not record.at_least("promoted") else None
        if pending is None:
            if not record.new_version:
                raise Conflict(f"{self.name}: rotation {rid} lost its pending value; run `keyturn status`")
            pending = self.store.read(self.ref, record.new_version)
        for warning in value_warnings(pending):
            self.rt.progress.warn(f"{self.name}: {warning}")

        # 2. verify (pre-promotion): failure = nothing changes (I4)
        if not record.at_least("verified"):
            results = self._run_checks(self.rt.checks(list(self.config.validate_)), pending)
            summary = [{"check": r.label, "ok": r.ok, "detail": r.detail, "stage": "validate"} for r in results]
            failed = [r for r in results if not r.ok]
            if failed:
                self._audit("rotation.verify", record, result="failed", failed=", ".join(r.label for r in failed))
                self.store.finish(self.ref, rid)
                self._audit("rotation.abort", record, reason_code="verify_failed")
                raise VerificationFailed(
                    f"{self.name}: pre-promotion check failed: {failed[0].label} ({failed[0].detail}) — "
                    f"nothing was changed; version {record.old_version or 'none'} is still CURRENT"
                )
            record = self.lease.checkpoint(record.with_(stage="verified", checks=summary))
            self._audit("rotation.verify", record, result="ok", checks=len(results))
            faults.point("verified")

        # Refuse names/values a target cannot hold before any target write.
        for bound in self.targets:
            bound.target.preflight(self._plan(bound, pending, record.generation, None, None).write)

        # 3. promote
        if not record.at_least("promoted"):
            if not record.promoted_at:
                now = self.rt.clock()
                grace_until = iso(now + self.grace) if record.old_version and self.grace else None
                record = self.lease.checkpoint(record.with_(promoted_at=iso(now), grace_until=grace_until))
            new_version = self.store.promote(self.ref, record, pending)
            faults.point("promote-write")
            record = self.lease.checkpoint(record.with_(stage="promoted", new_version=new_version))
            self._audit("rotation.promote", record, generation=record.generation)
            self._step(f"promoted version {new_version} (was {record.old_version or 'none'})")
            faults.point("promoted")

        previous = (
            self.store.read(self.ref, record.old_version) if record.old_version and record.grace_until else None
        )
        # 4. distribute
        if not record.at_least("distributed"):
            record = self._distribute(record, pending, previous)
        # 5. smoke
        if not record.at_least("smoked"):
            results = self._run_checks(self.rt.checks(list(self.config.smoke)), pending)
            summary = record.checks + [
                {"check": r.label, "ok": r.ok, "detail": r.detail, "stage": "smoke"} for r in results
            ]
            failed = [r for r in results if not r.ok]
            if failed:
                self._audit("rotation.smoke", record, result="failed", failed=", ".join(r.label for r in failed))
                record = self.lease.checkpoint(record.with_(checks=summary))
                return self._smoke_failed(record, f"smoke check failed: {failed[0].label} ({failed[0].detail})")
            record = self.lease.checkpoint(record.with_(stage="smoked", checks=summary))
            self._audit("rotation.smoke", record, result="ok", checks=len(results))
            faults.point("smoked")
        return self._complete(record)

    def _distribute(self, record: RotationRecord, current: SecretValue,
                    previous: SecretValue | None) -> RotationRecord:
        promoted = parse_iso(record.promoted_at)
        assert promoted is not None
        # Update times (GitHub's ``updated_at``) and ``promoted_at`` have whole-second
        # resolution: a write in the promotion's own second may predate it (the previous
        # rotation's). Only an update in a later second proves this rotation wrote it;
        # a same-second write is just rewritten (writes are idempotent).
        since = promoted + timedelta(seconds=1)
        ledger = dict(record.ledger)
        failures: list[tuple[str, str]] = []
        prev_gen = record.old_generation if record.old_version else None
        for i, bound in enumerate(self.targets, 1):
            plan = self._plan(bound, current, record.generation, previous, prev_gen, record.retire_generation)
            row = dict(ledger.get(bound.label, {"attempts": 0, "retries": 0}))
            if row.get("status") == "confirmed" or bound.target.is_current(plan.write, since=since):
                if row.get("status") != "confirmed":
                    row.update(status="confirmed", skipped=True)
                ledger[bound.label] = row
                self._step(f"  skip {bound.label} (already current)")
                continue
            row["attempts"] = int(row.get("attempts", 0)) + 1
            try:
                report = bound.target.write(plan.write)
                if plan.delete:
                    bound.target.delete(plan.delete)
            except KeyturnError as exc:
                row.update(status="failed", error=str(exc))
                failures.append((bound.label, str(exc)))
                self._step(f"  FAIL {bound.label}: {exc}")
            else:
                confirmed = report.confirmed_at or self.rt.clock()
                row.update(status="confirmed", retries=int(row.get("retries", 0)) + report.retries,
                           confirmed_at=iso(confirmed), error=None)
                self._step(f"  wrote {bound.label} ({', '.join(e.name for e in plan.write)})")
            ledger[bound.label] = row
            record = self.lease.checkpoint(record.with_(ledger=ledger))
            self._audit("rotation.distribute", record, target=bound.label, status=row["status"],
                        retries=row.get("retries", 0), error=row.get("error"))
            faults.point(f"distribute-{i}")
        if failures:
            raise DistributionFailed(self.name, failures)
        record = self.lease.checkpoint(record.with_(stage="distributed", ledger=ledger))
        faults.point("distributed")
        return record

    def restore_previous(self, record: RotationRecord, why: str) -> tuple[VersionId, list[tuple[str, str]]]:
        """Restore the old CURRENT in the store and every target; returns the restored
        version and the targets that could not be restored."""
        if record.stage != "rolling_back":
            record = self.lease.checkpoint(record.with_(stage="rolling_back"))
        self._step(f"rolling back: {why}")
        restored = self.store.rollback(self.ref, record)
        faults.point("rollback-store")
        failures: list[tuple[str, str]] = []
        old_value = self.store.read(self.ref, restored) if record.old_version else None
        for bound in self.targets:
            try:
                if old_value is None:  # the rotation created the secret: remove what it wrote
                    bound.target.delete(entry_names(bound.shape, bound.entry_name, record.generation))
                    continue
                plan = self._plan(bound, old_value, record.old_generation, None, None)
                deletes = plan.delete
                if bound.shape is Shape.VERSIONED:
                    deletes = deletes + retire_entries(bound.shape, bound.entry_name, record.generation)
                bound.target.write(plan.write)
                if deletes:
                    bound.target.delete(deletes)
                self._step(f"  restored {bound.label}")
            except KeyturnError as exc:
                failures.append((bound.label, str(exc)))
        self._audit("rotation.rollback", record, restored_version=restored, why=why,
                    target_failures=len(failures) or None)
        self.store.finish(self.ref, record.rotation_id)
        return restored, failures

    def _smoke_failed(self, record: RotationRecord, why: str) -> Outcome:
        restored, failures = self.restore_previous(record, why)
        if record.old_version:
            msg = (f"{self.name}: {why} — rolled back: version {record.old_version}'s value is CURRENT again "
                   f"(as version {restored})")
        else:
            msg = (f"{self.name}: {why} — rolled back: the secret did not exist before this rotation; its "
                   "first version was revoked and removed from the targets")
        if failures:
            msg += "; targets NOT restored: " + "; ".join(f"{t} ({e})" for t, e in failures)
        raise SmokeFailed(msg)

    def _complete(self, record: RotationRecord) -> Outcome:
        revoked: list[VersionId] = []
        if record.retire_version and record.retire_version != record.old_version:
            # The PREVIOUS of the last rotation is superseded by this one's PREVIOUS.
            revoked += self.store.retire(self.ref, [record.retire_version])
            self._audit("rotation.retire", record, retired=record.retire_version, why="superseded")
            self._step(f"retired superseded version {record.retire_version}")
        if self.mode == "emergency" or record.mode == "emergency":
            candidates = self.store.live_versions(self.ref)
            revoked += self.store.retire(self.ref, [v for v in candidates if v != record.new_version])
            self._audit("rotation.emergency", record, revoked=",".join(revoked) or "none")
        outcome = Outcome(self.name, "completed", record.rotation_id, record.new_version or "",
                          record.old_version or "", ledger=record.ledger)
        outcome.evidence = self._evidence(record, revoked, bool(revoked) or self.mode != "emergency")
        self._audit("rotation.complete", record, evidence=outcome.evidence[0] if outcome.evidence else None)
        faults.point("completed")
        self.store.finish(self.ref, record.rotation_id)
        self._step(f"complete: version {record.new_version} is CURRENT"
                   + (f", previous {record.old_version} valid until {record.grace_until}"
                      if record.grace_until else ""))
        return outcome

    def _evidence(self, record: RotationRecord, revoked: list[VersionId], revoke_ok: bool) -> list[str]:
        from keyturn.evidence import EvidenceRecord, TargetRow, ValidationCheck, write_evidence

        ev = EvidenceRecord(
            secret_id=self.name,
            environment=self.config.environment or self.rt.environ.get("KEYTURN_ENVIRONMENT", ""),
            rotated_by=record.actor,
            rotation_reason=record.reason or record.mode,
            started_utc=record.started,
            completed_utc=iso(self.rt.clock()) or "",
            impacted_services=tuple(self.config.impacted_services),
            validation_summary=tuple(ValidationCheck(c["check"], bool(c["ok"]), c["detail"]) for c in record.checks),
            revoke_confirmed=revoke_ok,
            rotation_id=record.rotation_id,
            store=self.store.label,
            versions={"current": record.new_version or "", "previous": record.old_version or "",
                      "revoked": ",".join(revoked)},
            mode=record.mode,
            targets=tuple(
                TargetRow(label, "skipped" if row.get("skipped") else row.get("status", "failed"),
                          int(row.get("attempts", 0)), int(row.get("retries", 0)),
                          row.get("confirmed_at"), row.get("error"))
                for label, row in record.ledger.items()
            ),
            audit_head=self.rt.audit.head()[1],
        )
        directory = self.rt.manifest.resolve(self.rt.manifest.model.audit.evidence_dir)
        paths = write_evidence(directory, ev)
        return [str(p) for p in paths]


def rotate(rt: Runtime, name: str, *, mode: str = "scheduled", reason: str | None = None) -> Outcome:
    return Rotation(rt, name, mode=mode, reason=reason).run()
