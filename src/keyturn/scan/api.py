"""The scanner's library entry point: :func:`scan` (tree, ``--diff``, ``--staged``, ``--history``).

Ties files, git modes, history, the runner, baselines, value-free fingerprints and the
live-secret link together and returns a :class:`~keyturn.scan.model.ScanResult` (a
:class:`~keyturn.scan.history.HistoryResult` when commits were scanned). ``--diff BASE``
scans the lines added since the merge base *and* every commit between the merge base
and HEAD, so a secret added and removed inside a pull request is still reported; a changed
file whose bytes are one of the commits' blobs (the usual case: a clean checkout) is not
scanned a second time, its added lines take that blob's findings. The CLI (:mod:`keyturn.scan.cli`)
only parses arguments and prints. Imports the stdlib and keyturn.scan; the rotation
package is reached only lazily through :mod:`keyturn.scan.live`. Never stores,
targets or cloud SDKs.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any

from keyturn.scan import baseline as baseline_mod
from keyturn.scan import gitmodes
from keyturn.scan.engine import check_custom
from keyturn.scan.gitleaks import custom_detectors, load_config
from keyturn.scan.files import Target, is_vendored_dir, repo_prefix, walk
from keyturn.scan.fingerprints import stamp_files
from keyturn.scan.history import HistoryResult, Scanned, origin_key, scan_history
from keyturn.scan.live import LiveProvider, live_fingerprints
from keyturn.scan.model import Finding, LiveMatch, ScanOptions, ScanResult, Summary, fingerprint_key
from keyturn.scan.runner import EngineSpec, scan_targets


@dataclass
class ScanRequest:
    path: str = "."
    diff_base: str | None = None
    staged: bool = False
    history: str | None = None  # a git revision range: scan every blob it introduced
    baseline: dict[str, Any] | None = None
    manifest: str | None = None
    options: ScanOptions = field(default_factory=ScanOptions)
    live_provider: LiveProvider | None = None
    config: str | None = None  # a gitleaks-compatible .gitleaks.toml (custom rules, allowlists)


def _vendored(target: Target) -> bool:
    depth = target.relpath.count("/")
    d = os.path.dirname(target.abspath)
    for _ in range(depth):
        if is_vendored_dir(d):
            return True
        d = os.path.dirname(d)
    return False


def _read(target: Target, limit: int) -> bytes | None:
    if target.data is not None:
        return target.data
    try:
        with open(target.abspath, "rb") as fh:
            return fh.read(limit + 1)
    except OSError:
        return None


def _stamp(findings: list[Finding], targets: list[Target], opts: ScanOptions, key: bytes) -> list[Finding]:
    """Replace each finding's fingerprint by the value-free one of its (masked) line."""
    paths = {f.path for f in findings}
    read = {t.relpath: _read(t, opts.max_file_size) for t in targets if t.relpath in paths}
    return stamp_files(findings, read, key)


def _git_blob_id(data: bytes, like: str) -> str:
    """The id git gives a blob of ``data`` (SHA-1, or SHA-256 in a repository that uses it)."""
    algo = hashlib.sha256 if len(like) == 64 else hashlib.sha1
    return algo(b"blob %d\0" % len(data) + data).hexdigest()


def _reuse_scanned(
    targets: list[Target], added: dict[str, set[int]], scanned: Scanned, opts: ScanOptions
) -> tuple[list[Target], list[Finding]]:
    """Split ``--diff`` targets into those still to scan and the findings (on added lines) of
    those whose path and bytes a history blob already had: the engine gives the same path and
    bytes the same findings, so scanning them again only costs time."""
    if not scanned:
        return targets, []
    like = next(iter(scanned))
    todo: list[Target] = []
    reused: list[Finding] = []
    for t in targets:
        data = _read(t, opts.max_file_size)
        hit = scanned.get(_git_blob_id(data, like)) if data is not None else None
        if hit is None or hit[0] != t.relpath:
            todo.append(t)
            continue
        lines = added.get(t.relpath, set())
        reused.extend(f for f in hit[1] if f.line in lines)
    return todo, reused


