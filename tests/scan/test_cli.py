"""``keyturn scan`` CLI: exit codes, formats, --output, env defaults, Actions output, no leaks."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

from keyturn.values import SecretValue
from tests.scan._support import CliResult, Fakes, run_scan


def _tree(tmp_path: Path, fakes: Fakes) -> tuple[Path, list[str]]:
    root = tmp_path / "tree"
    root.mkdir()
    token, stripe, pw = fakes.github(), fakes.stripe(), fakes.password()
    (root / "app.py").write_text(f'GH = "{token}"\nx = 1\n')
    (root / "conf").mkdir()
    (root / "conf" / "prod.env").write_text(f"STRIPE_KEY={stripe}\nDB_PASSWORD={pw}\n")
    (root / "clean.md").write_text("nothing to see here\n")
    return root, [token, stripe, pw]


def _no_values(result: CliResult, values: list[str], *extra: str) -> None:
    for blob in (result.out, result.err, *extra):
        for v in values:
            assert v not in blob
            assert v[-12:] not in blob


def test_help_mentions_modes_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    res = run_scan(["--help"])
    assert res.code == 0
    for word in (
        "--diff",
        "--staged",
        "--baseline",
        "--format",
        "--exit-zero",
        "exit codes",
        "pragma: allowlist secret",
    ):
        assert word in res.out


def test_findings_exit_1_text(tmp_path: Path, fakes: Fakes) -> None:
    root, values = _tree(tmp_path, fakes)
    res = run_scan([str(root)])
    assert res.code == 1
    assert "app.py:1:" in res.out and "keyturn/github-token" in res.out
    assert "conf/prod.env:1:" in res.out and "keyturn/stripe-key" in res.out
    assert "conf/prod.env:2:" in res.out and "keyturn/generic-secret" in res.out
    _no_values(res, values)


def test_clean_exit_0_and_exit_zero(tmp_path: Path, fakes: Fakes) -> None:
    root, _ = _tree(tmp_path, fakes)
    assert run_scan([str(root / "clean.md")]).code == 0
    assert run_scan([str(root), "--exit-zero"]).code == 0


def test_env_exit_zero_and_bad_boolean(tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = _tree(tmp_path, fakes)
    monkeypatch.setenv("KEYTURN_SCAN_EXIT_ZERO", "TRUE")
    assert run_scan([str(root)]).code == 0
    monkeypatch.setenv("KEYTURN_SCAN_EXIT_ZERO", "yes")
    res = run_scan([str(root)])
    assert res.code == 2 and "KEYTURN_SCAN_EXIT_ZERO" in res.err
    monkeypatch.delenv("KEYTURN_SCAN_EXIT_ZERO")
    monkeypatch.setenv("KEYTURN_SCAN_JOBS", "two")
    res = run_scan([str(root)])
    assert res.code == 2 and "KEYTURN_SCAN_JOBS" in res.err


@pytest.mark.parametrize(
    "argv",
    [
        ["/nonexistent/path"],
        ["--format", "xml"],
        ["--jobs", "-1"],
        ["--update-baseline"],
        ["--diff", "main", "--staged"],
        ["--max-file-size", "lots"],
        ["--baseline", "/nonexistent.baseline"],
        ["--manifest", "/nonexistent.yml"],
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, argv: list[str]) -> None:
    res = run_scan([*argv] if argv[0].startswith("/") else [str(tmp_path), *argv])
    assert res.code == 2


def test_json_contract(tmp_path: Path, fakes: Fakes) -> None:
    root, values = _tree(tmp_path, fakes)
    res = run_scan([str(root), "--format", "json"])
    assert res.code == 1
    doc = json.loads(res.out)
    assert doc["version"] == 1
    assert set(doc["summary"]) == {"files_scanned", "bytes_scanned", "findings", "new_findings", "seconds"}
    assert doc["summary"]["files_scanned"] == 3 and doc["summary"]["new_findings"] == 3
    keys = {
        "rule",
        "detector",
        "path",
        "line",
        "column",
        "end_line",
        "end_column",
        "fingerprint",
        "live_secret",
    }
    for f in doc["findings"]:
        assert set(f) == keys
        assert f["rule"] == f"keyturn/{f['detector']}"
        assert f["live_secret"] is None
        assert int(f["fingerprint"], 16) and len(f["fingerprint"]) == 64
    assert [f["path"] for f in doc["findings"]] == ["app.py", "conf/prod.env", "conf/prod.env"]
    _no_values(res, values)


def test_output_written_atomically_only_on_success(tmp_path: Path, fakes: Fakes) -> None:
    root, values = _tree(tmp_path, fakes)
    out = tmp_path / "out.sarif"
    res = run_scan([str(root), "--format", "sarif", "--output", str(out)])
    assert res.code == 1 and res.out == ""
    assert json.loads(out.read_text())["version"] == "2.1.0"
    assert not list(tmp_path.glob(".keyturn-scan-*"))
    _no_values(res, values, out.read_text())
    # a usage error leaves an existing output untouched
    before = out.read_text()
    assert run_scan([str(root), "--output", str(out), "--jobs", "-3"]).code == 2
    assert out.read_text() == before
    assert run_scan([str(root), "--output", str(tmp_path / "missing" / "x.json")]).code == 2


def test_excludes_and_keyturnignore(tmp_path: Path, fakes: Fakes) -> None:
    root, _ = _tree(tmp_path, fakes)
    res = run_scan([str(root), "--exclude", "*.env", "--format", "json"])
    assert [f["path"] for f in json.loads(res.out)["findings"]] == ["app.py"]
    (root / ".keyturnignore").write_text("# comment\napp.py\nconf/\n")
    assert run_scan([str(root)]).code == 0


def test_github_actions_annotations_and_summary(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, values = _tree(tmp_path, fakes)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = run_scan([str(root), "--format", "json"])
    assert res.code == 1
    assert "::error file=app.py,line=1,title=keyturn%3A GitHub token::" in res.err
    assert "::error file=conf/prod.env,line=2," in res.err
    text = summary.read_text()
    assert "| `keyturn/github-token` | `app.py` | 1 |" in text
    _no_values(res, values, text)
    json.loads(res.out)  # annotations never pollute stdout


def test_max_file_size_and_binary_skip(tmp_path: Path, fakes: Fakes) -> None:
    root, _ = _tree(tmp_path, fakes)
    res = run_scan([str(root), "--max-file-size", "20", "--format", "json"])
    assert json.loads(res.out)["summary"]["files_scanned"] == 1  # only clean.md is small enough
    (root / "blob.bin.dat").write_bytes(b"\0\1\2" + fakes.github().encode())
    res = run_scan([str(root / "blob.bin.dat")])
    assert res.code == 0


def test_include_flags_turn_skips_off(tmp_path: Path, fakes: Fakes) -> None:
    (tmp_path / "node_modules" / "pkg").mkdir(parents=True)
    (tmp_path / "node_modules" / "pkg" / "index.js").write_text(f'const t = "{fakes.github()}";\n')
    (tmp_path / "poetry.lock").write_text(f'token = "{fakes.github()}"\n')
    (tmp_path / "app.min.js").write_text(f'var t="{fakes.github()}";\n')
    (tmp_path / "api_pb2.py").write_text(f'T = "{fakes.github()}"\n')
    assert run_scan([str(tmp_path)]).code == 0
    for flag, path in (
        ("--include-vendored", "node_modules/pkg/index.js"),
        ("--include-lockfiles", "poetry.lock"),
        ("--include-minified", "app.min.js"),
        ("--include-generated", "api_pb2.py"),
    ):
        res = run_scan([str(tmp_path), flag, "--format", "json"])
        assert [f["path"] for f in json.loads(res.out)["findings"]] == [path], flag


# -- untrusted paths never become workflow commands or shell commands (issue: output injection) --

INJECTING = "notes\n::warning title=keyturn::all clear\n.py"
LEGACY = "x##[warning]all clear.py"


def _commands(text: str) -> list[str]:
    """Lines the Actions runner would execute as workflow commands (``::`` after leading blanks, or ``##[``)."""
    return [line for line in text.splitlines() if line.lstrip().startswith("::") or "##[" in line]


def test_paths_cannot_inject_workflow_commands_in_any_format(
    tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    for name in (INJECTING, LEGACY, "  ::error::indented.py", "bidi\u202eyp.txt"):
        (root / name).write_text(f'TOKEN = "{fakes.github()}"\n')
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for fmt in ("text", "json", "sarif"):
        res = run_scan([str(root), "--format", fmt])
        assert res.code == 1
        assert _commands(res.out) == [], fmt
        # stderr holds exactly one ::error annotation per finding and nothing else command-like
        annotations = _commands(res.err)
        assert len(annotations) == 4 and all(a.startswith("::error file=") for a in annotations), fmt
        assert "\u202e" not in res.out
        # the file= property keeps the real name (escaped by the runner's rules) so GitHub can link it;
        # the message shows the escaped form
        assert all("\u202e" not in a.split("::", 2)[2] for a in annotations)
    text = run_scan([str(root)]).out
    assert '"notes\\n::warning title=keyturn::all clear\\n.py":1:10: keyturn/github-token' in text
    assert '"x#\\x23[warning]all clear.py":1:10:' in text
    assert '"bidi\\u202eyp.txt":1:10:' in text
    doc = json.loads(run_scan([str(root), "--format", "json"]).out)
    assert {f["path"] for f in doc["findings"]} >= {INJECTING, LEGACY}  # JSON keeps the exact name
    sarif = json.loads(run_scan([str(root), "--format", "sarif"]).out)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]}
    assert "notes%0A%3A%3Awarning%20title%3Dkeyturn%3A%3Aall%20clear%0A.py" in uris
    rows = summary.read_text().splitlines()
    table = [r for r in rows if r.startswith("| `keyturn/")]
    assert len(table) == 6 * 4 and all(r.endswith("|") for r in table)  # six scans, four rows each
    assert _commands(summary.read_text()) == []


