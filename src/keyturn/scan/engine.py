"""The scan engine: one file's text in, findings (without values) out.

:class:`Engine` owns the detectors (keyturn's own, the provider rules of
:mod:`keyturn.scan.rulepack`, the generic one and the detect-secrets stock adapters), the prefilter, the allowlist pragma check and the
keyed fingerprints. Values never leave this module: a finding holds HMACs only
(``fingerprint`` under the stable project/user key, the live-secret comparison under a
per-run random key) plus the SHA-1 that detect-secrets baselines use. Imports the
stdlib, detect_secrets and keyturn.scan modules; never stores, targets or cloud SDKs.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import replace
from types import SimpleNamespace

from keyturn.scan import filters
from keyturn.scan.decoded import DECODE_TRIGGERS, decoded_spans
from keyturn.errors import UsageError
from keyturn.scan.detectors import BUILTIN, Detector
from keyturn.scan.gitleaks import Allowlist, CustomConfig, allowed, custom_detectors
from keyturn.scan.generic import GENERIC
from keyturn.scan.live import LIVE_DETECTOR
from keyturn.scan.model import Finding, LiveMatch
from keyturn.scan.prefilter import Prefilter
from keyturn.scan.rulepack import rule_detectors
from keyturn.scan.stock import stock_detectors

_PRAGMA_HINT = "pragma"
_RANK = {"generic-secret": 0, "url-credentials": 1}
#: Detectors that report a value for its context (``_authToken=…``) rather than its own format:
#: where a format detector reports the same span, the format detector wins.
_CONTEXT_RANK = {"npm-token": 1.5}


def _rank(detector: str, value: str) -> float:
    if detector == "npm-token" and value.startswith("npm_"):
        return 2
    return _CONTEXT_RANK.get(detector, _RANK.get(detector, 2))


#: Value-like tokens for the live-secret sweep (only with --manifest).
_TOKEN = re.compile(r"[^\s\"'`,;()<>{}\[\]|]{8,}")


@functools.cache
def _shipped_detectors() -> tuple[Detector, ...]:
    """Built once per process: the engine, the reports, SARIF and baselines all list them."""
    return (*BUILTIN, *rule_detectors(), GENERIC, *stock_detectors(), LIVE_DETECTOR)


def all_detectors() -> list[Detector]:
    return list(_shipped_detectors())


def check_custom(custom: CustomConfig, detectors: list[Detector] | None = None) -> None:
    """A ``--config`` rule may not take a built-in rule's id (its findings would pass for
    keyturn's). Called where the config is loaded, before any worker process starts, so
    the mistake is a one-line usage error rather than a broken process pool."""
    taken = {d.id for d in (detectors if detectors is not None else all_detectors())}
    clash = sorted(r.id for r in custom.rules if r.id in taken)
    if clash:
        raise UsageError(f"--config {custom.source}: rule id(s) {', '.join(clash)} are keyturn's own — rename them")


def _prefer_detectors(found: list[Finding]) -> list[Finding]:
    """Drop a live-secret sweep hit where a format detector reported the same place."""
    named = [f for f in found if f.detector != LIVE_DETECTOR.id]
    keep = list(named)
    for f in found:
        if f.detector == LIVE_DETECTOR.id and not any(
            n.line == f.line and n.column < f.end_column and f.column < n.end_column for n in named
        ):
            keep.append(f)
    return keep


def hashed_secret(value: str) -> str:
    """detect-secrets' baseline hash (SHA-1 of the value), for baseline compatibility only."""
    return hashlib.sha1(value.encode("utf-8", "surrogateescape")).hexdigest()


