"""write_ordered: many targets in flight at once, results in input order, errors per job."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from keyturn.errors import TargetFailed
from keyturn.targets.base import Entry, WriteReport
from keyturn.targets.batch import WriteJob, in_flight_for, write_ordered
from keyturn.targets.github import GitHubOrgSecretTarget, GitHubRepoSecretTarget
from tests.github.conftest import entry, make_session


class SlowTarget:
    """A target without ``max_in_flight`` (like a file): must never run beside another one."""

    running = 0
    overlap = False
    lock = threading.Lock()

    def __init__(self, label: str, delay: float) -> None:
        self.label, self.delay, self.written = label, delay, False

    def preflight(self, entries: Sequence[Entry]) -> None:
        pass

    def write(self, entries: Sequence[Entry]) -> WriteReport:
        with SlowTarget.lock:
            SlowTarget.running += 1
            SlowTarget.overlap = SlowTarget.overlap or SlowTarget.running > 1
        time.sleep(self.delay)
        with SlowTarget.lock:
            SlowTarget.running -= 1
        self.written = True
        return WriteReport(requests=0)

    def delete(self, names: Sequence[str]) -> WriteReport:
        return WriteReport(details={"deleted": ",".join(names)})

    def is_current(self, entries: Sequence[Entry], *, since: Any) -> bool:
        return False


def test_concurrent_writes_come_back_in_input_order(fake, vclock):
    fake.latency = 0.03
    session = make_session(fake, vclock, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0", KEYTURN_GITHUB_CONCURRENCY="8")
    repos = [f"acme/c{i:02d}" for i in range(24)]
    for r in repos:
        fake.add_repo(r)
    fake.add_repo("acme/x")
    targets: list[Any] = [GitHubRepoSecretTarget(session, r) for r in repos]
    targets.insert(5, GitHubRepoSecretTarget(session, "acme/gone"))  # 404: an error in its slot
    targets.insert(9, SlowTarget("file:a.env", 0.05))
    targets.insert(10, SlowTarget("file:b.env", 0.01))
    jobs = [WriteJob(t, [entry("ORDERED", "in-order-value")], ("ORDERED_OLD",)) for t in targets]
    assert in_flight_for(jobs) == 8
    results = list(write_ordered(jobs))
    assert [r.job.target.label for r in results] == [t.label for t in targets]
    assert [r.index for r in results] == list(range(len(targets)))
    assert [r.ok for r in results].count(False) == 1
    bad = results[5]
    assert isinstance(bad.error, TargetFailed) and bad.error.target == "github:acme/gone"
    assert all(r.report is not None and r.deleted is not None for r in results if r.ok)
    assert all(fake.value(r, "ORDERED") == "in-order-value" for r in repos)
    assert 2 <= fake.peak_in_flight <= 8  # really concurrent, never above the setting
    assert not SlowTarget.overlap and all(t.written for t in targets if isinstance(t, SlowTarget))
    # still the floor: one key per scope (the 404 scope too), one PUT per target
    assert len(fake.requests("GET", r"/public-key$")) == len(repos) + 1
    assert len(fake.requests("PUT")) == len(repos)


def test_one_in_flight_is_the_serial_loop(fake, vclock):
    session = make_session(fake, vclock, KEYTURN_GITHUB_CONCURRENCY="1")
    targets = [GitHubRepoSecretTarget(session, "acme/api"), GitHubRepoSecretTarget(session, "acme/worker")]
    seen: list[str] = []
    for result in write_ordered([WriteJob(t, [entry("SERIAL", "serial-value")]) for t in targets]):
        seen.append(result.job.target.label)
        # nothing ahead of the consumer: the next target is not written yet
        assert fake.writes == len(seen)
    assert seen == ["github:acme/api", "github:acme/worker"]
    assert list(write_ordered([])) == []


def test_closing_early_cancels_jobs_not_started(fake, vclock):
    fake.latency = 0.02
    session = make_session(fake, vclock, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0", KEYTURN_GITHUB_CONCURRENCY="2")
    repos = [f"acme/k{i:02d}" for i in range(30)]
    for r in repos:
        fake.add_repo(r)
    results = write_ordered([WriteJob(GitHubRepoSecretTarget(session, r), [entry("EARLY", "v-early1")]) for r in repos])
    first = next(results)
    assert first.ok
    results.close()  # e.g. the engine was told to stop
    written = fake.writes
    time.sleep(0.2)
    assert fake.writes == written < len(repos)  # nothing more is sent once closed


def test_selected_repository_ids_are_looked_up_once_under_concurrency(fake, vclock):
    fake.latency = 0.02
    session = make_session(fake, vclock, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0", KEYTURN_GITHUB_CONCURRENCY="8")
    orgs = [f"org{i}" for i in range(8)]
    for org in orgs:
        fake.add_org(org)
    targets = [
        GitHubOrgSecretTarget(session, org, visibility="selected", repositories=["acme/api", "acme/worker"])
        for org in orgs
    ]
    results = list(write_ordered([WriteJob(t, [entry("ORG_SHARED", "shared-org-value")]) for t in targets]))
    assert all(r.ok for r in results)
    assert sorted(r.path for r in fake.requests("GET", r"^/repos/[^/]+/[^/]+$")) == [
        "/repos/acme/api",
        "/repos/acme/worker",
    ]
    assert len(fake.log) == 2 * len(orgs) + 2  # key + PUT per org, each repository id once
