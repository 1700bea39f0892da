"""``file`` target: entries as ``NAME=value`` lines of a dotenv file.

Updates keep every other line, comment and the order of the file (new names are
appended), and replace the file atomically (temp file in the same directory, fsync,
``os.replace``) with mode 0600. Values matching ``[A-Za-z0-9_./:@+=-]*`` are written
bare, anything else double-quoted with ``\\``, ``"``, ``$``, `````, newline and CR
escaped; the parser reads bare, single- and double-quoted values (also spanning lines),
``export NAME=`` prefixes and comments, so what is written reads back exactly. Errors
name the path and line number, never a value or a line's text. The file must lie inside
the manifest's directory (``allow_outside`` opts out); a symlink at the path or at any
directory between the manifest's directory and the file is refused, never followed
(the file is opened with ``O_NOFOLLOW``), and missing directories are made 0700. This module imports only the standard
library, :mod:`keyturn.values`, :mod:`keyturn.errors`, :mod:`keyturn.targets.base` and its
manifest config (:mod:`keyturn.targets.file_config`); it must never import a store,
validator or SDK.
"""

from __future__ import annotations

import errno
import hmac
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from keyturn._internal.atomic import AtomicWriteError, SymlinkRefused, ensure_dir, write_atomic
from keyturn.errors import TargetFailed, UsageError
from keyturn.targets.base import Entry, Target, WriteReport
from keyturn.targets.file_config import FileTargetConfig, escapes
from keyturn.values import SecretValue

if TYPE_CHECKING:
    from keyturn.targets.registry import TargetFactory

FILE_MODE = 0o600
#: Directories made for a dotenv file hold secrets: owner only.
DIR_MODE = 0o700
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENTRY = re.compile(r"(?P<export>[ \t]*export[ \t]+)?[ \t]*(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*")
_AFTER_QUOTE = re.compile(r"[ \t]*(#.*)?")
_BARE_VALUE = re.compile(r"(?P<value>.*?)(?P<comment>[ \t]+#.*|[ \t]*)")
_ESCAPES = {"\\": "\\", '"': '"', "$": "$", "`": "`", "n": "\n", "r": "\r", "t": "\t"}


class DotenvSyntaxError(ValueError):
    """A line that is not blank, a comment or ``NAME=value``; carries no line text."""

    def __init__(self, lineno: int, reason: str) -> None:
        super().__init__(f"line {lineno}: {reason}")
        self.lineno = lineno
        self.reason = reason


@dataclass
class _Line:
    """One logical line (a quoted value may span several physical lines)."""

    text: str  # exactly as in the file, line ending included
    name: str | None = None
    value: str | None = None
    export: bool = False
    comment: str = ""  # trailing ``  # comment`` after the value, kept on rewrite
    eol: str = ""


class Style(str, Enum):
    """How a value is spelled (the file target's ``format:``)."""

    #: Bare ``NAME=value`` only: python-dotenv, ``docker --env-file``, bash ``set -a; .``
    #: and systemd ``EnvironmentFile=`` all read it back exactly. Other values are refused.
    ENV_FILE = "env-file"
    #: Also single-quoted values (multi-line too) for python-dotenv, bash and systemd;
    #: ``docker --env-file`` does no unquoting and cannot read those.
    DOTENV = "dotenv"


