"""Base64-wrapped credentials: decode, and hand the decoded text back to the same detectors.

Three places where a credential is stored base64-encoded, so no detector sees its format:

- Kubernetes ``Secret`` manifests: every entry under ``data:`` is base64 of the value;
- ``.docker/config.json`` (and ``auths`` blocks elsewhere): ``"auth": base64("user:password")``;
- HTTP ``Authorization: Basic base64("user:password")`` headers (curl lines, logs, HAR files).

Each decoded value becomes a one-line synthetic config (``NAME=value`` for a Secret entry,
``password=…`` for a user:password pair) that the engine scans with every detector; a finding
is reported at the base64 span in the original file. Imports only the stdlib; the engine
passes itself in. Values stay inside the scanner, as everywhere else.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

__all__ = ["DECODE_TRIGGERS", "Decoded", "decoded_spans"]

#: Prefilter patterns (see keyturn.scan.prefilter): a file holding none of them is not decoded.
DECODE_TRIGGERS: tuple[tuple[str, bool], ...] = (
    ('"auth"[ \t]*:[ \t]*"[A-Za-z0-9+/]{8}', False),
    ("authorization[\"']?[ \t]*[:=][ \t]*[\"']?basic[ \t]+[A-Za-z0-9+/]{8}", True),
    ("kind:[ \t]*[\"']?Secret", False),
)

#: (line number, start column, end column (1-based, exclusive), synthetic text to scan)
Decoded = tuple[int, int, int, str]

_B64 = r"[A-Za-z0-9+/]{8,}={0,2}"
_DOCKER_AUTH = re.compile(r'"auth"[ \t]*:[ \t]*"(?P<v>' + _B64 + ')"')
#: matched at the "a" of authorization (the scan finds the word first): headers, -H 'Authorization: …'
_BASIC = re.compile(r"(?i)authorization[\"']?[ \t]*[:=][ \t]*[\"']?basic[ \t]+(?P<v>" + _B64 + ")")
_SECRET_KIND = re.compile(r"(?m)^kind:\s*[\"']?Secret[\"']?\s*$")
_DATA_KEY = re.compile(r"^(?P<indent>[ \t]*)data:\s*$")
_ENTRY = re.compile(r"^(?P<indent>[ \t]+)(?P<name>[\w.\-]{1,253}):\s*[\"']?(?P<v>" + _B64 + r")[\"']?\s*$")


def _decode(value: str) -> str | None:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not text or any(ord(c) < 32 and c not in "\t\r\n" for c in text):
        return None
    return text


def _user_password(text: str) -> str | None:
    user, sep, password = text.partition(":")
    if not sep or not password or "\n" in password:
        return None
    return f'password = "{password}"\n'


def decoded_spans(path: str, text: str) -> Iterator[Decoded]:
    """Every base64-wrapped credential candidate in ``text`` with its synthetic scan text."""
    matches: list[re.Match[str]] = []
    if '"auth"' in text:
        matches.extend(_DOCKER_AUTH.finditer(text))
    for needle in ("uthorization", "UTHORIZATION"):  # str.find is far faster than a caseless regex
        i = text.find(needle)
        while i > 0:
            m = _BASIC.match(text, i - 1, i + 400)
            if m is not None and (i < 2 or not text[i - 2].isalnum()):
                matches.append(m)
            i = text.find(needle, i + 1)
    for m in sorted(matches, key=lambda m: m.start()):
        line_start = text.rfind("\n", 0, m.start()) + 1
        line_no = text.count("\n", 0, m.start()) + 1
        yield from _pair(line_no, m, line_start)
    if "data:" in text and _SECRET_KIND.search(text):
        yield from _k8s_secret(text)


def _pair(line_no: int, m: re.Match[str], line_start: int) -> Iterator[Decoded]:
    decoded = _decode(m.group("v"))
    synthetic = _user_password(decoded) if decoded else None
    if synthetic:
        yield line_no, m.start("v") - line_start + 1, m.end("v") - line_start + 1, synthetic


def _k8s_secret(text: str) -> Iterator[Decoded]:
    """Entries of a ``data:`` block (one level deeper than ``data:``) of a Secret document."""
    data_indent: int | None = None
    for line_no, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if line.startswith("---"):
            data_indent = None
            continue
        d = _DATA_KEY.match(line)
        if d:
            data_indent = len(d.group("indent"))
            continue
        if data_indent is None:
            continue
        e = _ENTRY.match(line)
        if e is None or len(e.group("indent")) <= data_indent:
            if line.strip() and len(line) - len(line.lstrip()) <= data_indent:
                data_indent = None  # left the data: block
            continue
        decoded = _decode(e.group("v"))
        if decoded is None:
            continue
        name = re.sub(r"[^\w]", "_", e.group("name"))
        value = decoded.rstrip("\n")
        if "\n" in value:  # a file (PEM key, kubeconfig, .env): scan it as it is
            synthetic = decoded
        else:
            synthetic = f'{name} = "{value}"\n'
        yield line_no, e.start("v") + 1, e.end("v") + 1, synthetic
