"""``keyturn changelog-pr`` against the local GitHub fake, with real rotations on OpenBao.

Each "run" is a fresh runner: the workspace's logs/ is wiped (what a runner loses) and
restored from the default branch (what a checkout brings). Over three runs the audit
chain continues from the head on the PR branch or the default branch, ten rotations make
one pull request (updated in place), no diff makes no PR, and `keyturn audit verify`
passes on the merged file. No value reaches a file, commit message, PR body or output.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyturn.values import derived_forms
from tests.fakes.github_repo import FakeGitHubRepos
from tests.invariants_support import Workspace

REPO_NAME = "acme/app"
LOG = "logs/audit.jsonl"


@pytest.fixture
def gh() -> Iterator[FakeGitHubRepos]:
    with FakeGitHubRepos() as fake:
        fake.seed(REPO_NAME, {"README.md": b"# app\n"})
        yield fake


def gh_env(gh: FakeGitHubRepos, ws: Workspace, **extra: str) -> dict[str, str]:
    return {"GITHUB_REPOSITORY": REPO_NAME, "GITHUB_TOKEN": gh.token, "GITHUB_API_URL": gh.url,
            "GITHUB_WORKSPACE": str(ws.root), "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0", **extra}


def new_runner(ws: Workspace, gh: FakeGitHubRepos) -> None:
    """Forget the runner's logs; check out the default branch's copy of them."""
    shutil.rmtree(ws.root / "logs", ignore_errors=True)
    for path, raw in gh.files(REPO_NAME, "main").items():
        if path.startswith("logs/"):
            (ws.root / path).parent.mkdir(parents=True, exist_ok=True)
            (ws.root / path).write_bytes(raw)


def changelog(ws: Workspace, gh: FakeGitHubRepos, *args: str, expect: int = 0) -> dict[str, object]:
    r = ws.run("changelog-pr", "--format", "json", *args, env=gh_env(gh, ws))
    assert r.returncode == expect, r.stderr
    ws.outputs.append(r.stdout + r.stderr)  # type: ignore[attr-defined]
    return json.loads(r.stdout) if expect == 0 else {"stderr": r.stderr}


def records(raw: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def test_three_runs_one_rolling_pr_and_a_continuous_chain(tmp_path: Path, openbao, gh) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    ws.outputs = []  # type: ignore[attr-defined]
    values: set[str] = set()

    def rotate() -> None:
        assert ws.rotate().returncode == 0
        values.update(ws.target_values())

    # Run 1: a fresh repository; two rotations, then the PR is created.
    rotate()
    rotate()
    first = changelog(ws, gh)
    assert first["operation"] == "created" and first["number"] == 1
    on_branch = gh.files(REPO_NAME, "keyturn/rotations")
    local_count = len(records((ws.root / LOG).read_bytes()))
    assert len(records(on_branch[LOG])) == local_count == first["records_carried"]
    assert "SECURITY-CHANGELOG.md" in on_branch
    assert sum(p.startswith("logs/evidence/") for p in on_branch) == 4  # 2 rotations x (json + md)
    # Nothing new: no commit, no PR, operation none.
    commits = len(gh.commits)
    again = changelog(ws, gh)
    assert again["operation"] == "none" and again["number"] == 1 and len(gh.commits) == commits

    # Run 2: a new runner; the chain starts from the head on the PR branch.
    new_runner(ws, gh)
    assert not (ws.root / LOG).exists()  # main has no log yet: the PR is not merged
    r = ws.run("changelog-pr", "--fetch-log", env=gh_env(gh, ws))
    assert r.returncode == 0, r.stderr
    assert (ws.root / LOG).read_bytes() == on_branch[LOG]
    rotate()
    second = changelog(ws, gh)
    assert second["operation"] == "updated" and second["number"] == 1
    assert len(gh.open_pulls(REPO_NAME)) == 1
    # The updated body covers everything on the branch, evidence of run 1 included.
    body = gh.open_pulls(REPO_NAME)[0].body
    assert body.count("](https://github.com/acme/app/blob/keyturn/rotations/logs/evidence/") == 3 and body.count("| completed |") == 3
    merged_two = records(gh.files(REPO_NAME, "keyturn/rotations")[LOG])
    assert merged_two[: len(records(on_branch[LOG]))] == records(on_branch[LOG])
    # The chain was extended, not rewritten: the fetched head is the new records' parent.
    assert (ws.root / LOG).read_bytes() == gh.files(REPO_NAME, "keyturn/rotations")[LOG]

    gh.merge(REPO_NAME, 1)

    # Run 3: merged; a new runner whose own log starts empty (no fetch): re-chained onto main.
    new_runner(ws, gh)
    shutil.rmtree(ws.root / "logs")
    rotate()
    assert records((ws.root / LOG).read_bytes())[0]["seq"] == 1  # a fresh chain on the runner
    third = changelog(ws, gh)
    assert third["operation"] == "created" and third["number"] == 2
    gh.merge(REPO_NAME, 2)

    final = gh.files(REPO_NAME, "main")
    out = tmp_path / "merged.jsonl"
    out.write_bytes(final[LOG])
    verify = ws.run("audit", "verify", "--log", str(out), "--expect-head", str(third["audit_head"]))
    assert verify.returncode == 0, verify.stderr
    merged = records(final[LOG])
    assert [r["seq"] for r in merged] == list(range(1, len(merged) + 1))
    completes = [r for r in merged if r["event"] == "rotation.complete"]
    assert len(completes) == 4 and len({r["rotation_id"] for r in completes}) == 4
    # Evidence anchors name digests that exist in the merged chain (renamed when re-chained).
    digests = {r["digest"] for r in merged}
    evidence = [json.loads(raw) for p, raw in final.items() if p.startswith("logs/evidence/") and p.endswith(".json")]
    assert len(evidence) == 4 and all(e["audit_head"] in digests for e in evidence)
    text = final["SECURITY-CHANGELOG.md"].decode()
    assert text.count("<!-- keyturn:entry ") == 4 and text.startswith("# Security changelog")
    for e in evidence:
        assert e["rotation_id"] in text

    # I5: no value in any file, commit message, PR body or output.
    assert len(values) >= 4
    haystack = [raw.decode() for c in gh.commits.values() for raw in c.files.values()]
    haystack += [c.message for c in gh.commits.values()]
    haystack += [p.body + p.title for p in gh.pulls[REPO_NAME]]
    haystack += ws.outputs  # type: ignore[attr-defined]
    for value in values:
        for form in derived_forms(value):
            assert not any(form in text for text in haystack)


def test_pr_body_names_versions_targets_checks_and_evidence(tmp_path: Path, openbao, gh) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    ws.outputs = []  # type: ignore[attr-defined]
    assert ws.rotate().returncode == 0
    assert ws.rotate().returncode == 0
    out = changelog(ws, gh)
    (pull,) = gh.open_pulls(REPO_NAME)
    version = ws.current_version()
    assert f"{version - 1} → {version}" in pull.body and "| completed |" in pull.body
    assert "verify ok (1 check(s))" in pull.body and "smoke ok" in pull.body
    assert "logs/evidence/" in pull.body and f"--expect-head {out['audit_head']}" in pull.body
    message = [c.message for c in gh.commits.values() if c.message.startswith("keyturn: audit log")]
    assert message and "file:" in message[0] and f"{version - 1} → {version}" in message[0]


def test_dry_run_writes_nothing(tmp_path: Path, openbao, gh) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    ws.outputs = []  # type: ignore[attr-defined]
    assert ws.rotate().returncode == 0
    commits = len(gh.commits)
    plan = changelog(ws, gh, "--dry-run")
    assert plan["operation"] == "created" and plan["dry_run"] is True
    assert LOG in plan["files"]  # type: ignore[operator]
    text = ws.run("changelog-pr", "--dry-run", env=gh_env(gh, ws))
    assert text.returncode == 0 and text.stdout.startswith("changelog-pr: would be created — branch keyturn/rotations")
    assert len(gh.commits) == commits and not gh.open_pulls(REPO_NAME)
    assert "keyturn/rotations" not in gh.branches[REPO_NAME]
    assert not gh.requests("PUT") and not gh.requests("POST") and not gh.requests("PATCH")


def test_actions_not_permitted_to_create_prs_names_the_fix(tmp_path: Path, openbao, gh) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    ws.outputs = []  # type: ignore[attr-defined]
    assert ws.rotate().returncode == 0
    gh.inject(r"/pulls$", 403, method="POST", body={
        "message": "GitHub Actions is not permitted to create or approve pull requests.",
        "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"})
    err = str(changelog(ws, gh, expect=2)["stderr"])
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Allow GitHub Actions to create and approve pull requests" in lines[0]
    assert "permission-pull-requests: write" in lines[0]
    # The commits are on the branch; the re-run (after the fix) only opens the PR.
    again = changelog(ws, gh)
    assert again["operation"] == "created" and again["files"] == []


def test_403_names_the_missing_permission(tmp_path: Path, openbao, gh) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    ws.outputs = []  # type: ignore[attr-defined]
    assert ws.rotate().returncode == 0
    gh.inject(r"/contents/", 403, method="PUT", body={"message": "Resource not accessible by integration"})
    err = str(changelog(ws, gh, expect=2)["stderr"])
    assert "Contents: write" in err and "contents: write" in err and len(err.strip().splitlines()) == 1


def test_a_tampered_remote_log_is_refused(tmp_path: Path, openbao, gh) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    ws.outputs = []  # type: ignore[attr-defined]
    assert ws.rotate().returncode == 0
    changelog(ws, gh)
    gh.merge(REPO_NAME, 1)
    main = gh.files(REPO_NAME, "main")
    lines = main[LOG].splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"rotation.', b'"rotation.x')
    gh._commit(REPO_NAME, "main", {**main, LOG: b"".join(lines)}, "tamper", None)
    assert ws.rotate().returncode == 0
    err = str(changelog(ws, gh, expect=1)["stderr"])
    assert "line 2" in err and "refusing to extend" in err


def test_usage_errors_are_one_line(tmp_path: Path, openbao, gh) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    r = ws.run("changelog-pr")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "GITHUB_REPOSITORY" in r.stderr
    r = ws.run("changelog-pr", env={"GITHUB_REPOSITORY": REPO_NAME, "GITHUB_API_URL": gh.url})
    assert r.returncode == 2 and "no credentials" in r.stderr and r.stderr.strip().count("\n") == 0
    r = ws.run("changelog-pr", env=gh_env(gh, ws, GITHUB_REPOSITORY="acme/missing"))
    assert r.returncode == 2 and "github:acme/missing: repository not found" in r.stderr and r.stderr.strip().count("\n") == 0
