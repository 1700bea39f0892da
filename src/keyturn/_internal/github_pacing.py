"""Pacing and retry decisions for GitHub REST calls: the scheduler behind GitHubSession.

GitHub documents two kinds of limits and we honour both here, so that PyGithub's own
throttles and retries can stay off (``seconds_between_requests=0``,
``seconds_between_writes=0``, ``retry=0``; see :mod:`keyturn._internal.github_client`):

* **primary** — ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` on every response: when
  the budget is spent, wait for the reset (+1 s) instead of sending a doomed request;
* **secondary** — at most 100 concurrent requests; 900 points per minute per endpoint
  family, where a GET costs 1 and a PUT/POST/PATCH/DELETE 5; at least ``min_write_interval``
  (default 1 s, GitHub's advice for mutating requests) between writes; on 403/429 honour
  ``retry-after``, else wait for the primary reset when ``x-ratelimit-remaining`` is 0, else
  (a 429, or a 403 recognised as a secondary limit from the body text — headers do not
  show it) wait at least 60 s, doubling on each repeat; any other 403 is permanent. A secondary-limit answer pauses *every* request of the
  session, as GitHub asks.
* 5xx and connection errors: exponential backoff with equal jitter (base 1 s, cap 60 s).

Times come from injectable ``clock`` / ``wall`` / ``sleep`` callables so tests run in
virtual time. The scheduler *reserves* slots: each caller gets a start time under the lock
and sleeps outside it, which is exact under threads and never spins with a fake sleep.
Imports only the standard library and :mod:`keyturn.errors`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from keyturn.errors import UsageError

WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
_SECONDARY_MARKERS = (
    "secondary rate limit",
    "abuse detection",
    "please retry your request again later",
    "please wait a few minutes before you try again",
)


@dataclass(frozen=True)
class Pacing:
    """Limits the scheduler enforces. Defaults follow GitHub's documented limits."""

    min_write_interval: float = 1.0  # KEYTURN_GITHUB_MIN_WRITE_INTERVAL
    max_retries: int = 5  # KEYTURN_GITHUB_MAX_RETRIES, per request
    points_per_minute: int = 900
    write_points: int = 5
    read_points: int = 1
    max_concurrency: int = 100
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    secondary_wait: float = 60.0  # without retry-after, GitHub says "at least one minute"
    max_wait: float = 900.0  # a single wait longer than this fails instead (job time is finite)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Pacing:
        interval = _number(environ, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL", 1.0)
        retries = _number(environ, "KEYTURN_GITHUB_MAX_RETRIES", 5)
        if retries != int(retries):
            raise UsageError("KEYTURN_GITHUB_MAX_RETRIES must be a whole number, e.g. 5")
        return cls(min_write_interval=interval, max_retries=int(retries))


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a non-negative number, got {raw!r}") from None
    if not value >= 0:  # also rejects NaN
        raise UsageError(f"{name} must be a non-negative number, got {raw!r}")
    return value


def is_secondary_limit_message(message: str) -> bool:
    text = message.lower()
    return any(marker in text for marker in _SECONDARY_MARKERS)


def is_primary_limit_message(message: str) -> bool:
    return message.lower().startswith("api rate limit exceeded")


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    reason: str = ""
    pause_all: bool = False  # secondary/primary limit: hold every request of the session


class Scheduler:
    """Thread-safe pacing for one credential (one GitHubSession)."""

    def __init__(
        self,
        pacing: Pacing,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.pacing = pacing
        self.clock = clock
        self.wall = wall
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(pacing.max_concurrency)
        self._next_write = float("-inf")
        self._not_before = float("-inf")
        self._points: deque[tuple[float, int]] = deque()
        self._remaining: int | None = None
        self._reset_epoch: float | None = None
        self.slept = 0.0  # total seconds this scheduler asked to sleep (bench/test figure)
        self.writes = 0

    # -- before a request ------------------------------------------------------------
    def acquire(self, method: str) -> None:
        """Block until ``method`` may be sent; take a concurrency slot (see :meth:`release`)."""
        write = method.upper() in WRITE_METHODS
        cost = self.pacing.write_points if write else self.pacing.read_points
        with self._lock:
            now = self.clock()
            start = max(now, self._not_before)
            if self._remaining is not None and self._remaining <= 0 and self._reset_epoch is not None:
                until_reset = self._reset_epoch - self.wall() + 1.0
                if until_reset > 0:
                    start = max(start, now + self._checked(until_reset, "primary rate limit reset"))
                self._remaining = None  # one wait per reset; the next response refreshes it
            if write:
                start = max(start, self._next_write)
            start = max(start, self._points_slot(start, cost))
            if write:
                self._next_write = start + self.pacing.min_write_interval
                self.writes += 1
            self._points.append((start, cost))
            wait = start - now
        if wait > 0:
            self.slept += wait
            self.sleep(wait)
        self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    def _points_slot(self, start: float, cost: int) -> float:
        """Earliest time >= start at which ``cost`` more points fit the 60 s window."""
        window, budget = 60.0, self.pacing.points_per_minute
        while self._points and self._points[0][0] <= start - window:
            self._points.popleft()
        used = sum(p for _, p in self._points)
        if used + cost <= budget:
            return start
        for ts, points in self._points:  # oldest first: find when enough points expire
            used -= points
            if used + cost <= budget:
                return ts + window
        return start  # unreachable unless cost > budget

    def _checked(self, delay: float, what: str) -> float:
        if delay > self.pacing.max_wait:
            from keyturn.errors import ServiceError

            raise ServiceError(
                f"github: {what} is {delay:.0f} s away (more than {self.pacing.max_wait:.0f} s) — "
                "re-run later; targets already confirmed will be skipped"
            )
        return delay

    # -- after a response ------------------------------------------------------------
    def observe(self, headers: Mapping[str, str]) -> None:
        """Record the primary budget from any response's headers."""
        remaining = headers.get("x-ratelimit-remaining")
        reset = headers.get("x-ratelimit-reset")
        with self._lock:
            if remaining is not None and remaining.strip().lstrip("-").isdigit():
                self._remaining = int(remaining)
            if reset is not None:
                try:
                    self._reset_epoch = float(reset)
                except ValueError:
                    pass

    def decide(
        self, status: int | None, headers: Mapping[str, str], message: str, attempt: int
    ) -> RetryDecision:
        """What to do after attempt number ``attempt`` (0-based) got ``status``
        (``None``: connection error or timeout)."""
        if status is not None and status < 400:
            return RetryDecision(False)
        if attempt >= self.pacing.max_retries:
            return RetryDecision(False, reason="retries exhausted")
        if status in (403, 429):
            retry_after = headers.get("retry-after", "").strip()
            if retry_after:
                try:
                    delay = max(float(retry_after), 0.0)
                except ValueError:
                    delay = self.pacing.secondary_wait
                return self._pause(delay, f"{status} retry-after")
            if headers.get("x-ratelimit-remaining", "").strip() == "0" or is_primary_limit_message(message):
                reset = float(headers.get("x-ratelimit-reset", "0") or 0)
                return self._pause(max(reset - self.wall(), 0.0) + 1.0, "primary rate limit")
            if status == 429 or is_secondary_limit_message(message):  # 429 is always a limit
                return self._pause(self.pacing.secondary_wait * (2**attempt), "secondary rate limit")
            return RetryDecision(False, reason="forbidden")
        if status is None or status >= 500:
            cap = min(self.pacing.backoff_cap, self.pacing.backoff_base * (2**attempt))
            delay = cap / 2 + self.rng.uniform(0, cap / 2)
            return RetryDecision(True, delay, "server error" if status else "connection error")
        return RetryDecision(False, reason="client error")

    def _pause(self, delay: float, reason: str) -> RetryDecision:
        delay = self._checked(delay, reason)
        with self._lock:
            self._not_before = max(self._not_before, self.clock() + delay)
        return RetryDecision(True, 0.0, reason, pause_all=True)

    def backoff(self, delay: float) -> None:
        if delay > 0:
            self.slept += delay
            self.sleep(delay)
