"""Redaction of text that may hold a secret in any encoding, and value-free excerpts.

A check's output is never echoed as is. :func:`redact` replaces every
:func:`~keyturn.values.derived_forms` form of the value with ``***`` — in the text as
written and in a *compact view* of it with all whitespace and ``od``-style offset
columns removed, so a form wrapped over lines (GNU ``base64`` at 76 columns, ``xxd -p``
at 60) or split into spaced byte pairs (``od -tx1``) is found too. Matching ignores
ASCII case, so hex and ``%xx`` in either case match. A base64 match grows over the
neighbouring base64 characters that may mix the value's first or last bytes with its
surroundings (``user:value``). :func:`excerpt` keeps at most :data:`EXCERPT_CHARS`
characters of one line of what is left. Imports only the standard library and
:mod:`keyturn.values`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from keyturn.values import SecretValue, base64_forms, derived_forms

#: The longest excerpt a check result may carry.
EXCERPT_CHARS = 160
MASK = "***"
#: Forms shorter than this are only redacted when they are the whole value.
_MIN_FORM = 4
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=")
#: One base64 group before a match, and one group plus padding after it.
_B64_EDGE = 4
_OFFSET_COLUMN = re.compile(r"(?m)^[ \t]*[0-9A-Fa-f]{6,}(?=[ \t])")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f\u0085\u2028\u2029]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_WS = frozenset(" \t\r\n\v\f")
#: Line widths of wrapping encoders (PEM/OpenSSL, GNU base64).
_WRAP_WIDTHS = (64, 76)


def _fold(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def _compact_view(text: str) -> tuple[str, list[int]]:
    """``text`` without whitespace and offset columns, with each kept char's index."""
    drop = bytearray(len(text))
    for match in _OFFSET_COLUMN.finditer(text):
        drop[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
    index = [i for i, ch in enumerate(text) if not drop[i] and ch not in _WS]
    return "".join(text[i] for i in index), index


def _wrapped_gap(text: str, a: int, b: int) -> bool:
    """Original chars ``a`` and ``b`` are adjacent, or one encoder line-wrap apart."""
    if b == a + 1:
        return True
    if text[a + 1 : b] not in ("\n", "\r\n"):
        return False
    line_start = text.rfind("\n", 0, a) + 1
    return a + 1 - line_start in _WRAP_WIDTHS


def _grow(text: str, view: str, index: Sequence[int] | None, lo: int, hi: int) -> tuple[int, int]:
    """Widen a base64 match by the group on each side that mixes in the value's bits."""

    def joined(p: int, q: int) -> bool:
        return index is None or _wrapped_gap(text, index[p], index[q])

    for _ in range(_B64_EDGE):
        if lo > 0 and view[lo - 1] in _B64_CHARS and view[lo - 1] != "=" and joined(lo - 1, lo):
            lo -= 1
    end = hi
    while hi < len(view) and hi - end < _B64_EDGE and view[hi] in _B64_CHARS and joined(hi - 1, hi):
        hi += 1
        if view[hi - 1] == "=":  # padding ends the encoding
            while hi < len(view) and view[hi] == "=":
                hi += 1
            break
    return lo, hi


@dataclass(frozen=True)
class Forms:
    """What :func:`redact` looks for: every form, and the base64 ones whose matches grow."""

    all: tuple[str, ...]
    grow: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.all)


def _spans(
    text: str, view: str, index: Sequence[int] | None, forms: Iterable[str], grow_forms: frozenset[str]
) -> list[tuple[int, int]]:
    """Spans (in original indices) of every form in ``view``."""
    folded = _fold(view)
    spans: list[tuple[int, int]] = []
    for form in forms:
        needle = _fold(form)
        grow = form in grow_forms
        start = folded.find(needle)
        while start != -1:
            lo, hi = start, start + len(needle)
            if grow:
                lo, hi = _grow(text, view, index, lo, hi)
            if index is None:
                spans.append((lo, hi))
            else:
                spans.append((index[lo], index[hi - 1] + 1))
            start = folded.find(needle, start + 1)
    return spans


def forms_of(value: SecretValue | str) -> Forms:
    """The forms :func:`redact` looks for (longest first, short fragments dropped)."""
    plain = value.reveal() if isinstance(value, SecretValue) else value
    forms = [f for f in derived_forms(plain) if len(f) >= _MIN_FORM or f == plain]
    grow = frozenset(f for f in base64_forms(plain) if len(f) >= _MIN_FORM)
    return Forms(tuple(sorted(set(forms), key=len, reverse=True)), grow)


def forms_of_all(values: Iterable[SecretValue | str]) -> Forms:
    """The forms of several values at once (a new credential and the admin key that made it)."""
    every: set[str] = set()
    grow: set[str] = set()
    for value in values:
        found = forms_of(value)
        every.update(found.all)
        grow.update(found.grow)
    return Forms(tuple(sorted(every, key=len, reverse=True)), frozenset(grow))


def _as_forms(forms: Forms | Sequence[str]) -> Forms:
    return forms if isinstance(forms, Forms) else Forms(tuple(forms))


def redact(text: str, forms: Forms | Sequence[str], *, drop_prefix: int = 0) -> str:
    """Replace every form (as written, wrapped or spaced; any ASCII case) with ``***``.

    Then drop the first ``drop_prefix`` characters of the original text — where a form
    cut off by a buffer's start could remain partially — keeping a mask that straddles
    the cut.
    """
    found = _as_forms(forms)
    if not found.all or not text:
        return text[drop_prefix:]
    spans = _spans(text, text, None, found.all, found.grow)
    compact, index = _compact_view(text)
    squeezed = [c for c in ("".join(f.split()) for f in found.all) if len(c) >= _MIN_FORM]
    spans += _spans(text, compact, index, squeezed, found.grow)
    spans.sort()
    out: list[str] = []
    pos = drop_prefix
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    for start, end in merged:
        if end <= pos:
            continue
        if start > pos:
            out.append(text[pos:start])
        out.append(MASK)
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)


def reach(forms: Forms | Sequence[str]) -> int:
    """How far (in characters of output) one occurrence of a form can spread.

    ``od -tx1`` writes a byte as three characters plus an offset column per 16 bytes;
    a buffer trimmed at its start must drop this many characters after redaction.
    """
    longest = max((len(f) for f in _as_forms(forms).all), default=0)
    return 4 * longest + 64


def excerpt(text: str, forms: Forms | Sequence[str], *, drop_prefix: int = 0, limit: int = EXCERPT_CHARS) -> str:
    """One line of at most ``limit`` characters from the end of ``text``, value-free.

    Redaction runs over the whole text before anything is cut, so no partial form can
    appear at the excerpt's edge. Control characters (also U+0085, U+2028, U+2029) are
    blanked, so the excerpt cannot start a line the runner reads as a workflow command.
    """
    clean = _CONTROL.sub(" ", redact(text, forms, drop_prefix=drop_prefix))
    one_line = " ".join(clean.split())
    if len(one_line) > limit:
        one_line = "…" + one_line[-(limit - 1) :]
    return one_line
