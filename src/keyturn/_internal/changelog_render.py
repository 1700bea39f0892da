"""Audit records → changelog entries, and the jinja2 environment that renders them.

One :class:`Entry` per operation (records grouped by ``rotation_id``; a record without
one is its own entry): secret, store, mode, outcome, versions, targets and checks, read
from the records' metadata fields and ``details`` — the audit log refuses values, so no
value can reach an entry. Every ``{{ }}`` in ``keyturn/templates/*.md.j2`` is escaped
for markdown tables by the environment's ``finalize``. Imports only jinja2 and
the standard library; never a store, target or SDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

_OUTCOMES = {
    "rotation.complete": "completed",
    "rotation.rollback": "rolled back",
    "rotation.abort": "aborted",
    "rotation.retire": "retired",
    "rotation.emergency": "emergency revoke",
}


class _Safe(str):
    """Already escaped."""


def md(value: Any) -> str:
    """One line, safe in a markdown table cell: no pipes, no HTML, no newlines."""
    if isinstance(value, _Safe):
        return value
    text = "—" if value is None else ("yes" if value is True else "no" if value is False else str(value))
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return _Safe(" ".join(text.splitlines()))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("keyturn", "templates"),
        autoescape=False,  # markdown: md() escapes every expression
        undefined=jinja2.StrictUndefined,
        finalize=md,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md
    return env


_ENV: jinja2.Environment | None = None


def render(template: str, **context: Any) -> str:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV.get_template(template).render(**context)


@dataclass
class Entry:
    key: str
    secret: str = ""
    store: str = ""
    mode: str = ""
    actor: str = ""
    reason: str = ""
    started: str = ""
    outcome: str = ""
    first_seq: int = 0
    last_seq: int = 0
    head: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    @staticmethod
    def key_of(record: dict[str, Any]) -> str:
        rid = record.get("rotation_id")
        if rid:
            return str(rid)
        return f"{record.get('event', 'event')}@{record.get('ts', '')}"

    @property
    def versions_text(self) -> str:
        if not self.versions:
            return "—"
        cur, prev = self.versions.get("current"), self.versions.get("previous")
        if cur and prev:
            return f"{prev} → {cur}"
        return ", ".join(f"{k} {v}" for k, v in sorted(self.versions.items()))


def _minute(ts: str) -> str:
    return ts[:16].replace("T", " ") + "Z" if len(ts) >= 16 else ts


def entries_from(records: Iterable[dict[str, Any]], evidence: Sequence[str], evidence_dir: str = "") -> list[Entry]:
    """Group records into entries (in log order). Evidence links: the files named by a
    ``rotation.complete`` record (``details.evidence``, placed under ``evidence_dir``), else
    the repository paths in ``evidence`` whose names contain the entry's rotation id."""
    entries: dict[str, Entry] = {}
    for record in records:
        key = Entry.key_of(record)
        e = entries.get(key)
        if e is None:
            e = entries[key] = Entry(key, started=_minute(str(record.get("ts", ""))),
                                     first_seq=int(record.get("seq", 0)))
        for name in ("secret", "store", "mode", "actor", "reason"):
            if record.get(name) and not getattr(e, name):
                setattr(e, name, str(record[name]))
        e.versions.update({str(k): str(v) for k, v in (record.get("versions") or {}).items()})
        e.last_seq, e.head = int(record.get("seq", 0)), str(record.get("digest", ""))
        event = str(record.get("event", ""))
        details = record.get("details") or {}
        if event == "rotation.distribute" and details.get("target"):
            label = f"{details['target']} ({details.get('status', '?')})"
            if label not in e.targets:
                e.targets.append(label)
        if event in ("rotation.verify", "rotation.smoke"):
            stage = event.split(".")[1]
            if details.get("result") == "ok":
                e.checks.append(f"{stage} ok ({details.get('checks', 0)} check(s))")
            else:
                e.checks.append(f"{stage} FAILED: {details.get('failed', '?')}")
        e.outcome = _OUTCOMES.get(event, e.outcome or event.split(".", 1)[-1])
        named = str(details.get("evidence") or "")
        if event == "rotation.complete" and named and evidence_dir:
            stem = named.replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".json")
            e.evidence = [f"{evidence_dir}/{stem}.md", f"{evidence_dir}/{stem}.json"]
    for e in entries.values():
        if e.key and "@" not in e.key and not e.evidence:
            e.evidence = [p for p in evidence if e.key in p.rsplit("/", 1)[-1]]
    return list(entries.values())