def test_undecodable_path_bytes_are_escaped(tmp_path: Path, fakes: Fakes) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    raw = os.path.join(os.fsencode(root), b"caf\xe9.py")
    with open(raw, "w") as fh:
        fh.write(f'TOKEN = "{fakes.github()}"\n')
    text = run_scan([str(root)]).out
    assert '"caf\\xe9.py":1:10:' in text
    sarif = json.loads(run_scan([str(root), "--format", "sarif"]).out)
    [res] = sarif["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "caf%E9.py"


def test_rotate_hint_is_shell_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakes: Fakes) -> None:
    value = fakes.password() + "Qq7"

    def live_values(manifest_path: str) -> list[tuple[str, str, SecretValue]]:
        return [("db/prod", "CURRENT", SecretValue(value, mask=False))]

    module = types.ModuleType("keyturn.rotation.live")
    module.live_values = live_values  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyturn.rotation.live", module)
    manifest = tmp_path / "keyturn.yml"
    manifest.write_text("secrets: {}\n")
    src = tmp_path / "src"
    src.mkdir()
    name = 'x";touch PWNED;".py'
    (src / name).write_text(f'DB_PASSWORD = "{value}"\n')
    res = run_scan([str(src), "--manifest", str(manifest)])
    assert res.code == 1
    [line] = [ln for ln in res.out.splitlines() if "keyturn rotate" in ln]
    command = line.split("live credential — run: ", 1)[1]
    argv = shlex.split(command)
    assert argv == ["keyturn", "rotate", "db/prod", "--mode", "emergency", "--reason", 'leaked in "x\\";touch PWNED;\\".py"']
    # Pasted into a shell (with keyturn replaced by printf), it runs nothing else.
    work = tmp_path / "paste"
    work.mkdir()
    done = subprocess.run(
        ["bash", "-c", "printf '%s\\n' " + command.removeprefix("keyturn ")],
        cwd=work, capture_output=True, text=True, check=True,
    )
    assert not (work / "PWNED").exists() and done.stdout.splitlines()[-1] == argv[-1]
    assert value not in res.out + res.err


