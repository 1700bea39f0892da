"""The command-line contract: exit codes, one-line errors, --help, Actions outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyturn import errors
from keyturn.errors import ExitCode


def test_each_error_family_maps_to_one_exit_code() -> None:
    expected = {
        errors.UsageError: 2, errors.ManifestError: 2, errors.CheckFailed: 1, errors.VerificationFailed: 1,
        errors.SmokeFailed: 1, errors.AuditVerifyFailed: 1, errors.Conflict: 3, errors.ServiceError: 4,
        errors.StoreUnavailable: 4, errors.TargetFailed: 4,
    }
    for cls, code in expected.items():
        assert cls.exit_code == code, cls
    assert errors.exit_code_for(RuntimeError("x")) == ExitCode.SERVICE
    assert errors.DistributionFailed("S", [("t", "why")]).exit_code == 4
    assert "\n" not in str(errors.UsageError("two\nlines"))


def test_help_lists_every_command_and_exit_codes(run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("--help")
    assert r.code == 0
    for cmd in ("rotate", "finalize", "rollback", "status", "plan", "validate", "scan", "audit", "manifest"):
        assert cmd in r.out
    assert "exit codes:" in r.out
    r = run_cli("rotate", "--help")
    assert r.code == 0 and "--dry-run" in r.out and "--mode {scheduled,emergency}" in r.out


@pytest.mark.parametrize("argv,needle", [
    (["rotate"], "name the secrets to rotate"),
    (["rotate", "X", "--mode", "emergency"], "--reason"),
    (["rotate", "--mode", "bogus", "X"], "invalid choice"),
    (["nosuch"], "invalid choice"),
    (["status", "--manifest", "/nonexistent/keyturn.yml"], "manifest not found"),
])
def test_usage_errors(run_cli, argv: list[str], needle: str) -> None:  # type: ignore[no-untyped-def]
    r = run_cli(*argv)
    assert r.code == 2
    assert needle in r.err
    assert r.out == ""
    assert "Traceback" not in r.err


def test_env_booleans_are_strict(run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KEYTURN_DEBUG", "yes")
    r = run_cli("manifest", "schema")
    assert r.code == 2 and "KEYTURN_DEBUG must be true or false" in r.err
    monkeypatch.setenv("KEYTURN_DEBUG", "TRUE")
    assert run_cli("manifest", "schema").code == 0


def test_manifest_schema_and_check(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("manifest", "schema")
    schema = json.loads(r.out)
    assert schema["title"].startswith("keyturn manifest")
    out = tmp_path / "schema.json"
    assert run_cli("manifest", "schema", "--output", str(out)).code == 0
    assert json.loads(out.read_text()) == schema
    example = Path(__file__).resolve().parent.parent / "examples" / "keyturn.yml"
    r = run_cli("manifest", "check", "--manifest", str(example))
    assert r.code == 0 and "1 secret(s)" in r.out


def test_service_down_is_exit_4_one_line(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                         dead_url: str) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "keyturn.yml"
    (tmp_path / "keyturn.yml").write_text(example.read_text())
    monkeypatch.setenv("VAULT_ADDR", dead_url)
    monkeypatch.setenv("VAULT_TOKEN", "t")
    r = run_cli("status", cwd=tmp_path)
    assert r.code == 4
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("keyturn: error: vault:vault: PROV_SECRET:")
    assert "the server up" in lines[0] and "VAULT_ADDR" in lines[0]
    r = run_cli("--debug", "status", cwd=tmp_path)
    assert r.code == 4 and "Traceback" in r.err


def test_internal_errors_print_no_exception_text(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import keyturn.cli as cli

    def boom(args):  # type: ignore[no-untyped-def]
        raise RuntimeError("payload that might hold a value")

    monkeypatch.setitem(cli.COMMANDS, "status", boom)
    r = run_cli("status")
    assert r.code == 4
    assert "internal error: RuntimeError in boom" in r.err and "payload" not in r.err


def test_audit_verify_cli(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("audit", "verify", "--log", str(tmp_path / "missing.jsonl"))
    assert r.code == 2 and "missing.jsonl" in r.err
    from keyturn.audit import AuditLog, Keyring

    log = tmp_path / "a.jsonl"
    al = AuditLog(log, Keyring.from_env({}))
    for i in range(3):
        al.append("rotation.begin", secret=f"S{i}")
    r = run_cli("audit", "verify", "--log", str(log))
    assert r.code == 0 and "3 record(s)" in r.out
    r = run_cli("audit", "verify", "--log", str(log), "--expect-count", "4")
    assert r.code == 1
    lines = log.read_text().splitlines()
    log.write_text("\n".join([lines[0], lines[2], lines[1]]) + "\n")
    r = run_cli("audit", "verify", "--log", str(log))
    assert r.code == 1 and "line 2" in r.err


def test_rotate_writes_actions_outputs_and_summary(run_cli, tmp_path: Path, vault_env, unique,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    example = (Path(__file__).resolve().parent.parent / "examples" / "keyturn.yml").read_text()
    (tmp_path / "keyturn.yml").write_text(example.replace("provenance/prov-secret", f"cli/{unique}"))
    out, summary = tmp_path / "out", tmp_path / "summary"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    r = run_cli("rotate", "PROV_SECRET", "--format", "json", cwd=tmp_path)
    assert r.code == 0, r.err
    result = json.loads(r.out)["results"][0]
    assert result["status"] == "completed" and result["version"] == "1"
    text = out.read_text()
    assert "rotation-ids<<ghadelimiter_" in text and result["rotation_id"] in text
    assert "status<<ghadelimiter_" in text
    assert "| PROV_SECRET | completed | 1 |" in summary.read_text()
    r = run_cli("status", "--format", "prometheus", cwd=tmp_path)
    assert 'keyturn_secret_due{secret="PROV_SECRET"} 0' in r.out
    r = run_cli("status", "--format", "markdown", cwd=tmp_path)
    assert r.out.startswith("### keyturn status") and "| PROV_SECRET |" in r.out
    r = run_cli("validate", "PROV_SECRET", cwd=tmp_path)
    assert r.code == 0 and r.out.count("ok   command sh") == 2


def test_progress_shows_elapsed_time_only_on_a_terminal() -> None:
    import io

    from keyturn.rotation.context import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    Progress(tty).step("S", "promoted version 2")
    Progress(plain).step("S", "promoted version 2")
    Progress(plain, quiet=True).step("S", "hidden")
    assert plain.getvalue() == "S: promoted version 2\n"
    assert "s\x1b[0m \x1b[1mS\x1b[0m: promoted version 2" in tty.getvalue()
