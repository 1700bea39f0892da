"""--diff BASE and --staged on real temporary git repositories; the pre-commit hook entry."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from keyturn.scan.gitmodes import parse_added_lines, unquote_path
from tests.scan._support import Fakes, GitRepo, run_scan

REPO_ROOT = Path(__file__).resolve().parents[2]


def _findings(res) -> list[tuple[str, int, str]]:  # type: ignore[no-untyped-def]
    return [(f["path"], f["line"], f["detector"]) for f in json.loads(res.out)["findings"]]


def test_diff_reports_only_added_lines(git_repo: GitRepo, fakes: Fakes) -> None:
    old = fakes.github()
    git_repo.write("app.py", f'OLD = "{old}"\nx = 1\n')
    git_repo.write("keep.py", "print('hi')\n")
    git_repo.commit("base with an old secret")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("app.py", f'OLD = "{old}"\nx = 2\nNEW = "{fakes.stripe()}"\n')
    git_repo.write("conf/new.env", f"DB_PASSWORD={fakes.password()}\n")
    git_repo.commit("feature adds secrets")
    res = run_scan([str(git_repo.path), "--diff", "main", "--format", "json"])
    assert res.code == 1, res.err
    assert _findings(res) == [("app.py", 3, "stripe-key"), ("conf/new.env", 1, "generic-secret")]
    # the full tree still has the old one
    full = run_scan([str(git_repo.path), "--format", "json"])
    assert ("app.py", 1, "github-token") in _findings(full)


def test_diff_uses_merge_base(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit("root")
    git_repo.git("checkout", "-q", "-b", "feature")
    git_repo.write("b.py", "y = 2\n")
    git_repo.commit("feature, clean")
    git_repo.git("checkout", "-q", "main")
    git_repo.write("main_only.py", f'T = "{fakes.github()}"\n')
    git_repo.commit("main moves on with a secret")
    git_repo.git("checkout", "-q", "feature")
    assert run_scan([str(git_repo.path), "--diff", "main"]).code == 0


def test_diff_clean_and_bad_base(git_repo: GitRepo) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit()
    git_repo.write("a.py", "x = 2\n")
    assert run_scan([str(git_repo.path), "--diff", "HEAD"]).code == 0
    res = run_scan([str(git_repo.path), "--diff", "no-such-branch"])
    assert res.code == 2 and "git" in res.err


def test_diff_outside_git_is_usage_error(tmp_path: Path) -> None:
    assert run_scan([str(tmp_path), "--diff", "main"]).code == 2


def test_staged_scans_index_not_worktree(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit()
    git_repo.write("a.py", f'x = 1\nT = "{fakes.github()}"\n')
    git_repo.write("untracked.py", f'S = "{fakes.stripe()}"\n')
    assert run_scan([str(git_repo.path), "--staged"]).code == 0  # nothing staged yet
    git_repo.git("add", "a.py")
    res = run_scan([str(git_repo.path), "--staged", "--format", "json"])
    assert res.code == 1 and _findings(res) == [("a.py", 2, "github-token")]
    # unstage-by-edit: the worktree copy is cleaned, the index still holds the secret
    git_repo.write("a.py", "x = 1\n")
    assert run_scan([str(git_repo.path), "--staged"]).code == 1


def test_staged_respects_pragma_and_baseline(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("a.py", f'T = "{fakes.github()}"  # pragma: allowlist secret\n')
    git_repo.git("add", "a.py")
    assert run_scan([str(git_repo.path), "--staged"]).code == 0


def test_subdirectory_scans_report_repo_relative_paths(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("services/api/app.py", "x = 1\n")
    git_repo.write("other/b.py", "y = 1\n")
    git_repo.commit()
    git_repo.write("services/api/app.py", f'x = 1\nT = "{fakes.github()}"\n')
    git_repo.write("other/b.py", f'y = 1\nS = "{fakes.stripe()}"\n')
    sub = str(git_repo.path / "services" / "api")
    for argv in ([sub], [sub, "--diff", "HEAD"], [str(git_repo.path / "services/api/app.py")]):
        res = run_scan([*argv, "--format", "json"])
        assert _findings(res) == [("services/api/app.py", 2, "github-token")], argv


def test_parse_added_lines() -> None:
    diff = (
        "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,0 +2,3 @@\n+a\n+b\n+c\n"
        "@@ -10 +12 @@\n-z\n+y\n"
        "diff --git a/gone.py b/gone.py\n--- a/gone.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
    )
    assert parse_added_lines(diff) == {"x.py": {2, 3, 4, 12}}


def test_pre_commit_hook_entry() -> None:
    hooks = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    [hook] = [h for h in hooks if h["id"] == "keyturn-scan"]
    assert hook["entry"] == "keyturn scan --staged"
    assert hook["pass_filenames"] is False and hook["language"] == "python"


def test_diff_scans_files_whose_names_git_quotes(git_repo: GitRepo, fakes: Fakes) -> None:
    """A quoted name (newline, quote, non-ASCII) used to be skipped by --diff: a way around the gate."""
    git_repo.write("a.py", "x = 1\n")
    git_repo.commit()
    names = ["notes\n::warning::x.py", 'say "hi".py', "tab\there.py", "café.py"]
    for name in names:
        git_repo.write(name, f'T = "{fakes.github()}"\n')
    for argv in (["--diff", "HEAD"], ["--staged"]):
        git_repo.git("add", "-A")
        res = run_scan([str(git_repo.path), *argv, "--format", "json"])
        assert sorted(p for p, _, _ in _findings(res)) == sorted(names), argv


def test_parse_added_lines_reads_plus_plus_content_as_content() -> None:
    diff = (
        'diff --git a/x.py b/x.py\n--- a/x.py\n+++ "b/we\\nird \\"q\\" \\303\\251.py"\n@@ -0,0 +1,2 @@\n'
        "+++ not a header\n+--- nor this\n"
        "diff --git a/y.py b/y.py\n--- a/y.py\n+++ b/y.py\n@@ -3 +3 @@\n-a\n+b\n"
    )
    assert parse_added_lines(diff) == {'we\nird "q" é.py': {1, 2}, "y.py": {3}}
    assert unquote_path("plain.py") == "plain.py"
    assert unquote_path('"\\346\\227\\245.txt"') == "日.txt"
