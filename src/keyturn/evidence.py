"""Evidence records: what one rotation did (completed, rolled back, failed or aborted), as JSON and markdown, never a value.

An :class:`EvidenceRecord` is written once per rotation that reached the store by
:func:`write_evidence` as ``<secret>-<rotation_id>.json`` (mode 0o600) and ``.md``,
each atomically (temp file, fsync, ``os.replace``). The markdown is rendered from
``keyturn/templates/evidence.md.j2``; every expression in it is escaped for markdown
tables (pipes, backslashes, newlines, angle brackets) even if the template forgets
the ``md`` filter. ``audit_head`` is the digest of the rotation's last audit line: the
anchor that lets :func:`keyturn.audit.verify_log` detect a truncated log. Constructing
a record with a :class:`~keyturn.values.SecretValue` or bytes anywhere raises
``TypeError``. Imports only the stdlib, jinja2 and :mod:`keyturn.audit`/``values``;
never a store, target or SDK.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jinja2

from keyturn._internal.atomic import write_atomic
from keyturn.audit import format_ts, json_safe

__all__ = [
    "EVIDENCE_SCHEMA",
    "TARGET_STATUSES",
    "EvidenceRecord",
    "TargetRow",
    "ValidationCheck",
    "evidence_stem",
    "md_escape",
    "render_markdown",
    "write_evidence",
]

EVIDENCE_SCHEMA = "keyturn.evidence/v1"
TARGET_STATUSES = ("confirmed", "skipped", "failed")
TargetStatus = Literal["confirmed", "skipped", "failed"]


def _text(value: Any, where: str) -> str:
    value = json_safe(value, where)
    if not isinstance(value, str):
        raise TypeError(f"evidence {where}: expected str, got {type(value).__name__}")
    return value


def _utc(value: Any, where: str) -> str:
    return format_ts(value) if isinstance(value, datetime) else _text(value, where)


@dataclass(frozen=True)
class ValidationCheck:
    check: str
    ok: bool
    detail: str = ""

    def __post_init__(self) -> None:
        _text(self.check, "validation_summary.check")
        _text(self.detail, "validation_summary.detail")
        if not isinstance(self.ok, bool):
            raise TypeError("evidence validation_summary.ok: expected bool")


@dataclass(frozen=True)
class TargetRow:
    """One row of the distribution ledger."""

    target: str
    status: TargetStatus
    attempts: int = 0
    retries: int = 0
    confirmed_at: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        _text(self.target, "targets.target")
        if self.status not in TARGET_STATUSES:
            raise ValueError(
                f"evidence target {self.target}: status {self.status!r} not in {TARGET_STATUSES}"
            )
        if isinstance(self.confirmed_at, datetime):
            object.__setattr__(self, "confirmed_at", format_ts(self.confirmed_at))
        for name in ("confirmed_at", "error"):
            if getattr(self, name) is not None:
                _text(getattr(self, name), f"targets.{name}")
        for name in ("attempts", "retries"):
            if not isinstance(getattr(self, name), int):
                raise TypeError(f"evidence targets.{name}: expected int")


def _rows(items: Sequence[Any], kind: type[Any], where: str) -> tuple[Any, ...]:
    if isinstance(items, (str, bytes)):
        raise TypeError(f"evidence {where}: expected a list")
    return tuple(item if isinstance(item, kind) else kind(**json_safe(item, where)) for item in items)


@dataclass(frozen=True)
class EvidenceRecord:
    """The evidence fields (secret_id … revoke_confirmed) plus the rotation's handles and outcome."""

    secret_id: str
    environment: str
    rotated_by: str
    rotation_reason: str
    started_utc: str
    completed_utc: str
    impacted_services: tuple[str, ...]
    validation_summary: tuple[ValidationCheck, ...]
    revoke_confirmed: bool
    rotation_id: str
    store: str
    versions: Mapping[str, str] = field(default_factory=dict)
    mode: str = "scheduled"
    targets: tuple[TargetRow, ...] = ()
    audit_head: str = ""
    #: completed | rolled-back | failed | aborted
    outcome: str = "completed"
    #: when the replaced version is due for revocation, if it was not revoked yet
    revoke_due: str = ""

    def __post_init__(self) -> None:
        for name in (
            "secret_id",
            "environment",
            "rotated_by",
            "rotation_reason",
            "rotation_id",
            "store",
            "mode",
            "audit_head",
            "outcome",
            "revoke_due",
        ):
            object.__setattr__(self, name, _text(getattr(self, name), name))
        for name in ("started_utc", "completed_utc"):
            object.__setattr__(self, name, _utc(getattr(self, name), name))
        if isinstance(self.impacted_services, (str, bytes)):
            raise TypeError("evidence impacted_services: expected a list")
        services = tuple(_text(s, "impacted_services") for s in self.impacted_services)
        object.__setattr__(self, "impacted_services", services)
        checks = _rows(self.validation_summary, ValidationCheck, "validation_summary")
        object.__setattr__(self, "validation_summary", checks)
        object.__setattr__(self, "targets", _rows(self.targets, TargetRow, "targets"))
        versions = {
            _text(k, "versions"): _text(str(v) if isinstance(v, int) else v, f"versions.{k}")
            for k, v in json_safe(dict(self.versions), "versions").items()
        }
        object.__setattr__(self, "versions", versions)
        if not isinstance(self.revoke_confirmed, bool):
            raise TypeError("evidence revoke_confirmed: expected bool")
        if not self.secret_id or not self.rotation_id:
            raise ValueError("evidence needs a secret_id and a rotation_id")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["versions"] = dict(self.versions)
        return {"schema": EVIDENCE_SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvidenceRecord:
        body = {k: v for k, v in data.items() if k != "schema"}
        return cls(**body)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def evidence_stem(secret_id: str, rotation_id: str) -> str:
    """``<secret>-<rotation_id>`` with anything outside ``[A-Za-z0-9._-]`` made ``_``."""
    stem = _UNSAFE.sub("_", f"{secret_id}-{rotation_id}")
    return "_" + stem[1:] if stem.startswith(".") else stem


class _Escaped(str):
    """Marks text already escaped by :func:`md_escape` so ``finalize`` leaves it alone."""


def md_escape(value: Any) -> str:
    """Make any value safe inside a markdown table cell (one line, no pipes, no HTML)."""
    if isinstance(value, _Escaped):
        return value
    if value is None:
        text = "—"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    else:
        text = str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    text = " ".join(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return _Escaped(text)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("keyturn", "templates"),
        autoescape=False,  # markdown, not HTML: md_escape does the escaping
        undefined=jinja2.StrictUndefined,
        finalize=md_escape,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md_escape
    return env


def render_markdown(record: EvidenceRecord) -> str:
    template = _environment().get_template("evidence.md.j2")
    return template.render(r=record)


def write_evidence(directory: str | os.PathLike[str], record: EvidenceRecord, *,
                   root: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.json`` (0o600) and ``<stem>.md`` atomically; return both paths."""
    folder = Path(directory)
    stem = evidence_stem(record.secret_id, record.rotation_id)
    json_path, md_path = folder / f"{stem}.json", folder / f"{stem}.md"
    body = json.dumps(record.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    markdown = render_markdown(record)
    write_atomic(json_path, body, 0o600, root=root)
    write_atomic(md_path, markdown, 0o644, root=root)
    return json_path, md_path
