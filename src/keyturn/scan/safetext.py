"""Printing untrusted names safely: file paths in every scanner output.

A scanned path is chosen by whoever committed the file, so it may hold a newline, a
carriage return, a GitHub Actions workflow command (``::warning …::`` at the start of a
line, or the legacy ``##[…]`` anywhere in one), terminal escapes, bidirectional
overrides or bytes that are not UTF-8. :func:`display_path` returns a path unchanged
when it is plain and otherwise a double-quoted form with C-style escapes (as git's
``core.quotePath`` does) that holds none of those. :func:`rotate_command` builds the
"rotate this secret" hint with :func:`shlex.quote`, so a pasted hint runs only keyturn.
:func:`neutralise_json` keeps serialized JSON/SARIF free of workflow commands without
changing what it decodes to. Imports only the stdlib.
"""

from __future__ import annotations

import shlex
import unicodedata

#: The legacy runner command prefix, recognised anywhere in a line.
LEGACY_COMMAND = "##["
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _unsafe_char(ch: str) -> bool:
    if ch in _ESCAPES:
        return True
    if ch == " ":
        return False
    if "\udc80" <= ch <= "\udcff":  # undecodable byte (surrogateescape)
        return True
    # Control, format (bidi overrides, zero-width), separators (U+2028/2029, NBSP...), unassigned.
    return unicodedata.category(ch)[0] in ("C", "Z")


def needs_quoting(path: str) -> bool:
    stripped = path.lstrip()
    return (
        stripped != path
        or path.rstrip() != path
        or stripped.startswith("::")
        or LEGACY_COMMAND in path
        or any(_unsafe_char(ch) for ch in path)
    )


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if not _unsafe_char(ch):
        return ch
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def display_path(path: str) -> str:
    """``path`` as printed: itself when plain, else ``"…"`` with C-style escapes.

    The quoted form holds no control or separator character, no ``"`` or ``\\`` except
    as escapes, never starts with ``::`` and never contains ``##[``.
    """
    if not needs_quoting(path):
        return path
    body = "".join(_escape(ch) for ch in path)
    return '"' + body.replace(LEGACY_COMMAND, "#\\x23[") + '"'


def rotate_command(secret: str, path: str) -> str:
    """The emergency-rotation command for a leaked managed secret, safe to paste into a shell."""
    reason = f"leaked in {display_path(path)}"
    return (
        f"keyturn rotate {shlex.quote(display_path(secret))} --mode emergency --reason {shlex.quote(reason)}"
    )


def neutralise_json(text: str) -> str:
    """Serialized JSON with ``##[`` written as ``#\\u0023[``: same document, no legacy command.

    ``json.dumps`` (ASCII, indented) already escapes newlines and never starts a line
    with a string's content, so ``::`` commands cannot appear; ``#`` occurs only inside
    strings, where the escape decodes to the same character.
    """
    return text.replace(LEGACY_COMMAND, "#\\u0023[")
