"""The whole-file prefilter: which lines can match which detector.

Every detector declares a few *prefilter patterns* — loose, bounded regexes that any
real match must contain (``gh[pousr]_[A-Za-z0-9]{36}``, ``-----BEGIN …PRIVATE KEY``,
``password…= "8 chars"``). They are compiled into one Hyperscan database and run once
over the raw file bytes; each match is mapped to the line holding it, and only those
(line, detector) pairs reach the precise regexes and detect-secrets plugins. Without
the ``hyperscan`` wheel (e.g. an unsupported platform) the same patterns run through
Python's ``re`` — same results, slower. Patterns never span lines (no ``\\s``).
Imports the stdlib and hyperscan only; never stores, targets or cloud SDKs.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from typing import Any

_hs: Any
try:
    import hyperscan as _hs
except ImportError:  # pragma: no cover - platforms without the wheel use the re fallback
    _hs = None

#: (pattern, caseless) pairs, one tuple per detector.
PatternSet = Sequence[tuple[tuple[str, bool], ...]]


class Prefilter:
    def __init__(self, patterns: PatternSet, *, use_hyperscan: bool = True) -> None:
        self._owner: list[int] = []
        exprs: list[bytes] = []
        flags: list[int] = []
        caseless_flags: list[bool] = []
        for det_idx, pats in enumerate(patterns):
            for pat, caseless in pats:
                self._owner.append(det_idx)
                exprs.append(pat.encode("ascii"))
                caseless_flags.append(caseless)
                flags.append(_hs.HS_FLAG_CASELESS if (_hs and caseless) else 0)
        self.engine = "re"
        self._db: Any = None
        self._re: list[tuple[int, re.Pattern[bytes]]] = []
        if use_hyperscan and _hs is not None and exprs:
            self._db = _load_or_compile(exprs, flags)
            self.engine = "hyperscan"
        else:  # the fallback's ~600 regexes are compiled only when it is the one that runs
            self._re = [
                (idx, re.compile(expr, re.IGNORECASE if caseless else 0))
                for idx, expr, caseless in zip(self._owner, exprs, caseless_flags, strict=True)
            ]

    def _ends(self, data: bytes) -> list[tuple[int, int]]:
        """(end offset, detector index) of every prefilter match."""
        if self._db is not None:
            out: list[tuple[int, int]] = []
            owner = self._owner

            def on_match(pid: int, start: int, end: int, flags: int, ctx: object) -> None:
                out.append((end, owner[pid]))

            self._db.scan(data, match_event_handler=on_match)
            return out
        return [(m.end(), idx) for idx, rx in self._re for m in rx.finditer(data)]

    def candidates(self, data: bytes, text: str) -> dict[int, set[int]]:
        """Map line-start offset *in text* -> detector indices that may match on that line."""
        ends = self._ends(data)
        if not ends:
            return {}
        ends.sort()
        ascii_only = len(data) == len(text)
        out: dict[int, set[int]] = {}
        line_lo = line_hi = -1
        char_base = byte_base = 0
        key = 0
        for end, idx in ends:
            pos = max(end - 1, 0)
            if not (line_lo <= pos < line_hi):
                line_lo = data.rfind(b"\n", 0, pos) + 1
                nxt = data.find(b"\n", pos)
                line_hi = len(data) if nxt < 0 else nxt + 1
                if ascii_only:
                    key = line_lo
                else:  # byte offset -> character offset, incrementally (hits are sorted)
                    char_base += len(data[byte_base:line_lo].decode("utf-8", "surrogateescape"))
                    byte_base = line_lo
                    key = char_base
            bucket = out.get(key)
            if bucket is None:
                out[key] = {idx}
            else:
                bucket.add(idx)
        return out


def _cache_dir() -> str:
    base = os.environ.get("KEYTURN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "keyturn"
    )
    return base


def _load_or_compile(exprs: list[bytes], flags: list[int]) -> Any:
    """Compiling the database costs ~0.1 s; a serialized copy is cached (no secrets in it)."""
    assert _hs is not None
    digest = hashlib.sha256(repr((exprs, flags, getattr(_hs, "__version__", ""))).encode()).hexdigest()[:24]
    path = os.path.join(_cache_dir(), f"scan-prefilter-{digest}.hsdb")
    try:
        with open(path, "rb") as fh:
            loaded = _hs.loadb(fh.read(), _hs.HS_MODE_BLOCK)
        loaded.scratch = _hs.Scratch(loaded)
        return loaded
    except (OSError, _hs.error, ValueError, TypeError):
        pass
    db = _hs.Database()
    db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(_hs.dumpb(db))
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: just compile each run
    return db
