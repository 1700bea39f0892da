"""Parse and format durations like ``90d``, ``24h``, ``1h30m``, ``45s``, ``2w``, ``0``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([wdhms])")
PATTERN = r"^(0|(\d+[wdhms])+)$"


def parse_duration(text: str | int) -> timedelta:
    """``"90d"`` → 90 days. Raises ValueError with the offending text."""
    if isinstance(text, bool):
        raise ValueError(f"bad duration {text!r}: expected e.g. 90d, 24h, 30m, 45s")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"bad duration {text!r}: must not be negative")
        return timedelta(seconds=text)
    s = str(text).strip().lower()
    if s == "0":
        return timedelta(0)
    if not re.fullmatch(PATTERN, s):
        raise ValueError(f"bad duration {text!r}: expected e.g. 90d, 24h, 1h30m, 45s, 2w")
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(s)))


def format_duration(delta: timedelta) -> str:
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
    return sign + "".join(out[:2])
