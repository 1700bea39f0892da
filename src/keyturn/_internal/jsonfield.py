"""Read and replace one top-level string field of a JSON object *in its text*, so that
every other byte of the document (other fields, their order, whitespace, escapes) stays
exactly as it was. Used by stores whose secrets hold JSON documents (AWS Secrets
Manager's ``{"username": ..., "password": ...}`` convention). Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

_WS = " \t\n\r"


class NotAnObject(ValueError):
    """The text is not one JSON object (or repeats a key)."""


@dataclass(frozen=True)
class Fields:
    #: key → (start, end) of its value in the text
    spans: dict[str, tuple[int, int]]
    #: end of the last value (insertion point), or the position after "{" when empty
    tail: int


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def parse(text: str) -> Fields:
    """The top-level fields of ``text`` with their value spans. Raises NotAnObject."""
    decoder = json.JSONDecoder()
    try:
        i = _skip(text, 0)
        if text[i] != "{":
            raise NotAnObject("not a JSON object")
        i = _skip(text, i + 1)
        spans: dict[str, tuple[int, int]] = {}
        tail = i
        if text[i] != "}":
            while True:
                if text[i] != '"':
                    raise NotAnObject("expected a key")
                key, i = json.decoder.scanstring(text, i + 1)  # type: ignore[attr-defined]
                i = _skip(text, i)
                if text[i] != ":":
                    raise NotAnObject("expected ':'")
                start = _skip(text, i + 1)
                _, end = decoder.raw_decode(text, start)
                if key in spans:
                    raise NotAnObject(f"key {key!r} appears twice")
                spans[key] = (start, end)
                tail = end
                i = _skip(text, end)
                if text[i] == ",":
                    i = _skip(text, i + 1)
                    continue
                if text[i] != "}":
                    raise NotAnObject("expected ',' or '}'")
                break
        if _skip(text, i + 1) != len(text):
            raise NotAnObject("text after the object")
    except (IndexError, json.JSONDecodeError) as exc:
        raise NotAnObject("not valid JSON") from exc
    return Fields(spans, tail)


def get(text: str, key: str) -> str | None:
    """The string value of ``key`` (None when absent). Raises NotAnObject, or
    TypeError when the field is not a string."""
    fields = parse(text)
    if key not in fields.spans:
        return None
    start, end = fields.spans[key]
    value = json.loads(text[start:end])
    if not isinstance(value, str):
        raise TypeError(f"field {key!r} is a {type(value).__name__}, not a string")
    return value


def replace(text: str | None, key: str, value: str) -> str:
    """``text`` with the value of ``key`` set to ``value`` (added at the end when
    absent); a new ``{"key": "value"}`` document when ``text`` is None."""
    encoded = json.dumps(value)
    if text is None:
        return "{" + json.dumps(key) + ": " + encoded + "}"
    fields = parse(text)
    if key in fields.spans:
        start, end = fields.spans[key]
        return text[:start] + encoded + text[end:]
    sep = ", " if fields.spans else ""
    return text[:fields.tail] + sep + json.dumps(key) + ": " + encoded + text[fields.tail:]
