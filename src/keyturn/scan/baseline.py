"""detect-secrets baseline compatibility (``.secrets.baseline``).

Reads a detect-secrets 1.x baseline and marks findings already in it (matched by
file name and ``hashed_secret`` — detect-secrets' SHA-1 of the value — regardless of
the plugin that found it, so baselines written by detect-secrets keep working). Writes
baselines detect-secrets can read, keeping existing audit labels (``is_secret``).
Imports only the stdlib and keyturn.scan; never stores, targets or SDKs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from typing import Any

from keyturn.errors import UsageError
from keyturn.scan.engine import all_detectors
from keyturn.scan.model import Finding

DS_VERSION = "1.5.0"


MAX_BASELINE_BYTES = 64 * 1024 * 1024


def load(path: str) -> dict[str, Any]:
    import stat

    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"--baseline {path}: not a regular file")
        if info.st_size > MAX_BASELINE_BYTES:
            raise UsageError(f"--baseline {path}: larger than {MAX_BASELINE_BYTES // 2**20} MiB")
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except RecursionError:
        raise UsageError(f"--baseline {path}: JSON nested too deeply to be a detect-secrets baseline") from None
    except FileNotFoundError as exc:
        raise UsageError(f"--baseline {path}: file not found — create it with --update-baseline") from exc
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"--baseline {path}: not a readable detect-secrets baseline ({exc.__class__.__name__})"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("results", {}), dict):
        raise UsageError(f"--baseline {path}: not a detect-secrets baseline (no 'results' object)")
    return data


def known_pairs(baseline: dict[str, Any]) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for filename, entries in baseline.get("results", {}).items():
        for entry in entries or []:
            if isinstance(entry, dict) and entry.get("hashed_secret"):
                pairs.add((_norm(str(entry.get("filename", filename))), str(entry["hashed_secret"])))
    return pairs


def _norm(path: str) -> str:
    path = path.replace("\\", "/")
    return path.removeprefix("./")


def mark(findings: list[Finding], baseline: dict[str, Any]) -> list[Finding]:
    pairs = known_pairs(baseline)
    return [dataclasses.replace(f, in_baseline=(f.path, f.hashed_secret) in pairs) for f in findings]


def _ds_type(detector: str) -> str:
    for det in all_detectors():
        if det.id == detector and det.ds_types:
            return det.ds_types[0]
    return detector


def build(findings: list[Finding], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """A detect-secrets 1.5 baseline for ``findings`` (audit labels carried over)."""
    labels: dict[tuple[str, str], dict[str, Any]] = {}
    for filename, entries in (previous or {}).get("results", {}).items():
        for old in entries or []:
            if isinstance(old, dict) and "is_secret" in old:
                labels[(_norm(str(old.get("filename", filename))), str(old.get("hashed_secret")))] = {
                    "is_secret": old["is_secret"]
                }
    results: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str, str]] = set()
    for f in sorted(findings, key=lambda f: (f.path, f.line, f.detector)):
        ds_type = _ds_type(f.detector)
        if (f.path, f.hashed_secret, ds_type) in seen:
            continue
        seen.add((f.path, f.hashed_secret, ds_type))
        entry: dict[str, Any] = {
            "type": ds_type,
            "filename": f.path,
            "hashed_secret": f.hashed_secret,
            "is_verified": False,
            "line_number": f.line,
        }
        entry.update(labels.get((f.path, f.hashed_secret), {}))
        results.setdefault(f.path, []).append(entry)
    base = dict(previous or {})
    base.setdefault("version", DS_VERSION)
    base.setdefault("plugins_used", [])
    base.setdefault("filters_used", [])
    base["results"] = results
    base["generated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return base


def write(path: str, data: dict[str, Any]) -> None:
    """The updated baseline, atomically (:func:`~keyturn._internal.atomic.write_atomic`,
    which never renames over a device or a FIFO)."""
    from keyturn._internal.atomic import write_atomic

    write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", 0o644)
