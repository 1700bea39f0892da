"""The ``command`` issuer end to end: real ``python -m keyturn`` processes on OpenBao run
the worked example scripts (examples/issuers/sendgrid_*.py) against a local fake of
SendGrid's API-key API; the tests read the vendor's state directly."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.vendor_api import FakeVendor
from tests.invariants_support import OPENBAO_HEAD, REPO, Workspace

EXAMPLES = REPO / "examples" / "issuers"
PY = sys.executable

MANIFEST = OPENBAO_HEAD + """\
  {name}:
    store: bao
    path: {path}
    generator:
      type: command
      issue: {issue}
      revoke: [{py}, {examples}/sendgrid_revoke.py]
      verify: {verify}
      timeout: {timeout}
      env: {{SENDGRID_API_URL: "{url}"}}
      pass_env: [SENDGRID_ADMIN_API_KEY]
    policy: {{max_age: 90d, grace: 24h}}
    targets:
      - file: deploy/app.env
      - file: deploy/dual.env
        shape: dual
      - file: deploy/versioned.env
        shape: versioned
    smoke:
      - command: [{py}, {examples}/sendgrid_verify.py]
        env: {{SENDGRID_API_URL: "{url}"}}
"""


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    fake = FakeVendor().start()
    try:
        yield fake
    finally:
        fake.stop()


def _ws(tmp_path: Path, openbao: Any, vendor: FakeVendor, *, issue: str | None = None,
        verify: str | None = None, timeout: str = "120s") -> Workspace:
    ws = Workspace(tmp_path / "ws", openbao, extra_env={"SENDGRID_ADMIN_API_KEY": vendor.admin_key})
    ws.vendor = vendor  # type: ignore[attr-defined]
    (ws.root / "keyturn.yml").write_text(MANIFEST.format(
        name=ws.name, path=ws.path, py=PY, examples=EXAMPLES, url=vendor.url, timeout=timeout,
        issue=issue or f"[{PY}, {EXAMPLES}/sendgrid_issue.py]",
        verify=verify or f"[{PY}, {EXAMPLES}/sendgrid_verify.py]"))
    return ws


def _written(ws: Workspace) -> str:
    """Everything keyturn wrote outside the targets: audit log, evidence (journal apart)."""
    return "\n".join(p.read_text(errors="replace") for p in (ws.root / "logs").rglob("*") if p.is_file())


def _assert_no_value(ws: Workspace, vendor: FakeVendor, *runs: subprocess.CompletedProcess[str]) -> None:
    values = [k.value for k in vendor.keys.values()] + [k.value for k in vendor.deleted] + [vendor.admin_key]
    texts = [r.stdout + r.stderr for r in runs] + [_written(ws), json.dumps(ws.journal())]
    for value in values:
        for text in texts:
            assert value not in text, "a key reached an output"


def _why(r: subprocess.CompletedProcess[str]) -> str:
    """The error line of a run, for an assertion message (pytest cuts long reprs)."""
    return next((line for line in r.stderr.splitlines() if "error:" in line), r.stderr[-500:])


def _scopes_ok(vendor: FakeVendor, value: str | None) -> bool:
    """The key works at the vendor: GET /v3/scopes with it answers 200."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(vendor.url + "/v3/scopes", headers={"Authorization": f"Bearer {value}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False


def test_rotate_issues_a_working_key_at_the_vendor_and_finalize_deletes_the_old(
        tmp_path: Path, openbao: Any, vendor: FakeVendor) -> None:
    ws = _ws(tmp_path, openbao, vendor)
    check = ws.run("manifest", "check")
    assert check.returncode == 0, check.stderr
    first = ws.rotate()
    assert first.returncode == 0, first.stderr
    value = ws.reader()
    key = vendor.by_value(value)
    assert key is not None and [k.api_key_id for k in vendor.live()] == [key.api_key_id]
    assert key.name.startswith("keyturn-") and _scopes_ok(vendor, value)
    assert ws.dotenv("deploy/app.env")[ws.name] == value
    assert ws.tracked("current")[0]["credential"] == key.api_key_id
    issue_events = [e for e in ws.audit_events() if e["event"] == "rotation.issue"]
    assert issue_events[0]["details"] == {"issuer": "command", "credential": key.api_key_id}
    assert key.name == f"keyturn-{issue_events[0]['rotation_id']}"

    second = ws.rotate()
    assert second.returncode == 0, second.stderr
    new = vendor.by_value(ws.reader())
    assert new is not None and new.api_key_id != key.api_key_id
    assert {k.api_key_id for k in vendor.live()} == {key.api_key_id, new.api_key_id}, "old key valid in grace"

    done = ws.run("finalize", "--force")
    assert done.returncode == 0, done.stderr
    assert [k.api_key_id for k in vendor.live()] == [new.api_key_id]
    assert [k.api_key_id for k in vendor.deleted] == [key.api_key_id], "the revoke command deleted the old key"
    assert not _scopes_ok(vendor, value) and _scopes_ok(vendor, ws.reader())
    revokes = [e for e in ws.audit_events() if e["event"] == "rotation.revoke"]
    assert [e["details"]["credential"] for e in revokes] == [key.api_key_id]
    assert ws.run("audit", "verify").returncode == 0
    _assert_no_value(ws, vendor, check, first, second, done)


