"""The rotation lifecycle on AWS Secrets Manager (moto server) with real ``keyturn``
processes: I1–I3 and I8 when killed at stage boundaries, rollbacks, a failed first
rotation, emergency, the advised 10-minute interval and JSON fields."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.aws.test_aws_store import write_outside
from tests.aws.workspace import AwsWorkspace

KILLED = -signal.SIGKILL


def _ok(r: Any) -> None:
    assert r.returncode == 0, r.stderr


def _expire_grace(ws: AwsWorkspace) -> None:
    """Move every tracked retire_after into the past, as if the grace window ended."""
    journal_id = ws.path + ".keyturn-rotation"
    resp = ws.sm.get_secret_value(SecretId=journal_id, VersionStage="AWSCURRENT")
    doc = json.loads(resp["SecretString"])
    for v in doc["versions"]:
        if v["role"] == "previous":
            v["retire_after"] = "2000-01-01T00:00:00Z"
    write_outside(ws.sm, journal_id, json.dumps(doc))


def _targets_hold_current(ws: AwsWorkspace) -> None:
    current = ws.reader()
    assert current is not None
    assert ws.dotenv("deploy/app.env")[ws.name] == current
    assert ws.dotenv("deploy/dual.env")[ws.name] == current
    versioned = ws.dotenv("deploy/versioned.env")
    assert versioned[f"{ws.name}_V{versioned[f'{ws.name}_ACTIVE_VERSION']}"] == current


def test_rotations_move_the_labels_and_finalize_leaves_only_current(tmp_path: Path, moto: Any) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto)
    _ok(ws.rotate())
    v1, first = ws.reader(), ws.current_version()
    _ok(ws.rotate())
    assert ws.reader() != v1 and ws.stages()[first or ""] == ["AWSPREVIOUS"]
    _targets_hold_current(ws)
    assert ws.dotenv("deploy/dual.env")[f"{ws.name}_PREVIOUS"] == v1
    _ok(ws.rotate())  # supersedes the PREVIOUS of the rotation before
    assert first not in ws.live_versions()
    _expire_grace(ws)
    _ok(ws.run("finalize"))
    assert ws.live_versions() == [ws.current_version()]  # I8
    assert f"{ws.name}_PREVIOUS" not in ws.dotenv("deploy/dual.env")
    ev = [e for e in ws.audit_events() if e["event"] == "rotation.retire"]
    assert ev, "every revocation is audited"


@pytest.mark.parametrize("point", ["created", "verified", "promote-write", "promoted", "distribute-1", "distribute-2",
                                   "distributed", "smoked", "retire-store", "completed"])
def test_killed_at_a_stage_boundary_then_rerun_converges(tmp_path: Path, moto: Any, point: str) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto, grace="0s")
    _ok(ws.rotate())
    old = ws.reader()
    r = ws.rotate(fault=point)
    assert r.returncode == KILLED, (point, r.stderr)
    promoted = ws.journal()["op"].get("new_version")  # recorded only once promotion is
    allowed = {old} | ({ws.version_value(promoted)} if promoted else set())
    if point == "promote-write":  # promoted in the store, not yet recorded
        allowed.add(ws.reader())
        assert ws.reader() != old
    assert ws.reader() in allowed  # I1: readers get the old CURRENT until promote
    assert set(ws.target_values()) <= allowed | {ws.reader()}  # I3: nothing but CURRENT / PREVIOUS
    _ok(ws.rotate())
    _targets_hold_current(ws)  # I2/I3
    assert ws.reader() != old
    assert len(ws.all_versions()) == 2, "no extra versions (the pending version was adopted)"
    _ok(ws.run("finalize"))
    assert ws.live_versions() == [ws.current_version()], point  # I8
    assert not ws.journal().get("op")


@pytest.mark.parametrize("point", ["rollback-store", "rollback-targets"])
def test_killed_smoke_rollback_then_rerun_restores_and_retires(tmp_path: Path, moto: Any, point: str) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto)
    _ok(ws.rotate())
    v1, first = ws.reader(), ws.current_version()
    (ws.root / "fail-smoke").touch()
    assert ws.rotate(fault=point).returncode == KILLED
    r = ws.rotate()
    assert r.returncode == 1 and "rolled back" in r.stderr, r.stderr
    assert ws.reader() == v1 and ws.current_version() == first  # AWSCURRENT moved back
    assert ws.dotenv("deploy/app.env")[ws.name] == v1
    assert ws.live_versions() == [first], "the rolled-back version lost its labels"


def test_failed_first_rotation_removes_the_secret_and_stays_rotatable(tmp_path: Path, moto: Any) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto)
    (ws.root / "fail-smoke").touch()
    r = ws.rotate()
    assert r.returncode == 1, r.stderr
    assert ws.reader() is None and ws.stages() == {}
    (ws.root / "fail-smoke").unlink()
    _ok(ws.rotate())
    assert ws.reader() is not None and ws.live_versions() == [ws.current_version()]


def test_emergency_strips_every_other_label_including_foreign_ones(tmp_path: Path, moto: Any) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto)
    ws.sm.create_secret(Name=ws.path, SecretString="hand-0-" + "x" * 20)
    write_outside(ws.sm, ws.path, "hand-1-" + "x" * 20)
    _ok(ws.rotate())
    _ok(ws.rotate("--mode", "emergency", "--reason", "leak drill"))
    assert ws.live_versions() == [ws.current_version()]


def test_the_advised_interval_refuses_a_second_scheduled_rotation(tmp_path: Path, moto: Any) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto, min_interval="10m")
    _ok(ws.rotate())
    before = ws.reader()
    r = ws.rotate()
    assert r.returncode == 3 and "at most one rotation per 10 min" in r.stderr, r.stderr
    assert ws.reader() == before
    _ok(ws.rotate("--mode", "emergency", "--reason", "leaked"))
    assert ws.reader() != before


def test_json_secret_rotates_one_field_end_to_end(tmp_path: Path, moto: Any) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto, key="password")
    doc = '{"username": "app",\n "password": "initial-password-0001", "host": "db.internal"}'
    ws.sm.create_secret(Name=ws.path, SecretString=doc)
    _ok(ws.rotate())
    new = ws.reader()
    assert new and new != "initial-password-0001"
    assert ws.text() == doc.replace("initial-password-0001", new)
    assert ws.dotenv("deploy/app.env")[ws.name] == new
    for stream in (ws.rotate("--dry-run").stdout, ):
        assert new not in stream


def test_doctor_and_status_work_on_aws(tmp_path: Path, moto: Any) -> None:
    ws = AwsWorkspace(tmp_path / "ws", moto)
    _ok(ws.rotate())
    _ok(ws.rotate())
    r = ws.run("doctor")
    assert r.returncode == 0 and "nothing needs action" in r.stdout, r.stdout + r.stderr
    status = json.loads(ws.run("status", "--format", "json").stdout)["secrets"][0]
    assert status["current"] == ws.current_version()


def test_missing_boto3_names_the_pip_command(tmp_path: Path, moto: Any) -> None:
    import os

    ws = AwsWorkspace(tmp_path / "ws", moto)
    blocker = ws.root / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass _B:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('boto3', 'botocore'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name.split('.')[0])\n"
        "sys.meta_path.insert(0, _B())\n")
    ws.env["PYTHONPATH"] = os.pathsep.join([str(blocker), ws.env["PYTHONPATH"]])
    r = ws.run("status")
    assert r.returncode == 2, r.stderr
    assert "pip install 'keyturn[aws]'" in r.stderr and "internal error" not in r.stderr


def test_no_value_reaches_output_audit_evidence_or_the_journal(tmp_path: Path, moto: Any) -> None:
    import base64

    ws = AwsWorkspace(tmp_path / "ws", moto)
    runs = [ws.rotate(), ws.rotate()]
    (ws.root / "fail-smoke").touch()
    runs.append(ws.rotate())  # rolled back
    values = {v for v in (ws.version_value(x) for x in ws.all_versions()) if v}
    assert len(values) == 3
    texts = [r.stdout + r.stderr for r in runs]
    texts += [p.read_text() for p in (ws.root / "logs").rglob("*") if p.is_file()]
    texts += [json.dumps(ws.journal())]
    for value in values:  # I5
        forms = {value, base64.b64encode(value.encode()).decode()}
        assert not any(form in text for form in forms for text in texts)
