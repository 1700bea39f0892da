"""Human hand-off (``generator: {type: manual}``): a person pipes the new key in with
``--value-from-stdin`` / ``--value-fd``; the lifecycle runs as usual; the old key's
revocation at the vendor is a pending action (doctor) until ``confirm-revoked``.
Real OpenBao, real ``keyturn`` processes."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.invariants_support import Workspace

INSTRUCTIONS = "SendGrid: Settings, API Keys, delete the key named in the finding"


def _ws(tmp_path: Path, openbao: Any, generator: str = "{type: manual, instructions: \"%s\"}" % INSTRUCTIONS,
        grace: str = "24h") -> Workspace:
    ws = Workspace(tmp_path / "ws", openbao)
    manifest = ws.root / "keyturn.yml"
    text = manifest.read_text().replace("{type: hex, bytes: 32}", generator).replace("grace: 24h", f"grace: {grace}")
    manifest.write_text(text)
    return ws


def _feed(ws: Workspace, value: str, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(ws.env)
    if fault:
        env["KEYTURN_FAULT_INJECT"] = f"kill-after:{fault}"
    return subprocess.run([sys.executable, "-m", "keyturn", *args], cwd=ws.root, env=env, input=value + "\n",
                          capture_output=True, text=True, timeout=60)


def _key() -> str:
    return secrets.token_hex(32)  # 64 characters: the workspace's verify check wants exactly that


def _everything_written(ws: Workspace) -> str:
    texts = [p.read_text(errors="replace") for p in ws.root.rglob("*") if p.is_file() and ".env" not in p.name]
    return "\n".join(texts)


def test_manual_rotation_takes_the_value_from_stdin_and_never_echoes_it(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    key = _key()
    r = _feed(ws, key, "rotate", ws.name, "--value-from-stdin")
    assert r.returncode == 0, r.stderr
    assert ws.reader() == key
    assert ws.dotenv("deploy/app.env")[ws.name] == key
    assert key not in r.stdout + r.stderr
    assert key not in _everything_written(ws), "the value reached the audit log, evidence or journal"
    assert key not in json.dumps(ws.journal())


def test_manual_rotation_without_a_value_is_refused_before_anything_is_written(tmp_path: Path,
                                                                               openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    r = ws.rotate()
    assert r.returncode == 2
    assert "--value-from-stdin" in r.stderr and "internal error" not in r.stderr
    assert ws.metadata() == {} and ws.journal() == {}


def test_value_from_a_file_descriptor(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    key = _key()
    read_fd, write_fd = os.pipe()
    os.write(write_fd, key.encode())
    os.close(write_fd)
    try:
        r = subprocess.run([sys.executable, "-m", "keyturn", "rotate", ws.name, "--value-fd", str(read_fd)],
                           cwd=ws.root, env=ws.env, pass_fds=(read_fd,), capture_output=True, text=True, timeout=60)
    finally:
        os.close(read_fd)
    assert r.returncode == 0, r.stderr
    assert ws.reader() == key


def test_bad_stdin_values_are_one_line_usage_errors(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    for value, args, words in [
        ("", ("rotate", ws.name, "--value-from-stdin"), "empty"),
        (_key() + "\n" + _key(), ("rotate", ws.name, "--value-from-stdin"), "several lines"),
        (_key(), ("rotate", ws.name, "OTHER", "--value-from-stdin"), "one secret"),
    ]:
        r = _feed(ws, value, *args)
        assert r.returncode == 2, (words, r.stderr)
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ws.metadata() == {}


def test_random_generators_accept_a_supplied_value_but_issuers_do_not_need_one(tmp_path: Path,
                                                                              openbao: Any) -> None:
    ws = _ws(tmp_path, openbao, generator="{type: hex, bytes: 32}")
    key = _key()
    r = _feed(ws, key, "rotate", ws.name, "--value-from-stdin")
    assert r.returncode == 0, r.stderr
    assert ws.reader() == key
    assert ws.rotate().returncode == 0  # and without one, it generates
    assert ws.reader() not in (None, key)


def test_old_key_revocation_is_pending_until_confirmed(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    first, second = _key(), _key()
    assert _feed(ws, first, "rotate", ws.name, "--value-from-stdin").returncode == 0
    assert _feed(ws, second, "rotate", ws.name, "--value-from-stdin").returncode == 0
    doctor = ws.run("doctor", "--format", "json")
    kinds = [f["kind"] for f in json.loads(doctor.stdout)["findings"]]
    assert "revoke-pending" not in kinds, "nothing is due while the old key is in its grace window"
    r = ws.run("finalize", "--force")
    assert r.returncode == 0, r.stderr
    assert "confirm-revoked" in r.stderr
    assert ws.live_versions() == [ws.current_version()], "the store retired the old version as usual"
    doctor = ws.run("doctor", "--format", "json")
    assert doctor.returncode == 1
    pending = [f for f in json.loads(doctor.stdout)["findings"] if f["kind"] == "revoke-pending"]
    assert len(pending) == 1, doctor.stdout
    assert INSTRUCTIONS in pending[0]["message"] and f"confirm-revoked {ws.name}" in pending[0]["fix"]
    credential = ws.journal()["awaiting"][0]["credential"]
    assert credential.startswith("manual:")
    missing_reason = ws.run("confirm-revoked", ws.name)
    assert missing_reason.returncode == 2
    wrong = ws.run("confirm-revoked", ws.name, "--credential", "manual:nope", "--reason", "x")
    assert wrong.returncode == 2 and credential in wrong.stderr
    r = ws.run("confirm-revoked", ws.name, "--reason", "deleted in the dashboard by ops")
    assert r.returncode == 0, r.stderr
    assert ws.journal()["awaiting"] == []
    doctor = ws.run("doctor", "--format", "json")
    assert "revoke-pending" not in [f["kind"] for f in json.loads(doctor.stdout)["findings"]]
    events = [e for e in ws.audit_events() if e["event"] == "rotation.revoke_confirmed"]
    assert len(events) == 1 and events[0]["details"]["credential"] == credential
    assert ws.run("audit", "verify").returncode == 0
    assert first not in _everything_written(ws) and second not in _everything_written(ws)


def test_a_rolled_back_manual_key_must_be_revoked_at_the_vendor_too(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    first = _key()
    assert _feed(ws, first, "rotate", ws.name, "--value-from-stdin").returncode == 0
    (ws.root / "fail-smoke").write_text("")
    r = _feed(ws, _key(), "rotate", ws.name, "--value-from-stdin")
    assert r.returncode == 1, r.stderr
    assert ws.reader() == first
    awaiting = ws.journal()["awaiting"]
    assert len(awaiting) == 1, "the key the person created for the failed rotation must die at the vendor"


def test_a_killed_manual_rotation_resumes_with_the_same_value_piped_again(tmp_path: Path, openbao: Any) -> None:
    ws = _ws(tmp_path, openbao)
    key = _key()
    for fault in ("issued", "created"):
        r = _feed(ws, key, "rotate", ws.name, "--value-from-stdin", fault=fault)
        assert r.returncode < 0, (fault, r.stderr)
        r = _feed(ws, key, "rotate", ws.name, "--value-from-stdin")
        assert r.returncode == 0, (fault, r.stderr)
        assert ws.reader() == key
        assert ws.journal().get("awaiting") == [], "a resumed hand-off asks for no extra revocation"
        key = _key()


def test_a_supplied_value_a_target_cannot_hold_is_refused_before_anything_is_written(tmp_path: Path,
                                                                                    openbao: Any) -> None:
    """A value a person pipes in is checked against every target before the lease, the
    pending entry or the store is touched (it was refused only after both were written)."""
    ws = _ws(tmp_path, openbao)
    value = "${" + secrets.token_hex(31)  # 64 characters; this target's docker style cannot hold ${
    r = _feed(ws, value, "rotate", ws.name, "--value-from-stdin")
    assert r.returncode == 4, r.stderr  # what the target says of a value it cannot hold
    (line,) = r.stderr.strip().splitlines()
    assert "file:deploy/app.env: entry INV_SECRET: the value needs quoting" in line and value not in line, line
    assert ws.metadata() == {} and ws.journal() == {} and not ws.pending_exists()
