"""I8 on every path — grace 0, manual and automatic rollback, superseded PREVIOUS,
emergency, killed runs — plus ``doctor``, ``unlock``, ``abort`` and the per-entry target
ledger. Real OpenBao and real ``keyturn`` processes."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.invariants_support import HOLD_IN_VERIFY, Workspace, start_held_rotation

KILLED = -signal.SIGKILL


def _live(ws: Workspace) -> list[int]:
    return ws.live_versions()


def _ok(r: Any) -> None:
    assert r.returncode == 0, r.stderr


def _ws(tmp_path: Path, openbao: Any, *, grace: str = "24h", **kw: Any) -> Workspace:
    ws = Workspace(tmp_path / "ws", openbao, **kw)
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace("grace: 24h", f"grace: {grace}"))
    return ws


def _expire_grace(ws: Workspace) -> None:
    """Move every tracked retire_after into the past, as if the grace window ended."""
    path = ws.path + ".keyturn-rotation"
    resp = ws.client.secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    doc = json.loads(resp["data"]["data"]["journal"])
    for v in doc["versions"]:
        if v["role"] == "previous":
            v["retire_after"] = "2000-01-01T00:00:00Z"
    ws.client.secrets.kv.v2.create_or_update_secret(path=path, secret={"journal": json.dumps(doc)},
                                                    mount_point="secret", cas=resp["data"]["metadata"]["version"])


def _only_current_and_previous(ws: Workspace) -> None:
    live = set(_live(ws))
    allowed = {ws.current_version()} | ({int(ws.previous_version())} if ws.previous_version() else set())
    assert live <= allowed, f"live {sorted(live)} beyond CURRENT/PREVIOUS {sorted(allowed)}"


# ---------------------------------------------------------------------------- I8 paths
def test_i8_superseded_previous_is_revoked_by_the_next_rotation(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    for _ in range(3):
        _ok(ws.rotate())
    assert _live(ws) == [2, 3] and ws.previous_version() == "2"
    assert f"{ws.name}_V1" not in ws.dotenv("deploy/versioned.env")


def test_i8_finalize_after_grace_leaves_only_current(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    _ok(ws.rotate())
    r = ws.run("finalize")
    _ok(r)
    assert "in grace until" in r.stderr and _live(ws) == [1, 2]
    _expire_grace(ws)
    _ok(ws.run("finalize"))
    assert _live(ws) == [2]
    assert f"{ws.name}_PREVIOUS" not in ws.dotenv("deploy/dual.env")
    assert f"{ws.name}_V1" not in ws.dotenv("deploy/versioned.env")
    assert [e for e in ws.audit_events() if e["event"] == "rotation.retire"][-1]["details"]["retired"] == "1"


def test_i8_emergency_revokes_every_other_version_including_foreign_ones(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    for i in range(2):  # versions written by hand before keyturn adopted the secret
        ws.client.secrets.kv.v2.create_or_update_secret(path=ws.path, secret={"value": f"hand-{i}-" + "x" * 20},
                                                        mount_point="secret")
    _ok(ws.rotate())
    _ok(ws.rotate("--mode", "emergency", "--reason", "leak drill"))
    assert _live(ws) == [ws.current_version()]


@pytest.mark.parametrize("point", ["created", "verified", "promote-write", "promoted", "distribute-1",
                                   "distributed", "smoked", "retire-store", "completed"])
def test_i8_killed_anywhere_then_rerun_and_finalize(tmp_path: Path, openbao: Any, point: str) -> None:
    ws = _ws(tmp_path, openbao, grace="0s")
    _ok(ws.rotate())
    r = ws.rotate(fault=point)
    assert r.returncode == KILLED, (point, r.stderr)
    _ok(ws.rotate())
    _ok(ws.run("finalize"))
    assert _live(ws) == [ws.current_version()], point


@pytest.mark.parametrize("point", ["rollback-store", "rollback-targets", "retire-store"])
def test_i8_killed_smoke_rollback_then_rerun(tmp_path: Path, openbao: Any, point: str) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    v1 = ws.reader()
    (ws.root / "fail-smoke").touch()
    assert ws.rotate(fault=point).returncode == KILLED
    r = ws.rotate()
    assert r.returncode == 1 and "rolled back" in r.stderr, r.stderr
    assert ws.reader() == v1 and ws.dotenv("deploy/app.env")[ws.name] == v1
    _only_current_and_previous(ws)
    assert _live(ws) == [ws.current_version()]


def test_a_rotation_killed_after_revoking_does_not_run_its_smoke_check_again(tmp_path: Path, openbao: Any) -> None:
    """#13 item 5: 'smoked' is written before anything is revoked. Killed after grace 0
    revoked the old version, the re-run finishes the retirement — it does not run the
    smoke check again and, should it fail now, roll back to the version just revoked."""
    ws = _ws(tmp_path, openbao, grace="0s")
    _ok(ws.rotate())
    assert ws.rotate(fault="retire-store").returncode == KILLED
    new = ws.current_version()
    (ws.root / "fail-smoke").touch()  # the check would fail now
    r = ws.rotate()
    _ok(r)
    assert "smoke" not in [e["event"].split(".")[1] for e in ws.audit_events()[-3:]], ws.audit_events()[-3:]
    assert ws.current_version() == new and ws.dotenv("deploy/app.env")[ws.name] == ws.reader()
    assert _live(ws) == [new]


# ---------------------------------------------------------------------------- doctor
def test_doctor_is_clean_after_a_normal_rotation(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    r = ws.run("doctor")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "nothing needs action" in r.stdout


def test_doctor_finds_outside_versions_stuck_rotations_and_drift(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    ws.client.secrets.kv.v2.create_or_update_secret(path=ws.path, secret={"value": "hand-" + "x" * 20},
                                                    mount_point="secret")
    _ok(ws.rotate())
    (ws.root / "deploy" / "app.env").write_text(f"{ws.name}=tampered-value-xxxxxxxx\n")
    r = ws.run("doctor", "--format", "json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    kinds = {f["kind"] for f in report["findings"]}
    assert {"drift"} <= kinds, report
    assert "tampered" not in r.stdout and ws.reader() not in r.stdout
    # A stuck rotation: killed after promote.
    assert ws.rotate(fault="promoted").returncode == KILLED
    r = ws.run("doctor")
    assert r.returncode == 1
    assert "stuck" in r.stdout and f"keyturn rotate {ws.name}" in r.stdout
    _ok(ws.rotate())
    r = ws.run("doctor", "--format", "json")
    assert "drift" not in {f["kind"] for f in json.loads(r.stdout)["findings"]}


def test_doctor_names_a_version_written_outside_the_lifecycle(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao, grace="0s")
    ws.client.secrets.kv.v2.create_or_update_secret(path=ws.path, secret={"value": "hand-" + "y" * 20},
                                                    mount_point="secret")
    ws.client.secrets.kv.v2.create_or_update_secret(path=ws.path, secret={"value": "hand-" + "z" * 20},
                                                    mount_point="secret")
    _ok(ws.rotate())  # adopts version 2; version 1 was never keyturn's
    r = ws.run("doctor", "--format", "json")
    assert r.returncode == 1
    findings = json.loads(r.stdout)["findings"]
    untracked = [f for f in findings if f["kind"] == "untracked"]
    assert untracked and "version 1" in untracked[0]["message"] and "--mode emergency" in untracked[0]["fix"]
    for fmt in ("table", "markdown", "prometheus"):
        r = ws.run("doctor", "--format", fmt)
        assert r.returncode == 1 and "untracked" in r.stdout


# ---------------------------------------------------------------------------- unlock / abort
def test_unlock_frees_a_live_lease_and_the_rotation_resumes(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao, verify_extra=HOLD_IN_VERIFY)
    first = start_held_rotation(ws)
    time.sleep(0.3)
    first.kill()  # the runner is gone, but its PID-namespace-unique lease still looks live elsewhere
    first.communicate(timeout=30)
    r = ws.run("unlock", ws.name, "--reason", "runner was cancelled")
    _ok(r)
    assert "keyturn rotate" in r.stderr
    (ws.root / "release").touch()
    r = ws.rotate()
    _ok(r)
    assert "resuming" in r.stderr
    assert "rotation.unlock" in [e["event"] for e in ws.audit_events()]


def test_abort_before_promotion_changes_nothing_live(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    v1 = ws.reader()
    assert ws.rotate(fault="verified").returncode == KILLED
    r = ws.run("abort", ws.name, "--reason", "changed my mind")
    _ok(r)
    assert ws.reader() == v1 and not ws.pending_exists() and ws.current_version() == 1
    assert ws.run("abort", ws.name, "--reason", "again").returncode == 0  # nothing in flight
    assert ws.run("abort", ws.name).returncode == 2  # --reason is required


def test_abort_after_promotion_restores_and_revokes(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    v1 = ws.reader()
    assert ws.rotate(fault="distribute-1").returncode == KILLED
    _ok(ws.run("abort", ws.name, "--reason", "bad value suspected"))
    assert ws.reader() == v1
    assert all(v == v1 for v in ws.target_values())
    assert _live(ws) == [ws.current_version()]
    _ok(ws.rotate())


# ---------------------------------------------------------------------------- per-entry ledger
def test_two_entries_in_one_file_are_both_written(tmp_path: Path, openbao: Any) -> None:
    """#8 item 1: two targets in one scope with different names each get their own row."""
    ws = _ws(tmp_path, openbao)
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace(
        "      - file: deploy/app.env\n",
        "      - file: deploy/app.env\n      - file: deploy/app.env\n        name: LEGACY_DB_PASSWORD\n", 1))
    _ok(ws.rotate())
    env = ws.dotenv("deploy/app.env")
    assert env[ws.name] == ws.reader() and env["LEGACY_DB_PASSWORD"] == ws.reader()
    _ok(ws.rotate())
    env = ws.dotenv("deploy/app.env")
    assert env["LEGACY_DB_PASSWORD"] == ws.reader()


