"""SecretValue: the only way a secret's plaintext travels through keyturn.

A ``SecretValue`` never shows its plaintext through ``repr``, ``str``, ``format``,
pickling or equality debugging; the plaintext leaves only through :meth:`reveal`, at
the SDK call or the child process environment that needs it. It is immutable, so
``copy``/``deepcopy`` return the same object; pickling and ``json.dumps`` refuse it. Creating one inside
GitHub Actions registers ``::add-mask::`` for the value and its derived forms
(:func:`derived_forms`: base64 incl. wrapped and embedded, hex incl. ``xxd``/``od``
layouts, URL-encoded, JSON-escaped, each line of a multi-line value, string leaves of
JSON) before anything else could print it. This module imports nothing but the standard library
and :mod:`keyturn.gha`; it must never import a store, target or SDK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from typing import Any, NoReturn

REDACTED = "SecretValue(***)"
#: GitHub refuses secrets larger than 48 KB.
GITHUB_MAX_BYTES = 48 * 1024
_PCT = re.compile(r"%[0-9A-F]{2}")


class SecretValue:
    """A secret's plaintext in a box that prints as ``SecretValue(***)``."""

    __slots__ = ("_value",)
    _value: str  # declared for type checkers; storage is the slot above

    def __init__(self, value: str | bytes, *, mask: bool = True) -> None:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                # The codec's message quotes the offending byte and its position.
                raise ValueError("SecretValue bytes must be valid UTF-8") from None
        if not isinstance(value, str):
            raise TypeError("SecretValue takes str or bytes")
        object.__setattr__(self, "_value", value)
        if mask:
            from keyturn import gha

            gha.register_secret(self)

    # -- the only exit -------------------------------------------------------------
    def reveal(self) -> str:
        """Return the plaintext. Call this only at the SDK / env boundary."""
        return self._value

    def reveal_bytes(self) -> bytes:
        return self.reveal().encode("utf-8")

    # -- metadata that never leaks the value ----------------------------------------
    def __len__(self) -> int:
        return len(self._value)

    @property
    def byte_length(self) -> int:
        return len(self.reveal_bytes())

    @property
    def is_multiline(self) -> bool:
        return "\n" in self._value or "\r" in self._value

    @property
    def is_json(self) -> bool:
        text = self._value.strip()
        if not text or text[0] not in "{[":
            return False
        try:
            json.loads(text)
        except ValueError:
            return False
        return True

    def fingerprint(self, key: bytes) -> str:
        """Keyed HMAC-SHA256 fingerprint (hex). Never a plain hash of the value."""
        if not key:
            raise ValueError("fingerprint needs a non-empty key")
        return hmac.new(key, self.reveal_bytes(), hashlib.sha256).hexdigest()

    def same_as(self, other: SecretValue) -> bool:
        """Constant-time comparison of two values."""
        return hmac.compare_digest(self.reveal_bytes(), other.reveal_bytes())

    def derived_forms(self) -> list[str]:
        """The value and every encoded form a leak could take (for masks and canaries)."""
        return derived_forms(self._value)

    # -- everything that could print it --------------------------------------------
    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SecretValue):
            return self.same_as(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("SecretValue", hashlib.sha256(self.reveal_bytes()).digest()))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("SecretValue is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("SecretValue is immutable")

    # Pickling would write the plaintext wherever the bytes go (cache, queue, file).
    def __reduce__(self) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("SecretValue cannot be pickled")

    # Immutable, so a copy is the same object: no second plaintext, no second mask.
    def __copy__(self) -> SecretValue:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SecretValue:
        return self

    def __bool__(self) -> bool:
        return bool(self._value)


#: GNU ``base64`` wraps at 76 columns, ``xxd -p`` at 60 hex digits, ``od -tx1`` at 16 bytes.
B64_WRAP = 76
XXD_WRAP = 60
OD_BYTES = 16


def visible_ascii(text: str) -> bool:
    """Every character printable ASCII other than space (``!`` … ``~``): what a token,
    a password keyturn sets or a namespace may hold — a trailing newline, a tab or a
    non-ASCII look-alike is refused where such text arrives."""
    return all(33 <= ord(c) <= 126 for c in text)


def _b64_cores(raw: bytes) -> list[str]:
    """Base64 of ``raw`` at each of the three byte alignments, full groups only.

    A value inside a larger encoded string (``user:value`` for HTTP Basic auth, or
    ``echo "$V" | base64`` with its trailing newline) encodes to one of these
    substrings: the groups made only of the value's own bytes do not depend on what
    surrounds it.
    """
    out: list[str] = []
    for skip in range(3):
        body = raw[skip:]
        body = body[: len(body) - len(body) % 3]
        if body:
            out.append(base64.b64encode(body).decode("ascii"))
            out.append(base64.urlsafe_b64encode(body).decode("ascii"))
    return out


def base64_forms(value: str) -> list[str]:
    """The base64 forms of ``value`` (every alignment, both alphabets, padded and not)."""
    raw = value.encode("utf-8", "surrogatepass")
    forms: list[str] = []
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode("ascii")
        forms.extend((text, text.rstrip("=")))
    return forms + _b64_cores(raw)


def _chunks(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def derived_forms(value: str) -> list[str]:
    """The value and every encoded form a leak could take (for masks, redaction, canaries).

    Plain; base64 (std and urlsafe, padded and not, and at every byte alignment, which
    covers base64 of ``user:value``), each 76-column line of GNU ``base64`` output; hex
    in lower and upper case, each 60-digit ``xxd -p`` line and each 16-byte
    ``od -tx1`` line body; URL-encoding with upper- and lowercase ``%xx`` (``quote`` and
    ``quote_plus``); JSON-escaped (ASCII-only, raw, and with ``\\/``) and Python-repr
    escaped; each line of a multi-line value; string leaves of a JSON value. Runner masks
    match within one log line, hence the per-line forms.
    """
    raw = value.encode("utf-8", "surrogatepass")
    forms: list[str] = [value, *base64_forms(value)]
    wrapped = base64.b64encode(raw).decode("ascii")
    if len(wrapped) > B64_WRAP:
        lines = _chunks(wrapped, B64_WRAP)
        # The last line changes when the input ends with a newline: keep its full groups.
        last = lines[-1].rstrip("=")
        lines[-1] = last[: len(last) - len(last) % 4] if len(raw) % 3 else last
        forms.extend(lines)
    hexed = raw.hex()
    forms.extend((hexed, hexed.upper()))
    if len(hexed) > XXD_WRAP:
        for line in _chunks(hexed, XXD_WRAP):
            forms.extend((line, line.upper()))
    if len(raw) > OD_BYTES:
        for i in range(0, len(raw), OD_BYTES):
            forms.append(" ".join(f"{b:02x}" for b in raw[i : i + OD_BYTES]))
    for quoted in (urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)):
        forms.append(quoted)
        forms.append(_PCT.sub(lambda m: m.group(0).lower(), quoted))
    if "\n" in value or "\r" in value:
        forms.extend(line for line in value.splitlines() if line.strip())
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            forms.extend(_json_string_leaves(json.loads(stripped)))
        except ValueError:
            pass
    for form in list(forms):
        for escaped in (json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1], repr(form)[1:-1]):
            forms.append(escaped)
            forms.append(escaped.replace("/", "\\/"))
    seen: set[str] = set()
    out: list[str] = []
    for form in forms:
        if form and form not in seen:
            seen.add(form)
            out.append(form)
    return out


def _json_string_leaves(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [leaf for v in node.values() for leaf in _json_string_leaves(v)]
    if isinstance(node, list):
        return [leaf for v in node for leaf in _json_string_leaves(v)]
    return []
