"""Atomic file writes, the one implementation keyturn uses for every output file.

Temp file beside the target (created with its final mode before any byte is written),
fsync, ``os.replace``, then fsync of the directory so the rename itself is durable.
On failure the temp file is removed and the original is untouched. Errors are
:class:`AtomicWriteError` (an ``OSError``) saying which step failed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class AtomicWriteError(OSError):
    """``action`` is ``create directory``, ``write in`` or ``replace``; ``path`` is where."""

    def __init__(self, action: str, path: Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.action = action
        self.path = path
        self.cause = cause


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644,
                 *, dir_mode: int = 0o755) -> None:
    target = Path(path)
    parent = target.parent
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        parent.mkdir(parents=True, exist_ok=True, mode=dir_mode)
    except OSError as exc:
        raise AtomicWriteError("create directory", parent, exc) from exc
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".keyturn-tmp")
    except OSError as exc:
        raise AtomicWriteError("write in", parent, exc) from exc
    try:
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as fh:
                fh.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
    except OSError as exc:
        raise AtomicWriteError("replace", target, exc) from exc
    try:  # make the rename durable
        dir_fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
