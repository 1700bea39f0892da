"""The invariants I1–I7 (docs/architecture.md), each its own test, against a real OpenBao and real
``keyturn`` processes. I3 kills the process with SIGKILL at every stage boundary
(``KEYTURN_FAULT_INJECT``, no mocking) and re-runs it."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.invariants_support import Workspace, assert_no_foreign_values, assert_targets_hold_current

KILLED = -signal.SIGKILL


@pytest.fixture
def ws(tmp_path: Path, openbao) -> Workspace:  # type: ignore[no-untyped-def]
    return Workspace(tmp_path / "ws", openbao)


def _first_rotation(ws: Workspace) -> str:
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    value = ws.reader()
    assert value is not None
    return value


def test_i1_reader_sees_current_until_promote_or_rollback(ws: Workspace) -> None:
    v1 = _first_rotation(ws)
    for point in ("created", "verified"):
        r = ws.rotate(fault=point)
        assert r.returncode == KILLED
        assert ws.reader() == v1, f"reader changed before promote (killed after {point})"
    r = ws.rotate(fault="promoted")
    assert r.returncode == KILLED
    v2 = ws.reader()
    assert v2 not in (None, v1), "promote must change what readers get"
    assert ws.rotate().returncode == 0  # finish
    assert ws.reader() == v2
    # A failed smoke check: rollback is the only other change readers see.
    (ws.root / "fail-smoke").touch()
    r = ws.rotate()
    assert r.returncode == 1, r.stderr
    assert ws.reader() == v2


def test_i2_completed_rotation_leaves_every_target_on_current(ws: Workspace) -> None:
    _first_rotation(ws)
    assert_targets_hold_current(ws)
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert_targets_hold_current(ws)
    assert ws.previous_value() is not None  # dual/versioned shapes carry PREVIOUS in grace
    assert ws.dotenv("deploy/dual.env")[f"{ws.name}_PREVIOUS"] == ws.previous_value()


KILL_POINTS = ["created", "verified", "promote-write", "promoted", "distribute-1", "distribute-2",
               "distributed", "smoked", "completed"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_i3_killed_at_any_stage_and_rerun_converges(ws: Workspace, point: str) -> None:
    v1 = _first_rotation(ws)
    before = ws.current_version()
    r = ws.rotate(fault=point)
    assert r.returncode == KILLED, (point, r.returncode, r.stderr)
    assert ws.pending_exists() or point == "completed"
    assert_no_foreign_values(ws)
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert "resuming scheduled rotation" in r.stderr or point == "completed"
    assert ws.current_version() == before + 1, "re-run made extra versions"
    assert ws.reader() != v1
    assert ws.previous_value() == v1
    assert not ws.pending_exists()
    assert_targets_hold_current(ws)


def test_i3_killed_during_rollback_rerun_finishes_rollback(ws: Workspace) -> None:
    v1 = _first_rotation(ws)
    (ws.root / "fail-smoke").touch()
    r = ws.rotate(fault="rollback-store")
    assert r.returncode == KILLED
    assert ws.reader() == v1  # the store is already restored
    r = ws.rotate()
    assert r.returncode == 1, r.stderr
    assert "rolled back" in r.stderr
    assert ws.reader() == v1
    assert ws.dotenv("deploy/app.env")[ws.name] == v1
    assert not ws.pending_exists()


def test_i4_failed_verify_changes_nothing(ws: Workspace) -> None:
    v1 = _first_rotation(ws)
    before_meta = ws.metadata()
    before_targets = {p: ws.dotenv(p) for p in ("deploy/app.env", "deploy/dual.env", "deploy/versioned.env")}
    (ws.root / "fail-verify").touch()
    r = ws.rotate()
    assert r.returncode == 1
    assert "pre-promotion check failed" in r.stderr and "nothing was changed" in r.stderr
    assert ws.reader() == v1
    assert ws.metadata()["current_version"] == before_meta["current_version"]
    assert ws.metadata()["versions"].keys() == before_meta["versions"].keys()
    assert not ws.pending_exists()
    assert {p: ws.dotenv(p) for p in before_targets} == before_targets


def test_i4_failed_smoke_restores_store_and_targets(ws: Workspace) -> None:
    v1 = _first_rotation(ws)
    (ws.root / "fail-smoke").touch()
    r = ws.rotate()
    assert r.returncode == 1
    assert "smoke check failed" in r.stderr and "rolled back" in r.stderr
    assert ws.reader() == v1
    assert ws.dotenv("deploy/app.env")[ws.name] == v1
    assert ws.dotenv("deploy/dual.env")[ws.name] == v1
    assert f"{ws.name}_PREVIOUS" not in ws.dotenv("deploy/dual.env")
    versioned = ws.dotenv("deploy/versioned.env")
    assert versioned[f"{ws.name}_ACTIVE_VERSION"] == "1" and versioned[f"{ws.name}_V1"] == v1
    assert f"{ws.name}_V2" not in versioned
    assert ws.generation() == "1"
    assert not ws.pending_exists()


def test_i6_every_state_change_is_audited_and_tampering_is_named(ws: Workspace) -> None:
    _first_rotation(ws)
    events = [e["event"] for e in ws.audit_events()]
    assert events == ["rotation.begin", "rotation.create", "rotation.verify", "rotation.promote",
                      "rotation.distribute", "rotation.distribute", "rotation.distribute",
                      "rotation.smoke", "rotation.complete"]
    assert ws.run("audit", "verify").returncode == 0
    log = ws.root / "logs" / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    tampered = {
        "edited": lines[:3] + [lines[3].replace("rotation.promote", "rotation.smoke")] + lines[4:],
        "deleted": lines[:4] + lines[5:],
        "inserted": lines[:4] + [lines[2]] + lines[4:],
        "reordered": lines[:3] + [lines[4], lines[3]] + lines[5:],
    }
    for kind, content in tampered.items():
        log.write_text("".join(content))
        r = ws.run("audit", "verify")
        assert r.returncode == 1, kind
        assert "line 4" in r.stderr or "line 5" in r.stderr, (kind, r.stderr)
    log.write_text("".join(lines))
    assert ws.run("audit", "verify").returncode == 0


def test_i7_concurrent_rotation_conflicts_and_changes_nothing(tmp_path: Path, openbao) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao,
                   verify_extra="while test ! -e release; do sleep 0.05; done")
    (ws.root / "release").touch()
    v1 = _first_rotation(ws)
    (ws.root / "release").unlink()
    first = ws.popen("rotate", ws.name)
    deadline = time.monotonic() + 30
    while not ws.pending_exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the first run is now waiting inside its validate check
    record_before = ws.client.secrets.kv.v2.read_secret_version(
        path=ws.path + ".keyturn-rotation", mount_point="secret", raise_on_deleted_version=True)["data"]["data"]["journal"]
    second = ws.rotate()
    assert second.returncode == 3, second.stderr
    assert "in progress" in second.stderr and "nothing changed" in second.stderr
    assert len(second.stderr.strip().splitlines()) <= 3
    record_after = ws.client.secrets.kv.v2.read_secret_version(
        path=ws.path + ".keyturn-rotation", mount_point="secret", raise_on_deleted_version=True)["data"]["data"]["journal"]
    assert record_after == record_before
    assert ws.reader() == v1
    (ws.root / "release").touch()
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert ws.reader() != v1
    assert_targets_hold_current(ws)


def test_i3_resumed_emergency_rotation_keeps_its_mode(ws: Workspace) -> None:
    v1 = _first_rotation(ws)
    r = ws.rotate("--mode", "emergency", "--reason", "drill", fault="verified")
    assert r.returncode == KILLED
    r = ws.rotate()  # re-run without --mode: the recorded emergency mode still applies
    assert r.returncode == 0, r.stderr
    assert "resuming emergency rotation" in r.stderr
    assert ws.previous_value() is None  # grace 0: no PREVIOUS kept
    versions = ws.metadata()["versions"]
    assert versions["1"]["deletion_time"], "the old version is revoked at once"
    assert ws.reader() != v1
    assert f"{ws.name}_PREVIOUS" not in ws.dotenv("deploy/dual.env")
    assert [e["event"] for e in ws.audit_events()].count("rotation.emergency") == 1
