"""Fan-out over many GitHub targets: faults absorbed, one permanent failure named, resume after SIGKILL.

The engine owns the real fan-out and ledger; ``fan_out`` below is the minimal loop that
uses the target contract the same way (preflight all, skip current, write, record).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from keyturn.errors import DistributionFailed, ExitCode, TargetFailed, exit_code_for
from keyturn.targets.base import Entry, WriteReport
from keyturn.targets.github import GitHubOrgSecretTarget, GitHubRepoSecretTarget
from tests.github.conftest import entry, second_floor

ROOT = Path(__file__).resolve().parents[2]


def fan_out(targets: list[Any], entries: list[Entry], since: datetime | None = None) -> dict[str, Any]:
    for t in targets:
        t.preflight(entries)
    ledger: dict[str, Any] = {}
    for t in targets:
        if since is not None and t.is_current(entries, since=since):
            ledger[t.label] = "skipped"
            continue
        try:
            ledger[t.label] = t.write(entries)
        except TargetFailed as exc:
            ledger[t.label] = exc
    return ledger


def build_targets(fake, session, repos: int = 4) -> list[Any]:
    for i in range(repos):
        fake.add_repo(f"acme/svc{i}", environments=["staging", "production"])
    targets: list[Any] = [GitHubRepoSecretTarget(session, f"acme/svc{i}") for i in range(repos)]
    targets += [
        GitHubRepoSecretTarget(session, f"acme/svc{i}", environment=e)
        for i in range(repos)
        for e in ("staging", "production")
    ]
    targets += [
        GitHubRepoSecretTarget(session, "acme/svc0", dependabot=True),
        GitHubOrgSecretTarget(session, "acme", visibility="selected", repositories=["acme/svc1"]),
    ]
    return targets


def test_injected_faults_are_absorbed_without_a_lost_write(fake, session, vclock):
    targets = build_targets(fake, session)
    fake.inject(
        r"/svc1/actions/secrets/DB_PASSWORD$", 429, times=1, method="PUT", headers={"retry-after": "1"}
    )
    fake.inject(r"/svc2/environments/staging/secrets/DB_PASSWORD$", 403, times=2, method="PUT")
    fake.inject(r"/svc3/environments/production/secrets/public-key$", 502, times=2)
    fake.inject(r"/orgs/acme/actions/secrets/DB_PASSWORD$", 500, times=1, method="PUT")
    fake.inject(r"/svc0/dependabot/secrets/DB_PREVIOUS$", 503, times=1, method="PUT")
    entries = [entry("DB_PASSWORD", "n3w-p@ss/word+="), entry("DB_PREVIOUS", "old-p@ss/word+=")]
    ledger = fan_out(targets, entries)
    assert all(isinstance(r, WriteReport) for r in ledger.values()), ledger
    assert sum(r.retries for r in ledger.values()) == 7
    assert fake.writes == 2 * len(targets)  # every entry landed exactly once
    for t in targets:
        kind = {"environment": getattr(t, "environment", None), "dependabot": t.dependabot}
        owner = t.repo if isinstance(t, GitHubRepoSecretTarget) else t.org
        if isinstance(t, GitHubOrgSecretTarget):
            kind = {"dependabot": t.dependabot}
        assert fake.value(owner, "DB_PASSWORD", **kind) == "n3w-p@ss/word+=", t.label
        assert fake.value(owner, "DB_PREVIOUS", **kind) == "old-p@ss/word+=", t.label
    # one key fetch per scope (+ the 2 injected 502 retries), nothing else but writes and confirmations
    assert len(fake.requests("GET", r"/public-key$")) == len(targets) + 2


def test_permanent_404_fails_that_target_and_the_rest_are_recorded(fake, session):
    targets = build_targets(fake, session, repos=3)
    targets.insert(2, GitHubRepoSecretTarget(session, "acme/deleted-repo"))
    targets.insert(5, GitHubRepoSecretTarget(session, "acme/svc1", environment="qa"))
    ledger = fan_out(targets, [entry("API_KEY", "value-for-all")])
    failed = [(label, r) for label, r in ledger.items() if isinstance(r, TargetFailed)]
    assert [label for label, _ in failed] == ["github:acme/deleted-repo", "github:acme/svc1@env:qa"]
    assert all(
        isinstance(r, WriteReport) and r.confirmed_at
        for label, r in ledger.items()
        if label not in dict(failed)
    )
    assert fake.writes == len(targets) - 2
    err = DistributionFailed("API_KEY", [(label, str(exc.message)) for label, exc in failed])
    assert exit_code_for(err) is ExitCode.SERVICE
    assert "github:acme/deleted-repo" in str(err) and "github:acme/svc1@env:qa" in str(err)
    assert "HTTP 404" in str(err) and "\n" not in str(err)


CHILD = r"""
import json, os, sys
from datetime import datetime
from keyturn._internal.github_client import GitHubSession
from keyturn.targets.base import Entry
from keyturn.targets.github import GitHubRepoSecretTarget
from keyturn.values import SecretValue

