"""Pacing and retries: GitHub's primary/secondary limits, retry-after, 5xx backoff (virtual time)."""

from __future__ import annotations

import threading

import pytest

from keyturn._internal.github_pacing import Pacing, Scheduler, is_secondary_limit_message
from keyturn.errors import ExitCode, ServiceError, TargetFailed, UsageError, exit_code_for
from keyturn.targets.github import GitHubOrgSecretTarget, GitHubRepoSecretTarget
from tests.fakes.github_api import PRIMARY_MESSAGE
from tests.github.conftest import VirtualClock, entry, make_session


def test_pygithub_throttles_and_retries_are_set_deliberately(session):
    kwargs = session.github.requester.kwargs
    assert kwargs["seconds_between_requests"] == 0
    assert kwargs["seconds_between_writes"] == 0
    assert kwargs["retry"] == 0
    pacing = session.scheduler.pacing
    assert pacing == Pacing()
    assert (pacing.min_write_interval, pacing.points_per_minute, pacing.concurrency) == (1.0, 810, 4)
    assert (pacing.retry_seconds, pacing.max_retries) == (120.0, None)  # bounded by time, not count


def test_pacing_from_env(fake, vclock):
    s = make_session(
        fake,
        vclock,
        KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0.25",
        KEYTURN_GITHUB_MAX_RETRIES="2",
        KEYTURN_GITHUB_POINTS_PER_MINUTE="600",
        KEYTURN_GITHUB_CONCURRENCY="16",
        KEYTURN_GITHUB_RETRY_SECONDS="30",
    )
    p = s.scheduler.pacing
    assert (p.min_write_interval, p.max_retries, p.points_per_minute, p.concurrency, p.retry_seconds) == (
        0.25,
        2,
        600,
        16,
        30.0,
    )
    for bad in (
        {"KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "-1"},
        {"KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "nan"},
        {"KEYTURN_GITHUB_MAX_RETRIES": "2.5"},
        {"KEYTURN_GITHUB_MAX_RETRIES": "many"},
        {"KEYTURN_GITHUB_POINTS_PER_MINUTE": "4"},
        {"KEYTURN_GITHUB_POINTS_PER_MINUTE": "800.5"},
        {"KEYTURN_GITHUB_CONCURRENCY": "0"},
        {"KEYTURN_GITHUB_CONCURRENCY": "101"},
        {"KEYTURN_GITHUB_RETRY_SECONDS": "inf"},
    ):
        with pytest.raises(UsageError):
            make_session(fake, vclock, **bad)


def test_writes_are_one_second_apart_reads_are_not_delayed(fake, session, vclock):
    targets = [GitHubRepoSecretTarget(session, "acme/api", environment=e) for e in ("staging", "production")]
    targets += [GitHubRepoSecretTarget(session, r) for r in ("acme/api", "acme/worker")]
    for t in targets:
        t.write([entry("TOKEN", "paced-value")])
    assert session.scheduler.writes == 4
    assert session.scheduler.slept == pytest.approx(3.0)  # 4 writes, 1 s apart; key GETs free
    assert len(fake.log) == 8  # 4 scopes: key + PUT each


def test_points_budget_limits_unpaced_writes():
    vc = VirtualClock()
    sched = Scheduler(Pacing(min_write_interval=0), clock=vc.clock, wall=vc.wall, sleep=vc.sleep)
    for _ in range(162):  # 162 writes x 5 points = the planned 810-point minute (90 % of 900)
        sched.acquire("PUT")
        sched.release()
    assert vc.now == 0
    sched.acquire("PUT")
    sched.release()
    assert vc.now == pytest.approx(65.0)  # 60 s + the 5 s arrival-jitter margin
    sched.acquire("GET")  # the first slot of the old window freed 5 points
    sched.release()
    assert vc.now == pytest.approx(65.0)  # 60 s + the 5 s arrival-jitter margin


def test_concurrency_cap():
    sched = Scheduler(Pacing(min_write_interval=0, concurrency=2))
    sched.acquire("GET")
    sched.acquire("GET")
    third = threading.Event()
    worker = threading.Thread(target=lambda: (sched.acquire("GET"), third.set()))
    worker.start()
    assert not third.wait(0.1)
    sched.release()
    assert third.wait(2)
    worker.join()


@pytest.mark.parametrize("status", [403, 429])
def test_retry_after_is_honoured(fake, session, vclock, status):
    fake.inject(r"/secrets/TOKEN$", status, times=2, method="PUT", headers={"retry-after": "1"})
    report = GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "after-limit")])
    assert fake.value("acme/api", "TOKEN") == "after-limit"
    assert fake.writes == 1
    assert report.retries == 2 and report.requests == 4
    assert vclock.sleeps == [pytest.approx(1.0), pytest.approx(1.0)]