# Every boundary a run can die at; retire-* happen inside finalize.
ROTATE_POINTS = ["issued", "created", "verified", "promote-write", "promoted", "distribute-1", "distributed",
                 "smoked", "completed"]
FINALIZE_POINTS = ["retire-targets", "retire-issuer", "retire-store"]


@pytest.mark.parametrize("point", ROTATE_POINTS + FINALIZE_POINTS)
def test_a_kill_at_any_boundary_leaves_exactly_one_new_key(tmp_path: Path, openbao: Any, vendor: FakeVendor,
                                                           point: str) -> None:
    ws = _ws(tmp_path, openbao, vendor)
    first = ws.rotate()
    assert first.returncode == 0, _why(first)
    old = vendor.by_value(ws.reader())
    assert old is not None
    runs = []
    if point in ROTATE_POINTS:
        killed = ws.rotate(fault=point)
        assert killed.returncode == -signal.SIGKILL, (point, _why(killed))
        again = ws.rotate()
        assert again.returncode == 0, (point, _why(again))
        runs += [killed, again]
        done = ws.run("finalize", "--force")
    else:
        assert ws.rotate().returncode == 0
        killed = ws.run("finalize", "--force", fault=point)
        assert killed.returncode == -signal.SIGKILL, (point, _why(killed))
        runs.append(killed)
        done = ws.run("finalize", "--force")
    assert done.returncode == 0, (point, _why(done))
    runs.append(done)
    new = vendor.by_value(ws.reader())
    assert new is not None
    assert [k.api_key_id for k in vendor.live()] == [new.api_key_id], \
        f"after a kill at {point}: exactly the new key is live at the vendor"
    assert old.api_key_id in {k.api_key_id for k in vendor.deleted}
    assert _scopes_ok(vendor, ws.reader()) and not ws.pending_exists()
    assert ws.live_versions() == [ws.current_version()]
    assert ws.dotenv("deploy/app.env")[ws.name] == ws.reader()
    _assert_no_value(ws, vendor, *runs)


KILL_PARENT = """\
import os, signal, subprocess, sys
out = subprocess.run([sys.executable, sys.argv[1]], capture_output=True, text=True)
sys.stderr.write(out.stderr)
if os.path.exists("kill-keyturn"):  # the runner dies after the vendor made the key
    os.unlink("kill-keyturn")
    os.kill(os.getppid(), signal.SIGKILL)
    sys.exit(1)
sys.stdout.write(out.stdout)
sys.exit(out.returncode)
"""


def test_a_run_killed_inside_the_issue_command_deletes_the_key_it_never_recorded(
        tmp_path: Path, openbao: Any, vendor: FakeVendor) -> None:
    """The id never reached the journal: the resumed run's issue command (KEYTURN_RESUMED=1)
    finds the key by its name, keyturn-<rotation id>, deletes it, and creates one."""
    ws = _ws(tmp_path, openbao, vendor, issue=f"[{PY}, wrapper.py, {EXAMPLES}/sendgrid_issue.py]")
    (ws.root / "wrapper.py").write_text(KILL_PARENT)
    (ws.root / "kill-keyturn").touch()
    killed = ws.rotate()
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    orphan = vendor.live()
    assert len(orphan) == 1 and ws.reader() is None
    assert ws.journal()["op"]["issuing"] and not ws.journal()["op"].get("credential")
    again = ws.rotate()
    assert again.returncode == 0, again.stderr
    live = vendor.live()
    assert len(live) == 1 and live[0].value == ws.reader() and live[0].name == orphan[0].name
    assert [k.api_key_id for k in vendor.deleted] == [orphan[0].api_key_id]
    assert "resuming" in again.stderr
    _assert_no_value(ws, vendor, killed, again)


