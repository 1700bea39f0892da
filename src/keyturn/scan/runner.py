"""Run the engine over many files: reading, content skips and the optional process pool.

Small scans run in-process (a pool's start-up costs more than it saves); large trees
fan out over a ``ProcessPoolExecutor`` in batches of files. Each worker builds its own
:class:`~keyturn.scan.engine.Engine` from picklable settings (keys and live-secret
fingerprints — never values), reads files one at a time and keeps no contents.
Imports the stdlib and keyturn.scan; never stores, targets or cloud SDKs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from keyturn.scan.engine import Engine
from keyturn.scan.gitleaks import CustomConfig
from keyturn.scan.files import Target, content_skip_reason, skip_reason
from keyturn.scan.model import Finding, LiveMatch, ScanOptions

#: Auto mode uses a pool only above these sizes.
POOL_MIN_FILES = 3000
POOL_MIN_BYTES = 24 * 1024 * 1024
BATCH_FILES = 24


@dataclass(frozen=True)
class EngineSpec:
    fingerprint_key: bytes
    live: Mapping[str, LiveMatch] = field(default_factory=dict)
    live_key: bytes = b""
    custom: CustomConfig | None = None  # --config .gitleaks.toml (parsed, picklable)

    def build(self) -> Engine:
        return Engine(self.fingerprint_key, self.live, self.live_key, custom=self.custom)


@dataclass
class BatchResult:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    skipped: int = 0


def scan_one(
    engine: Engine, target: Target, opts: ScanOptions, lines: set[int] | None, out: BatchResult
) -> None:
    data = target.data
    if data is None:
        try:
            size = target.size if target.size >= 0 else os.path.getsize(target.abspath)
        except OSError:
            out.skipped += 1
            return
        if skip_reason(target.relpath, size, opts):
            out.skipped += 1
            return
        try:
            with open(target.abspath, "rb") as fh:
                data = fh.read(opts.max_file_size + 1)
        except OSError:
            out.skipped += 1
            return
    elif skip_reason(target.relpath, len(data), opts):
        out.skipped += 1
        return
    if content_skip_reason(target.relpath, data[:65536], opts):
        out.skipped += 1
        return
    out.files += 1
    out.bytes += len(data)
    out.findings.extend(engine.scan_bytes(target.relpath, data, lines))


_worker_engine: Engine | None = None


def _init_worker(spec: EngineSpec) -> None:
    global _worker_engine
    _worker_engine = spec.build()


def _run_batch(
    batch: list[Target], opts: ScanOptions, line_filter: Mapping[str, set[int]] | None
) -> BatchResult:
    assert _worker_engine is not None
    out = BatchResult()
    for target in batch:
        lines = None if line_filter is None else line_filter.get(target.relpath, set())
        scan_one(_worker_engine, target, opts, lines, out)
    return out


def _pool_size(targets: list[Target], opts: ScanOptions) -> int:
    cpus = os.cpu_count() or 1
    if opts.jobs == 1 or len(targets) < 2:
        return 1
    if opts.jobs > 1:
        return min(opts.jobs, len(targets))
    if len(targets) >= POOL_MIN_FILES:
        return min(cpus, 4)
    total = 0
    for t in targets:
        try:
            if t.data is not None:
                total += len(t.data)
            else:
                total += t.size if t.size >= 0 else os.path.getsize(t.abspath)
        except OSError:
            continue
        if total >= POOL_MIN_BYTES:
            return min(cpus, 4)
    return 1


def scan_targets(
    targets: Iterable[Target],
    opts: ScanOptions,
    spec: EngineSpec,
    line_filter: Mapping[str, set[int]] | None = None,
) -> BatchResult:
    """Scan files; ``line_filter`` (diff/staged modes) keeps findings on those lines only."""
    todo = list(targets)
    total = BatchResult()
    workers = _pool_size(todo, opts)
    if workers <= 1:
        engine = spec.build()
        for target in todo:
            lines = None if line_filter is None else line_filter.get(target.relpath, set())
            scan_one(engine, target, opts, lines, total)
        return total
    # Interleave big and small files so batches take similar time.
    todo.sort(key=lambda t: t.relpath)
    batches = [todo[i : i + BATCH_FILES] for i in range(0, len(todo), BATCH_FILES)]
    from concurrent.futures import ProcessPoolExecutor  # costs ~50 ms to import: only when used

    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(spec,)) as pool:
        for res in pool.map(_run_batch, batches, [opts] * len(batches), [line_filter] * len(batches)):
            total.findings.extend(res.findings)
            total.files += res.files
            total.bytes += res.bytes
            total.skipped += res.skipped
    return total
