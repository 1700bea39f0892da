"""The ``command`` issuer in process: the stdout contract, the children's environment,
and redaction of what they print (the new value, and pass_env admin keys)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from keyturn.errors import ServiceError, UsageError, terminal_text
from keyturn.issuers.base import IssueRequest, Issued
from keyturn.issuers.command import CommandGen, CommandIssuer, parse_issued
from keyturn.values import SecretValue

VALUE = "SG.unit-test-value.abcdefghijklmnopqrstuvwxyz0123"
ADMIN = "SG.admin-unit-key-0123456789abcdef"


def _issuer(tmp_path: Path, *, issue: str = "true", revoke: str = "true", verify: str | None = None,
            timeout: str = "10s", pass_env: tuple[str, ...] = ("ADMIN_KEY",)) -> CommandIssuer:
    scripts = {}
    for role, body in (("issue", issue), ("revoke", revoke), ("verify", verify)):
        if body is not None:
            (tmp_path / f"{role}.sh").write_text(body + "\n")
            scripts[role] = ["sh", f"{role}.sh"]
    config = CommandGen.model_validate({"type": "command", **scripts, "timeout": timeout,
                                        "env": {"FIXED": "yes"}, "pass_env": list(pass_env)})
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ADMIN_KEY": ADMIN,
               "VAULT_TOKEN": "hvs.never-reaches-a-command", "OTHER": "not passed"}
    return CommandIssuer("VENDOR_KEY", config, environ, tmp_path)


def _request(**kw: object) -> IssueRequest:
    return IssueRequest(secret="VENDOR_KEY", rotation_id="20260101T000000Z-abc",
                        started=datetime(2026, 1, 1, tzinfo=timezone.utc), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("stdout, value, credential", [
    (json.dumps({"id": "key-1", "value": VALUE}).encode(), VALUE, "key-1"),
    (b'  {"value": "' + VALUE.encode() + b'", "id": "a/b:c"}\n\n', VALUE, "a/b:c"),
    (VALUE.encode() + b"\n", VALUE, "rid"),
    (VALUE.encode() + b"\r\n", VALUE, "rid"),
    (VALUE.encode(), VALUE, "rid"),
])
def test_the_stdout_contract(stdout: bytes, value: str, credential: str) -> None:
    got, cid = parse_issued(stdout, "rid")
    assert isinstance(got, SecretValue) and got.reveal() == value and cid == credential


@pytest.mark.parametrize("stdout, words", [
    (b"", "printed nothing"),
    (b"\n \n", "printed nothing"),
    (b"\xff\xfe" + VALUE.encode(), "not UTF-8"),
    (b"{" + VALUE.encode(), "not a JSON object"),
    (VALUE.encode() + b"\n" + VALUE.encode() + b"\n", "printed 2 lines"),
    (json.dumps({"id": "k"}).encode(), 'no string "value"'),
    (json.dumps({"id": "k", "value": {"a": VALUE}}).encode(), 'no string "value"'),
    (json.dumps({"value": VALUE}).encode(), 'no string "id"'),
    (json.dumps({"id": "k", "value": VALUE, "secret": VALUE}).encode(), "'secret'"),
    (json.dumps({"id": VALUE, "value": VALUE}).encode(), "contains the value"),
    (json.dumps({"id": "has space", "value": VALUE}).encode(), "not a plain id"),
    (json.dumps({"id": "k", "value": "short"}).encode(), "shorter than 8"),
    (b" " + VALUE.encode() + b"\n", "whitespace"),
    (VALUE.encode() + b"\x07\n", "control characters"),
])
def test_bad_stdout_is_named_without_quoting_it(stdout: bytes, words: str) -> None:
    problem, cid = parse_issued(stdout, "rid")
    assert isinstance(problem, str) and cid == ""
    assert words in problem, problem
    assert VALUE not in problem and "unit-test" not in problem


def test_issue_passes_the_documented_environment_and_nothing_else(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, issue=f'env > issue-env; echo \'{{"id": "k1", "value": "{VALUE}"}}\'')
    issued = issuer.issue(_request(resumed=True, lost="old-id"))
    assert issued.credential_id == "k1" and issued.value.reveal() == VALUE
    env = dict(line.split("=", 1) for line in (tmp_path / "issue-env").read_text().splitlines() if "=" in line)
    assert env["KEYTURN_SECRET"] == env["KEYTURN_SECRET_NAME"] == "VENDOR_KEY"
    assert env["KEYTURN_ROTATION_ID"] == "20260101T000000Z-abc"
    assert env["KEYTURN_RESUMED"] == "1" and env["KEYTURN_LOST_CREDENTIAL_ID"] == "old-id"
    assert env["ADMIN_KEY"] == ADMIN and env["FIXED"] == "yes"
    assert "VAULT_TOKEN" not in env and "OTHER" not in env and "KEYTURN_VALUE" not in env
    issuer.issue(_request())
    env = (tmp_path / "issue-env").read_text()
    assert "KEYTURN_RESUMED" not in env and "KEYTURN_LOST_CREDENTIAL_ID" not in env


def test_revoke_gets_the_id_never_a_value_and_verify_gets_the_value(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, revoke="env > revoke-env", verify='test "$KEYTURN_VALUE" = "' + VALUE + '" && '
                     'test "$KEYTURN_CREDENTIAL_ID" = k1')
    assert issuer.revoke("k1") is True
    env = (tmp_path / "revoke-env").read_text()
    assert "KEYTURN_CREDENTIAL_ID=k1" in env and "KEYTURN_VALUE" not in env
    assert issuer.verify(Issued(SecretValue(VALUE), "k1")) is None
    assert str(issuer.verify(Issued(SecretValue(VALUE + "x"), "k1"))) == "verify command sh verify.sh: exit 1"
    assert _issuer(tmp_path, verify=None).verify(Issued(SecretValue(VALUE), "k1")) is None


def test_shown_output_is_redacted_of_the_value_and_of_pass_env_keys(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, verify='echo "bad key $KEYTURN_VALUE (admin $ADMIN_KEY)" >&2; '
                     'printf %s "$KEYTURN_VALUE" | base64; exit 3',
                     revoke='echo "401 for admin key $ADMIN_KEY"; exit 1',
                     issue=f'echo "{VALUE}"; echo "{VALUE}"; echo "oops {VALUE}" >&2; exit 2')
    why = issuer.verify(Issued(SecretValue(VALUE), "k1"))
    assert why is not None and str(why).startswith("verify command sh verify.sh: exit 3 output: bad key *** (admin ***)")
    assert "bad key" not in why.detail, "program output is for the terminal only (CheckResult.excerpt)"
    with pytest.raises(ServiceError) as exc:
        issuer.revoke("k1")
    assert "revoke command sh revoke.sh failed: exit 1" in str(exc.value)
    assert "401 for admin key ***" in terminal_text(exc.value) and "401" not in str(exc.value)
    with pytest.raises(ServiceError) as exc:
        issuer.issue(_request())
    text = terminal_text(exc.value)
    assert "issue command sh issue.sh failed: exit 2" in text and "stderr: oops ***" in text, text
    assert "oops" not in str(exc.value), "the persisted message (webhooks, JSON results) carries no output"
    for leaked in (VALUE, ADMIN):
        assert leaked not in str(why) + text


def test_a_command_that_hangs_is_killed_at_its_timeout(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, issue="sleep 30 & wait", timeout="1s")
    with pytest.raises(ServiceError, match=r"issue command sh issue.sh failed: timed out after 1s"):
        issuer.issue(_request())


def test_too_much_stdout_is_refused(tmp_path: Path) -> None:
    issuer = _issuer(tmp_path, issue="head -c 200000 /dev/zero | tr '\\0' a")
    with pytest.raises(ServiceError, match="more than 64 KiB"):
        issuer.issue(_request())


def test_preflight_names_a_program_that_is_missing(tmp_path: Path) -> None:
    config = CommandGen.model_validate({"type": "command", "issue": ["./issue.sh"], "revoke": ["no-such-prog-kt"]})
    issuer = CommandIssuer("VENDOR_KEY", config, {"PATH": "/usr/bin:/bin"}, tmp_path)
    with pytest.raises(UsageError, match=r"issue command ./issue.sh: program not found \(relative to the manifest\)"):
        issuer.preflight("")
    (tmp_path / "issue.sh").write_text("#!/bin/sh\n")
    (tmp_path / "issue.sh").chmod(0o755)
    with pytest.raises(UsageError, match=r"revoke command no-such-prog-kt: program not found \(on PATH\)"):
        issuer.preflight("")


@pytest.mark.parametrize("config, words", [
    ({"issue": [], "revoke": ["true"]}, "at least 1"),
    ({"issue": [""], "revoke": ["true"]}, "argv[0]"),
    ({"issue": ["true"]}, "revoke"),
    ({"issue": ["true"], "revoke": ["true"], "verify": []}, "at least 1"),
    ({"issue": ["true"], "revoke": ["true"], "timeout": "0s"}, "positive"),
    ({"issue": ["true"], "revoke": ["true"], "pass_env": ["GITHUB_TOKEN"]}, "reserved"),
    ({"issue": ["true"], "revoke": ["true"], "env": {"KEYTURN_VALUE": "x"}}, "reserved"),
])
def test_bad_config_is_refused_by_the_model(config: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[")):
        CommandGen.model_validate({"type": "command", **config})


def test_a_failed_issue_hides_the_key_it_printed_wrapped_or_only_on_stderr(tmp_path: Path) -> None:
    import base64

    long_value = "SG." + "k3y" * 30
    wrapped = base64.encodebytes(long_value.encode()).decode()  # 76 columns, two lines
    other = "sk_live_" + "9z" * 20  # printed only on stderr: keyturn never saw it
    issuer = _issuer(tmp_path, issue=f"""echo '{{"id": "k1", "value": "{long_value}"}}'
printf %s '{long_value}' | base64 >&2
echo 'vendor said: created {other}' >&2
exit 1""")
    with pytest.raises(ServiceError) as exc:
        issuer.issue(_request())
    text = terminal_text(exc.value)
    assert text.endswith("stderr: *** vendor said: created ***"), text
    assert "vendor said" not in str(exc.value)
    for line in wrapped.splitlines():
        assert line[:12] not in text and line[-12:] not in text
    assert other not in text and "9z9z" not in text