def test_secondary_limit_from_body_waits_a_minute_then_longer(fake, session, vclock):
    fake.inject(r"/secrets/TOKEN$", 403, times=2, method="PUT")  # secondary message, no headers
    report = GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "secondary")])
    assert report.retries == 2
    assert vclock.sleeps == [pytest.approx(60.0), pytest.approx(120.0)]
    assert fake.value("acme/api", "TOKEN") == "secondary"


def test_a_limit_pauses_every_request_of_the_session():
    vc = VirtualClock()
    sched = Scheduler(Pacing(), clock=vc.clock, wall=vc.wall, sleep=vc.sleep)
    decision = sched.decide(429, {"retry-after": "7"}, "", attempt=0)
    assert decision.retry and decision.pause_all
    sched.acquire("GET")  # any other caller, even a read, waits out the pause
    sched.release()
    assert vc.sleeps == [pytest.approx(7.0)]


def test_429_without_headers_or_known_text_still_backs_off(fake, session, vclock):
    fake.inject(r"/actions/secrets/public-key$", 429, times=1, body={"message": "Too Many Requests"})
    GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "x-value-1")])
    assert fake.value("acme/api", "TOKEN") == "x-value-1"


def test_primary_limit_waits_for_reset_without_a_doomed_request(fake, session, vclock):
    fake.clock = vclock.wall
    fake.rate_remaining, fake.rate_reset_in = 1, 30.0
    GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "primary-value")])
    assert [r.status for r in fake.log] == [200, 201]  # never a 403
    assert vclock.now >= 30.0
    assert fake.value("acme/api", "TOKEN") == "primary-value"


def test_primary_limit_403_is_retried_after_reset(fake, session, vclock):
    fake.clock = vclock.wall
    fake.rate_remaining, fake.rate_reset_in = 0, 5.0
    report = GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "primary-403")])
    assert fake.log[0].status == 403 and report.retries == 1
    assert fake.value("acme/api", "TOKEN") == "primary-403"


def test_primary_reset_too_far_away_fails_fast(fake, session, vclock):
    fake.clock = vclock.wall
    fake.rate_remaining, fake.rate_reset_in = 0, 3600.0
    with pytest.raises(ServiceError) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "never-sent")])
    assert "re-run later" in str(info.value)
    assert exit_code_for(info.value) is ExitCode.SERVICE


def test_5xx_backoff_is_exponential_with_jitter(fake, vclock):
    session = make_session(fake, vclock, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0")  # sleeps = backoffs only
    fake.inject(r"/public-key$", 500, times=1)
    fake.inject(r"/secrets/TOKEN$", 502, times=2, method="PUT")
    report = GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "after-5xx")])  # pragma: allowlist secret
    assert report.retries == 3 and report.requests == 5
    assert fake.value("acme/api", "TOKEN") == "after-5xx" and fake.writes == 1
    first, put1, put2 = vclock.sleeps
    assert 0.5 <= first <= 1.0 and 0.5 <= put1 <= 1.0 and 1.0 <= put2 <= 2.0


