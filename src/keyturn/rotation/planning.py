"""What would happen, without doing it: due secrets, dry-run plans, status rows, and
the GitHub Actions matrix (one job per secret). Reads store metadata only — never a
value — so it is safe for status dashboards and ``--dry-run``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from keyturn._internal.durations import format_duration
from keyturn.rotation.context import Runtime
from keyturn.rotation.locking import lease_is_live
from keyturn.stores.base import SecretState, iso
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


def is_due(state: SecretState, max_age_seconds: float, now: datetime) -> bool:
    if not state.exists or state.rotated_at is None:
        return True
    return (now - state.rotated_at).total_seconds() >= max_age_seconds


def status_row(rt: Runtime, name: str) -> StatusRow:
    sc = rt.secret(name)
    store = rt.store_for(name)
    ref = rt.ref(name)
    state = store.describe(ref)
    now = rt.clock()
    max_age = sc.policy.max_age.total_seconds()
    age = (now - state.rotated_at).total_seconds() if state.exists and state.rotated_at else None
    record, _ = store.load_rotation(ref)
    pending = ""
    if record is not None:
        live = "live" if lease_is_live(record, now) else "stale, resumable"
        pending = f"{record.stage} ({record.rotation_id}, {live})"
    return StatusRow(
        secret=name,
        store=store.label,
        path=sc.path,
        exists=state.exists,
        current=state.current or "",
        generation=state.generation,
        rotated_at=iso(state.rotated_at) or "",
        age_days=round(age / 86400, 2) if age is not None else None,
        max_age_days=round(max_age / 86400, 2),
        due=is_due(state, max_age, now),
        overdue_days=round(max(0.0, (age or 0) - max_age) / 86400, 2) if age is not None else 0.0,
        previous=state.previous or "",
        grace_until=iso(state.grace_until) or "",
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
    sc = rt.secret(name)
    store = rt.store_for(name)
    state = store.describe(rt.ref(name))
    gen = state.generation + 1
    targets = []
    for bound in rt.targets_for(name):
        targets.append({"target": bound.label, "shape": bound.shape.value,
                        "entries": list(entry_names(bound.shape, bound.entry_name, gen))})
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
