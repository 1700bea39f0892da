"""Sharded rotation (rotate --until promoted → rotate --shard I/N jobs → rotate) through real
``python -m keyturn`` processes against a real OpenBao and the fake GitHub API (the fake
logs every request, so the tests count writes per target). 30 repository targets, 3 shards."""

from __future__ import annotations

import json
import signal
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from keyturn.rotation import shards
from keyturn.rotation.shards import Shard
from tests.fakes.github_api import FakeGitHub
from tests.invariants_support import OPENBAO_HEAD, Workspace

NAME = "FLEET_TOKEN"
REPOS = [f"acme/r{i:02d}" for i in range(30)]
PUT = r"/actions/secrets/FLEET_TOKEN$"

MANIFEST = OPENBAO_HEAD + """\
  {name}:
    store: bao
    path: {path}
    generator: {{type: hex, bytes: 32}}
    policy: {{max_age: 90d, grace: 24h}}
    targets:
{targets}
    validate:
      - command: ["sh", "-c", "test ${{#KEYTURN_VALUE}} -eq 64"]
    smoke:
      - command: ["true"]
"""


def _ws(tmp_path: Path, openbao: Any, fake: FakeGitHub) -> Workspace:
    for repo in REPOS:
        fake.add_repo(repo)
    ws = Workspace(tmp_path / "ws", openbao, name=NAME, extra_env={
        "GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0"})
    targets = "\n".join(f"      - github: {r}" for r in REPOS)
    (ws.root / "keyturn.yml").write_text(MANIFEST.format(name=NAME, path=ws.path, targets=targets))
    return ws


def _key(repo: str) -> str:
    return f"github:{repo}#{NAME}"


def _path(repo: str) -> str:
    return f"/repos/{repo}/actions/secrets/{NAME}"


def _slice(shard: str) -> set[str]:
    return set(shards.slice_keys([_key(r) for r in REPOS], Shard.parse(shard)))


def _puts(fake: FakeGitHub) -> Counter[str]:
    return Counter(r.path for r in fake.requests("PUT", PUT))


def _promote(ws: Workspace, fake: FakeGitHub) -> str:
    """Phase 1 of a sharded rotation: promoted, nothing written to a target yet."""
    r = ws.rotate("--until", "promoted", "--shard-targets", "3")
    assert r.returncode == 0, r.stderr
    new = ws.reader()
    assert new is not None  # promoted: readers by name get the new value …
    assert _puts(fake) == Counter()  # … and no target was written yet
    op = ws.journal()["op"]
    assert op["stage"] == "promoted" and op["shards"] == {"count": 3, "runs": {}}
    assert op["lock_expires"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the lease was released
    return new


def _errors(stderr: str) -> list[str]:
    """The error lines (progress lines are the other lines on stderr)."""
    return [line for line in stderr.splitlines() if line.startswith("keyturn: error: ")]


def _values(fake: FakeGitHub) -> set[str | None]:
    return {fake.value(r, NAME) for r in REPOS}


def test_three_concurrent_shards_write_every_target_exactly_once(tmp_path: Path, openbao: Any,
                                                                  fake: FakeGitHub) -> None:
    ws = _ws(tmp_path, openbao, fake)
    new = _promote(ws, fake)
    procs = [ws.popen("rotate", NAME, "--shard", f"{i}/3") for i in (1, 2, 3)]
    outputs = [p.communicate(timeout=180) for p in procs]  # all three run at once; collected in turn
    results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]
    for code, _, err in results:
        assert code == 0, err
    assert _puts(fake) == Counter({_path(r): 1 for r in REPOS})  # every target, exactly once
    assert _values(fake) == {new}
    op = ws.journal()["op"]
    assert set(op["ledger"]) == {_key(r) for r in REPOS}
    assert all(row["status"] == "confirmed" for row in op["ledger"].values())
    runs = op["shards"]["runs"]
    assert {k: (v["state"], v["targets"], v["confirmed"]) for k, v in runs.items()} == {
        "1": ("done", 10, 10), "2": ("done", 10, 10), "3": ("done", 10, 10)}
    # each shard wrote exactly its own slice (the audit line of each write names its shard)
    wrote: dict[str, set[str]] = {}
    for e in ws.audit_events():
        if e["event"] == "rotation.distribute" and "shard" in e["details"]:
            wrote.setdefault(e["details"]["shard"], set()).add(f"{e['details']['target']}#{NAME}")
    assert wrote == {f"{i}/3": _slice(f"{i}/3") for i in (1, 2, 3)}
    fake.clear_log()
    rid = op["rotation_id"]
    r = ws.rotate()  # phase 3: every shard confirmed → smoke → complete, nothing written again
    assert r.returncode == 0, r.stderr
    assert _puts(fake) == Counter()
    assert not ws.journal().get("op") and ws.reader() == new
    evidence = [json.loads(p.read_text()) for p in (ws.root / "logs/evidence").glob("*.json")]
    done = [e for e in evidence if e.get("rotation_id") == rid]
    assert len(done) == 1 and len(done[0]["targets"]) == 30
    for _, out, err in results:
        assert new not in out and new not in err