def test_a_failing_verify_command_abandons_the_rotation_and_deletes_the_issued_key(
        tmp_path: Path, openbao: Any, vendor: FakeVendor) -> None:
    ws = _ws(tmp_path, openbao, vendor)
    assert ws.rotate().returncode == 0
    old = vendor.by_value(ws.reader())
    assert old is not None
    vendor.grant_no_scopes = True  # the new key lacks the scope the verify command requires
    r = ws.rotate()
    assert r.returncode == 1, r.stderr
    assert "pre-promotion check failed: issuer:command" in r.stderr
    assert "lacks scope(s) mail.send" in r.stderr, "the verify command's stderr is shown (redacted)"
    assert [k.api_key_id for k in vendor.live()] == [old.api_key_id], "the issued key was deleted at the vendor"
    assert len(vendor.deleted) == 1 and vendor.deleted[0].name.startswith("keyturn-")
    assert vendor.by_value(ws.reader()) == old and not ws.pending_exists()
    _assert_no_value(ws, vendor, r)


LEAK = "SG.leak-me-if-you-dare.0123456789abcdef"
BAD_ISSUE = {
    "timeout": "sleep 30\n",
    "bad-stdout": f"echo '{{not json {LEAK}'\n",
    "two-lines": f"echo {LEAK}; echo {LEAK}; echo {LEAK} >&2\n",
    "id-is-value": f"""echo '{{"id": "x{LEAK}", "value": "{LEAK}"}}'\n""",
    "extra-key": f"""echo '{{"id": "k1", "value": "{LEAK}", "api_key": "{LEAK}"}}'\n""",
    "short": "echo short\n",
    "empty": "true\n",
    "killed": f"""echo '{{"id": "k1", "value": "{LEAK}"}}'; echo "got {LEAK}" >&2; kill -9 $$\n""",
    "key-on-stderr": f"echo 'HTTP 500 after creating key {LEAK}x9' >&2; exit 3\n",
}


@pytest.mark.parametrize("case", ["vendor-500", *BAD_ISSUE])
def test_a_failing_issue_command_is_a_one_line_error_and_changes_nothing(
        tmp_path: Path, openbao: Any, vendor: FakeVendor, case: str) -> None:
    issue = None if case == "vendor-500" else "[sh, bad-issue.sh]"
    ws = _ws(tmp_path, openbao, vendor, issue=issue, timeout="2s" if case == "timeout" else "120s")
    if issue:
        (ws.root / "bad-issue.sh").write_text(BAD_ISSUE[case])
    assert ws.run("manifest", "check").returncode == 0
    if case == "vendor-500":
        vendor.fail_create = 500
    r = ws.rotate()
    assert r.returncode == 4, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("keyturn: error:")]
    assert len(errors) == 1, r.stderr
    program = f"issue command {PY} {EXAMPLES}/sendgrid_issue.py" if case == "vendor-500" else \
        "issue command sh bad-issue.sh failed"
    assert program in errors[0], errors[0]
    expected = {"vendor-500": "failed: exit 1", "timeout": "timed out after 2s", "bad-stdout": "not a JSON object",
                "two-lines": "printed 2 lines", "id-is-value": "contains the value", "extra-key": "'api_key'",
                "short": "shorter than 8", "empty": "printed nothing", "killed": "killed by SIGKILL",
                "key-on-stderr": "failed: exit 3"}[case]
    assert expected in errors[0], errors[0]
    if case == "vendor-500":
        assert "answered 500: try again later" in errors[0], "stderr is shown"
    if case in ("killed", "key-on-stderr"):
        assert errors[0].endswith(("stderr: got ***", "stderr: HTTP 500 after creating key ***")), errors[0]
    assert LEAK not in r.stdout + r.stderr, "stdout (and the value on stderr) is never shown"
    assert ws.reader() is None and ws.metadata() == {}, "nothing in the store"
    assert vendor.live() == [] and not (ws.root / "deploy" / "app.env").exists()
    assert LEAK not in _written(ws) + json.dumps(ws.journal())
    _assert_no_value(ws, vendor, r)
    # Fixed, the next run resumes the same rotation and completes with one key.
    vendor.fail_create = 0
    if issue:
        (ws.root / "bad-issue.sh").write_text(f"exec {PY} {EXAMPLES}/sendgrid_issue.py\n")
    again = ws.rotate()
    assert again.returncode == 0, again.stderr
    assert "resuming" in again.stderr
    assert len(vendor.live()) == 1 and vendor.live()[0].value == ws.reader()


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("issue: [", "issue: []  # [", 1), "secrets.INV_SECRET.generator.issue: must not be empty"),
    (lambda t: t.replace(f"revoke: [{PY}", "revoke: [no-such-program-keyturn", 1),
     "generator.revoke: revoke command no-such-program-keyturn: program not found"),
    (lambda t: t.replace("verify: [", "verify: [./missing.sh, ", 1), "verify command ./missing.sh: program not found"),
    (lambda t: t.replace("pass_env: [", "pass_env: [VAULT_TOKEN, ", 1), "VAULT_TOKEN is reserved"),
])
def test_bad_command_config_is_a_manifest_error(tmp_path: Path, openbao: Any, vendor: FakeVendor,
                                                edit: Any, words: str) -> None:
    ws = _ws(tmp_path, openbao, vendor)
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(edit(manifest.read_text()))
    for args in (("manifest", "check"), ("rotate", ws.name)):
        r = ws.run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "internal error" not in r.stderr
    assert ws.metadata() == {} and vendor.live() == []


