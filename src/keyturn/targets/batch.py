"""Write many targets concurrently and hand the results back in input order.

Where latency, not pacing, bounds a fan-out (GitHub with a short write interval, a
remote API root), writing one target at a time wastes the wait for each answer.
:func:`write_ordered` runs up to N jobs at once — N is the largest ``max_in_flight`` a
job's target declares (GitHub targets: ``KEYTURN_GITHUB_CONCURRENCY``, default 4, never
above 100; targets without it count as 1 and run one at a time among themselves) — and
yields each job's :class:`JobResult` in the order of ``jobs``, as soon as it and every
job before it are done. A caller that records a ledger row and an audit line per yielded
result therefore writes them in the same order as a serial loop, whatever order the
writes finished in. Pacing stays with each target's session (points budget, minimum
write interval), which is shared by all threads.

A job is "write these entries, then delete these names". A target error
(:class:`~keyturn.errors.KeyturnError`) is returned in the result, never raised; other
exceptions propagate. Closing the iterator early cancels jobs not yet started and waits
for those in flight. Imports only :mod:`keyturn.targets.base` and :mod:`keyturn.errors`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from keyturn.errors import KeyturnError
from keyturn.targets.base import Entry, Target, WriteReport

MAX_IN_FLIGHT = 100  # GitHub's limit on concurrent requests; no target gets more


@dataclass(frozen=True)
class WriteJob:
    """What one target should hold after the job: ``write`` entries, then ``delete`` names."""

    target: Target
    write: Sequence[Entry]
    delete: Sequence[str] = ()

    def __repr__(self) -> str:  # entries never show values, but keep it short
        return f"WriteJob({self.target.label!r}, {len(self.write)} write, {len(self.delete)} delete)"


@dataclass(frozen=True)
class JobResult:
    """The outcome of one job: ``report`` (the write's) on success, else ``error``."""

    index: int
    job: WriteJob
    report: WriteReport | None = None
    deleted: WriteReport | None = None
    error: KeyturnError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def in_flight_for(jobs: Sequence[WriteJob]) -> int:
    """How many jobs :func:`write_ordered` runs at once for ``jobs``."""
    declared = [int(getattr(job.target, "max_in_flight", 1) or 1) for job in jobs]
    return max(1, min(MAX_IN_FLIGHT, max(declared, default=1), len(jobs) or 1))


def write_ordered(jobs: Sequence[WriteJob], *, max_in_flight: int | None = None) -> Iterator[JobResult]:
    """Run ``jobs`` (up to ``max_in_flight`` at once, default :func:`in_flight_for`) and
    yield one :class:`JobResult` per job, in input order."""
    jobs = list(jobs)
    if not jobs:
        return
    workers = in_flight_for(jobs) if max_in_flight is None else max(1, min(MAX_IN_FLIGHT, max_in_flight))
    if workers == 1:  # no threads: exactly the serial loop
        for index, job in enumerate(jobs):
            yield _run(index, job, None)
        return
    serial = threading.Lock()  # targets that did not declare max_in_flight run one at a time
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="keyturn-write")
    futures: list[Future[JobResult]] = []
    try:
        for index, job in enumerate(jobs):
            own = getattr(job.target, "max_in_flight", None)
            futures.append(pool.submit(_run, index, job, None if own else serial))
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run(index: int, job: WriteJob, lock: threading.Lock | None) -> JobResult:
    if lock is not None:
        with lock:
            return _run(index, job, None)
    try:
        report = job.target.write(job.write)
        deleted = job.target.delete(job.delete) if job.delete else None
    except KeyturnError as exc:
        return JobResult(index, job, error=exc)
    return JobResult(index, job, report=report, deleted=deleted)


__all__ = ["JobResult", "MAX_IN_FLIGHT", "WriteJob", "in_flight_for", "write_ordered"]