def test_killed_shard_rerun_writes_only_its_unconfirmed_targets(tmp_path: Path, openbao: Any,
                                                                fake: FakeGitHub) -> None:
    ws = _ws(tmp_path, openbao, fake)
    new = _promote(ws, fake)
    for i in (1, 3):
        assert ws.rotate("--shard", f"{i}/3").returncode == 0
    r = ws.run("rotate", NAME, "--shard", "2/3", fault="shard-distribute-4",
               env={"KEYTURN_GITHUB_CONCURRENCY": "1"})
    assert r.returncode == -signal.SIGKILL
    ledger = ws.journal()["op"]["ledger"]
    mine = _slice("2/3")
    confirmed = {k for k in mine if ledger.get(k, {}).get("status") == "confirmed"}
    assert 0 < len(confirmed) < len(mine)
    # The finish refuses: one line naming the shard and the command that re-runs it.
    r = ws.rotate()
    assert r.returncode == 4, r.stderr
    assert len(_errors(r.stderr)) == 1
    assert "shard 2/3 did not finish" in r.stderr and f"`keyturn rotate {NAME} --shard 2/3`" in r.stderr
    assert ws.journal()["op"]["stage"] == "promoted"
    fake.clear_log()
    r = ws.rotate("--shard", "2/3")
    assert r.returncode == 0, r.stderr
    expected = {_path(k.removeprefix("github:").removesuffix(f"#{NAME}")) for k in mine - confirmed}
    assert _puts(fake) == Counter({p: 1 for p in expected})  # only its unconfirmed targets; others untouched
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert _values(fake) == {new} and not ws.journal().get("op")


def test_finish_refuses_while_a_shard_never_ran(tmp_path: Path, openbao: Any, fake: FakeGitHub) -> None:
    ws = _ws(tmp_path, openbao, fake)
    new = _promote(ws, fake)
    for i in (1, 3):
        assert ws.rotate("--shard", f"{i}/3").returncode == 0
    fake.clear_log()
    r = ws.rotate()
    assert r.returncode == 4
    lines = _errors(r.stderr)
    assert len(lines) == 1, r.stderr
    assert "shard 2/3 never ran (10 target(s) not written)" in lines[0]
    assert f"`keyturn rotate {NAME} --shard 2/3`" in lines[0]
    assert _puts(fake) == Counter()  # the finish wrote nothing itself …
    assert ws.journal()["op"]["stage"] == "promoted" and ws.reader() == new  # … and did not smoke or complete
    assert {fake.value(k.split(":")[1].split("#")[0], NAME) for k in _slice("2/3")} == {None}
    # A shard pinned to its own token: the shared GITHUB_TOKEN is wrong, KEYTURN_GITHUB_TOKEN_SHARD_2 is right.
    r = ws.run("rotate", NAME, "--shard", "2/3", env={"GITHUB_TOKEN": "ghs_not_valid",
                                                     "KEYTURN_GITHUB_TOKEN_SHARD_2": fake.token})
    assert r.returncode == 0, r.stderr
    assert "shard 2/3 uses KEYTURN_GITHUB_TOKEN_SHARD_2" in r.stderr and fake.token not in r.stderr
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert _values(fake) == {new}


