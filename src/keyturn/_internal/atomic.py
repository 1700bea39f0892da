"""Atomic file writes and safe directory creation, the one implementation keyturn uses.

Temp file beside the target (created with its final mode before any byte is written),
fsync, ``os.replace``, then fsync of the directory so the rename itself is durable.
On failure the temp file is removed and the original is untouched. Directories are
made by :func:`ensure_dir`: every missing component gets exactly the requested mode
(``chmod`` after ``mkdir``, so no umask can make one group- or world-writable), and no
directory is followed through a symlink — neither the directory written into nor,
when a ``root`` is given, any component between ``root`` and it. Errors are
:class:`AtomicWriteError` (an ``OSError``) saying which step failed.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

#: Directories keyturn creates for logs, evidence and reports; secret files get 0700.
DIR_MODE = 0o750


class AtomicWriteError(OSError):
    """``action`` is ``create directory``, ``write in`` or ``replace``; ``path`` is where."""

    def __init__(self, action: str, path: Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.action = action
        self.path = path
        self.cause = cause


class SymlinkRefused(OSError):
    """A path component keyturn would write through is a symbolic link."""

    def __init__(self, path: Path) -> None:
        super().__init__(errno.ELOOP, "it is a symlink (keyturn does not write through symlinks)", str(path))
        self.path = path


def _chain(path: Path, root: Path | None) -> list[Path]:
    """``path`` and its ancestors, outermost first, stopping at ``root`` (excluded)."""
    chain: list[Path] = []
    current = path
    while current != root and current.parent != current:
        chain.append(current)
        current = current.parent
    return chain[::-1]


def ensure_dir(
    path: str | os.PathLike[str],
    mode: int = DIR_MODE,
    *,
    root: str | os.PathLike[str] | None = None,
    create: bool = True,
) -> None:
    """Make ``path`` a directory; raise :class:`SymlinkRefused` or another ``OSError``.

    Components that exist are checked for symlinks when they lie below ``root`` (the
    manifest's directory), or — without ``root`` — only ``path`` itself. Components
    that do not exist are created with exactly ``mode``; with ``create=False`` the
    check stops at the first missing one and nothing is made.
    """
    target = Path(path)
    base = Path(root) if root is not None else None
    inside = base is not None and (target == base or base in target.parents)
    chain = _chain(target, base) if inside else [*_chain(target, None)]
    for component in chain:
        try:
            info = os.lstat(component)
        except FileNotFoundError:
            if not create:
                return
            try:
                os.mkdir(component, mode)
            except FileExistsError:
                info = os.lstat(component)  # made by someone else meanwhile: check it
            else:
                os.chmod(component, mode)  # mkdir's mode is filtered by the umask
                continue
        checked = inside or component == target
        if stat.S_ISLNK(info.st_mode) and checked:
            raise SymlinkRefused(component)
        if not stat.S_ISDIR(os.stat(component).st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "a file is in the way of a directory", str(component))


def special_file(path: str | os.PathLike[str]) -> bool:
    """An existing path that is neither a regular file nor a directory: a device such as
    ``/dev/null`` or ``/dev/stdout``, a FIFO, a socket. Never renamed over: as root that
    would replace ``/dev/null`` itself with a file."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode))


def write_atomic(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o644,
                 *, dir_mode: int = DIR_MODE, root: str | os.PathLike[str] | None = None) -> None:
    target = Path(path)
    parent = target.parent
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if special_file(target):
        raise AtomicWriteError("replace", target, OSError(errno.EINVAL, "not a regular file (a device or a FIFO)"))
    try:
        ensure_dir(parent, dir_mode, root=root)
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


def write_output(path: str | os.PathLike[str], text: str, mode: int = 0o644) -> None:
    """A command's ``--output``: atomically to a file; in place to a device or FIFO
    (``/dev/null``) and through a symlink (``/dev/stdout`` when the shell sent stdout to a
    file), neither of which is ever replaced."""
    if os.path.islink(path) or special_file(path):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    write_atomic(path, text, mode)
