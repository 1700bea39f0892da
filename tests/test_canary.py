"""I5 leak canary: values rotated through every command path — successes and failures,
inside GitHub Actions — never appear, nor their base64/URL-encoded forms, in stdout,
stderr, the audit log, evidence records, step outputs, the step summary or any report.

Every check in the manifest appends the value it was given to ``seen-values`` (a test
side channel), so even PENDING values that were discarded are known to the test.
Careless checks also print the value to their stdout and stderr in every encoding a
tool might use: plain, base64 (one line, GNU-wrapped at 76 columns, of ``user:value``),
hex (``xxd -p``, ``od -tx1``, upper case), ``%xx`` in both cases, JSON-escaped. Each
check also dumps its environment to a side file: no credential of keyturn's may be in it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from keyturn.values import derived_forms
from tests.invariants_support import Workspace

NOISY = """\
printf '%s\\n' "$KEYTURN_VALUE" >> seen-values
env >> "check-env-$1"
echo "value=$KEYTURN_VALUE"
printf %s "$KEYTURN_VALUE" | base64 -w0; echo
printf %s "$KEYTURN_VALUE" | base64
echo "$KEYTURN_VALUE" | base64 >&2
printf 'user:%s' "$KEYTURN_VALUE" | base64 -w0; echo
echo "> Authorization: Basic $(printf 'admin:%s' "$KEYTURN_VALUE" | base64 -w0)" >&2
printf %s "$KEYTURN_VALUE" | xxd -p
printf %s "$KEYTURN_VALUE" | xxd -p -u >&2
printf %s "$KEYTURN_VALUE" | od -tx1
printf 'user:%s' "$KEYTURN_VALUE" | od -An -tx1 >&2
python3 -c 'import os, json, re, urllib.parse as u; v = os.environ["KEYTURN_VALUE"]; \
print(v.encode().hex().upper(), u.quote(v, safe=""), re.sub("%..", lambda m: m.group(0).lower(), u.quote(v + "/é")), \
json.dumps({"v": v + "\\"\\\\"}))'
echo "$KEYTURN_VALUE" >&2
test ! -e "fail-$1-noisy"
"""
#: Credentials in keyturn's environment that no check may see (issue #8 item 4).
CREDENTIALS = {
    "GITHUB_TOKEN": "ghs_canaryGithubTokenThatNoCheckMaySee0001",
    "KEYTURN_GITHUB_APP_PRIVATE_KEY": "canary-app-private-key-no-check-may-see",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "canary-oidc-request-token-no-check-may-see",
}


def _squeezed_cores(value: str) -> list[str]:
    """Hex and base64 cores, lowercased: found in output with every wrap and space removed."""
    raw = value.encode()
    cores = [raw.hex()]
    for skip in range(3):
        body = raw[skip:][: (len(raw) - skip) // 3 * 3]
        cores.append(base64.b64encode(body).decode().lower())
    return cores


def _collect_store_values(ws: Workspace, into: set[str]) -> None:
    for num, info in (ws.metadata().get("versions") or {}).items():
        if not info.get("deletion_time") and not info.get("destroyed"):
            v = ws.version_value(num)
            if v:
                into.add(v)


def test_no_value_reaches_any_output(tmp_path: Path, openbao) -> None:  # type: ignore[no-untyped-def]
    gh_out = tmp_path / "gh-output"
    gh_sum = tmp_path / "gh-summary"
    ws = Workspace(
        tmp_path / "ws", openbao,
        verify_extra="sh ./noisy.sh verify",
        smoke_extra="sh ./noisy.sh smoke",
        extra_env={
            "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(gh_out), "GITHUB_STEP_SUMMARY": str(gh_sum), **CREDENTIALS,
        },
    )
    (ws.root / "noisy.sh").write_text(NOISY)
    values: set[str] = set()
    outputs: list[tuple[str, str]] = []

    def run(*args: str, expect: int | None = 0, fault: str | None = None) -> None:
        r = ws.run(*args, fault=fault)
        outputs.append((f"stdout of {args}", r.stdout))
        outputs.append((f"stderr of {args}", r.stderr))
        if expect is not None:
            assert r.returncode == expect, (args, r.returncode, r.stderr[-2000:])
        _collect_store_values(ws, values)

    name = ws.name
    run("rotate", name)
    run("rotate", name, "--dry-run")
    run("rotate", name, "--format", "json")
    for fmt in ("table", "json", "markdown", "prometheus"):
        run("status", "--format", fmt)
    run("plan", "--format", "json")
    run("plan", "--format", "matrix")
    run("validate", name)
    (ws.root / "fail-verify-noisy").touch()
    run("rotate", name, expect=1)                      # verify fails: pending discarded
    run("validate", name, expect=1)
    (ws.root / "fail-verify-noisy").unlink()
    (ws.root / "fail-smoke-noisy").touch()
    run("rotate", name, expect=1)                      # smoke fails: rollback
    run("--debug", "rotate", name, expect=1)           # tracebacks too
    (ws.root / "fail-smoke-noisy").unlink()
    run("rotate", name, fault="promoted", expect=None)  # killed, then resumed
    run("rotate", name)
    run("rollback", name, "--reason", "canary")
    run("rotate", name)
    run("finalize", "--force")
    run("rotate", name, "--mode", "emergency", "--reason", "canary leak drill")
    run("rotate", name, fault="distribute-1", expect=None)  # killed after promotion …
    for fmt in ("table", "json", "markdown", "prometheus"):
        run("doctor", "--format", fmt, expect=1)        # … doctor reports the stuck rotation
    run("unlock", name, "--reason", "canary")
    run("abort", name, "--reason", "canary")         # restores, revokes, writes evidence
    run("rotate", name, fault="created", expect=None)
    run("abort", name, "--reason", "canary")         # before promotion
    run("rotate", name)
    run("doctor")
    run("audit", "verify")

    seen = ws.root / "seen-values"
    values |= {line for line in seen.read_text().splitlines() if line}
    assert len(values) >= 6, "the canary must have seen several distinct values"

    files = [gh_out, gh_sum, *sorted((ws.root / "logs").rglob("*"))]
    for f in files:
        if f.is_file():
            outputs.append((str(f), f.read_text(errors="replace")))
    assert any("evidence" in label for label, _ in outputs)

    # Check environment probe: no credential of keyturn's reached any check.
    probes = sorted(ws.root.glob("check-env-*"))
    assert {p.name for p in probes} == {"check-env-verify", "check-env-smoke"}
    secrets_of_keyturn = {**CREDENTIALS, "VAULT_TOKEN": ws.env["VAULT_TOKEN"], "KEYTURN_AUDIT_KEY_V1": "k" * 32}
    for probe in probes:
        seen_env = probe.read_text()
        names = {line.split("=", 1)[0] for line in seen_env.splitlines() if "=" in line}
        assert "KEYTURN_VALUE" in names and "KEYTURN_SECRET_NAME" in names
        for name, secret in secrets_of_keyturn.items():
            assert name not in names, f"{name} reached a check ({probe.name})"
            assert len(secret) < 8 or secret not in seen_env, f"{name} reached a check ({probe.name})"
        assert not {n for n in names if n.startswith(("VAULT_", "GITHUB_", "KEYTURN_AUDIT"))}, names

    masked = "\n".join(t for _, t in outputs)
    for value in values:
        assert f"::add-mask::{value}" in masked, "every value is masked in Actions"
    _assert_no_forms(outputs, values)


def _assert_no_forms(outputs: list[tuple[str, str]], values: set[str]) -> None:
    for label, text in outputs:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
        for value in values:
            for form in derived_forms(value):
                if len(form) >= 8:
                    assert form not in text, f"a value form leaked into {label}"
            assert base64.b64encode(value.encode()).decode()[:40] not in text, label
            squeezed = "".join(text.split()).lower()
            for core in _squeezed_cores(value):
                assert core not in squeezed, f"a wrapped or spaced encoding leaked into {label}"


#: The ``command`` issuer's programs, careless in the same ways (``noisy.sh`` prints the
#: value it is given in every encoding). ``issue`` makes a 64-hex value, records it, prints
#: it noisily on stderr, then the JSON on stdout; the ``revoke`` program prints the admin key.
NOISY_ISSUE = """\
V=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \\n')
printf '%s\\n' "$V" >> seen-values
KEYTURN_VALUE=$V sh ./noisy.sh issue >&2
printf '{"id": "k-%s", "value": "%s"}\\n' "$KEYTURN_ROTATION_ID" "$V"
test ! -e fail-issue-noisy
"""
NOISY_REVOKE = """\
echo "admin key $VENDOR_ADMIN_KEY, revoking $KEYTURN_CREDENTIAL_ID"
echo "$VENDOR_ADMIN_KEY" | base64 >&2
test ! -e fail-revoke-noisy
"""
ADMIN_KEY = "vendor-admin-key-the-canary-must-never-see-0001"


def test_no_value_reaches_any_output_with_a_command_issuer(tmp_path: Path, openbao) -> None:  # type: ignore[no-untyped-def]
    gh_out = tmp_path / "gh-output"
    gh_sum = tmp_path / "gh-summary"
    ws = Workspace(
        tmp_path / "ws", openbao, verify_extra="sh ./noisy.sh verify", smoke_extra="sh ./noisy.sh smoke",
        extra_env={"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(gh_out), "GITHUB_STEP_SUMMARY": str(gh_sum),
                   "VENDOR_ADMIN_KEY": ADMIN_KEY, **CREDENTIALS},
    )
    manifest = ws.root / "keyturn.yml"
    manifest.write_text(manifest.read_text().replace(
        "{type: hex, bytes: 32}",
        "{type: command, issue: [sh, issue.sh], revoke: [sh, revoke.sh], verify: [sh, noisy.sh, issuer-verify], "
        "pass_env: [VENDOR_ADMIN_KEY]}"))
    (ws.root / "noisy.sh").write_text(NOISY)
    (ws.root / "issue.sh").write_text(NOISY_ISSUE)
    (ws.root / "revoke.sh").write_text(NOISY_REVOKE)
    outputs: list[tuple[str, str]] = []

    def run(*args: str, expect: int | None = 0, fault: str | None = None) -> None:
        r = ws.run(*args, fault=fault)
        outputs.append((f"stdout of {args}", r.stdout))
        outputs.append((f"stderr of {args}", r.stderr))
        if expect is not None:
            assert r.returncode == expect, (args, r.returncode, r.stderr[-2000:])

    name = ws.name
    run("rotate", name)
    for flag, code in (("fail-issue-noisy", 4), ("fail-issuer-verify-noisy", 1), ("fail-verify-noisy", 1),
                       ("fail-smoke-noisy", 1)):
        (ws.root / flag).touch()
        run("rotate", name, expect=code)
        (ws.root / flag).unlink()
    run("rotate", name)                                  # resumes the rotation whose issue failed
    run("rotate", name, fault="issued", expect=None)   # killed: the lost credential is revoked
    run("rotate", name)
    (ws.root / "fail-revoke-noisy").touch()
    run("finalize", "--force", expect=4)               # revoke fails: stays due
    (ws.root / "fail-revoke-noisy").unlink()
    run("finalize", "--force")
    run("rotate", name, "--mode", "emergency", "--reason", "canary leak drill")
    run("rotate", name, fault="promoted", expect=None)
    run("abort", name, "--reason", "canary")
    run("doctor", expect=None)
    run("audit", "verify")

    values = {line for line in (ws.root / "seen-values").read_text().splitlines() if line} | {ADMIN_KEY}
    assert len(values) >= 8, "the canary must have seen several distinct values"
    assert any("issuer:command" in t and "FAIL" in t for _, t in outputs), "the issuer's verify failed once"
    assert any("revoke command sh revoke.sh failed" in t for _, t in outputs), "a revoke failed once"
    for f in [gh_out, gh_sum, *sorted((ws.root / "logs").rglob("*"))]:
        if f.is_file():
            outputs.append((str(f), f.read_text(errors="replace")))
    outputs.append(("journal", json.dumps(ws.journal())))
    _assert_no_forms(outputs, values)


def test_exception_text_never_carries_values() -> None:
    from keyturn.values import SecretValue

    v = SecretValue("canary-" + "z" * 40, mask=False)
    for text in (repr(v), str(v), f"{v}", "%s" % v, "{}".format(v), str([v]), str({"k": v})):
        assert "zzzz" not in text


@pytest.mark.parametrize("argv", [["rotate", "X", "--reason"], ["rotate", "--mode", "x", "X"]])
def test_usage_errors_exit_2(run_cli, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(*argv).code == 2


def test_no_database_password_reaches_any_output(tmp_path: Path, openbao, postgres) -> None:  # type: ignore[no-untyped-def]
    """The postgres-password issuer in Actions: rotations, a killed and resumed one, an
    emergency, finalize and a refused admin login — no password (nor the JSON value, nor
    an encoding) in any output, file or the PostgreSQL server log (log_statement=all)."""
    import json

    from tests.pg_support import PgWorkspace, make_logins, unique_users

    users = unique_users(2)
    before = make_logins(postgres, *users)
    gh_out, gh_sum = tmp_path / "gh-output", tmp_path / "gh-summary"
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users, env={
        "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(gh_out), "GITHUB_STEP_SUMMARY": str(gh_sum)})
    values: set[str] = set(before.values())  # passwords (the username is public)
    whole: set[str] = set()  # the JSON values
    outputs: list[tuple[str, str]] = []

    def run(*args: str, expect: int | None = 0, fault: str | None = None, env: dict[str, str] | None = None) -> None:
        r = ws.run(*args, fault=fault, env=env)
        outputs.extend([(f"stdout of {args}", r.stdout), (f"stderr of {args}", r.stderr)])
        if expect is not None:
            assert r.returncode == expect, (args, r.returncode, r.stderr[-2000:])
        found: set[str] = set()
        _collect_store_values(ws, found)
        for text in found:
            whole.add(text)
            values.add(json.loads(text)["password"])

    name = ws.name
    run("rotate", name)
    run("rotate", name, "--format", "json")
    run("status", "--format", "json")
    run("rotate", name, fault="issued", expect=None)
    run("rotate", name)
    run("finalize", "--force")
    run("rotate", name, "--mode", "emergency", "--reason", "canary leak drill")
    run("rotate", name, expect=4, env={"PGPASSWORD": "canary-wrong-admin-password"})
    run("doctor")
    run("audit", "verify")
    assert len(values) >= 6
    files = [gh_out, gh_sum, postgres.log, *sorted((ws.root / "logs").rglob("*"))]
    outputs += [(str(f), f.read_text(errors="replace")) for f in files if f.is_file()]
    masked = "\n".join(t for _, t in outputs)
    for label, text in outputs:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
        squeezed = "".join(text.split()).lower()
        assert not any(value in text for value in whole), f"a JSON value leaked into {label}"
        for value in values:
            for form in derived_forms(value):
                if len(form) >= 8:
                    assert form not in text, f"a value form leaked into {label}"
            for core in _squeezed_cores(value):
                assert core not in squeezed, f"a wrapped or spaced encoding leaked into {label}"
    for value in values - set(before.values()):
        assert f"::add-mask::{value}" in masked, "every issued password is masked in Actions"