def test_dry_run_without_github_credentials_shows_targets_not_checked(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace(
        "      - file: deploy/app.env\n", "      - file: deploy/app.env\n      - github: acme/api\n", 1))
    r = ws.run("rotate", ws.name, "--dry-run")
    _ok(r)
    assert "not checked" in r.stdout and "GITHUB_TOKEN" in r.stdout
    assert ws.current_version() == 0


def test_failed_delete_of_a_grace_entry_is_retried_by_the_rerun(tmp_path: Path, openbao: Any, fake: Any) -> None:
    """#8 item 2: the resume check covers the delete as well as the write: an emergency
    rotation whose DELETE of NAME_PREVIOUS failed must delete it on the re-run."""
    ws = Workspace(tmp_path / "ws", openbao, name="GH_SECRET", extra_env={
        "GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0",
        "KEYTURN_GITHUB_RETRY_SECONDS": "1"})
    fake.add_repo("acme/worker")
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace(
        "      - file: deploy/app.env\n", "      - file: deploy/app.env\n      - github: acme/worker\n"
        "        shape: dual\n", 1))
    _ok(ws.rotate())
    _ok(ws.rotate())
    assert fake.value("acme/worker", "GH_SECRET_PREVIOUS") is not None
    fake.inject(r"/secrets/GH_SECRET_PREVIOUS$", 502, times=None, method="DELETE")
    r = ws.rotate("--mode", "emergency", "--reason", "leak")
    assert r.returncode == 4, r.stderr
    assert "github:acme/worker" in r.stderr
    fake.clear_faults()
    r = ws.rotate()
    _ok(r)
    assert fake.value("acme/worker", "GH_SECRET_PREVIOUS") is None, "the revoked value must not stay in GitHub"
    assert fake.value("acme/worker", "GH_SECRET") == ws.reader()
    assert _live(ws) == [ws.current_version()]


