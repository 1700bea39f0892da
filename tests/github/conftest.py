"""Fixtures for the GitHub target tests: the fake GitHub API and a virtual clock.

Each test gets its own fake (a thread on a free 127.0.0.1 port, ~ms to start) with
``acme/api`` (environments staging, production), ``acme/worker`` and org ``acme``. The
session's scheduler runs on a virtual clock, so default pacing (1 s between writes,
60 s secondary-limit waits) costs no real time and the waits can be asserted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from keyturn._internal.github_client import GitHubSession
from keyturn.targets.base import Entry
from keyturn.values import SecretValue
from tests.fakes.github_api import FakeGitHub


class VirtualClock:
    """Monotonic + wall clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.base = time.time()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.base + self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def vclock() -> VirtualClock:
    return VirtualClock()


def make_session(fake: FakeGitHub, vclock: VirtualClock, **env: str) -> GitHubSession:
    environ = {"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, **env}
    return GitHubSession.from_env(environ, sleep=vclock.sleep, clock=vclock.clock, wall=vclock.wall)


@pytest.fixture
def session(fake: FakeGitHub, vclock: VirtualClock) -> GitHubSession:
    return make_session(fake, vclock)


def secret(text: str) -> SecretValue:
    return SecretValue(text, mask=False)


def entry(name: str, text: str) -> Entry:
    return Entry(name, secret(text))


def second_floor() -> datetime:
    """Now, truncated to GitHub's whole-second ``updated_at`` resolution."""
    return datetime.now(UTC).replace(microsecond=0)
