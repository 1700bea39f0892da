"""What would happen, without doing it: due secrets, dry-run plans, status rows, and
the GitHub Actions matrix (one job per secret). Reads store metadata only — never a
value — so it is safe for status dashboards and ``--dry-run``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from keyturn._internal.durations import format_duration
from keyturn.errors import UsageError
from keyturn.rotation.context import Runtime
from keyturn.rotation.journal import lease_is_live
from keyturn.rotation.record import JournalDoc, iso, parse_iso
from keyturn.stores.base import SecretState
from keyturn.targets.base import entry_names


@dataclass
class StatusRow:
    secret: str
    store: str
    path: str
    exists: bool
    current: str
    generation: int
    rotated_at: str
    age_days: float | None
    max_age_days: float
    due: bool
    overdue_days: float
    previous: str
    grace_until: str
    pending: str  # "" or "<stage> (<rotation id>, live|stale)"
    targets: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_due(state: SecretState, doc: JournalDoc, max_age_seconds: float, now: datetime) -> bool:
    rotated = rotated_at(state, doc)
    if not state.exists or rotated is None:
        return True
    return (now - rotated).total_seconds() >= max_age_seconds


def managed(state: SecretState, doc: JournalDoc) -> bool:
    return doc.current is not None and doc.current.version == state.current


def rotated_at(state: SecretState, doc: JournalDoc) -> datetime | None:
    if managed(state, doc) and doc.current is not None:
        return parse_iso(doc.current.since) or state.created_at
    return state.created_at


def load_doc(rt: Runtime, name: str) -> tuple[SecretState, JournalDoc]:
    """Store state and journal, after the store's read-only preflight (a wrong mount or
    token is an error here, not "every secret is new")."""
    from keyturn.rotation.journal import Journal

    store = rt.store_for(name)
    ref = rt.ref(name)
    store.preflight(ref)
    doc = Journal(store.journal(ref), name, "", rt.clock).load()
    return store.describe(ref), doc


def status_row(rt: Runtime, name: str) -> StatusRow:
    sc = rt.secret(name)
    store = rt.store_for(name)
    state, doc = load_doc(rt, name)
    now = rt.clock()
    max_age = sc.policy.max_age.total_seconds()
    rot = rotated_at(state, doc)
    age = (now - rot).total_seconds() if state.exists and rot else None
    pending = ""
    if doc.op is not None:
        live = "live" if lease_is_live(doc.op, now) else "stale, resumable"
        pending = f"{doc.op.operation} {doc.op.stage} ({doc.op.rotation_id}, {live})"
    prev = doc.previous
    is_managed = managed(state, doc)
    return StatusRow(
        secret=name,
        store=store.label,
        path=sc.path,
        exists=state.exists,
        current=state.current or "",
        generation=doc.current.generation if is_managed and doc.current else 0,
        rotated_at=iso(rot) or "",
        age_days=round(age / 86400, 2) if age is not None else None,
        max_age_days=round(max_age / 86400, 2),
        due=is_due(state, doc, max_age, now),
        overdue_days=round(max(0.0, (age or 0) - max_age) / 86400, 2) if age is not None else 0.0,
        previous=prev.version if prev else "",
        grace_until=(prev.retire_after or "") if prev else "",
        pending=pending,
        targets=len(sc.targets),
    )


def due_secrets(rt: Runtime, names: list[str]) -> list[str]:
    return [n for n in names if status_row(rt, n).due]


@dataclass
class PlanItem:
    secret: str
    store: str
    path: str
    current: str
    next_generation: int
    generator: str
    mode: str
    grace: str
    validate: list[str] = field(default_factory=list)
    smoke: list[str] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)


def plan_item(rt: Runtime, name: str, mode: str) -> PlanItem:
    """The plan for one secret: store metadata after the read-only preflight; targets
    are "not checked" when their credentials are missing (a dry run never refuses)."""
    sc = rt.secret(name)
    store = rt.store_for(name)
    state, doc = load_doc(rt, name)
    gen = max([doc.current.generation if doc.current else 0] + [v.generation for v in doc.versions]) + 1
    targets: list[dict[str, Any]] = []
    try:
        bounds = rt.targets_for(name)
    except UsageError as exc:
        targets.append({"target": "(targets)", "shape": "-", "entries": [], "checked": f"not checked: {exc}"})
        bounds = []
    for bound in bounds:
        try:
            bound.target.check_access()
            checked = "ok"
        except Exception as exc:  # noqa: BLE001 - a plan reports, it does not fail
            from keyturn.errors import KeyturnError

            checked = f"not checked: {exc}" if isinstance(exc, KeyturnError) else "not checked"
        targets.append({"target": bound.label, "shape": bound.shape.value,
                        "entries": list(entry_names(bound.shape, bound.entry_name, gen)), "checked": checked})
    return PlanItem(
        secret=name, store=store.label, path=sc.path, current=state.current or "none",
        next_generation=gen, generator=sc.generator.type, mode=mode,
        grace="0s" if mode == "emergency" else format_duration(sc.policy.grace),
        validate=[c.label for c in rt.checks(list(sc.validate_))],
        smoke=[c.label for c in rt.checks(list(sc.smoke))],
        targets=targets,
    )


def matrix(names: list[str]) -> dict[str, Any]:
    """``strategy.matrix`` for one job per secret (``fromJSON`` of this)."""
    return {"include": [{"secret": n} for n in names]}
