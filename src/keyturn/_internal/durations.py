"""Parse and format durations like ``90d``, ``24h``, ``1h30m``, ``45s``, ``2w``, ``0``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([wdhms])")
PATTERN = r"^(0|(\d+[wdhms])+)$"
_EXPECTED = "expected e.g. 90d, 24h, 1h30m, 45s, 2w"
#: timedelta's own limit is ~2.7 million years; refuse well before it.
_MAX_SECONDS = 100 * 365 * 86400


def _show(value: Any) -> str:
    """The offending value as the YAML author wrote it (``true``, not ``True``)."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (an empty value)"
    return str(value)


def parse_duration(text: str | int) -> timedelta:
    """``"90d"`` → 90 days; an int is seconds. Raises ValueError quoting the offending text."""
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise ValueError(f"bad duration {_show(text)}: {_EXPECTED}")  # noqa: TRY004 - validators need ValueError
    if isinstance(text, int):
        seconds = text
        if seconds < 0:
            raise ValueError(f"bad duration {text!r}: must not be negative")
    else:
        s = text.strip().lower()
        if not re.fullmatch(PATTERN, s):
            raise ValueError(f"bad duration {text!r}: {_EXPECTED}")
        seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(s))
    if seconds > _MAX_SECONDS:
        raise ValueError(f"bad duration {_show(text)}: longer than 100 years")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Exact inverse of :func:`parse_duration` (``1d2h3m4s``); ``0s`` for zero."""
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return sign + "".join(out)
