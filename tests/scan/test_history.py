"""``keyturn scan --history [RANGE]`` on real temporary git repositories."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from keyturn.scan.history import read_log
from tests.scan._support import Fakes, GitRepo, run_scan


def _history(repo: GitRepo, *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    res = run_scan([str(repo.path), "--history", *extra, "--format", "json"])
    assert res.code in (0, 1), res.err
    return res.code, json.loads(res.out)


def _found(doc: dict) -> list[tuple[str, int, str, str]]:  # type: ignore[type-arg]
    return [(f["path"], f["line"], f["detector"], f["commit"]) for f in doc["findings"]]


def _dated(monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    monkeypatch.setenv("GIT_AUTHOR_DATE", when)
    monkeypatch.setenv("GIT_COMMITTER_DATE", when)


def test_secret_added_then_removed_is_reported_with_commit_date_path_line(
    git_repo: GitRepo, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = fakes.github()
    git_repo.write("app.py", "x = 1\n")
    git_repo.commit("root")
    _dated(monkeypatch, "2024-03-05T10:11:12+01:00")
    git_repo.write("app.py", f'x = 1\nTOKEN = "{token}"\n')
    added = git_repo.commit("add a token")
    _dated(monkeypatch, "2024-03-06T09:00:00+00:00")
    git_repo.write("app.py", "x = 1\n")
    git_repo.commit("remove it again")
    assert run_scan([str(git_repo.path)]).code == 0  # the tree is clean
    code, doc = _history(git_repo)
    assert code == 1
    [f] = doc["findings"]
    assert (f["path"], f["line"], f["column"], f["detector"]) == ("app.py", 2, 10, "github-token")
    assert f["commit"] == added and f["author_date"] == "2024-03-05T10:11:12+01:00"
    assert doc["history"] == {"range": "HEAD", "commits": 3}
    text = run_scan([str(git_repo.path), "--history"])
    assert text.code == 1
    assert f"added by commit {added[:12]} (2024-03-05T10:11:12+01:00)" in text.out
    assert "rotate it, deleting it is not enough" in text.out
    for out in (text.out, text.err, json.dumps(doc)):
        assert token not in out and token[-12:] not in out


def test_each_blob_once_and_each_secret_once(git_repo: GitRepo, fakes: Fakes) -> None:
    token = fakes.github()
    git_repo.write("a.py", f'T = "{token}"\n')
    first = git_repo.commit("secret")
    # edits elsewhere in the file, a move of the secret line, a copy of the same blob
    git_repo.write("a.py", f'import os\nT = "{token}"\nx = 2\n')
    git_repo.commit("edit around it")
    git_repo.write("a.py", f'import os\nx = 2\n\nT = "{token}"\n')
    git_repo.commit("move it")
    git_repo.write("b.py", f'import os\nx = 2\n\nT = "{token}"\n')  # same blob as a.py now
    git_repo.commit("copy")
    code, doc = _history(git_repo)
    assert code == 1
    assert _found(doc) == [("a.py", 1, "github-token", first)]
    # four commits, three distinct blobs: the copy is the blob a.py already had
    assert doc["summary"]["files_scanned"] == 3


def test_range_limits_commits_and_preexisting_secrets_are_not_reintroduced(
    git_repo: GitRepo, fakes: Fakes
) -> None:
    old, new = fakes.github(), fakes.stripe()
    git_repo.write("conf.py", f'OLD = "{old}"\n')
    git_repo.commit("old secret")
    git_repo.git("tag", "v1")
    git_repo.write("conf.py", f'OLD = "{old}"\nNAME = "svc"\n')
    git_repo.commit("unrelated edit")
    git_repo.write("conf.py", f'OLD = "{old}"\nNAME = "svc"\nNEW = "{new}"\n')
    third = git_repo.commit("new secret")
    _, doc = _history(git_repo, "v1..HEAD")
    assert _found(doc) == [("conf.py", 3, "stripe-key", third)]
    assert doc["history"]["commits"] == 2
    _, whole = _history(git_repo)
    assert [f[2] for f in _found(whole)] == ["github-token", "stripe-key"]


def test_renamed_file_is_not_reported_again(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write(
        "old/name.py", f'T = "{fakes.github()}"\n' + "".join(f"line{i} = {i}\n" for i in range(30))
    )
    first = git_repo.commit()
    git_repo.git("mv", "old/name.py", "new_name.py")
    git_repo.write("new_name.py", (git_repo.path / "new_name.py").read_text() + "extra = 1\n")
    git_repo.commit("rename and edit")
    _, doc = _history(git_repo)
    assert _found(doc) == [("old/name.py", 1, "github-token", first)]


def test_merges_report_only_what_the_merge_itself_added(git_repo: GitRepo, fakes: Fakes) -> None:
    branch_token, merge_token = fakes.github(), fakes.stripe()
    git_repo.write("a.py", "x = 1\n")
    git_repo.write("c.py", "c = 1\n")
    git_repo.commit("root")
    git_repo.git("checkout", "-q", "-b", "topic")
    git_repo.write("b.py", f'T = "{branch_token}"\n')
    git_repo.write("c.py", "c = 2\n")
    on_branch = git_repo.commit("topic adds a token")
    git_repo.git("checkout", "-q", "main")
    git_repo.write("c.py", "c = 3\n")
    git_repo.commit("main edits c.py")
    with pytest.raises(subprocess.CalledProcessError):
        git_repo.git("merge", "-q", "topic")  # conflict on c.py
    git_repo.write("c.py", f'c = 4\nS = "{merge_token}"\n')  # the resolution adds a secret
    merge = git_repo.commit("merge topic")
    _, doc = _history(git_repo)
    assert sorted(_found(doc)) == sorted(
        [("b.py", 1, "github-token", on_branch), ("c.py", 2, "stripe-key", merge)]
    )


def test_pragma_and_baseline_apply_to_history(git_repo: GitRepo, fakes: Fakes, tmp_path: Path) -> None:
    git_repo.write("ok.py", f'T = "{fakes.github()}"  # pragma: allowlist secret\n')
    git_repo.write("known.py", f'K = "{fakes.stripe()}"\n')
    git_repo.commit()
    git_repo.write("ok.py", "")
    git_repo.write("known.py", "")
    git_repo.commit("clean up")
    baseline = tmp_path / "hist.baseline"
    res = run_scan([str(git_repo.path), "--history", "--baseline", str(baseline), "--update-baseline"])
    assert res.code == 0, res.err
    entries = json.loads(baseline.read_text())["results"]
    assert list(entries) == ["known.py"]  # the pragma line was never a finding
    res = run_scan([str(git_repo.path), "--history", "--baseline", str(baseline), "--format", "json"])
    assert res.code == 0
    [f] = json.loads(res.out)["findings"]
    assert f["path"] == "known.py"  # listed, not new


def test_subdirectory_excludes_and_skips(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("svc/api/app.py", f'T = "{fakes.github()}"\n')
    git_repo.write("svc/api/gen/x_pb2.py", f'T = "{fakes.github()}"\n')
    git_repo.write("svc/api/tests/fixture.py", f'T = "{fakes.github()}"\n')
    git_repo.write("other/b.py", f'S = "{fakes.stripe()}"\n')
    git_repo.write("node_modules/p/i.js", f'S = "{fakes.stripe()}"\n')
    git_repo.write("big.py", f'S = "{fakes.stripe()}"\n' + "# padding\n" * 100)
    git_repo.write("bin.dat", "\0\1" + fakes.github())
    git_repo.commit()
    sub = str(git_repo.path / "svc" / "api")
    res = run_scan([sub, "--history", "--exclude", "tests/", "--format", "json"])
    assert [f["path"] for f in json.loads(res.out)["findings"]] == ["svc/api/app.py"]
    res = run_scan([str(git_repo.path), "--history", "--max-file-size", "200", "--format", "json"])
    paths = sorted(f["path"] for f in json.loads(res.out)["findings"])
    assert paths == ["other/b.py", "svc/api/app.py", "svc/api/tests/fixture.py"]


def test_unusual_paths_in_history(git_repo: GitRepo, fakes: Fakes) -> None:
    name = "notes\n::warning title=keyturn::all clear\n.py"
    git_repo.write(name, f'T = "{fakes.github()}"\n')
    git_repo.write('0:odd "quoted" ü.py', f'T = "{fakes.github()}"\n')
    git_repo.commit()
    res = run_scan([str(git_repo.path), "--history", "--format", "json"])
    assert sorted(f["path"] for f in json.loads(res.out)["findings"]) == sorted([name, '0:odd "quoted" ü.py'])
    text = run_scan([str(git_repo.path), "--history"]).out
    assert not any(line.lstrip().startswith("::") for line in text.splitlines())


def test_pool_and_inline_agree(git_repo: GitRepo, fakes: Fakes) -> None:
    for i in range(12):
        git_repo.write(f"m{i % 4}.py", f'T{i} = "{fakes.github()}"\n' + "x = 1\n" * i)
        git_repo.commit(f"c{i}")
    _, one = _history(git_repo, "--jobs", "1")
    _, two = _history(git_repo, "--jobs", "2")
    assert one["findings"] == two["findings"] and len(one["findings"]) == 12


def test_bad_ranges_are_one_line_usage_errors(git_repo: GitRepo, tmp_path: Path) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit()
    res = run_scan([str(git_repo.path), "--history", "no-such-ref..HEAD"])
    assert res.code == 2 and "--history no-such-ref..HEAD" in res.err and len(res.err.splitlines()) == 1
    target = tmp_path / "written-by-git"
    res = run_scan([str(git_repo.path), f"--history=--output={target}"])
    assert res.code == 2 and not target.exists()
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    assert run_scan([str(outside), "--history"]).code == 2
    assert run_scan([str(git_repo.path), "--history", "HEAD", "--diff", "main"]).code == 2


def test_history_leaves_the_work_tree_alone(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("a.py", f'T = "{fakes.github()}"\n')
    git_repo.commit()
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit()
    git_repo.write("a.py", "uncommitted = True\n")
    head = git_repo.git("rev-parse", "HEAD")
    status = git_repo.git("status", "--porcelain")
    assert run_scan([str(git_repo.path), "--history"]).code == 1
    assert git_repo.git("rev-parse", "HEAD") == head and git_repo.git("status", "--porcelain") == status
    assert (git_repo.path / "a.py").read_text() == "uncommitted = True\n"


def test_read_log_lists_changes_with_parent_blobs(git_repo: GitRepo) -> None:
    git_repo.write("a.txt", "one\n")
    git_repo.commit()
    git_repo.write("a.txt", "two\n")
    git_repo.write("b.txt", "new\n")
    git_repo.commit()
    commits, changes = read_log(str(git_repo.path), "HEAD")
    assert len(commits) == 2
    first_a, second_a, b = sorted(changes, key=lambda c: (c.path, c.commit))
    assert (first_a.commit, first_a.parents) == (0, ())
    assert second_a.commit == 1 and second_a.parents == ((first_a.blob, "a.txt"),)
    assert b.parents == () and b.path == "b.txt"


def test_all_refs_includes_unmerged_branches(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit()
    git_repo.git("checkout", "-q", "-b", "wip")
    git_repo.write("wip.py", f'T = "{fakes.github()}"\n')
    wip = git_repo.commit("never merged")
    git_repo.git("checkout", "-q", "main")
    assert _history(git_repo)[0] == 0  # HEAD does not reach it
    code, doc = _history(git_repo, "ALL")
    assert code == 1 and _found(doc) == [("wip.py", 1, "github-token", wip)]


def test_a_git_that_stops_early_is_an_error_not_a_clean_scan(git_repo: GitRepo, fakes: Fakes) -> None:
    from keyturn.errors import UsageError
    from keyturn.scan import blobs

    git_repo.write("a.py", f'T = "{fakes.github()}"\n')
    git_repo.commit()
    blob = git_repo.git("rev-parse", "HEAD:a.py").strip()
    assert [b for b, _ in blobs.iter_blobs(str(git_repo.path), [blob])] == [blob]
    missing_repo = git_repo.path.parent / "elsewhere"
    missing_repo.mkdir()
    with pytest.raises(UsageError, match="stopped after 0 of 1"):
        list(blobs.iter_blobs(str(missing_repo), [blob]))  # not a repository: cat-file exits at once


def test_a_chatty_git_log_does_not_block(
    git_repo: GitRepo, fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """git may print a warning per commit (rename limits…): stderr must never fill a pipe and stall the scan."""
    git_repo.write("a.py", f'T = "{fakes.github()}"\n')
    added = git_repo.commit()
    real = subprocess.run(["sh", "-c", "command -v git"], capture_output=True, text=True, check=True).stdout.strip()
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "git").write_text(
        "#!/bin/sh\n"
        'case " $* " in *" log "*) head -c 300000 /dev/zero | tr "\\0" "w" >&2;; esac\n'
        f'exec "{real}" "$@"\n'
    )
    (shim / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    # A guard so a regression fails instead of hanging the suite (not a speed assertion).
    with ThreadPoolExecutor(1) as pool:
        commits, changes = pool.submit(read_log, str(git_repo.path), "HEAD").result(timeout=300)
    assert [c.sha for c in commits] == [added] and len(changes) == 1


#: (path, scanned?) with the exclude globs and .keyturnignore of the test below: the one
#: path rule (keyturn.scan.files.path_excluded / skip_dir) every scan mode applies
_TRICKY = (
    ("app.py", True),
    ("docs/guide.py", False),  # .keyturnignore: docs/ (a directory and everything in it)
    ("src/docs", True),  # a file named docs: docs/ names directories only
    ("build/out/deep/x.py", False),  # --exclude build/out/* (anchored at the scan root)
    ("lib/build/out/y.py", True),  # ... so not deeper down
    ("conf/prod.env", False),  # --exclude *.env matches any path component
    ("cfg.env/inner.py", False),  # ... a directory's name too
    ("node_modules/p/i.js", False),  # vendored
    ("notnode_modules/a.py", True),
    ("src/vendor/a.py", True),  # vendor/ without Go/Composer/Bundler files next to it
    ("Gemfile.lock", False),  # lock file
    ("web/app.min.js", False),  # minified by name
)


def test_one_path_rule_for_tree_history_and_staged_scans(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write(".keyturnignore", "docs/\n")
    for rel, _ in _TRICKY:
        git_repo.write(rel, f'T = "{fakes.github()}"\n')
    git_repo.write(".tox/py/conf.py", f'T = "{fakes.github()}"\n')  # committed by mistake
    git_repo.git("add", "-A")
    expected = sorted(rel for rel, scanned in _TRICKY if scanned)
    argv = [str(git_repo.path), "--exclude", "build/out/*", "--exclude", "*.env", "--format", "json"]

    def paths(*mode: str) -> list[str]:
        res = run_scan([*argv, *mode])
        assert res.code == 1, res.err
        return sorted({f["path"] for f in json.loads(res.out)["findings"]})

    # --staged applies the same globs; it does not skip tracked files in .tox/, __pycache__/…
    assert paths("--staged") == sorted([*expected, ".tox/py/conf.py"])
    git_repo.git("commit", "-q", "-m", "tricky paths")
    assert paths() == expected
    assert paths("--history") == expected