def test_a_plain_value_on_stdout_is_the_credential_and_its_id_is_the_rotation_id(
        tmp_path: Path, openbao: Any, vendor: FakeVendor) -> None:
    """The other half of the stdout contract: one line, the value; revoke gets the rotation id."""
    ws = _ws(tmp_path, openbao, vendor, issue="[sh, plain.sh]", verify="[sh, verify.sh]")
    (ws.root / "plain.sh").write_text("printf 'plain-%s\\n' \"$(od -An -N24 -tx1 /dev/urandom | tr -d ' \\n')\"\n")
    (ws.root / "verify.sh").write_text('test "${#KEYTURN_VALUE}" -eq 54\n')
    (ws.root / "revoke.sh").write_text('echo "$KEYTURN_CREDENTIAL_ID" >> revoked\n')
    text = (ws.root / "keyturn.yml").read_text()
    text = text.replace(f"revoke: [{PY}, {EXAMPLES}/sendgrid_revoke.py]", "revoke: [sh, revoke.sh]")
    text = text.split("    smoke:")[0]
    (ws.root / "keyturn.yml").write_text(text)
    assert ws.rotate().returncode == 0
    first_id = ws.tracked("current")[0]["credential"]
    assert first_id == [e for e in ws.audit_events() if e["event"] == "rotation.begin"][0]["rotation_id"]
    assert ws.reader() is not None and ws.reader().startswith("plain-")  # type: ignore[union-attr]
    assert ws.rotate().returncode == 0
    assert ws.run("finalize", "--force").returncode == 0
    assert (ws.root / "revoked").read_text().split() == [first_id]


def test_a_failing_revoke_command_keeps_the_old_version_due(tmp_path: Path, openbao: Any,
                                                            vendor: FakeVendor) -> None:
    ws = _ws(tmp_path, openbao, vendor)
    assert ws.rotate().returncode == 0 and ws.rotate().returncode == 0
    r = ws.run("finalize", "--force", env={"SENDGRID_ADMIN_API_KEY": "SG.wrong-admin-key-0000"})
    assert "revoke command" in r.stderr and "exit 1" in r.stderr and "answered 401" in r.stderr, r.stderr
    assert len(vendor.live()) == 2 and len(ws.live_versions()) == 2, "not revoked: the store keeps it too"
    r = ws.run("finalize", "--force")
    assert r.returncode == 0, r.stderr
    assert len(vendor.live()) == 1 and ws.live_versions() == [ws.current_version()]


def test_the_example_manifest_is_valid(tmp_path: Path) -> None:
    from tests.conftest import subprocess_env

    r = subprocess.run([PY, "-m", "keyturn", "manifest", "check", "--manifest", str(EXAMPLES / "keyturn.yml")],
                       env=subprocess_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
