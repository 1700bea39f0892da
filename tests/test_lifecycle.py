"""The closed rotation lifecycle, one test per path that used to leave an old credential
live, a secret stuck, or a record untrue. Real OpenBao, real ``keyturn`` processes
(SIGKILL at named boundaries), state read back with hvac as any other reader would.

I8: after a completed rotation and a ``finalize`` past grace, the only live versions are
CURRENT and (within grace) PREVIOUS — on grace 0, rollbacks, superseded PREVIOUS,
emergency, failed first rotations and killed runs.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import hvac
import pytest

from tests.invariants_support import HOLD_IN_VERIFY, Workspace, start_held_rotation

KILLED = -signal.SIGKILL


def _live(ws: Workspace) -> list[int]:
    versions = ws.metadata().get("versions", {})
    return sorted(int(n) for n, info in versions.items() if not info.get("deletion_time") and not info.get("destroyed"))


def _ws(tmp_path: Path, openbao: Any, *, grace: str = "24h", **kw: Any) -> Workspace:
    ws = Workspace(tmp_path / "ws", openbao, **kw)
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace("grace: 24h", f"grace: {grace}"))
    return ws


def _ok(r: Any) -> None:
    assert r.returncode == 0, r.stderr


def _evidence(ws: Workspace, rotation_id: str) -> dict[str, Any]:
    path = ws.root / "logs" / "evidence" / f"{ws.name}-{rotation_id}.json"
    return dict(json.loads(path.read_text()))


def _rotation_ids(ws: Workspace, event: str) -> list[str]:
    return [e["rotation_id"] for e in ws.audit_events() if e["event"] == event]


# ---------------------------------------------------------------------------- 1 grace 0
def test_obs1_grace_zero_revokes_the_old_version_in_the_same_run(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao, grace="0s")
    _ok(ws.rotate())
    v1 = ws.reader()
    _ok(ws.rotate())
    assert ws.reader() != v1
    assert _live(ws) == [2], "grace 0: the old version must be revoked in the same run"
    assert f"{ws.name}_PREVIOUS" not in ws.dotenv("deploy/dual.env")
    assert set(ws.dotenv("deploy/versioned.env")) == {f"{ws.name}_V2", f"{ws.name}_ACTIVE_VERSION"}
    r = ws.run("finalize")
    _ok(r)
    assert "nothing to retire" in r.stderr
    ev = _evidence(ws, _rotation_ids(ws, "rotation.complete")[-1])
    assert ev["revoke_confirmed"] is True and ev["outcome"] == "completed"


# ---------------------------------------------------------------------------- 2 rollbacks retire
def test_obs2_manual_rollback_retires_rolled_back_and_older_versions(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    v1 = ws.reader()
    _ok(ws.rotate())
    _ok(ws.run("rollback", ws.name, "--reason", "bad deploy"))
    assert ws.reader() == v1
    assert _live(ws) == [ws.current_version()], "the rolled-back version and the duplicate of v1 are revoked"
    for _ in range(2):
        _ok(ws.rotate())
    _ok(ws.run("finalize", "--force"))
    assert _live(ws) == [ws.current_version()]


def test_obs2_smoke_failure_rollback_leaves_nothing_unretired(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    _ok(ws.rotate())
    (ws.root / "fail-smoke").touch()
    assert ws.rotate().returncode == 1
    (ws.root / "fail-smoke").unlink()
    for _ in range(2):
        _ok(ws.rotate())
    _ok(ws.run("finalize", "--force"))
    assert _live(ws) == [ws.current_version()], "every version keyturn made is revoked after finalize --force"


# ---------------------------------------------------------------------------- 3 rollback keeps grace
def test_obs3_smoke_failure_keeps_the_open_grace_window_of_the_last_rotation(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    v1 = ws.reader()
    _ok(ws.rotate())
    v2 = ws.reader()
    assert ws.dotenv("deploy/dual.env")[f"{ws.name}_PREVIOUS"] == v1
    (ws.root / "fail-smoke").touch()
    assert ws.rotate().returncode == 1
    assert ws.reader() == v2
    dual = ws.dotenv("deploy/dual.env")
    assert dual[ws.name] == v2 and dual.get(f"{ws.name}_PREVIOUS") == v1, "consumers on v1 must keep working"
    versioned = ws.dotenv("deploy/versioned.env")
    assert versioned[f"{ws.name}_V1"] == v1 and versioned[f"{ws.name}_V2"] == v2
    assert versioned[f"{ws.name}_ACTIVE_VERSION"] == "2" and f"{ws.name}_V3" not in versioned
    assert 1 in _live(ws), "v1 is still in its grace window"
    status = json.loads(ws.run("status", "--format", "json").stdout)["secrets"][0]
    assert status["previous"] == "1" and status["grace_until"]


# ---------------------------------------------------------------------------- 4 killed finalize/rollback
@pytest.mark.parametrize("point", ["finalize-begun", "retire-targets", "retire-store"])
def test_obs4_killed_finalize_resumes_as_finalize(tmp_path: Path, openbao: Any, point: str) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    _ok(ws.rotate())
    r = ws.run("finalize", "--force", fault=point)
    assert r.returncode == KILLED, r.stderr
    r = ws.run("finalize")
    _ok(r)
    assert _live(ws) == [2]
    assert f"{ws.name}_PREVIOUS" not in ws.dotenv("deploy/dual.env")
    assert f"{ws.name}_V1" not in ws.dotenv("deploy/versioned.env")
    _ok(ws.rotate())  # nothing stuck


def test_obs4_rotate_gets_past_a_killed_finalize(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    _ok(ws.rotate())
    assert ws.run("finalize", "--force", fault="finalize-begun").returncode == KILLED
    r = ws.rotate()
    _ok(r)
    assert "interrupted finalize" in r.stderr
    assert 1 not in _live(ws)


@pytest.mark.parametrize("point", ["rollback-store", "rollback-targets", "retire-store"])
def test_obs4_killed_manual_rollback_resumes_as_rollback(tmp_path: Path, openbao: Any, point: str) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    v1 = ws.reader()
    _ok(ws.rotate())
    r = ws.run("rollback", ws.name, "--reason", "drill", fault=point)
    assert r.returncode == KILLED
    r = ws.run("rollback", ws.name, "--reason", "drill")
    _ok(r)
    assert ws.reader() == v1 and ws.dotenv("deploy/app.env")[ws.name] == v1
    assert _live(ws) == [ws.current_version()]
    assert "rotation.complete" not in [e["event"] for e in ws.audit_events()[-3:]]


def test_obs4_rotate_after_a_killed_rollback_finishes_it_first(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    v1 = ws.reader()
    _ok(ws.rotate())
    assert ws.run("rollback", ws.name, "--reason", "drill", fault="rollback-store").returncode == KILLED
    r = ws.rotate()
    _ok(r)
    assert "interrupted rollback" in r.stderr
    events = [e["event"] for e in ws.audit_events()]
    assert events.index("rotation.rollback") < len(events) - 1
    assert ws.reader() not in (v1, None)
    # the rolled-back version and the duplicate are gone; v1's value is PREVIOUS (as the restored version)
    assert len(_live(ws)) == 2


# ---------------------------------------------------------------------------- 5 honest evidence
def test_obs5_evidence_is_honest_about_revocation_and_covers_every_outcome(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    _ok(ws.rotate())
    _ok(ws.rotate())
    ev = _evidence(ws, _rotation_ids(ws, "rotation.complete")[-1])
    assert ev["revoke_confirmed"] is False and ev["revoke_due"], "PREVIOUS is live in its grace window"
    md = (ws.root / "logs" / "evidence" / f"{ws.name}-{ev['rotation_id']}.md").read_text()
    assert "| Previous version revoked | no — due " in md
    (ws.root / "fail-smoke").touch()
    assert ws.rotate().returncode == 1
    rid = _rotation_ids(ws, "rotation.rollback")[-1]
    assert _evidence(ws, rid)["outcome"] == "rolled-back"
    (ws.root / "fail-smoke").unlink()
    (ws.root / "fail-verify").touch()
    assert ws.rotate().returncode == 1
    rid = _rotation_ids(ws, "rotation.verify")[-1]
    assert _evidence(ws, rid)["outcome"] == "failed"


# ---------------------------------------------------------------------------- 10 failed first rotation
def test_obs10_failed_first_rotation_leaves_the_secret_rotatable(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    (ws.root / "fail-smoke").touch()
    assert ws.rotate().returncode == 1
    assert ws.reader() is None
    (ws.root / "fail-smoke").unlink()
    _ok(ws.rotate())
    assert ws.reader() is not None
    assert _live(ws) == [ws.current_version()]
    _ok(ws.run("finalize"))
    _ok(ws.rotate())


# ---------------------------------------------------------------------------- 11 outside writer → abort
def test_obs11_outside_write_during_rotation_can_be_aborted(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao, verify_extra=HOLD_IN_VERIFY)
    first = start_held_rotation(ws)
    ws.client.secrets.kv.v2.create_or_update_secret(path=ws.path, secret={"value": "by-hand-" + "x" * 20},
                                                    mount_point="secret")
    (ws.root / "release").touch()
    first.communicate(timeout=60)
    assert first.returncode == 3
    assert ws.reader() == "by-hand-" + "x" * 20
    r = ws.run("abort", ws.name, "--reason", "someone wrote by hand")
    _ok(r)
    r = ws.rotate()
    _ok(r)
    assert ws.reader() != "by-hand-" + "x" * 20


# ---------------------------------------------------------------------------- 12 adopting without key
def test_obs12_adopting_a_secret_without_the_key_is_refused_before_any_write(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    ws.client.secrets.kv.v2.create_or_update_secret(path=ws.path, secret={"password": "p" * 24},
                                                    mount_point="secret")
    r = ws.rotate()
    assert r.returncode == 2, r.stderr
    assert "no key 'value'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert ws.current_version() == 1 and not ws.pending_exists()


# ---------------------------------------------------------------------------- 7 wrong mount
@pytest.mark.parametrize("args", [("status",), ("plan",), ("rotate", "INV_SECRET", "--dry-run"), ("doctor",)])
def test_obs7_wrong_mount_is_an_error_everywhere(tmp_path: Path, openbao: Any, args: tuple[str, ...]) -> None:
    ws = _ws(tmp_path, openbao)
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace("mount: secret", "mount: no-such-mount"))
    r = ws.run(*args)
    assert r.returncode in (1, 2), (args, r.returncode, r.stderr + r.stdout)
    assert "no-such-mount" in (r.stderr + r.stdout)
    assert "internal error" not in r.stderr


# ---------------------------------------------------------------------------- 6 one-line errors
@pytest.mark.parametrize(("env", "needle"), [
    ({"VAULT_ADDR": "not a url"}, "VAULT_ADDR"),
    ({"VAULT_ADDR": "http://127.0.0.1:99999"}, "VAULT_ADDR"),
    ({"VAULT_TOKEN": "wrong-token"}, "VAULT_TOKEN"),
    ({"VAULT_TOKEN": "tok\nen"}, "VAULT_TOKEN"),
])
def test_obs6_bad_vault_settings_are_one_line_errors(tmp_path: Path, openbao: Any, env: dict[str, str],
                                                     needle: str) -> None:
    ws = _ws(tmp_path, openbao)
    r = ws.run("rotate", ws.name, env=env)
    assert r.returncode in (2, 4), r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "internal error" not in lines[0], r.stderr
    assert "tok\nen" not in r.stderr


def test_obs6_token_without_config_access_names_the_capabilities(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    root = hvac.Client(url=openbao.url, token=openbao.token)
    root.sys.create_or_update_policy(name=f"ro-{ws.uid}", policy=f'path "secret/data/{ws.path}" {{ capabilities = ["read"] }}')
    token = root.auth.token.create(policies=[f"ro-{ws.uid}"], ttl="10m")["auth"]["client_token"]
    r = ws.run("rotate", ws.name, env={"VAULT_TOKEN": token})
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "lacks capabilities" in line and "create" in line and "internal error" not in line
    assert ws.current_version() == 0 and not ws.pending_exists()


def test_obs6_missing_extra_names_the_pip_command(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    blocker = ws.root / "block"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass _B:\n    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'hvac' or name.startswith('hvac.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'hvac'\", name='hvac')\n"
        "sys.meta_path.insert(0, _B())\n")
    r = ws.run("status", env={"PYTHONPATH": os.pathsep.join([str(blocker), ws.env["PYTHONPATH"]])})
    assert r.returncode == 2, r.stderr
    assert "pip install 'keyturn[vault]'" in r.stderr and "internal error" not in r.stderr


# ---------------------------------------------------------------------------- 13 PID namespaces
def test_obs13_a_lease_from_another_pid_namespace_is_not_taken_over(tmp_path: Path, openbao: Any) -> None:
    import socket

    ws = _ws(tmp_path, openbao, verify_extra=HOLD_IN_VERIFY)
    first = start_held_rotation(ws)
    # Rewrite the live lease as if its owner ran on this host name in another PID
    # namespace with a PID that does not exist here.
    resp = ws.client.secrets.kv.v2.read_secret_version(path=ws.path + ".keyturn-rotation", mount_point="secret",
                                                       raise_on_deleted_version=True)
    doc = json.loads(resp["data"]["data"]["journal"])
    doc["op"]["lock_owner"] = f"{socket.gethostname()}/4026531999/999999/12345/abcd"
    ws.client.secrets.kv.v2.create_or_update_secret(path=ws.path + ".keyturn-rotation",
                                                    secret={"journal": json.dumps(doc)}, mount_point="secret")
    second = ws.rotate()
    assert second.returncode == 3, second.stderr
    assert "in progress" in second.stderr and "keyturn unlock" in second.stderr
    (ws.root / "release").touch()
    first.communicate(timeout=60)  # its own CAS now fails: it stops (the journal was changed)
    _ok(ws.run("unlock", ws.name, "--reason", "runner gone"))
    _ok(ws.rotate())


# ---------------------------------------------------------------------------- 14 lost response
@pytest.mark.parametrize("which", ["journal", "promote"])
def test_obs14_a_lost_write_response_is_recognised_as_ours(tmp_path: Path, openbao: Any, which: str) -> None:
    from tests.fakes.lossy_proxy import LossyProxy

    proxy = LossyProxy(int(openbao.url.rsplit(":", 1)[1])).start()
    try:
        ws = _ws(tmp_path, openbao, extra_env={"VAULT_ADDR": proxy.url})
        _ok(ws.rotate())
        path = f"/v1/secret/data/{ws.path}" + (r"\.keyturn-rotation$" if which == "journal" else "$")
        proxy.lose_response("POST", path, after=1 if which == "journal" else 0)
        r = ws.rotate()
        _ok(r)
        assert proxy.dropped, "the proxy must have lost a response"
        assert ws.current_version() == 2
    finally:
        proxy.stop()


# ---------------------------------------------------------------------------- 15 manifest checks
@pytest.mark.parametrize("check", [
    '{http: {url: "https://127.0.0.1:1/h", headers: {"Bad Header": "x"}}}',
    '{http: {url: "https://127.0.0.1:1/h", expect_status: 700}}',
    '{http: {url: "https://127.0.0.1:1/h", ca_cert: no-such-ca.pem}}',
    '{http: {url: "https://127.0.0.1:1/h", timeout: 0s}}',
    '{http: {url: "https://127.0.0.1:1/h", headers: {"Authorization": "Bearer {{ nope }}"}}}',
])
def test_obs15_bad_check_definitions_are_refused_by_manifest_check(tmp_path: Path, openbao: Any,
                                                                   check: str) -> None:
    ws = _ws(tmp_path, openbao)
    manifest = ws.root / "keyturn.yml"
    text = manifest.read_text()
    head, _, _ = text.partition("    smoke:\n")
    manifest.write_text(head + "    smoke:\n      - " + check + "\n")
    r = ws.run("manifest", "check")
    assert r.returncode == 2, (check, r.stdout, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "keyturn.yml:" in r.stderr
    r = ws.rotate()
    assert r.returncode == 2 and ws.current_version() == 0 and not ws.pending_exists()


def test_obs15_bad_password_generator_is_refused_by_manifest_check(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace(
        "generator: {type: hex, bytes: 32}",
        "generator: {type: password, length: 8, lower: false, upper: false, digits: false, symbols: false}"))
    r = ws.run("manifest", "check")
    assert r.returncode == 2, r.stdout + r.stderr
