"""detect-secrets baseline compatibility, on a real temporary git repository."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.scan._support import Fakes, GitRepo, run_scan


def _ds_baseline(repo: GitRepo) -> Path:
    """A baseline written by detect-secrets itself (its CLI, in the repo)."""
    out = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "--all-files"],
        cwd=repo.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = repo.path / ".secrets.baseline"
    path.write_text(out)
    return path


def test_reads_detect_secrets_baseline(git_repo: GitRepo, fakes: Fakes) -> None:
    old = fakes.github()
    git_repo.write("app.py", f'token = "{old}"\n')
    git_repo.commit("old secret")
    baseline = _ds_baseline(git_repo)
    assert json.loads(baseline.read_text())["results"]  # detect-secrets saw it too
    res = run_scan([str(git_repo.path), "--baseline", str(baseline), "--format", "json"])
    assert res.code == 0, res.out + res.err
    doc = json.loads(res.out)
    assert doc["summary"]["findings"] == 1 and doc["summary"]["new_findings"] == 0
    git_repo.write("new.py", f'stripe = "{fakes.stripe()}"\n')
    res = run_scan([str(git_repo.path), "--baseline", str(baseline), "--format", "json"])
    assert res.code == 1
    assert json.loads(res.out)["summary"]["new_findings"] == 1


def test_writes_baseline_detect_secrets_can_read(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("a.py", f'token = "{fakes.github()}"\n')
    git_repo.write("b.env", f"DB_PASSWORD={fakes.password()}\n")
    baseline = git_repo.path / ".secrets.baseline"
    res = run_scan([str(git_repo.path), "--baseline", str(baseline), "--update-baseline"])
    assert res.code == 0, res.err
    data = json.loads(baseline.read_text())
    assert set(data["results"]) == {"a.py", "b.env"}
    entry = data["results"]["a.py"][0]
    assert entry["type"] == "GitHub Token" and len(entry["hashed_secret"]) == 40
    # detect-secrets accepts it: its audit/report loader reads it without error.
    from detect_secrets.core import baseline as ds_baseline

    secrets = ds_baseline.load(ds_baseline.load_from_file(str(baseline)), str(baseline))
    assert len(list(secrets)) == 2
    # and with it, the same tree is clean; the baseline file itself is never scanned
    assert run_scan([str(git_repo.path), "--baseline", str(baseline)]).code == 0


def test_update_keeps_audit_labels(git_repo: GitRepo, fakes: Fakes) -> None:
    git_repo.write("a.py", f'token = "{fakes.github()}"\n')
    baseline = git_repo.path / ".secrets.baseline"
    run_scan([str(git_repo.path), "--baseline", str(baseline), "--update-baseline"])
    data = json.loads(baseline.read_text())
    data["results"]["a.py"][0]["is_secret"] = False
    baseline.write_text(json.dumps(data))
    run_scan([str(git_repo.path), "--baseline", str(baseline), "--update-baseline"])
    assert json.loads(baseline.read_text())["results"]["a.py"][0]["is_secret"] is False


def test_bad_baseline_is_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text("not json")
    assert run_scan([str(tmp_path), "--baseline", str(bad)]).code == 2