def test_output_to_a_fifo_or_device_is_written_in_place_never_replaced(tmp_path: Path) -> None:
    """`--output /dev/null` as root renamed a temp file over /dev/null itself: a device or
    a FIFO is written in place (a FIFO stands in for /dev/null here), and the atomic writer
    refuses to replace one."""
    import stat
    import threading

    from keyturn._internal.atomic import AtomicWriteError, special_file, write_atomic

    assert special_file("/dev/null") and not special_file(tmp_path) and not special_file(tmp_path / "none")
    (tmp_path / "a.txt").write_text("hello\n")
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    res = run_scan([str(tmp_path / "a.txt"), "--format", "json", "--output", str(fifo)])
    reader.join(10)
    assert res.code == 0, res.err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO must still be a FIFO"
    assert b'"findings": []' in got[0]
    with pytest.raises(AtomicWriteError):
        write_atomic(fifo, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_output_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path: Path) -> None:
    """``--output /dev/stdout`` with stdout sent to a file: /dev/stdout is a symlink to a
    regular file, and renaming over it would replace the link (as root, in /dev)."""
    (tmp_path / "a.txt").write_text("hello\n")
    real = tmp_path / "real.json"
    real.write_text("old\n")
    link = tmp_path / "stdout"
    link.symlink_to(real)
    res = run_scan([str(tmp_path / "a.txt"), "--format", "json", "--output", str(link)])
    assert res.code == 0, res.err
    assert link.is_symlink() and '"findings": []' in real.read_text()