def test_retry_time_spent_names_target(fake, vclock):
    session = make_session(fake, vclock, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0")  # sleeps = backoffs only
    fake.inject(r"/secrets/TOKEN$", 503, times=None, method="PUT")
    target = GitHubOrgSecretTarget(session, "acme")
    with pytest.raises(TargetFailed) as info:
        target.write([entry("TOKEN", "lost-cause")])
    retries = info.value.retries
    msg = str(info.value)
    assert msg.startswith(
        f"github-org:acme: HTTP 503 on PUT /orgs/acme/actions/secrets/TOKEN after {retries} retries in "
    )
    # Backoff 1, 2, 4, ... s (equal jitter, cap 60 s) until 120 s would be exceeded: never more.
    assert 6 <= retries <= 8 and sum(vclock.sleeps) <= 120.0
    assert info.value.requests == 1 + retries + 1  # key + every PUT attempt
    assert exit_code_for(info.value) is ExitCode.SERVICE


def test_six_failures_in_a_row_within_the_time_budget_are_still_written(fake, vclock):
    session = make_session(fake, vclock)
    fake.inject(r"/secrets/TOKEN$", 502, times=3, method="PUT")
    fake.inject(r"/secrets/TOKEN$", 429, times=2, method="PUT", headers={"retry-after": "2"})
    fake.inject(r"/secrets/TOKEN$", 500, times=1, method="PUT")
    report = GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "seventh-time")])
    assert report.retries == 6 and fake.writes == 1
    assert [r.status for r in fake.requests("PUT")] == [502, 502, 502, 429, 429, 500, 201]
    assert fake.value("acme/api", "TOKEN") == "seventh-time"


def test_max_retries_is_an_optional_cap(fake, vclock):
    session = make_session(fake, vclock, KEYTURN_GITHUB_MAX_RETRIES="2")
    fake.inject(r"/secrets/TOKEN$", 502, times=3, method="PUT")
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "capped-value")])
    assert info.value.retries == 2 and "after 2 retries" in str(info.value)


def test_limit_waits_are_bounded_by_max_wait(fake, vclock):
    session = make_session(fake, vclock)
    fake.inject(r"/secrets/TOKEN$", 429, times=None, method="PUT", headers={"retry-after": "100"})
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "never-lands")])
    assert info.value.retries == 9  # 9 x 100 s = the 900 s limit-wait budget; the 10th would exceed it
    assert vclock.now == pytest.approx(900.0, abs=2.0)


def test_one_retry_after_beyond_max_wait_fails_that_target_with_its_label(fake, vclock):
    """A single retry-after longer than the whole limit-wait budget ends the target's
    retries like any exhausted budget: a TargetFailed naming the target, not a bare error."""
    session = make_session(fake, vclock)
    fake.inject(r"/secrets/TOKEN$", 429, times=None, method="PUT", headers={"retry-after": "1000"})
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "never-lands")])
    assert "acme/api" in str(info.value) and info.value.retries == 0
    assert vclock.now < 900, "nothing slept for a wait that cannot fit"


def test_plain_403_is_permanent(fake, session):
    fake.inject(
        r"/secrets/TOKEN$",
        403,
        times=None,
        method="PUT",
        body={"message": "Resource not accessible by integration"},
    )
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "forbidden")])
    assert "permission denied" in str(info.value) and "Resource not accessible" in str(info.value)
    assert "Secrets: write" in str(info.value)
    assert len(fake.requests("PUT")) == 1


def test_connection_errors_are_retried_then_fail(vclock):
    import socket

    from keyturn._internal.github_client import GitHubSession

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    session = GitHubSession.from_env(
        {
            "GITHUB_TOKEN": "t",
            "GITHUB_API_URL": f"http://127.0.0.1:{port}",
            "KEYTURN_GITHUB_MAX_RETRIES": "2",
        },
        sleep=vclock.sleep,
        clock=vclock.clock,
        wall=vclock.wall,
    )
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "unreachable")])
    assert "connection failed" in str(info.value) and "after 2 retries" in str(info.value)


def test_secondary_limit_messages():
    assert is_secondary_limit_message(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    )
    assert is_secondary_limit_message("You have triggered an abuse detection mechanism.")
    assert not is_secondary_limit_message(PRIMARY_MESSAGE)
    assert not is_secondary_limit_message("Resource not accessible by integration")
