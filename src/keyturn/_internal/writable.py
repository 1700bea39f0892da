"""Read-only checks that a file or directory keyturn will write later can be written:
run before the first store write, so a bad path is exit 2 with nothing changed."""

from __future__ import annotations

import os
from pathlib import Path

from keyturn.errors import UsageError


def _existing_ancestor(path: Path, what: str) -> Path:
    folder = path
    seen = 0
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
        seen += 1
    if not folder.is_dir():
        kind = "a file" if folder.exists() else "a broken or looping link"
        raise UsageError(f"{what}: {folder} is {kind}, not a directory (needed for {path})")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{what}: cannot create {path}: {folder} is not writable")
    return folder


def check_file(path: Path, what: str) -> None:
    """``path`` is a writable regular file, or can be created."""
    if os.path.lexists(path):
        try:
            path.stat()
        except OSError:
            raise UsageError(f"{what}: {path} is a broken or looping link") from None
        if path.is_dir():
            raise UsageError(f"{what}: {path} is a directory, not a file")
        if not path.is_file():
            raise UsageError(f"{what}: {path} is not a regular file")
        try:  # opening for append writes nothing and leaves the file as it is
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise UsageError(f"{what}: {path} is not writable ({exc.strerror})") from None
        os.close(fd)
        return
    _existing_ancestor(path.parent, what)


def check_dir(path: Path, what: str) -> None:
    """``path`` is a writable directory, or can be created."""
    if os.path.lexists(path):
        if not path.is_dir():
            raise UsageError(f"{what}: {path} is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(f"{what}: {path} is not writable")
        return
    _existing_ancestor(path.parent, what)
