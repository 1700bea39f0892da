"""Blob contents from git's object store, each scanned once (for ``--history``).

One ``git cat-file --batch-check`` pass learns each blob's type and size (so blobs above
``--max-file-size`` are never read), then one ``git cat-file --batch`` process streams
the contents while a writer thread feeds it ids. Blobs are scanned in-process, or for
large histories in a process pool fed with bounded batches, so memory stays flat however
long the history is. A blob's findings get their value-free fingerprints while its bytes
are at hand (:mod:`keyturn.scan.fingerprints`); contents are then dropped. Imports the
stdlib and keyturn.scan; never stores, targets or SDKs.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from keyturn.errors import UsageError
from keyturn.scan import gitmodes
from keyturn.scan.engine import Engine
from keyturn.scan.files import Target
from keyturn.scan.fingerprints import stamp
from keyturn.scan.model import Finding, ScanOptions
from keyturn.scan.runner import POOL_MIN_BYTES, BatchResult, EngineSpec, scan_one

BATCH_BYTES = 2 * 1024 * 1024
BATCH_ITEMS = 256

Item = tuple[str, str, bytes]  # (blob id, path it is scanned under, content)


@dataclass
class BlobBatch:
    found: dict[str, list[Finding]] = field(default_factory=dict)  # blob id -> findings (only non-empty)
    files: int = 0
    bytes: int = 0
    skipped: int = 0

    def add(self, other: BlobBatch) -> None:
        self.found.update(other.found)
        self.files += other.files
        self.bytes += other.bytes
        self.skipped += other.skipped


def _cat_file(*args: str) -> list[str]:
    return [*gitmodes.GIT_BASE, "cat-file", *args]


def blob_sizes(root: str, ids: list[str]) -> dict[str, int]:
    """{id: size} for the ids that are blobs in ``root``'s object store."""
    if not ids:
        return {}
    try:
        proc = subprocess.run(
            _cat_file("--batch-check=%(objectname) %(objecttype) %(objectsize)"),
            cwd=root,
            input=("\n".join(ids) + "\n").encode(),
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise gitmodes.git_not_installed() from exc
    if proc.returncode != 0:
        raise UsageError(f"git cat-file failed in {root}: exit {proc.returncode}")
    sizes: dict[str, int] = {}
    for line in proc.stdout.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


def iter_blobs(root: str, ids: list[str]) -> Iterator[tuple[str, bytes]]:
    """(id, content) for each blob id, in order, from one ``git cat-file --batch``."""
    proc = subprocess.Popen(_cat_file("--batch"), cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def feed() -> None:
        try:
            for i in range(0, len(ids), 512):
                stdin.write(("\n".join(ids[i : i + 512]) + "\n").encode())
            stdin.close()
        except (BrokenPipeError, OSError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for _ in ids:
            header = stdout.readline().split()
            if len(header) < 2:
                break
            if header[1] != b"blob" or len(header) != 3:
                continue
            size = int(header[2])
            data = stdout.read(size)
            stdout.read(1)  # the LF after each object
            yield header[0].decode(), data
    finally:
        stdout.close()
        proc.kill()
        proc.wait()
        writer.join(timeout=5)


def _scan_item(engine: Engine, key: bytes, item: Item, opts: ScanOptions, out: BlobBatch) -> None:
    blob, path, data = item
    res = BatchResult()
    scan_one(engine, Target("", path, data), opts, None, res)
    out.files += res.files
    out.bytes += res.bytes
    out.skipped += res.skipped
    if res.findings:
        out.found[blob] = stamp(res.findings, data, key)


_worker: tuple[Engine, bytes] | None = None


def _init_worker(spec: EngineSpec) -> None:
    global _worker
    _worker = (spec.build(), spec.fingerprint_key)


def _run_batch(items: list[Item], opts: ScanOptions) -> BlobBatch:
    assert _worker is not None
    out = BlobBatch()
    for item in items:
        _scan_item(_worker[0], _worker[1], item, opts, out)
    return out


def _workers(total_bytes: int, count: int, opts: ScanOptions) -> int:
    if opts.jobs == 1 or count < 2:
        return 1
    if opts.jobs > 1:
        return opts.jobs
    return min(os.cpu_count() or 1, 4) if total_bytes >= POOL_MIN_BYTES else 1


def _batches(root: str, ids: list[str], paths: dict[str, str]) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for blob, data in iter_blobs(root, ids):
        batch.append((blob, paths[blob], data))
        size += len(data)
        if size >= BATCH_BYTES or len(batch) >= BATCH_ITEMS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def scan_blobs(root: str, wanted: dict[str, str], opts: ScanOptions, spec: EngineSpec) -> BlobBatch:
    """Scan each blob of ``wanted`` ({id: path to scan it under}) once."""
    sizes = blob_sizes(root, list(wanted))
    ids = [b for b in wanted if 0 < sizes.get(b, -1) <= opts.max_file_size]
    total = BlobBatch(skipped=sum(1 for b in wanted if sizes.get(b, 0) > opts.max_file_size))
    workers = _workers(sum(sizes[b] for b in ids), len(ids), opts)
    if workers <= 1:
        engine = spec.build()
        for blob, data in iter_blobs(root, ids):
            _scan_item(engine, spec.fingerprint_key, (blob, wanted[blob], data), opts, total)
        return total
    pending: set[Future[BlobBatch]] = set()
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(spec,)) as pool:
        for batch in _batches(root, ids, wanted):
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    total.add(fut.result())
            pending.add(pool.submit(_run_batch, batch, opts))
        for fut in pending:
            total.add(fut.result())
    return total
