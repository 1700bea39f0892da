"""SecretValue: the only way a secret's plaintext travels through keyturn.

A ``SecretValue`` never shows its plaintext through ``repr``, ``str``, ``format``,
pickling or equality debugging; the plaintext leaves only through :meth:`reveal`, at
the SDK call or the child process environment that needs it. It is immutable, so
``copy``/``deepcopy`` return the same object; pickling and ``json.dumps`` refuse it. Creating one inside
GitHub Actions registers ``::add-mask::`` for the value and its derived forms
(base64, URL-encoded, each line of a multi-line value, string leaves of JSON) before
anything else could print it. This module imports nothing but the standard library
and :mod:`keyturn.gha`; it must never import a store, target or SDK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from typing import Any, NoReturn

REDACTED = "SecretValue(***)"
#: GitHub refuses secrets larger than 48 KB.
GITHUB_MAX_BYTES = 48 * 1024


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


def derived_forms(value: str) -> list[str]:
    """Plain, base64 (std + urlsafe, padded and not), URL-encoded and per-line forms."""
    raw = value.encode("utf-8")
    forms: list[str] = [value]
    for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = enc.decode("ascii")
        forms.append(text)
        forms.append(text.rstrip("="))
    forms.append(urllib.parse.quote(value, safe=""))
    forms.append(urllib.parse.quote_plus(value))
    if "\n" in value or "\r" in value:
        forms.extend(line for line in value.splitlines() if line.strip())
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            forms.extend(_json_string_leaves(json.loads(stripped)))
        except ValueError:
            pass
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
