"""Blob contents from git's object store, each scanned once (for ``--history``).

One ``git cat-file --batch-check`` pass learns each blob's type and size (so blobs above
``--max-file-size`` are never read), then one ``git cat-file --batch`` process streams
the contents while a writer thread feeds it ids. Blobs are scanned in-process, or for
large histories in a process pool whose workers each read their chunks of ids through
their own ``cat-file`` (decompression in parallel, no content through the parent), so
memory stays flat however long the history is. A blob's findings get their value-free fingerprints while its bytes
are at hand (:mod:`keyturn.scan.fingerprints`); contents are then dropped. Imports the
stdlib and keyturn.scan; never stores, targets or SDKs.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from keyturn.errors import UsageError
from keyturn.scan import gitmodes
from keyturn.scan.engine import Engine
from keyturn.scan.files import Target
from keyturn.scan.fingerprints import stamp
from keyturn.scan.model import Finding, ScanOptions
from keyturn.scan.runner import POOL_MIN_BYTES, BatchResult, EngineSpec, scan_one

#: A pool worker's unit of work: this many bytes or blobs, read by its own cat-file.
CHUNK_BYTES = 4 * 1024 * 1024
CHUNK_ITEMS = 400

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
        for done, _ in enumerate(ids):
            header = stdout.readline().split()
            if len(header) < 2:  # git ended early: never report a partial history as clean
                raise UsageError(f"git cat-file stopped after {done} of {len(ids)} objects in {root}")
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


def _run_chunk(root: str, chunk: list[tuple[str, str]], opts: ScanOptions) -> BlobBatch:
    """Worker: read this chunk's blobs with its own ``git cat-file --batch`` and scan them."""
    assert _worker is not None
    out = BlobBatch()
    paths = dict(chunk)
    for blob, data in iter_blobs(root, [b for b, _ in chunk]):
        _scan_item(_worker[0], _worker[1], (blob, paths[blob], data), opts, out)
    return out


def _workers(total_bytes: int, count: int, opts: ScanOptions) -> int:
    if opts.jobs == 1 or count < 2:
        return 1
    if opts.jobs > 1:
        return opts.jobs
    return min(os.cpu_count() or 1, 4) if total_bytes >= POOL_MIN_BYTES else 1


def _chunks(ids: list[str], sizes: dict[str, int], paths: dict[str, str]) -> list[list[tuple[str, str]]]:
    chunks: list[list[tuple[str, str]]] = [[]]
    size = 0
    for blob in ids:
        if size >= CHUNK_BYTES or len(chunks[-1]) >= CHUNK_ITEMS:
            chunks.append([])
            size = 0
        chunks[-1].append((blob, paths[blob]))
        size += sizes[blob]
    return [c for c in chunks if c]


def scan_blobs(root: str, wanted: dict[str, str], opts: ScanOptions, spec: EngineSpec) -> BlobBatch:
    """Scan each blob of ``wanted`` ({id: path to scan it under}) once.

    In a pool each worker reads its own chunks through its own ``git cat-file``, so
    decompression runs in parallel too and no content passes through this process.
    """
    sizes = blob_sizes(root, list(wanted))
    ids = [b for b in wanted if 0 < sizes.get(b, -1) <= opts.max_file_size]
    total = BlobBatch(skipped=sum(1 for b in wanted if sizes.get(b, 0) > opts.max_file_size))
    workers = _workers(sum(sizes[b] for b in ids), len(ids), opts)
    if workers <= 1:
        engine = spec.build()
        for blob, data in iter_blobs(root, ids):
            _scan_item(engine, spec.fingerprint_key, (blob, wanted[blob], data), opts, total)
        return total
    chunks = _chunks(ids, sizes, wanted)
    from concurrent.futures import ProcessPoolExecutor  # costs ~10 ms to import: only when used

    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(spec,)) as pool:
        for part in pool.map(_run_chunk, [root] * len(chunks), chunks, [opts] * len(chunks)):
            total.add(part)
    return total
