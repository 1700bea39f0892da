"""What every operation on one secret shares: its store, targets, journal, audit lines,
evidence, and retirement — the one place where versions are revoked.

Retirement (invariant I8): the journal tracks every version keyturn made CURRENT (or
rotated away from) until its revocation was read back. :meth:`SecretOp.retire_due`
revokes every tracked version whose time has come — superseded PREVIOUS, grace 0,
rolled back, expired grace — removing its grace-only target entries first (so no target
holds a revoked value), and drops from the journal only what the store confirms revoked.
Whatever fails stays tracked and due: ``finalize`` and ``doctor`` see it.

Never imports an SDK, a store adapter or a target module.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from keyturn._internal import faults
from keyturn.errors import KeyturnError, terminal_text
from keyturn.rotation.context import Runtime
from keyturn.rotation.journal import Journal, new_owner
from keyturn.issuers.base import Issuer, field_value
from keyturn.issuers.registry import build_issuer, is_issuer
from keyturn.rotation.record import Awaiting, JournalDoc, OpRecord, Role, TrackedVersion, VersionId, iso
from keyturn.stores.base import SecretRef, Store
from keyturn.targets.base import Shape, retire_entries
from keyturn.targets.registry import BoundTarget
from keyturn.values import SecretValue


@dataclass
class Outcome:
    secret: str
    status: str  # completed | rolled_back | retired | aborted | skipped | unlocked
    rotation_id: str = ""
    version: str = ""
    previous: str = ""
    message: str = ""
    ledger: dict[str, dict[str, Any]] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)


def target_key(bound: BoundTarget) -> str:
    """The ledger key of one bound target: unique per (target, entry name)."""
    return f"{bound.label}#{bound.entry_name}"


def pick(bound: BoundTarget, value: SecretValue, secret: str) -> SecretValue:
    """What ``bound`` holds of ``value``: the whole value, or one field of a structured one."""
    return field_value(value, bound.field, secret=secret) if bound.field else value


class SecretOp:
    """Shared state of one operation on one secret within a run."""

    def __init__(self, rt: Runtime, name: str) -> None:
        self.rt = rt
        self.name = name
        self.config = rt.secret(name)
        self.ref: SecretRef = rt.ref(name)
        self.store: Store = rt.store_for(name)
        self._targets: list[BoundTarget] | None = None
        self._issuer: Issuer | None = None
        self.journal = Journal(self.store.journal(self.ref), name, new_owner(), rt.clock)

    @property
    def targets(self) -> list[BoundTarget]:
        if self._targets is None:
            self._targets = self.rt.targets_for(self.name)
        return self._targets

    @property
    def issuer(self) -> Issuer | None:
        """The issuer of this secret's credential, or None for a random generator."""
        if self._issuer is None and is_issuer(self.config.generator):
            self._issuer = build_issuer(self.name, self.config.generator, self.rt.environ, self.rt.manifest.base_dir)
        return self._issuer

    # -- output ----------------------------------------------------------------------
    def step(self, message: str) -> None:
        self.rt.progress.step(self.name, message)

    def audit(self, event: str, op: OpRecord, **details: Any) -> None:
        versions = {k: v for k, v in (("current", op.new_version), ("previous", op.old_version)) if v}
        self.rt.record(
            event,
            secret=self.name,
            store=self.store.label,
            versions=versions,
            mode=op.mode,
            reason=op.reason,
            rotation_id=op.rotation_id,
            details={k: v for k, v in details.items() if v is not None} or None,
        )

    def notify(self, op: OpRecord, outcome: str, error: str = "") -> None:
        """Tell the manifest's webhooks (never raises, never carries a value)."""
        configs = getattr(self.rt.manifest.model, "notify", None) or []
        if not configs:
            return
        from keyturn import notify

        versions = {k: v for k, v in (("current", op.new_version), ("previous", op.old_version)) if v}
        notify.send(configs, notify.Event(
            outcome, self.name, op.rotation_id, op.mode, versions,
            tuple(k for k, row in op.ledger.items() if row.get("status") == "confirmed"),
            tuple(f"{c['check']}: {'pass' if c['ok'] else 'FAIL'}" for c in op.checks), error), self.rt.environ)

    # -- versions ----------------------------------------------------------------------
    @staticmethod
    def track(doc: JournalDoc, version: VersionId | None, generation: int, role: Role, *, now: datetime,
              retire_after: datetime | None = None, why: str = "",
              credential: str | None = None) -> tuple[TrackedVersion, ...]:
        """``doc.versions`` with ``version`` set to ``role`` (added if new). The version's
        issuer credential id is kept when ``credential`` is None (``""`` clears it)."""
        if not version:
            return doc.versions
        after = {Role.CURRENT: None, Role.PREVIOUS: retire_after, Role.RETIRING: now}[role]
        prior = doc.find(version)
        if credential is None:
            credential = prior.credential if prior is not None else ""
        entry = TrackedVersion(version, generation, role.value, iso(now) or "", iso(after), why, credential)
        kept = tuple(v for v in doc.versions if v.version != version)
        if role is Role.CURRENT:  # exactly one CURRENT
            kept = tuple(v if v.role != Role.CURRENT.value else
                         replace(v, role=Role.RETIRING.value, retire_after=iso(now), why="replaced") for v in kept)
        return kept + (entry,)

    @staticmethod
    def due(doc: JournalDoc, now: datetime) -> list[TrackedVersion]:
        """The tracked versions whose time has come (never CURRENT)."""
        return [v for v in doc.due(now) if v.version != (doc.current.version if doc.current else None)]

    def retire_due(self, op: OpRecord, *, clean_targets: bool,
                   allow_current: bool = False) -> tuple[list[str], list[TrackedVersion]]:
        """Revoke every tracked version that is due (and ``op.retire``). Returns the
        versions revoked (read back) and those still pending. The revocations are noted
        in the journal, for the caller's next write (``finish``, or ``release`` when some
        are left): a kill before it makes the re-run revoke them again, and read back."""
        now = self.rt.clock()
        doc = self.journal.doc
        due = self.due(doc, now)
        if not due:
            return [], []
        if clean_targets:
            failures = self.clean_targets(doc, due)
            if failures:
                self.step("  grace entries not removed: " + "; ".join(f"{t} ({e})" for t, e in failures))
                return [], due
        faults.point("retire-targets")
        awaiting = list(doc.awaiting)
        at_issuer = [v for v in due if self.revoke_at_issuer(op, v, awaiting)]
        if len(awaiting) != len(doc.awaiting):
            self.journal.checkpoint(op, awaiting=tuple(awaiting))
        faults.point("retire-issuer")
        confirmed = (set(self.store.retire(self.ref, [v.version for v in at_issuer], allow_current=allow_current))
                     if at_issuer else set())
        faults.point("retire-store")
        revoked: list[str] = [v.version for v in due if v.version in confirmed]
        left = [v for v in due if v.version not in confirmed]
        self.journal.note(self.journal.doc.op or op, versions=doc.without(set(revoked)))
        for v in due:
            if v.version in confirmed:
                self.audit("rotation.retire", op, retired=v.version, why=v.why or "grace ended")
        if revoked:
            self.step(f"retired version(s) {', '.join(revoked)} (revocation read back)")
        if left:
            self.step(f"NOT revoked yet: {', '.join(v.version for v in left)} — `keyturn finalize {self.name}` retries")
        return revoked, left

    def revoke_at_issuer(self, op: OpRecord, v: TrackedVersion, awaiting: list[Awaiting]) -> bool:
        """Revoke ``v``'s credential where it was issued, before the store retires the
        version. True when the store may retire it: revoked (read back), nothing issued,
        or a person must do it (recorded in ``awaiting``, shown by doctor)."""
        issuer = self.issuer
        now = iso(self.rt.clock()) or ""
        if not v.credential:
            return True  # nothing issued (a random value, or a duplicate of a restored version)
        if issuer is None or issuer.human_revoke:
            if not any(a.version == v.version for a in awaiting):
                how = (getattr(issuer, "instructions", "") if issuer is not None else
                       "the manifest no longer names the issuer of this credential: revoke it there by hand")
                awaiting.append(Awaiting(v.version, v.credential, now, how))
                self.audit("rotation.revoke_pending", op, version=v.version, credential=v.credential or None)
                self.step(f"revoke the old credential of version {v.version} at the vendor, then "
                          f"`keyturn confirm-revoked {self.name}`")
            return True
        try:
            ok = issuer.revoke(v.credential)
        except KeyturnError as exc:
            self.step(f"  credential {v.credential} not revoked at {issuer.kind}: {terminal_text(exc)}")
            return False
        if ok:
            self.audit("rotation.revoke", op, version=v.version, credential=v.credential, issuer=issuer.kind)
            self.step(f"revoked credential {v.credential} at {issuer.kind} (read back)")
        else:
            self.step(f"  credential {v.credential} still valid at {issuer.kind}; `keyturn finalize {self.name}` retries")
        return ok

    def clean_targets(self, doc: JournalDoc, due: list[TrackedVersion]) -> list[tuple[str, str]]:
        """Remove the grace-only entries of ``due`` versions from every target, keeping
        those still used by CURRENT or a PREVIOUS in grace."""
        keep_gens = {v.generation for v in doc.versions
                     if v.role in (Role.CURRENT.value, Role.PREVIOUS.value) and v not in due}
        in_grace = any(v.role == Role.PREVIOUS.value and v not in due for v in doc.versions)
        failures: list[tuple[str, str]] = []
        for bound in self.targets:
            names: list[str] = []
            for v in due:
                if bound.shape is Shape.DUAL and in_grace:
                    continue
                if v.generation in keep_gens:
                    continue
                names += [n for n in retire_entries(bound.shape, bound.entry_name, v.generation) if n not in names]
            if not names:
                continue
            try:
                bound.target.delete(names)
                self.step(f"  removed {', '.join(names)} from {bound.label}")
            except KeyturnError as exc:
                failures.append((bound.label, str(exc)))
        return failures

    # -- evidence ----------------------------------------------------------------------
    def evidence(self, op: OpRecord, *, outcome: str, current: str, previous: str, revoke_confirmed: bool,
                 revoked: list[str], pending: list[str], due: str | None) -> list[str]:
        """Write the evidence record. ``revoke_confirmed`` is true only when the version
        this operation replaced was revoked and the revocation read back."""
        from keyturn.evidence import EvidenceRecord, TargetRow, ValidationCheck, write_evidence

        ev = EvidenceRecord(
            secret_id=self.name,
            environment=self.config.environment or self.rt.environ.get("KEYTURN_ENVIRONMENT", ""),
            rotated_by=op.actor,
            rotation_reason=op.reason or op.mode,
            started_utc=op.started,
            completed_utc=iso(self.rt.clock()) or "",
            impacted_services=tuple(self.config.impacted_services),
            validation_summary=tuple(ValidationCheck(c["check"], bool(c["ok"]), c.get("detail", ""))
                                     for c in op.checks),
            revoke_confirmed=revoke_confirmed,
            rotation_id=op.rotation_id,
            store=self.store.label,
            versions={"current": current, "previous": previous, "revoked": ",".join(revoked),
                      "revoke_pending": ",".join(pending)},
            mode=op.mode,
            targets=tuple(
                TargetRow(key, "skipped" if row.get("skipped") else row.get("status", "failed"),
                          int(row.get("attempts", 0)), int(row.get("retries", 0)),
                          row.get("confirmed_at"), row.get("error"))
                for key, row in op.ledger.items()
            ),
            audit_head=self.rt.audit.head()[1],
            outcome=outcome,
            revoke_due=due or "",
        )
        directory = self.rt.manifest.resolve(self.rt.manifest.model.audit.evidence_dir)
        return [str(p) for p in write_evidence(directory, ev, root=self.rt.manifest.base_dir)]