#: Characters every reader takes literally in a bare value.
_PORTABLE = re.compile(r"[A-Za-z0-9_./:@+=,%^!#~-]*")
#: Line separators some reader splits on (``str.splitlines``), and NUL.
_SEPARATORS = re.compile("[\x00\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


class Unrepresentable(ValueError):
    """A value this style cannot write so that every reader reads it back; no value text."""


def format_value(value: str, style: Style = Style.ENV_FILE) -> str:
    """The spelling of ``value`` in ``style``; :class:`Unrepresentable` when there is none.

    Bare when portable: ``[A-Za-z0-9_./:@+=,%^!#~-]``, no ``~`` at the start or after
    ``:`` (bash tilde expansion) and no ``#`` at the start (a comment to some readers).
    ``dotenv`` single-quotes the rest; single quotes take everything literally in bash
    and systemd, and python-dotenv only unescapes ``\\\\`` and ``\\'`` there, so a value
    with ``'`` or those pairs is refused, as is ``${`` (python-dotenv interpolates it even
    in single quotes), an empty value and every line separator but LF.
    """
    if not value:
        raise Unrepresentable("is empty (systemd's parser rejects NAME= with nothing after it)")
    if _PORTABLE.fullmatch(value) and not value.startswith(("~", "#")) and ":~" not in value:
        return value
    if _SEPARATORS.search(value):
        raise Unrepresentable("holds a carriage return, NUL or Unicode line separator that some reader splits on")
    if style is Style.ENV_FILE:
        raise Unrepresentable(
            "needs quoting, which docker --env-file does not undo (only A-Z a-z 0-9 _ . / : @ + = , % ^ ! # ~ - "
            "are portable) — use a generator with that alphabet, or format: dotenv on this target"
        )
    if "'" in value or "\\\\" in value or value.endswith("\\"):
        raise Unrepresentable("holds a single quote or backslash pair that python-dotenv would unescape")
    if "${" in value:
        raise Unrepresentable("holds ${, which python-dotenv expands even inside single quotes")
    return f"'{value}'"


def _physical_lines(text: str) -> list[tuple[str, str]]:
    """(content, line ending) pairs, splitting on LF only (CRLF kept as an ending)."""
    out: list[tuple[str, str]] = []
    for chunk in text.split("\n"):
        out.append((chunk[:-1], "\r\n") if chunk.endswith("\r") else (chunk, "\n"))
    last, _ = out.pop()  # the text after the final LF
    if last:
        out.append((last, ""))
    return out


def parse_lines(text: str) -> list[_Line]:
    """Parse dotenv text into logical lines; raises :class:`DotenvSyntaxError`."""
    physical = _physical_lines(text)
    lines: list[_Line] = []
    i = 0
    while i < len(physical):
        content, eol = physical[i]
        start = i
        i += 1
        stripped = content.strip()
        if not stripped or stripped.startswith("#"):
            lines.append(_Line(text=content + eol, eol=eol))
            continue
        match = _ENTRY.match(content)
        if not match:
            raise DotenvSyntaxError(start + 1, "expected NAME=value, a comment or a blank line")
        rest = content[match.end() :]
        raw = [content + eol]
        if rest[:1] in ('"', "'"):
            quote = rest[0]
            chars: list[str] = []
            pos = 1
            while True:
                if pos >= len(rest):  # value continues on the next physical line
                    if i >= len(physical):
                        raise DotenvSyntaxError(start + 1, f"unterminated {quote} quote")
                    chars.append("\n")
                    rest, eol = physical[i]
                    raw.append(rest + eol)
                    i += 1
                    pos = 0
                    continue
                ch = rest[pos]
                if ch == quote:
                    break
                if ch == "\\" and quote == '"' and pos + 1 < len(rest):
                    nxt = rest[pos + 1]
                    if nxt in _ESCAPES:
                        chars.append(_ESCAPES[nxt])
                        pos += 2
                        continue
                chars.append(ch)
                pos += 1
            after = rest[pos + 1 :]
            if not _AFTER_QUOTE.fullmatch(after):
                raise DotenvSyntaxError(i, "unexpected text after the closing quote")
            value, comment = "".join(chars), after
        else:
            if rest.startswith("#"):
                value, comment = "", rest
            else:
                bare = _BARE_VALUE.fullmatch(rest)
                assert bare is not None  # the pattern matches any single line
                value, comment = bare.group("value"), bare.group("comment")
        lines.append(
            _Line(
                text="".join(raw),
                name=match.group("name"),
                value=value,
                export=bool(match.group("export")),
                comment=comment.rstrip() if comment.strip() else "",
                eol=eol,
            )
        )
    return lines


def _render(name: str, value: str, *, comment: str, eol: str, style: Style) -> str:
    # docker --env-file and systemd take `export` and a trailing comment as part of the
    # line: the comment moves to its own line above, `export` is dropped (`set -a` exports).
    above = f"{comment.strip()}{eol or chr(10)}" if comment.strip() else ""
    return f"{above}{name}={format_value(value, style)}{eol}"


class LocalFile:
    """A file inside the manifest's directory that a target owns: read without following
    symlinks, replaced atomically with :attr:`file_mode`. The dotenv :class:`FileTarget`
    and the JWK Set target (:mod:`keyturn.targets.jwks`) share it; ``path`` is relative to
    ``base_dir`` (the manifest's directory) when given."""

    #: Mode of the written file, and of directories made for it.
    file_mode = FILE_MODE
    dir_mode = DIR_MODE
    #: What the file is, in messages ("… is a directory, not a dotenv file").
    what = "dotenv file"

    def __init__(self, path: str | Path, *, base_dir: Path | None = None, allow_outside: bool = False) -> None:
        self.given = str(path)
        p = Path(path)
        self.root = Path(base_dir) if base_dir is not None else None
        if self.root is not None:
            if not allow_outside and escapes(self.given):
                raise UsageError(
                    f"file target {self.given}: outside the manifest's directory — use a relative path "
                    "inside it, or set allow_outside: true on this target"
                )
            if not p.is_absolute():
                p = self.root / p
        self.path = Path(os.path.normpath(p))

    @property
    def label(self) -> str:
        return f"file:{self.given}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.given!r})"

    # -- errors -------------------------------------------------------------------------

    def _fail(self, message: str) -> TargetFailed:
        return TargetFailed(message, target=self.label)

    def _os_error(self, action: str, path: Path, exc: OSError) -> TargetFailed:
        if isinstance(exc, PermissionError):
            why = "permission denied"
        elif isinstance(exc, IsADirectoryError):
            why = "it is a directory, not a file"
        elif isinstance(exc, (NotADirectoryError, FileExistsError)):
            why = "a file is in the way of a directory in the path"
        else:
            why = exc.strerror or type(exc).__name__
        return self._fail(f"cannot {action} {path}: {why}")

    # -- reading ------------------------------------------------------------------------

    def _check_dirs(self) -> None:
        """No directory between the manifest's directory and the file is a symlink."""
        try:
            ensure_dir(self.path.parent, self.dir_mode, root=self.root, create=False)
        except OSError as exc:
            raise self._os_error("read", Path(exc.filename or self.path.parent), exc) from exc

    def _read_text(self) -> str | None:
        self._check_dirs()
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                exc = SymlinkRefused(self.path)
            raise self._os_error("read", self.path, exc) from exc
        try:
            kind = os.fstat(fd).st_mode
            if not stat.S_ISREG(kind):
                why = "it is a directory, not a file" if stat.S_ISDIR(kind) else "not a regular file"
                raise self._fail(f"cannot read {self.path}: {why}")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                data = fh.read()
        except OSError as exc:
            raise self._os_error("read", self.path, exc) from exc
        finally:
            os.close(fd)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise self._fail(f"{self.path}:{line}: not UTF-8 text") from None

    # -- writing ------------------------------------------------------------------------

    def _mode_ok(self) -> bool:
        try:
            return stat.S_IMODE(os.lstat(self.path).st_mode) == self.file_mode and self.path.is_file()
        except OSError:
            return False

    def _replace(self, text: str) -> None:
        """Atomically replace the file (see :mod:`keyturn._internal.atomic`)."""
        try:
            write_atomic(self.path, text, self.file_mode, dir_mode=self.dir_mode, root=self.root)
        except AtomicWriteError as exc:
            raise self._os_error(exc.action, exc.path, exc.cause) from exc

    def _save_text(self, old: str | None, text: str) -> WriteReport:
        """Replace the file with ``text`` unless it already holds it (with the right mode)."""
        if text == old and self._mode_ok():
            return self._report(False)
        self._replace(text)
        return self._report(True)

    def _report(self, changed: bool) -> WriteReport:
        return WriteReport(
            requests=1 if changed else 0,
            confirmed_at=datetime.now(UTC),
            skipped=not changed,
            details={"path": str(self.path)},
        )

    def _check_names(self, names: Sequence[str]) -> None:
        for name in names:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise self._fail(f"invalid entry name {name!r}: use letters, digits and _")

    def _check_parses(self) -> None:
        """Read and parse the file (subclasses); raises :class:`TargetFailed`."""
        raise NotImplementedError

    def check_access(self) -> None:
        """The file (if it exists) parses, and its folder exists or can be created and is
        writable — without writing anything."""
        try:
            if self.path.is_dir():
                raise self._fail(f"{self.path} is a directory, not a {self.what}")
            self._check_parses()
        except TargetFailed as exc:  # a file the user gave us: bad input (exit 2), not a service failure
            raise UsageError(str(exc)) from None
        folder = self.path.parent
        while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise UsageError(f"{self.label}: {folder} is not a directory")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{self.label}: cannot write in {folder} (permission denied)")


class FileTarget(LocalFile):
    """A dotenv file. ``path`` relative to ``base_dir`` (the manifest's directory) when given."""

    def __init__(
        self,
        path: str | Path,
        *,
        base_dir: Path | None = None,
        allow_outside: bool = False,
        style: Style | str = Style.ENV_FILE,
    ) -> None:
        super().__init__(path, base_dir=base_dir, allow_outside=allow_outside)
        self.style = Style(style)

    def _load(self) -> tuple[str | None, list[_Line]]:
        text = self._read_text()
        if text is None:
            return None, []
        body = text.removeprefix("\ufeff")
        try:
            return text, parse_lines(body)
        except DotenvSyntaxError as exc:
            raise self._fail(f"{self.path}:{exc.lineno}: {exc.reason}") from None

    def read(self) -> dict[str, SecretValue]:
        """Every entry's effective (last) value; empty when the file does not exist."""
        _, lines = self._load()
        return {
            ln.name: SecretValue(ln.value) for ln in lines if ln.name is not None and ln.value is not None
        }

    def _check_values(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            try:
                format_value(entry.reveal(), self.style)
            except Unrepresentable as exc:
                raise self._fail(f"entry {entry.name}: the value {exc}") from None

    def preflight(self, entries: Sequence[Entry]) -> None:
        self._check_names([e.name for e in entries])
        self._check_values(entries)

    def _check_parses(self) -> None:
        self._load()

    def write(self, entries: Sequence[Entry]) -> WriteReport:
        self._check_names([e.name for e in entries])
        self._check_values(entries)
        wanted = {e.name: e.reveal() for e in entries}
        old, lines = self._load()
        bom = "\ufeff" if old and old.startswith("\ufeff") else ""
        out: list[str] = []
        for ln in lines:
            if ln.name in wanted:
                out.append(
                    _render(ln.name, wanted[ln.name], comment=ln.comment, eol=ln.eol, style=self.style)
                )
            else:
                out.append(ln.text)
        present = {ln.name for ln in lines}
        new = [name for name in wanted if name not in present]
        if new:
            eol = next((ln.eol for ln in lines if ln.eol), "\n")
            if out and not out[-1].endswith("\n"):
                out[-1] += eol
            out.extend(_render(n, wanted[n], comment="", eol=eol, style=self.style) for n in new)
        return self._save_text(old, bom + "".join(out))

    def delete(self, names: Sequence[str]) -> WriteReport:
        self._check_names(names)
        old, lines = self._load()
        doomed = set(names)
        if old is None or not any(ln.name in doomed for ln in lines):
            return self._report(False)
        bom = "\ufeff" if old.startswith("\ufeff") else ""
        kept = [ln.text for ln in lines if ln.name not in doomed]
        self._replace(bom + "".join(kept))
        return self._report(True)

    def is_current(self, entries: Sequence[Entry], *, since: datetime) -> bool:
        """True iff every entry's name holds exactly its value (``since`` is unused:
        a file's content is authoritative)."""
        self._check_names([e.name for e in entries])
        old, lines = self._load()
        if old is None:
            return False
        found = {ln.name: ln.value for ln in lines if ln.name is not None and ln.value is not None}
        current = True
        for entry in entries:
            have = found.get(entry.name)
            if have is None:
                current = False
                continue
            if not hmac.compare_digest(have.encode("utf-8"), entry.reveal().encode("utf-8")):
                current = False
        return current


def build_targets(config: FileTargetConfig, factory: TargetFactory) -> list[Target]:
    """The registry's builder for ``- file:`` entries (one file, one target)."""
    if config.format == "jwks":
        from keyturn.targets.jwks import JwksTarget

        return [JwksTarget(config.file, base_dir=factory.base_dir, allow_outside=config.allow_outside)]
    return [FileTarget(config.file, base_dir=factory.base_dir, allow_outside=config.allow_outside,
                       style=config.format)]
