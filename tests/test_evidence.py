"""Evidence records: JSON + markdown written atomically, fields present, no value leak."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keyturn.audit import AuditLog, Keyring, verify_log
from keyturn.evidence import (
    EVIDENCE_SCHEMA,
    EvidenceRecord,
    TargetRow,
    ValidationCheck,
    evidence_stem,
    md_escape,
    render_markdown,
    write_evidence,
)
from keyturn.values import SecretValue

CANARY = "canary-Zq8#pL2v!9xW-value"
ENV1 = {"KEYTURN_AUDIT_KEY_V1": "v1-chain-key-0123456789abcdef"}


def record(**overrides: Any) -> EvidenceRecord:
    fields: dict[str, Any] = {
        "secret_id": "db/prod",
        "environment": "production",
        "rotated_by": "octocat",
        "rotation_reason": "scheduled | quarterly\nsecond line",
        "started_utc": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        "completed_utc": "2026-01-01T12:05:00Z",
        "impacted_services": ["api", "worker"],
        "validation_summary": [
            {"check": "http /health", "ok": True, "detail": "200 in 41 ms"},
            ValidationCheck("vault token", False, "403 <denied>"),
        ],
        "revoke_confirmed": True,
        "rotation_id": "r-20260101-1",
        "store": "vault",
        "versions": {"current": "4", "previous": 3},
        "mode": "scheduled",
        "targets": [
            {
                "target": "repo:org/api:DB_PASSWORD",
                "status": "confirmed",
                "attempts": 2,
                "retries": 1,
                "confirmed_at": "2026-01-01T12:03:00Z",
            },
            TargetRow("env:org/api:prod:DB_PASSWORD", "failed", 3, 2, None, "HTTP 502"),
        ],
        "audit_head": "ab" * 32,
    }
    fields.update(overrides)
    return EvidenceRecord(**fields)


def test_write_evidence(tmp_path: Path) -> None:
    json_path, md_path = write_evidence(tmp_path / "evidence", record())
    assert json_path.name == "db_prod-r-20260101-1.json" and md_path.suffix == ".md"
    assert stat.S_IMODE(json_path.stat().st_mode) == 0o600
    assert not [p for p in json_path.parent.iterdir() if p.name.endswith(".tmp")]
    data = json.loads(json_path.read_text())
    assert data["schema"] == EVIDENCE_SCHEMA
    for name in (
        "secret_id",
        "environment",
        "rotated_by",
        "rotation_reason",
        "started_utc",
        "completed_utc",
        "impacted_services",
        "validation_summary",
        "revoke_confirmed",
        "rotation_id",
        "store",
        "versions",
        "mode",
        "targets",
        "audit_head",
    ):
        assert name in data
    assert data["started_utc"] == "2026-01-01T12:00:00.000000Z"
    assert data["versions"] == {"current": "4", "previous": "3"}
    assert data["targets"][1] == {
        "target": "env:org/api:prod:DB_PASSWORD",
        "status": "failed",
        "attempts": 3,
        "retries": 2,
        "confirmed_at": None,
        "error": "HTTP 502",
    }
    assert EvidenceRecord.from_dict(data) == record()
    md = md_path.read_text()
    assert "| Reason | scheduled \\| quarterly second line |" in md
    assert "| vault token | FAIL | 403 &lt;denied&gt; |" in md
    assert "| repo:org/api:DB_PASSWORD | confirmed | 2 | 1 | 2026-01-01T12:03:00Z | — |" in md
    assert "ab" * 32 in md and "| Previous version revoked | yes (read back) |" in md
    # Re-writing replaces in place.
    write_evidence(tmp_path / "evidence", record(revoke_confirmed=False))
    assert "| Previous version revoked | no |" in md_path.read_text()


def test_audit_head_anchors_verification(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    log = AuditLog(log_path, Keyring.from_env(ENV1), environ={})
    log.append("rotation.begin", secret="db/prod", rotation_id="r-1")
    head = log.append("rotation.complete", secret="db/prod", rotation_id="r-1")["digest"]
    json_path, _ = write_evidence(tmp_path, record(audit_head=head))
    anchor = json.loads(json_path.read_text())["audit_head"]
    assert verify_log(log_path, Keyring.from_env(ENV1), expect_head=anchor).ok
    log_path.write_text(log_path.read_text().splitlines(keepends=True)[0])
    assert not verify_log(log_path, Keyring.from_env(ENV1), expect_head=anchor).ok


@pytest.mark.parametrize(
    "field",
    [
        "rotation_reason",
        "rotated_by",
        "impacted_services",
        "validation_summary",
        "versions",
        "targets",
        "audit_head",
    ],
)
def test_secret_value_rejected(tmp_path: Path, field: str) -> None:
    canary = SecretValue(CANARY, mask=False)
    bad: Any = {
        "impacted_services": ["api", canary],
        "validation_summary": [{"check": "x", "ok": True, "detail": canary}],
        "versions": {"current": canary},
        "targets": [{"target": "t", "status": "failed", "error": canary}],
    }.get(field, canary)
    with pytest.raises(TypeError, match="SecretValue") as exc:
        record(**{field: bad})
    assert CANARY not in str(exc.value)
    assert not list(tmp_path.iterdir())


def test_no_value_in_outputs(tmp_path: Path) -> None:
    canary = SecretValue(CANARY, mask=False)
    json_path, md_path = write_evidence(tmp_path, record(rotation_reason=f"rotated {canary}"))
    text = json_path.read_text() + md_path.read_text()
    assert "SecretValue(***)" in text
    assert all(form not in text for form in canary.derived_forms())


def test_validation() -> None:
    with pytest.raises(ValueError, match="status"):
        TargetRow("t", "done")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        record(revoke_confirmed="yes")
    with pytest.raises(TypeError):
        record(impacted_services="api")


def test_markdown_escaping() -> None:
    assert md_escape("a|b\r\nc\\d<e>") == "a\\|b c\\\\d&lt;e&gt;"
    assert md_escape(None) == "—" and md_escape(True) == "yes"
    assert md_escape(md_escape("a|b")) == "a\\|b"  # never double-escaped
    assert evidence_stem("../etc/passwd", "r 1") == "_._etc_passwd-r_1"
    md = render_markdown(record(secret_id="x|y", environment="prod\n| injected | row |"))
    assert "x\\|y" in md and "\n| injected" not in md
