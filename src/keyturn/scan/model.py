"""Records shared by every part of the scanner: options, findings and the run summary.

A :class:`Finding` carries where a secret is and keyed fingerprints of it — never the
value itself nor a fragment of it — so it can cross process boundaries, be printed,
written to JSON/SARIF or a step summary safely. This module imports only the stdlib;
it must not import stores, targets, cloud SDKs or detect-secrets.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keyturn.scan.detectors import Detector

#: Output formats of ``keyturn scan``.
FORMATS = ("text", "json", "sarif")

#: Default size bound: larger files are skipped (configurable with --max-file-size).
DEFAULT_MAX_FILE_SIZE = 4 * 1024 * 1024
#: Project-default fingerprint key. It is NOT secret: it only keeps fingerprints stable
#: across runs so code-scanning alerts persist. Set ``KEYTURN_SCAN_FINGERPRINT_KEY`` to
#: your own value to keep fingerprints unguessable.
DEFAULT_FINGERPRINT_KEY = "keyturn-scan-fingerprint-v1 (not secret; set KEYTURN_SCAN_FINGERPRINT_KEY)"
FINGERPRINT_KEY_ENV = "KEYTURN_SCAN_FINGERPRINT_KEY"


def fingerprint_key() -> bytes:
    return (os.environ.get(FINGERPRINT_KEY_ENV) or DEFAULT_FINGERPRINT_KEY).encode("utf-8")


@dataclass(frozen=True)
class LiveMatch:
    """A finding whose value equals a managed secret's live version."""

    secret: str
    version: str  # "CURRENT" | "PREVIOUS"


@dataclass(frozen=True)
class Finding:
    detector: str
    path: str  # repo-relative POSIX path
    line: int  # 1-based
    column: int  # 1-based, first character of the value
    end_line: int
    end_column: int  # 1-based, one past the last character (SARIF convention)
    fingerprint: str  # keyed HMAC of (rule, path, value): stable, survives line moves
    hashed_secret: str = field(repr=False, default="")  # detect-secrets baseline hash
    live: LiveMatch | None = None
    in_baseline: bool = False

    @property
    def rule(self) -> str:
        return f"keyturn/{self.detector}"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "detector": self.detector,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "fingerprint": self.fingerprint,
            "live_secret": (
                None if self.live is None else {"secret": self.live.secret, "version": self.live.version}
            ),
        }


@dataclass
class ScanOptions:
    """What to scan and what to skip. Every skip is configurable."""

    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    excludes: tuple[str, ...] = ()
    skip_vendored: bool = True
    skip_minified: bool = True
    skip_generated: bool = True
    skip_lockfiles: bool = True
    jobs: int = 0  # 0 = auto (process pool only for large trees)


@dataclass
class Summary:
    files_scanned: int = 0
    bytes_scanned: int = 0
    files_skipped: int = 0
    findings: int = 0
    new_findings: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "findings": self.findings,
            "new_findings": self.new_findings,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ScanResult:
    findings: list[Finding]
    summary: Summary
    #: ``--config`` rules (:class:`~keyturn.scan.detectors.Detector`), described in SARIF beside the built-in ones
    custom_rules: tuple[Detector, ...] = ()

    @property
    def new_findings(self) -> list[Finding]:
        return [f for f in self.findings if not f.in_baseline]
