"""I5 leak canary: values rotated through every command path — successes and failures,
inside GitHub Actions — never appear, nor their base64/URL-encoded forms, in stdout,
stderr, the audit log, evidence records, step outputs, the step summary or any report.

Every check in the manifest appends the value it was given to ``seen-values`` (a test
side channel), so even PENDING values that were discarded are known to the test.
Careless checks also print the value (plain and base64) to their stdout and stderr.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from keyturn.values import derived_forms
from tests.invariants_support import Workspace

NOISY = """\
printf '%s\\n' "$KEYTURN_VALUE" >> seen-values
echo "value=$KEYTURN_VALUE"
printf %s "$KEYTURN_VALUE" | base64 -w0
echo "$KEYTURN_VALUE" >&2
test ! -e "fail-$1-noisy"
"""


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
        extra_env={"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(gh_out), "GITHUB_STEP_SUMMARY": str(gh_sum)},
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
    run("audit", "verify")

    seen = ws.root / "seen-values"
    values |= {line for line in seen.read_text().splitlines() if line}
    assert len(values) >= 6, "the canary must have seen several distinct values"

    files = [gh_out, gh_sum, *sorted((ws.root / "logs").rglob("*"))]
    for f in files:
        if f.is_file():
            outputs.append((str(f), f.read_text(errors="replace")))
    assert any("evidence" in label for label, _ in outputs)

    masked = "\n".join(t for _, t in outputs)
    for value in values:
        assert f"::add-mask::{value}" in masked, "every value is masked in Actions"
    for label, text in outputs:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
        for value in values:
            for form in derived_forms(value):
                if len(form) >= 8:
                    assert form not in text, f"a value form leaked into {label}"
            assert base64.b64encode(value.encode()).decode()[:40] not in text, label


def test_exception_text_never_carries_values() -> None:
    from keyturn.values import SecretValue

    v = SecretValue("canary-" + "z" * 40, mask=False)
    for text in (repr(v), str(v), f"{v}", "%s" % v, "{}".format(v), str([v]), str({"k": v})):
        assert "zzzz" not in text


@pytest.mark.parametrize("argv", [["rotate", "X", "--reason"], ["rotate", "--mode", "x", "X"]])
def test_usage_errors_exit_2(run_cli, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert run_cli(*argv).code == 2