class Engine:
    def __init__(
        self,
        fingerprint_key: bytes,
        live: Mapping[str, LiveMatch] | None = None,
        live_key: bytes = b"",
        *,
        use_hyperscan: bool = True,
        custom: CustomConfig | None = None,
    ) -> None:
        self.detectors: list[Detector] = all_detectors()
        self._allow: tuple[Allowlist, ...] = ()
        if custom is not None:
            check_custom(custom, self.detectors)
            self.detectors.extend(custom_detectors(custom))
            self._allow = custom.allowlists
        self._fulltext = [(i, re.compile(d.fulltext)) for i, d in enumerate(self.detectors) if d.fulltext]
        # one more pattern set after the detectors': where base64-wrapped credentials may sit
        self._decode_idx = len(self.detectors)
        self._prefilter = Prefilter(
            [*(d.prefilter for d in self.detectors), DECODE_TRIGGERS], use_hyperscan=use_hyperscan
        )
        self._fp_key = fingerprint_key
        self._live = dict(live or {})
        self._live_key = live_key

    # -- values -> hashes ------------------------------------------------------------
    def _fingerprint(self, detector: str, path: str, value: str) -> str:
        msg = f"keyturn/{detector}\0{path}\0{value}".encode("utf-8", "surrogateescape")
        return hmac.new(self._fp_key, msg, hashlib.sha256).hexdigest()

    def _live_match(self, value: str) -> LiveMatch | None:
        if not self._live:
            return None
        fp = hmac.new(self._live_key, value.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
        return self._live.get(fp)

    # -- scanning --------------------------------------------------------------------
    def scan_text(self, path: str, text: str, lines: set[int] | None = None) -> list[Finding]:
        """Scan a decoded text (see :meth:`scan_bytes`)."""
        return self.scan_bytes(path, text.encode("utf-8", "surrogateescape"), lines, text)

    def scan_bytes(
        self,
        path: str,
        data: bytes,
        lines: set[int] | None = None,
        text: str | None = None,
        *,
        _decode: bool = True,
    ) -> list[Finding]:
        """Scan one file; ``lines`` restricts findings to those 1-based line numbers."""
        if text is None:
            text = data.decode("utf-8", "surrogateescape")
        cands = self._prefilter.candidates(data, text)
        decode = False
        for bucket in cands.values():
            if self._decode_idx in bucket:
                bucket.discard(self._decode_idx)
                decode = True
        found = self._scan_plain(path, text, lines, cands)
        if _decode and decode:
            found.extend(self._scan_decoded(path, text, lines, found))
        return found

    def _scan_plain(
        self, path: str, text: str, lines: set[int] | None, cands: dict[int, set[int]]
    ) -> list[Finding]:
        for idx, rx in self._fulltext:  # custom rules without keywords
            for m in rx.finditer(text):
                cands.setdefault(text.rfind("\n", 0, m.start()) + 1, set()).add(idx)
        found: list[Finding] = []
        if self._live:
            found.extend(self._live_sweep(path, text, lines))
        if not cands:
            return found
        line_no, counted_to = 1, 0
        docs: list[tuple[int, int]] | None = None
        for start in sorted(cands):
            end = text.find("\n", start)
            if end < 0:
                end = len(text)
            line = text[start:end]
            line = line.removesuffix("\r")
            hits = []
            for idx in sorted(cands[start]):
                det = self.detectors[idx]
                for h in det.find(line, text, start, path):
                    hits.append((idx, h))
            hits = [h for h in hits if not filters.documented_example(line[: h[1][0]])]
            if hits and path.endswith(".py"):
                if docs is None:
                    docs = filters.doc_block_ranges(path, text)
                if any(lo <= start < hi for lo, hi in docs):
                    continue
            if not hits:
                continue
            line_no += text.count("\n", counted_to, start)
            counted_to = start
            if lines is not None and line_no not in lines:
                continue
            if _PRAGMA_HINT in line or _PRAGMA_HINT in text[max(0, start - 200) : start]:
                from detect_secrets.filters.allowlist import is_line_allowlisted

                prev_start = text.rfind("\n", 0, max(0, start - 1)) + 1
                prev = text[prev_start : max(prev_start, start - 1)].rstrip("\r") if start else ""
                if is_line_allowlisted(path, line, SimpleNamespace(previous_line=prev)):  # type: ignore[arg-type]
                    continue
            found.extend(self._to_findings(path, line_no, hits, line))
        if self._live and len(found) > 1:
            found = _prefer_detectors(found)
        return found

    def _scan_decoded(self, path: str, text: str, lines: set[int] | None, found: list[Finding]) -> list[Finding]:
        """Base64-wrapped credentials (:mod:`keyturn.scan.decoded`), reported at the base64 span."""
        out: list[Finding] = []
        split: list[str] | None = None
        for line_no, col, end_col, synthetic in decoded_spans(path, text):
            if lines is not None and line_no not in lines:
                continue
            there = [f for f in (*found, *out) if f.line == line_no and f.column < end_col and col < f.end_column]
            if any(f.detector != GENERIC.id for f in there):
                continue  # already reported there by its format
            if split is None:
                split = text.split("\n")
            if _PRAGMA_HINT in split[line_no - 1]:
                from detect_secrets.filters.allowlist import is_line_allowlisted

                prev = split[line_no - 2] if line_no > 1 else ""
                if is_line_allowlisted(path, split[line_no - 1], SimpleNamespace(previous_line=prev)):  # type: ignore[arg-type]
                    continue
            inner = self.scan_bytes(path, synthetic.encode("utf-8", "surrogateescape"), None, synthetic, _decode=False)
            if not inner:  # decoded, it is a placeholder or a plain word: the encoded form is not a secret
                for f in there:
                    (found if f in found else out).remove(f)
                continue
            if there and inner[0].detector == GENERIC.id:
                continue  # the encoded form is already reported as a generic finding
            for f in there:  # the decoded format (github-token, …) says more than generic-secret
                (found if f in found else out).remove(f)
            out.append(replace(inner[0], line=line_no, column=col, end_line=line_no, end_column=end_col))
        return out

    def _live_sweep(self, path: str, text: str, lines: set[int] | None) -> list[Finding]:
        """Every value-like token compared (by keyed hash) with the managed live values."""
        out: list[Finding] = []
        line_no, counted_to, line_start = 1, 0, 0
        for m in _TOKEN.finditer(text):
            tok, base = m.group(), m.start()
            cands = [(base, tok)]
            for sep in "=:":
                i = tok.find(sep)
                if 0 <= i < len(tok) - 8:
                    cands.append((base + i + 1, tok[i + 1 :]))
            for start, value in cands:
                match = self._live_match(value)
                if match is None:
                    continue
                line_no += text.count("\n", counted_to, start)
                counted_to = start
                line_start = text.rfind("\n", 0, start) + 1
                if lines is not None and line_no not in lines:
                    break
                col = start - line_start + 1
                out.append(
                    Finding(
                        detector=LIVE_DETECTOR.id,
                        path=path,
                        line=line_no,
                        column=col,
                        end_line=line_no,
                        end_column=col + len(value),
                        fingerprint=self._fingerprint(LIVE_DETECTOR.id, path, value),
                        hashed_secret=hashed_secret(value),
                        live=match,
                    )
                )
                break
        return out

    def _to_findings(
        self, path: str, line_no: int, hits: list[tuple[int, tuple[int, int, str, int]]], line: str = ""
    ) -> list[Finding]:
        # Where spans overlap, the more specific detector wins (generic < URL credentials < formats).
        ranked = [(_rank(self.detectors[idx].id, v), s, e) for idx, (s, e, v, _) in hits]
        out: list[Finding] = []
        seen: set[tuple[str, int, int]] = set()
        for idx, (s, e, value, extra) in hits:
            rank = _rank(self.detectors[idx].id, value)
            if any(r > rank and s < e2 and s2 < e for r, s2, e2 in ranked):
                continue
            det = self.detectors[idx].id
            if (det, s, e) in seen:
                continue
            if self._allow and allowed(self._allow, det, path, line, value, value):
                continue  # a global allowlist of the --config file
            seen.add((det, s, e))
            out.append(
                Finding(
                    detector=det,
                    path=path,
                    line=line_no,
                    column=s + 1,
                    end_line=line_no + extra,
                    end_column=e + 1,
                    fingerprint=self._fingerprint(det, path, value),
                    hashed_secret=hashed_secret(value),
                    live=self._live_match(value),
                )
            )
        return out
