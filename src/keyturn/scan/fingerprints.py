"""Value-free finding fingerprints (SARIF ``partialFingerprints`` and JSON ``fingerprint``).

A fingerprint must let code scanning follow an alert across rescans and line moves, and
must not let anyone who reads alerts test a guessed password against it. So it is
derived from the rule, the path and the finding's line with every reported secret span
on that line masked, stripped of surrounding whitespace — never from the value. Equal
masked lines in one file are told apart by an occurrence counter (1, 2, … in line
order) that is part of the hashed text; a fingerprint is 64 hex digits. The HMAC key is :func:`keyturn.scan.model.fingerprint_key` (a public
default, or the user's ``KEYTURN_SCAN_FINGERPRINT_KEY``), which keeps the rest of the
line's text out of reach of guessing when a user key is set.

:func:`stamp` replaces the fingerprints of one file's findings, given that file's bytes.
The only keyed hash of a value left is the live-secret link's, under a per-run random
key that is never written anywhere (:mod:`keyturn.scan.live`). Imports only the stdlib
and keyturn.scan.model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Iterable

from keyturn.scan.model import Finding

VERSION = "v2"
MASK = "\0"


def _spans(findings: Iterable[Finding], line: int, width: int) -> list[tuple[int, int]]:
    out = []
    for f in findings:
        if f.line != line:
            continue
        start = max(0, f.column - 1)
        end = f.end_column - 1 if f.end_line == f.line else width
        out.append((start, max(start, min(end, width))))
    return sorted(out)


def masked_line(line: str, spans: list[tuple[int, int]]) -> str:
    """``line`` with each ``[start, end)`` span replaced by one mask character."""
    parts: list[str] = []
    pos = 0
    for start, end in spans:
        if end <= pos:
            continue
        start = max(start, pos)
        parts.append(line[pos:start])
        parts.append(MASK)
        pos = end
    parts.append(line[pos:])
    return "".join(parts).strip()


def line_digest(key: bytes, rule: str, path: str, masked: str, occurrence: int = 1) -> str:
    msg = f"{VERSION}\0{rule}\0{path}\0{masked}\0{occurrence}".encode("utf-8", "surrogateescape")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def stamp(findings: list[Finding], data: bytes | None, key: bytes) -> list[Finding]:
    """One file's findings with value-free fingerprints (``data``: that file's bytes).

    Without ``data`` (the file vanished between scan and stamp) the line number stands in
    for the line's text: still value-free, just not stable across line moves.
    """
    if not findings:
        return findings
    lines = data.decode("utf-8", "surrogateescape").split("\n") if data is not None else None
    order = sorted(range(len(findings)), key=lambda i: (findings[i].line, findings[i].column))
    seen: dict[tuple[str, str], int] = {}
    out = list(findings)
    for i in order:
        f = findings[i]
        if lines is not None and 0 < f.line <= len(lines):
            text = lines[f.line - 1].removesuffix("\r")
            masked = masked_line(text, _spans(findings, f.line, len(text)))
        else:
            masked = f"{MASK}line {f.line}"
        ident = (f.rule, masked)
        seen[ident] = seen.get(ident, 0) + 1
        out[i] = dataclasses.replace(f, fingerprint=line_digest(key, f.rule, f.path, masked, seen[ident]))
    return out


def stamp_files(findings: list[Finding], read: dict[str, bytes | None], key: bytes) -> list[Finding]:
    """Group ``findings`` by path and :func:`stamp` each group with ``read[path]``."""
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(findings):
        groups.setdefault(f.path, []).append(i)
    out = list(findings)
    for path, idxs in groups.items():
        for i, f in zip(idxs, stamp([findings[i] for i in idxs], read.get(path), key), strict=True):
            out[i] = f
    return out
