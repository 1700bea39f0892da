"""The points budget against a fake that enforces GitHub's 900 points a minute on arrival.

Virtual time: the session's scheduler and the fake's clock are the same virtual clock,
so minutes of pacing cost milliseconds. Arrival times get up to 2 s of seeded network
jitter: unpaced, the scheduler releases a burst of points each time the previous burst
leaves its window, and a plan of exactly 60 s let late stragglers of one burst and the
start of the next land inside one of GitHub's 60 s windows.
"""

from __future__ import annotations

import random

from keyturn.targets.github import GitHubRepoSecretTarget
from tests.github.conftest import entry, make_session

TARGETS = 240  # 240 keys + 240 PUTs = 1,440 points: two minutes of budget, three windows


def _run(fake, vclock, jitter_seed: int | None, **env: str) -> list[GitHubRepoSecretTarget]:
    fake.points_per_minute = 900
    rng = random.Random(jitter_seed)
    if jitter_seed is None:
        fake.clock = vclock.wall
    else:
        fake.clock = lambda: vclock.wall() + rng.uniform(0.0, 2.0)
    session = make_session(fake, vclock, **env)
    targets = []
    for i in range(TARGETS):
        fake.add_repo(f"acme/r{i:03d}")
        targets.append(GitHubRepoSecretTarget(session, f"acme/r{i:03d}"))
    for t in targets:
        t.write([entry("BUDGET_TOKEN", "within-budget")])
    assert all(fake.value(t.repo, "BUDGET_TOKEN") == "within-budget" for t in targets)
    return targets


def test_default_budget_never_meets_the_secondary_limit(fake, vclock):
    _run(fake, vclock, jitter_seed=7, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0")  # the points budget alone
    assert fake.limited == 0
    assert {r.status for r in fake.log} == {200, 201}
    assert vclock.now > 60.0  # the budget, not luck: the run had to wait for the window


def test_default_pace_never_meets_the_secondary_limit(fake, vclock):
    _run(fake, vclock, jitter_seed=11)  # 1 s between writes + the points budget
    assert fake.limited == 0 and len(fake.log) == 2 * TARGETS


def test_the_fake_enforces_the_limit_on_arrival(fake, vclock):
    _run(fake, vclock, jitter_seed=None, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0",
         KEYTURN_GITHUB_POINTS_PER_MINUTE="100000")  # unpaced
    assert fake.limited > 0
    first = next(r for r in fake.log if r.status == 403)
    assert first.method in ("GET", "PUT")