session = GitHubSession.from_env(os.environ)
since = datetime.fromisoformat(os.environ["ROTATION_SINCE"])
entries = [Entry("SHARED_TOKEN", SecretValue(os.environ["ROTATION_VALUE"], mask=False))]
targets = [GitHubRepoSecretTarget(session, r) for r in os.environ["ROTATION_REPOS"].split(",")]
for t in targets:
    t.preflight(entries)
for t in targets:
    if t.is_current(entries, since=since):
        print(json.dumps({"target": t.label, "result": "skipped"}), flush=True)
        continue
    report = t.write(entries)
    print(json.dumps({"target": t.label, "result": "written", "requests": report.requests}), flush=True)
"""


def _child(fake, repos: list[str], since: datetime, value: str) -> subprocess.Popen[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KEYTURN_"))},
        "GITHUB_TOKEN": fake.token,
        "GITHUB_API_URL": fake.url,
        "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "ROTATION_SINCE": since.isoformat(),
        "ROTATION_VALUE": value,
        "ROTATION_REPOS": ",".join(repos),
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=env,
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_resume_after_sigkill_mid_fan_out_writes_only_the_remainder(fake):
    repos = [f"acme/r{i}" for i in range(10)]
    for r in repos:
        fake.add_repo(r)
    since, value, kill_after = second_floor(), "resume-value-0123456789", 4
    fake.hold_writes_after(kill_after)
    first = _child(fake, repos, since, value)
    try:
        assert fake.wait_for_writes(kill_after, timeout=20)
        deadline = time.monotonic() + 10
        while fake.held == 0 and time.monotonic() < deadline:  # the 5th write is in flight
            time.sleep(0.01)
        assert fake.held == 1
        first.send_signal(signal.SIGKILL)
        out, err = first.communicate(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
        fake.release_writes()
    deadline = time.monotonic() + 10
    while not fake.requests("PUT", None) or fake.requests("PUT")[-1].status != 503:  # dropped write logged
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert first.returncode == -signal.SIGKILL
    assert fake.writes == kill_after
    assert value not in out + err

    fake.clear_log()
    second = _child(fake, repos, since, value)
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    assert [r["result"] for r in results] == ["skipped"] * kill_after + ["written"] * (10 - kill_after)
    assert len(fake.requests("PUT")) == 10 - kill_after  # only the remainder
    assert {r.path for r in fake.requests("PUT")} == {
        f"/repos/{r}/actions/secrets/SHARED_TOKEN" for r in repos[kill_after:]
    }
    assert all(fake.value(r, "SHARED_TOKEN") == value for r in repos)
    assert all(r["requests"] == 2 for r in results if r["result"] == "written")  # key + PUT
    assert value not in out + err

    fake.clear_log()  # a third run has nothing left to do: one read per target, no writes
    third = _child(fake, repos, since, value)
    out, _ = third.communicate(timeout=30)
    assert [json.loads(line)["result"] for line in out.splitlines()] == ["skipped"] * 10
    assert fake.requests("PUT") == [] and len(fake.log) == 10


@pytest.mark.parametrize("threads", [8])
def test_targets_can_share_a_session_across_threads(fake, session, threads):
    from concurrent.futures import ThreadPoolExecutor

    targets = build_targets(fake, session, repos=4)
    with ThreadPoolExecutor(threads) as pool:
        reports = list(pool.map(lambda t: t.write([entry("THREADED", "thread-value")]), targets))
    assert len(reports) == len(targets) and fake.writes == len(targets)
    assert len(fake.requests("GET", r"/public-key$")) == len(targets)  # still once per scope
    assert session.scheduler.slept >= len(targets) - 1 - 1e-6  # writes stay 1 s apart
