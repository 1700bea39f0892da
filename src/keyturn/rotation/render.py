"""Render status rows and plans as table, JSON, Markdown or Prometheus text. Pure
formatting: no I/O beyond returning strings, no values (rows hold metadata only)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from keyturn.rotation.planning import PlanItem, StatusRow

_COLUMNS = [
    ("secret", "SECRET"), ("store", "STORE"), ("current", "VERSION"), ("age_days", "AGE(d)"),
    ("max_age_days", "MAX(d)"), ("due", "DUE"), ("previous", "PREV"), ("grace_until", "GRACE UNTIL"),
    ("pending", "IN FLIGHT"),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value != "" else "-"


def status_table(rows: list[StatusRow]) -> str:
    table = [[h for _, h in _COLUMNS]] + [[_cell(getattr(r, k)) for k, _ in _COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table) + "\n"


def status_json(rows: list[StatusRow]) -> str:
    return json.dumps({"version": 1, "secrets": [r.as_dict() for r in rows]}, indent=2) + "\n"


def _md(value: Any) -> str:
    return _cell(value).replace("|", "\\|").replace("\n", " ")


def status_markdown(rows: list[StatusRow]) -> str:
    head = "| " + " | ".join(h for _, h in _COLUMNS) + " |\n|" + "---|" * len(_COLUMNS) + "\n"
    body = "".join("| " + " | ".join(_md(getattr(r, k)) for k, _ in _COLUMNS) + " |\n" for r in rows)
    due = sum(1 for r in rows if r.due)
    return f"### keyturn status\n\n{len(rows)} secret(s), {due} due.\n\n" + head + body


def status_prometheus(rows: list[StatusRow]) -> str:
    out = [
        "# HELP keyturn_secret_age_seconds Age of the CURRENT version.",
        "# TYPE keyturn_secret_age_seconds gauge",
    ]
    for r in rows:
        if r.age_days is not None:
            out.append(f'keyturn_secret_age_seconds{{secret="{r.secret}"}} {int(r.age_days * 86400)}')
    out += ["# HELP keyturn_secret_due 1 when the secret is past its max_age.",
            "# TYPE keyturn_secret_due gauge"]
    out += [f'keyturn_secret_due{{secret="{r.secret}"}} {int(r.due)}' for r in rows]
    out += ["# HELP keyturn_rotation_in_flight 1 when an unfinished rotation exists.",
            "# TYPE keyturn_rotation_in_flight gauge"]
    out += [f'keyturn_rotation_in_flight{{secret="{r.secret}"}} {int(bool(r.pending))}' for r in rows]
    return "\n".join(out) + "\n"


def plan_text(items: list[PlanItem]) -> str:
    lines = []
    for it in items:
        lines.append(f"{it.secret}: {it.mode} rotation of {it.store} {it.path} "
                     f"(current version {it.current} → generation {it.next_generation}, "
                     f"generator {it.generator}, grace {it.grace})")
        for c in it.validate:
            lines.append(f"  validate: {c}")
        for t in it.targets:
            note = "" if t.get("checked", "ok") == "ok" else f" ({t['checked']})"
            lines.append(f"  target: {t['target']} [{t['shape']}] {', '.join(t['entries'])}{note}")
        for c in it.smoke:
            lines.append(f"  smoke:    {c}")
    if not items:
        lines.append("nothing to rotate")
    return "\n".join(lines) + "\n"


def plan_json(items: list[PlanItem]) -> str:
    return json.dumps({"version": 1, "plan": [asdict(i) for i in items]}, indent=2) + "\n"