def test_evidence_audit_head_covers_rotation_complete(tmp_path: Path, openbao: Any) -> None:
    """#8 item 5: the evidence's ``audit_head`` is taken after ``rotation.complete`` is
    appended, so deleting that last line fails ``audit verify --expect-head``."""
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    complete = [e for e in ws.audit_events() if e["event"] == "rotation.complete"][-1]
    evidence = json.loads((ws.root / "logs" / "evidence" / f"{ws.name}-{complete['rotation_id']}.json").read_text())
    assert evidence["audit_head"] == complete["digest"]
    _ok(ws.run("audit", "verify", "--expect-head", evidence["audit_head"]))
    log = ws.root / "logs" / "audit.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]))
    r = ws.run("audit", "verify", "--expect-head", evidence["audit_head"])
    assert r.returncode == 1, r.stdout + r.stderr


def test_kill_between_batched_ledger_checkpoints_converges(tmp_path: Path, openbao: Any) -> None:
    """#13 item 5: with many targets the ledger is checkpointed in batches; a kill between
    two checkpoints leaves written-but-unrecorded targets, which the re-run writes again."""
    ws = _ws(tmp_path, openbao)
    extra = "".join(f"      - file: deploy/many{i}.env\n" for i in range(16))
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace("      - file: deploy/app.env\n",
                                                      "      - file: deploy/app.env\n" + extra, 1))
    _ok(ws.rotate())
    r = ws.rotate(fault="distribute-10")  # batches of 4: rows 1–8 recorded, 9 and 10 written only
    assert r.returncode == KILLED
    ledger = ws.journal()["op"]["ledger"]
    recorded = [k for k, row in ledger.items() if row.get("status") == "confirmed"]
    assert 0 < len(recorded) < 10, "the kill must land between two batched checkpoints"
    _ok(ws.rotate())
    current = ws.reader()
    for i in range(16):
        assert ws.dotenv(f"deploy/many{i}.env")[ws.name] == current
    assert ws.dotenv("deploy/app.env")[ws.name] == current
    assert ws.current_version() == 2