def test_a_second_run_of_a_running_shard_and_an_abort_are_refused(tmp_path: Path, openbao: Any,
                                                                  fake: FakeGitHub) -> None:
    ws = _ws(tmp_path, openbao, fake)
    _promote(ws, fake)
    ws.env["KEYTURN_GITHUB_RETRY_SECONDS"] = "0"  # the held writes fail at once when released
    fake.hold_writes_after(2)  # shard 1 blocks on its third write, holding its lease
    held = ws.popen("rotate", NAME, "--shard", "1/3")
    try:
        assert fake.wait_for_writes(2, timeout=120)
        r = ws.run("rotate", NAME, "--shard", "1/3")
        assert r.returncode == 3, r.stderr
        assert "shard 1/3 of rotation" in r.stderr and "already running" in r.stderr
        r = ws.run("abort", NAME, "--reason", "test")
        assert r.returncode == 3, r.stderr
        assert "shard 1/3 of rotation" in r.stderr and "distributing" in r.stderr
        assert ws.journal()["op"]["stage"] == "promoted"
    finally:
        fake.release_writes()
        held.communicate(timeout=180)


def test_shard_before_promote_is_refused(tmp_path: Path, openbao: Any, fake: FakeGitHub) -> None:
    ws = _ws(tmp_path, openbao, fake)
    r = ws.rotate("--shard", "1/3")
    assert r.returncode == 3
    assert "no rotation in flight to distribute" in r.stderr and "--until promoted" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _puts(fake) == Counter()


def test_matrix_for_shard_targets_is_stable(run_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    targets = "\n".join(f"      - file: t{i}.env" for i in range(5))
    (tmp_path / "keyturn.yml").write_text(MANIFEST.format(name=NAME, path="x/y", targets=targets)
                                          + MANIFEST.split("secrets:\n", 1)[1].replace("{name}", "OTHER").format(
                                              path="x/z", targets=targets))
    out_file = tmp_path / "gh_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out_file))
    runs = [run_cli("plan", "--format", "matrix", "--shard-targets", "3", cwd=tmp_path) for _ in range(2)]
    assert runs[0].code == 0, runs[0].err
    assert runs[0].out == runs[1].out
    assert json.loads(runs[0].out) == {"include": [{"secret": s, "shard": f"{i}/3"}
                                                   for s in (NAME, "OTHER") for i in (1, 2, 3)]}
    outputs = out_file.read_text()
    assert outputs.count("shard-matrix<<") == 2 and outputs.count("\nmatrix<<") + outputs.startswith("matrix<<") == 2
    assert json.dumps({"include": [{"secret": NAME}, {"secret": "OTHER"}]}) in outputs  # matrix: one per secret
    assert runs[0].out.strip() in outputs  # shard-matrix: what stdout shows
    # without --shard-targets: one entry per secret, as before
    plain = run_cli("plan", "--format", "matrix", cwd=tmp_path)
    assert json.loads(plain.out) == {"include": [{"secret": NAME}, {"secret": "OTHER"}]}


def test_slices_are_balanced_disjoint_and_stable() -> None:
    keys = [f"github:acme/repo{i}#TOKEN" for i in range(101)]
    for n in (1, 2, 3, 7, 101, 150):
        parts = [shards.slice_keys(keys, Shard(i, n)) for i in range(1, n + 1)]
        assert sorted(k for p in parts for k in p) == sorted(keys)  # a partition
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
        assert parts == [shards.slice_keys(list(reversed(keys)), Shard(i, n))[::-1] for i in range(1, n + 1)]


@pytest.mark.parametrize("argv", [
    ["rotate", NAME, "--shard", "0/3"],
    ["rotate", NAME, "--shard", "4/3"],
    ["rotate", NAME, "--shard", "x"],
    ["rotate", NAME, "--shard", "1/0"],
    ["rotate", NAME, "--shard", "-1/3"],
    ["rotate", NAME, "--shard", "1/3", "--until", "promoted"],
    ["rotate", NAME, "OTHER", "--shard", "1/3"],
    ["rotate", NAME, "--shard-targets", "3"],
    ["rotate", NAME, "--until", "promoted", "--shard-targets", "0"],
    ["rotate", NAME, "--until", "later"],
    ["plan", "--format", "matrix", "--shard-targets", "x"],
    ["plan", "--format", "json", "--shard-targets", "3"],
])
def test_bad_shard_arguments_are_one_line_usage_errors(run_cli: Any, tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "keyturn.yml").write_text(MANIFEST.format(name=NAME, path="x/y", targets="      - file: a.env"))
    r = run_cli(*argv, cwd=tmp_path)
    assert r.code == 2, r.err
    assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("keyturn: error: ")
    assert "Traceback" not in r.err and r.out == ""