def _merge_history(current: list[Finding], hist: HistoryResult) -> HistoryResult:
    """Working-tree findings plus the history findings that are not among them."""
    now = {(f.path, f.hashed_secret) for f in current}
    extra = [f for f in hist.findings if (f.path, f.hashed_secret) not in now]
    hist.origins = {origin_key(f): hist.origins[origin_key(f)] for f in extra}
    hist.findings = current + extra
    return hist


def scan(req: ScanRequest) -> ScanResult:
    started = time.monotonic()
    live_key: bytes = b""
    live: dict[str, LiveMatch] = {}
    if req.manifest:
        live_key, live = live_fingerprints(req.manifest, req.live_provider)
    key = fingerprint_key()
    custom = load_config(req.config) if req.config else None
    if custom is not None:
        check_custom(custom)
    spec = EngineSpec(key, live, live_key, custom)
    opts = req.options
    line_filter: dict[str, set[int]] | None = None
    targets: list[Target]
    hist: HistoryResult | None = None
    scanned: Scanned = {}  # --diff: the commits' blobs, so changed files are not scanned twice
    if req.history is not None:
        hist = scan_history(req.path, req.history, opts, spec)
        findings = hist.findings
        files, size, skipped = hist.summary.files_scanned, hist.summary.bytes_scanned, hist.summary.files_skipped
    else:
        if req.staged or req.diff_base:
            if req.staged:
                targets, line_filter = gitmodes.staged_targets(req.path, opts.excludes)
            else:
                assert req.diff_base is not None
                root = gitmodes.repo_root(req.path)
                base = gitmodes.merge_base(root, req.diff_base)
                targets, line_filter = gitmodes.diff_targets(req.path, req.diff_base, opts.excludes, base)
                hist = scan_history(req.path, f"{base}..HEAD", opts, spec, scanned=scanned)
                hist.rev_range = f"{req.diff_base}...HEAD"
            if opts.skip_vendored:
                targets = [t for t in targets if not _vendored(t)]
        else:
            targets = list(walk(req.path, opts, repo_prefix(req.path)))
        todo, reused = _reuse_scanned(targets, line_filter or {}, scanned, opts)
        batch = scan_targets(todo, opts, spec, line_filter)
        if reused:  # back in target order (each file's findings keep theirs)
            order = {t.relpath: i for i, t in enumerate(targets)}
            batch.findings = sorted(batch.findings + reused, key=lambda f: order[f.path])
        findings = _stamp(batch.findings, targets, opts, key)
        files, size, skipped = batch.files, batch.bytes, batch.skipped
        if hist is not None:
            findings = _merge_history(findings, hist).findings
            files += hist.summary.files_scanned
            size += hist.summary.bytes_scanned
            skipped += hist.summary.files_skipped
    if req.baseline is not None:
        findings = baseline_mod.mark(findings, req.baseline)
    summary = Summary(
        files_scanned=files,
        bytes_scanned=size,
        files_skipped=skipped,
        findings=len(findings),
        new_findings=sum(1 for f in findings if not f.in_baseline),
        seconds=time.monotonic() - started,
    )
    if hist is not None:
        hist.findings, hist.summary = findings, summary
        return hist
    return ScanResult(findings=findings, summary=summary,
                      custom_rules=custom_detectors(custom) if custom is not None else ())


def relative_exclude(path: str, root: str) -> str | None:
    """``path`` relative to the scan root ``root`` if it lies under it (to skip the baseline file)."""
    root_abs = os.path.abspath(root if os.path.isdir(root) else os.path.dirname(root) or ".")
    rel = os.path.relpath(os.path.abspath(path), root_abs)
    return None if rel.startswith("..") else rel.replace(os.sep, "/")
