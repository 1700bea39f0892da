"""Talking to the GitHub Actions runner: masks, outputs, step summary, annotations.

Everything that writes a workflow command or a runner file lives here.
Masks are written to stderr: the runner parses workflow commands on both streams, and
stdout is reserved for results (JSON, SARIF, Markdown). Outside Actions
(``GITHUB_ACTIONS`` unset) masking is a no-op and outputs go nowhere unless the
``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` files are set. Imports only the stdlib.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import uuid
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from keyturn.values import SecretValue

#: Values shorter than this are not masked (short masks garble logs); generators
#: refuse to produce them.
MIN_MASK_LENGTH = 8
#: GitHub's per-step summary limit.
STEP_SUMMARY_LIMIT = 1024 * 1024

#: Digests of the masks already sent in this process (never the plaintexts).
_masked: set[bytes] = set()
#: digests of values whose every derived form was sent (to stderr): not derived again
_registered: set[bytes] = set()
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_TRUNCATED = "\n> keyturn: step summary truncated at GitHub's 1 MiB limit.\n"


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS", "").lower() == "true"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def add_mask(text: str, stream: TextIO | None = None) -> None:
    """Register one mask (escaped), once per process, when running inside Actions.

    Values shorter than :data:`MIN_MASK_LENGTH` (multi-line or not) and blank values
    are skipped: short masks garble logs, and generators refuse such values anyway.
    """
    if not in_actions():
        return
    if len(text) < MIN_MASK_LENGTH or not text.strip():
        return
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    if digest in _masked:
        return
    out = stream or sys.stderr
    out.write(f"::add-mask::{escape_data(text)}\n")
    out.flush()
    _masked.add(digest)


def reset_masks() -> None:
    """Forget which masks were sent, so the next registration sends them again.

    For tests and for long-lived processes that serve more than one job (masks do not
    follow a value into another job).
    """
    _masked.clear()
    _registered.clear()


def register_secret(value: SecretValue, stream: TextIO | None = None) -> None:
    """Mask a value and all its derived forms, when running inside Actions."""
    if not in_actions():
        return
    digest = hashlib.sha256(value.reveal().encode("utf-8", "surrogatepass")).digest()
    if stream is None and digest in _registered:
        return  # a copy of a value already masked (a re-read, a field): its forms are sent
    for form in value.derived_forms():
        add_mask(form, stream)
    if stream is None:
        _registered.add(digest)


def _append_kv(path_var: str, name: str, value: str) -> bool:
    if not _OUTPUT_NAME.fullmatch(name):
        raise ValueError(f"{path_var}: bad name {name!r}: letters, digits, - and _ only")
    if not isinstance(value, str):
        # Outputs are handles (version ids, URLs), never a SecretValue or other object.
        raise TypeError(f"{path_var}: value for {name} must be str, not {type(value).__name__}")
    path = os.environ.get(path_var)
    if not path:
        return False
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    if delimiter in value:
        raise ValueError(f"{path_var}: value for {name} contains the delimiter")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return True


def set_output(name: str, value: str) -> bool:
    """Append a step output (a handle, never a secret value)."""
    return _append_kv("GITHUB_OUTPUT", name, value)


def append_summary(markdown: str) -> bool:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    data = markdown if markdown.endswith("\n") else markdown + "\n"
    current = os.path.getsize(path) if os.path.exists(path) else 0
    if current + len(data.encode("utf-8")) > STEP_SUMMARY_LIMIT:
        # Say so once, if the note itself still fits; never write a partial summary.
        if current + len(_TRUNCATED) > STEP_SUMMARY_LIMIT or (current and _ends_with(path, _TRUNCATED)):
            return False
        data = _TRUNCATED
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(data)
    return True


def _ends_with(path: str, text: str) -> bool:
    tail = text.encode("utf-8")
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size < len(tail):
            return False
        fh.seek(size - len(tail))
        return fh.read() == tail


def annotation(
    level: str,
    message: str,
    *,
    file: str | None = None,
    line: int | None = None,
    title: str | None = None,
    stream: TextIO | None = None,
) -> None:
    """Emit ``::error|warning|notice file=…,line=…,title=…::message`` (Actions only)."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"unknown annotation level {level!r}")
    if not in_actions():
        return
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line:
        props.append(f"line={int(line)}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level} {','.join(props)}::" if props else f"::{level}::"
    out = stream or sys.stderr
    out.write(head + escape_data(message) + "\n")
    out.flush()
