"""The pull-request gate (``--diff BASE``) sees every commit since the merge base, not just the net diff."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from keyturn.scan.engine import Engine
from tests.scan._support import Fakes, GitRepo, run_scan


def _json(repo: GitRepo, *argv: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    res = run_scan([str(repo.path), "--diff", "main", *argv, "--format", "json"])
    assert res.code in (0, 1), res.err
    return res.code, json.loads(res.out)["findings"]


def _feature(repo: GitRepo) -> None:
    repo.write("app.py", "x = 1\n")
    repo.write("README.md", "hello\n")
    repo.commit("base")
    repo.git("checkout", "-q", "-b", "feature")


def test_secret_added_and_removed_inside_the_pr_fails_the_gate(git_repo: GitRepo, fakes: Fakes) -> None:
    token = fakes.github()
    _feature(git_repo)
    git_repo.write("app.py", f'x = 1\nTOKEN = "{token}"\n')
    added = git_repo.commit("oops")
    git_repo.write("app.py", "x = 1\n")
    git_repo.commit("remove the token")
    # the net diff is empty ...
    assert git_repo.git("diff", "main", "--", "app.py") == ""
    # ... but the token is in the branch's history
    code, found = _json(git_repo)
    assert code == 1
    [f] = found
    assert (f["path"], f["line"], f["detector"], f["commit"]) == ("app.py", 2, "github-token", added)
    text = run_scan([str(git_repo.path), "--diff", "main"])
    assert text.code == 1 and "in git history" in text.out and "deleting it is not enough" in text.out
    sarif = json.loads(run_scan([str(git_repo.path), "--diff", "main", "--format", "sarif"]).out)
    [res] = sarif["runs"][0]["results"]
    assert res["properties"]["commit"] == added and "rotate it" in res["message"]["text"]
    for out in (text.out, text.err, json.dumps(sarif)):
        assert token not in out


def test_secret_still_present_is_reported_once_without_history_note(git_repo: GitRepo, fakes: Fakes) -> None:
    _feature(git_repo)
    git_repo.write("app.py", f'x = 1\nTOKEN = "{fakes.github()}"\n')
    git_repo.commit("add")
    git_repo.write("README.md", "hello\nmore\n")
    git_repo.commit("more")
    code, found = _json(git_repo)
    assert code == 1 and len(found) == 1
    assert "commit" not in found[0] and found[0]["line"] == 2


def test_uncommitted_and_committed_secrets_are_both_reported(git_repo: GitRepo, fakes: Fakes) -> None:
    _feature(git_repo)
    git_repo.write("gone.env", f"API_TOKEN={fakes.stripe()}\n")
    git_repo.commit("add")
    (git_repo.path / "gone.env").unlink()
    git_repo.commit("delete the file")
    git_repo.write("app.py", f'x = 1\nT = "{fakes.github()}"\n')  # not committed yet
    code, found = _json(git_repo)
    assert code == 1
    assert sorted((f["path"], "commit" in f) for f in found) == [("app.py", False), ("gone.env", True)]


def test_secrets_older_than_the_merge_base_are_not_the_prs(git_repo: GitRepo, fakes: Fakes) -> None:
    token = fakes.github()
    git_repo.write("conf.py", f'OLD = "{token}"\nx = 1\n')
    git_repo.commit("an old, known leak on main")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("conf.py", f'x = 2\nOLD = "{token}"\n')  # moved and edited, not added
    git_repo.commit("edit the file that holds it")
    assert run_scan([str(git_repo.path), "--diff", "main"]).code == 0


def test_pragma_and_baseline_apply_to_pr_history(git_repo: GitRepo, fakes: Fakes, tmp_path: Path) -> None:
    _feature(git_repo)
    git_repo.write("a.py", f'T = "{fakes.github()}"  # pragma: allowlist secret\n')
    git_repo.write("b.py", f'S = "{fakes.stripe()}"\n')
    git_repo.commit("add")
    git_repo.write("a.py", "")
    git_repo.write("b.py", "")
    git_repo.commit("remove")
    baseline = tmp_path / ".secrets.baseline"
    assert run_scan([str(git_repo.path), "--diff", "main"]).code == 1  # b.py only
    run_scan([str(git_repo.path), "--diff", "main", "--baseline", str(baseline), "--update-baseline"])
    assert list(json.loads(baseline.read_text())["results"]) == ["b.py"]
    assert run_scan([str(git_repo.path), "--diff", "main", "--baseline", str(baseline)]).code == 0


def test_shallow_clone_without_merge_base_is_a_usage_error(
    git_repo: GitRepo, fakes: Fakes, tmp_path: Path
) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit("root")
    git_repo.write("a.py", "x = 2\n")
    git_repo.commit("main 2")
    git_repo.git("checkout", "-q", "-b", "feature")
    for i in range(3):
        git_repo.write("b.py", f"y = {i}\n")
        git_repo.commit(f"feature {i}")
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", "--no-single-branch", f"file://{git_repo.path}", str(clone)],
        check=True,
        capture_output=True,
    )
    subprocess.run(["git", "checkout", "-q", "feature"], cwd=clone, check=True, capture_output=True)
    res = run_scan([str(clone), "--diff", "origin/main"])
    assert res.code == 2 and "shallow" in res.err and "fetch-depth: 0" in res.err
    assert len(res.err.strip().splitlines()) == 1
    res = run_scan([str(clone), "--diff", "no-such-branch"])
    assert res.code == 2 and "--diff no-such-branch: unknown git revision" in res.err


def test_diff_base_that_looks_like_an_option_is_refused(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit()
    target = tmp_path / "out"
    res = run_scan([str(git_repo.path), f"--diff=--output={target}"])
    assert res.code == 2 and not target.exists()


def test_gate_on_a_github_style_merge_commit(git_repo: GitRepo, fakes: Fakes) -> None:
    """Actions checks out refs/pull/N/merge (base tip + PR merged) and diffs against the base sha."""
    _feature(git_repo)
    git_repo.write("app.py", f'x = 1\nTOKEN = "{fakes.github()}"\n')
    added = git_repo.commit("oops")
    git_repo.write("app.py", "x = 1\n")
    git_repo.commit("remove")
    git_repo.git("checkout", "-q", "main")
    git_repo.write("README.md", "hello\nmain moved on\n")
    base = git_repo.commit("main moves on")
    git_repo.git("checkout", "-q", "--detach", base)
    git_repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request", "feature")
    code, found = _json_against(git_repo, base)
    assert code == 1 and [(f["path"], f["commit"]) for f in found] == [("app.py", added)]


def _json_against(repo: GitRepo, base: str) -> tuple[int, list[dict]]:  # type: ignore[type-arg]
    res = run_scan([str(repo.path), "--diff", base, "--format", "json"])
    assert res.code in (0, 1), res.err
    return res.code, json.loads(res.out)["findings"]


def test_each_distinct_content_is_scanned_once(
    git_repo: GitRepo, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean checkout's changed files are the commits' blobs: scanned once, not once as
    working-tree files and again as blobs (the findings are the same either way)."""
    scans: Counter[tuple[str, str]] = Counter()
    scan_bytes = Engine.scan_bytes

    def counted(self: Engine, path: str, data: bytes, *args: object, **kwargs: object) -> object:
        if kwargs.get("_decode", True):  # not the engine's own re-scan of a decoded span
            scans[(path, hashlib.sha1(data).hexdigest())] += 1
        return scan_bytes(self, path, data, *args, **kwargs)  # type: ignore[arg-type]

    _feature(git_repo)
    git_repo.write("app.py", f'x = 1\nTOKEN = "{fakes.github()}"\n')
    git_repo.commit("add")
    git_repo.write("lib.py", "y = 2\n")
    git_repo.commit("lib")
    monkeypatch.setattr(Engine, "scan_bytes", counted)
    res = run_scan([str(git_repo.path), "--diff", "main", "--format", "json"])
    assert res.code == 1
    doc = json.loads(res.out)
    [f] = doc["findings"]
    assert (f["path"], f["line"], "commit" not in f) == ("app.py", 2, True)
    # app.py and lib.py as committed, and app.py at the merge base (what "introduced" compares with)
    assert sorted(p for p, _ in scans) == ["app.py", "app.py", "lib.py"]
    assert set(scans.values()) == {1}
    assert doc["summary"]["files_scanned"] == 3

    scans.clear()
    git_repo.write("lib.py", f'y = 2\nS = "{fakes.stripe()}"\n')  # not committed: differs from every blob
    res = run_scan([str(git_repo.path), "--diff", "main", "--format", "json"])
    assert sorted(p for p, _ in scans) == ["app.py", "app.py", "lib.py", "lib.py"]  # lib.py: blob + working tree
    assert sorted(f["path"] for f in json.loads(res.out)["findings"]) == ["app.py", "lib.py"]
