"""Pacing and retry decisions for GitHub REST calls: the scheduler behind GitHubSession.

GitHub documents two kinds of limits and we honour both here, so that PyGithub's own
throttles and retries can stay off (``seconds_between_requests=0``,
``seconds_between_writes=0``, ``retry=0``; see :mod:`keyturn._internal.github_client`):

* **primary** — ``x-ratelimit-remaining`` / ``x-ratelimit-reset`` on every response: when
  the budget is spent, wait for the reset (+1 s) instead of sending a doomed request;
* **secondary** — at most 100 concurrent requests; 900 points per minute, where a GET
  costs 1 and a PUT/POST/PATCH/DELETE 5; at least ``min_write_interval`` (default 1 s,
  GitHub's advice for mutating requests) between writes. GitHub counts points on
  *arrival*, and network jitter moves arrival times, so keyturn plans for
  ``points_per_minute`` (default 810, 90 % of GitHub's 900) in any window of 60 s plus
  ``window_margin`` (5 s): a burst released when the previous one leaves the window can
  no longer land inside GitHub's 60 s together with its late stragglers. It also keeps
  at most ``concurrency`` requests in flight (default 4, never above 100). On 403/429
  honour ``retry-after``, else wait for the primary reset when ``x-ratelimit-remaining``
  is 0, else (a 429, or a 403 recognised as a secondary limit from the body text —
  headers do not show it) wait at least 60 s, doubling on each repeat; any other 403 is
  permanent. A limit answer pauses *every* request of the session, as GitHub asks.
* 5xx and connection errors: exponential backoff with equal jitter (base 1 s, cap 60 s;
  a ``retry-after`` on the answer is honoured).

Retries are bounded by **time**, not by a count shared between limits and errors: the
requests of one target keep retrying server errors while the time since that target's
first failure stays within ``retry_seconds`` (default 120 s), and keep honouring limit
waits within ``max_wait`` (900 s). ``max_retries`` is an optional extra cap (unset by
default). Times come from injectable ``clock`` / ``wall`` / ``sleep`` callables so tests
run in virtual time. The scheduler *reserves* slots: each caller takes a concurrency
slot, gets a start time under the lock and sleeps outside it, which is exact under
threads and never spins with a fake sleep. Imports only the standard library and
:mod:`keyturn.errors`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from keyturn.errors import ServiceError, UsageError

WRITE_METHODS = frozenset({"PUT", "POST", "PATCH", "DELETE"})
GITHUB_POINTS_PER_MINUTE = 900
GITHUB_MAX_CONCURRENCY = 100
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
    points_per_minute: int = 810  # KEYTURN_GITHUB_POINTS_PER_MINUTE (90 % of GitHub's 900)
    concurrency: int = 4  # KEYTURN_GITHUB_CONCURRENCY, requests in flight (1..100)
    retry_seconds: float = 120.0  # KEYTURN_GITHUB_RETRY_SECONDS, per target, server errors
    max_retries: int | None = None  # KEYTURN_GITHUB_MAX_RETRIES, optional cap per request
    write_points: int = 5
    read_points: int = 1
    window_margin: float = 5.0  # seconds added to GitHub's 60 s window (arrival jitter)
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    secondary_wait: float = 60.0  # without retry-after, GitHub says "at least one minute"
    max_wait: float = 900.0  # limit waits of one target beyond this fail (job time is finite)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Pacing:
        interval = _number(environ, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL", 1.0)
        points = _number(environ, "KEYTURN_GITHUB_POINTS_PER_MINUTE", 810)
        if points != int(points) or points < 5:
            raise UsageError(
                "KEYTURN_GITHUB_POINTS_PER_MINUTE must be a whole number of at least 5 "
                f"(GitHub allows {GITHUB_POINTS_PER_MINUTE}; default 810)"
            )
        concurrency = _number(environ, "KEYTURN_GITHUB_CONCURRENCY", 4)
        if concurrency != int(concurrency) or not 1 <= concurrency <= GITHUB_MAX_CONCURRENCY:
            raise UsageError(
                f"KEYTURN_GITHUB_CONCURRENCY must be a whole number from 1 to {GITHUB_MAX_CONCURRENCY}"
            )
        retry_seconds = _number(environ, "KEYTURN_GITHUB_RETRY_SECONDS", 120.0)
        max_retries: int | None = None
        if environ.get("KEYTURN_GITHUB_MAX_RETRIES", "").strip():
            retries = _number(environ, "KEYTURN_GITHUB_MAX_RETRIES", 0)
            if retries != int(retries):
                raise UsageError("KEYTURN_GITHUB_MAX_RETRIES must be a whole number, e.g. 5")
            max_retries = int(retries)
        return cls(
            min_write_interval=interval,
            points_per_minute=int(points),
            concurrency=int(concurrency),
            retry_seconds=retry_seconds,
            max_retries=max_retries,
        )


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{name} must be a non-negative number, got {raw!r}") from None
    if not value >= 0 or value == float("inf"):  # also rejects NaN
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
    limited: bool = False  # a give-up because a rate-limit wait does not fit the budget


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
        self._slots = threading.BoundedSemaphore(min(pacing.concurrency, GITHUB_MAX_CONCURRENCY))
        self._next_write = float("-inf")
        self._not_before = float("-inf")
        self._points: deque[tuple[float, int]] = deque()
        self._remaining: int | None = None
        self._reset_epoch: float | None = None
        self.slept = 0.0  # total seconds this scheduler asked to sleep (bench/test figure)
        self.writes = 0

    # -- before a request ------------------------------------------------------------
    def acquire(self, method: str) -> None:
        """Take a concurrency slot (see :meth:`release`), then block until ``method`` may
        be sent. The slot comes first so that a reserved start time is the send time:
        a request waiting for a slot never holds points in a window it is not sent in."""
        self._slots.acquire()
        try:
            wait = self._reserve(method)
        except BaseException:
            self._slots.release()
            raise
        if wait > 0:
            self.slept += wait
            self.sleep(wait)

    def _reserve(self, method: str) -> float:
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
            return start - now

    def release(self) -> None:
        self._slots.release()

    def _points_slot(self, start: float, cost: int) -> float:
        """Earliest time >= start at which ``cost`` more points fit the (60 s + margin) window."""
        window, budget = 60.0 + self.pacing.window_margin, self.pacing.points_per_minute
        while self._points and self._points[0][0] <= start - window:
            self._points.popleft()
        used = sum(p for _, p in self._points)
        if used + cost <= budget:
            return start
        for ts, points in self._points:  # oldest first: find when enough points expire
            used -= points
            if used + cost <= budget:
                return max(start, ts + window)
        return start  # unreachable unless cost > budget

    def _checked(self, delay: float, what: str) -> float:
        if delay > self.pacing.max_wait:
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
        self,
        status: int | None,
        headers: Mapping[str, str],
        message: str,
        attempt: int,
        *,
        failing_for: float = 0.0,
        limited_for: float = 0.0,
    ) -> RetryDecision:
        """What to do after attempt number ``attempt`` (0-based) got ``status``
        (``None``: connection error or timeout). ``failing_for`` is the time the target
        has already spent on failed attempts and their backoff, ``limited_for`` the
        time it has waited on rate limits: the budgets are ``retry_seconds`` and
        ``max_wait``."""
        if status is not None and status < 400:
            return RetryDecision(False)
        if self.pacing.max_retries is not None and attempt >= self.pacing.max_retries:
            return RetryDecision(False, reason="retries exhausted")
        raw_retry_after = headers.get("retry-after", "").strip()
        retry_after = _seconds(raw_retry_after) if raw_retry_after else None
        if status in (403, 429):
            if raw_retry_after and retry_after is None:  # an HTTP date: wait the default minute
                retry_after = self.pacing.secondary_wait
            if retry_after is not None:
                return self._pause(retry_after, f"{status} retry-after", limited_for)
            if headers.get("x-ratelimit-remaining", "").strip() == "0" or is_primary_limit_message(message):
                reset = float(headers.get("x-ratelimit-reset", "0") or 0)
                return self._pause(max(reset - self.wall(), 0.0) + 1.0, "primary rate limit", limited_for)
            if status == 429 or is_secondary_limit_message(message):  # 429 is always a limit
                wait = self.pacing.secondary_wait * (2 ** min(attempt, 10))
                return self._pause(wait, "secondary rate limit", limited_for)
            return RetryDecision(False, reason="forbidden")
        if status is None or status >= 500:
            if retry_after is not None:
                delay = retry_after
            else:
                cap = min(self.pacing.backoff_cap, self.pacing.backoff_base * (2 ** min(attempt, 30)))
                delay = cap / 2 + self.rng.uniform(0, cap / 2)
            if failing_for + delay > self.pacing.retry_seconds:
                return RetryDecision(False, reason="retry time spent")
            return RetryDecision(True, delay, "server error" if status else "connection error")
        return RetryDecision(False, reason="client error")

    def _pause(self, delay: float, reason: str, limited_for: float) -> RetryDecision:
        # A wait that does not fit the budget is a give-up like any other, so the caller
        # reports it per target (label, retries) instead of a bare error escaping the request.
        if delay > self.pacing.max_wait:
            return RetryDecision(False, reason=f"{reason} is {delay:.0f} s away (more than "
                                 f"{self.pacing.max_wait:.0f} s)", limited=True)
        if limited_for + delay > self.pacing.max_wait:
            return RetryDecision(False, reason="limit wait time spent", limited=True)
        with self._lock:
            self._not_before = max(self._not_before, self.clock() + delay)
        return RetryDecision(True, delay, reason, pause_all=True)

    def backoff(self, delay: float) -> None:
        if delay > 0:
            self.slept += delay
            self.sleep(delay)


def _seconds(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None
