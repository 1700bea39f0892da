"""The scanner's library entry point: :func:`scan` (tree, ``--diff`` or ``--staged``).

Ties files, git modes, the runner, baselines and the live-secret link together and
returns a :class:`~keyturn.scan.model.ScanResult`. The CLI (:mod:`keyturn.scan.cli`)
only parses arguments and prints. Imports the stdlib and keyturn.scan; the rotation
package is reached only lazily through :mod:`keyturn.scan.live`. Never stores,
targets or cloud SDKs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from keyturn.scan import baseline as baseline_mod
from keyturn.scan import gitmodes
from keyturn.scan.gitleaks import load_config
from keyturn.scan.files import Target, is_vendored_dir, repo_prefix, walk
from keyturn.scan.live import LiveProvider, live_fingerprints
from keyturn.scan.model import LiveMatch, ScanOptions, ScanResult, Summary, fingerprint_key
from keyturn.scan.runner import EngineSpec, scan_targets


@dataclass
class ScanRequest:
    path: str = "."
    diff_base: str | None = None
    staged: bool = False
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


def scan(req: ScanRequest) -> ScanResult:
    started = time.monotonic()
    live_key: bytes = b""
    live: dict[str, LiveMatch] = {}
    if req.manifest:
        live_key, live = live_fingerprints(req.manifest, req.live_provider)
    custom = load_config(req.config) if req.config else None
    spec = EngineSpec(fingerprint_key(), live, live_key, custom)
    opts = req.options
    line_filter: dict[str, set[int]] | None = None
    targets: list[Target] | Any
    if req.staged or req.diff_base:
        if req.staged:
            targets, line_filter = gitmodes.staged_targets(req.path, opts.excludes)
        else:
            assert req.diff_base is not None
            targets, line_filter = gitmodes.diff_targets(req.path, req.diff_base, opts.excludes)
        if opts.skip_vendored:
            targets = [t for t in targets if not _vendored(t)]
    else:
        targets = walk(req.path, opts, repo_prefix(req.path))
    batch = scan_targets(targets, opts, spec, line_filter)
    findings = batch.findings
    if req.baseline is not None:
        findings = baseline_mod.mark(findings, req.baseline)
    summary = Summary(
        files_scanned=batch.files,
        bytes_scanned=batch.bytes,
        files_skipped=batch.skipped,
        findings=len(findings),
        new_findings=sum(1 for f in findings if not f.in_baseline),
        seconds=time.monotonic() - started,
    )
    return ScanResult(findings=findings, summary=summary)


def relative_exclude(path: str, root: str) -> str | None:
    """``path`` relative to the scan root ``root`` if it lies under it (to skip the baseline file)."""
    root_abs = os.path.abspath(root if os.path.isdir(root) else os.path.dirname(root) or ".")
    rel = os.path.relpath(os.path.abspath(path), root_abs)
    return None if rel.startswith("..") else rel.replace(os.sep, "/")
