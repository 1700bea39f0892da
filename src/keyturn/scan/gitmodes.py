"""Git-aware modes: ``--diff BASE`` (lines added since BASE) and ``--staged`` (pre-commit).

Both ask git for a zero-context diff, parse the added line numbers per file, and then
scan whole files (so multi-line detectors such as PEM keys see their context) keeping
only findings that start on an added line; paths are reported repo-relative. ``--diff`` compares the merge base of BASE
and HEAD with the working tree; ``--staged`` reads file contents from the index.
Paths in git's C-quoted form (``"a\\nb"``) are unquoted, so a file whose name holds a
newline is scanned like any other. ``--history`` lives in :mod:`keyturn.scan.history`.
Imports only the stdlib and keyturn.scan; never stores, targets or SDKs.
"""

from __future__ import annotations

import os
import re
import subprocess

from keyturn.errors import UsageError
from keyturn.scan.files import Excluder, Target, path_excluded

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


#: Options for every git process: no replaced objects, no pager, unquoted UTF-8 paths.
GIT_BASE = ("git", "--no-replace-objects", "--no-pager", "-c", "core.quotepath=off")


def git_not_installed() -> UsageError:
    return UsageError("git is not installed: --diff, --staged and --history need git on PATH")


def git(root: str, *args: str) -> bytes:
    try:
        proc = subprocess.run([*GIT_BASE, *args], cwd=root, capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise git_not_installed() from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            f"git {args[0]} failed in {root}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}"
        )
    return proc.stdout


def repo_root(path: str) -> str:
    start = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)) or "."
    return git(start, "rev-parse", "--show-toplevel").decode().strip()


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote_path(name: str) -> str:
    """Undo git's C-style quoting of a path (``"a\\nb"``, ``"\\303\\251"``); plain names pass through."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    body, out, i = name[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 == len(body):
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
        elif body[i + 1] in "01234567":
            j = i + 1
            while j < min(i + 4, len(body)) and body[j] in "01234567":
                j += 1
            out.append(int(body[i + 1 : j], 8) & 0xFF)
            i = j
        else:
            out.append(_C_ESCAPES.get(body[i + 1], ord(body[i + 1]) & 0xFF))
            i += 2
    return out.decode("utf-8", "surrogateescape")


def parse_added_lines(diff: str) -> dict[str, set[int]]:
    """``git diff -U0`` output -> {path: added 1-based line numbers} (new side).

    ``+++``/``---`` are file headers only between ``diff --git`` and the first hunk: an
    added line that reads ``++ x`` shows as ``+++ x`` inside a hunk and is content.
    """
    out: dict[str, set[int]] = {}
    current: str | None = None
    in_header = False
    for line in diff.split("\n"):
        if line.startswith("diff "):
            current, in_header = None, True
        elif in_header and line.startswith("+++ "):
            name = unquote_path(line[4:].rstrip("\r").removesuffix("\t"))
            current = None if name == "/dev/null" else name.removeprefix("b/")
            if current is not None:
                out.setdefault(current, set())
        elif line.startswith("@@"):
            in_header = False
            m = _HUNK.match(line)
            if m and current is not None:
                start, count = int(m.group(1)), int(m.group(2) or "1")
                out[current].update(range(start, start + count))
    return {k: v for k, v in out.items() if v}


def _within(rel: str, prefix: str) -> str | None:
    if not prefix:
        return rel
    if rel == prefix or rel.startswith(prefix + "/"):
        return rel[len(prefix) + 1 :] if rel != prefix else os.path.basename(rel)
    return None


def check_revision(flag: str, rev: str) -> None:
    """Refuse a revision that git would read as an option (``--output=…``) or that is blank."""
    if not rev.strip() or rev.startswith("-") or "\0" in rev or "\n" in rev:
        raise UsageError(f"{flag} {rev!r}: not a git revision")


def merge_base(root: str, base: str) -> str:
    """The merge base of ``base`` and HEAD (``base`` itself for unrelated histories).

    A shallow clone that lacks the merge base is an error, not a silent fallback: the
    range would then include commits that are not the pull request's.
    """
    check_revision("--diff", base)
    try:
        git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except UsageError as exc:
        raise UsageError(
            f"--diff {base}: unknown git revision in {root} — fetch it first "
            "(actions/checkout with fetch-depth: 0, or git fetch origin BRANCH)"
        ) from exc
    try:
        return git(root, "merge-base", base, "HEAD").decode().strip()
    except UsageError:
        shallow = git(root, "rev-parse", "--is-shallow-repository").decode().strip() == "true"
        if shallow:
            raise UsageError(
                f"--diff {base}: no merge base with HEAD in this shallow clone of {root} — fetch "
                "the history (actions/checkout with fetch-depth: 0)"
            ) from None
        return git(root, "rev-parse", "--verify", f"{base}^{{commit}}").decode().strip()


def diff_targets(
    path: str, base: str, excludes: tuple[str, ...], merge_base_rev: str | None = None
) -> tuple[list[Target], dict[str, set[int]]]:
    """Files changed since the merge base of ``base`` and HEAD (working tree side) and their added lines."""
    root = repo_root(path)
    mb = merge_base_rev or merge_base(root, base)
    diff = git(
        root, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-textconv", "--diff-filter=ACMRT",
        "--src-prefix=a/", "--dst-prefix=b/", mb, "--",
    )
    return _select(
        root, path, parse_added_lines(diff.decode("utf-8", "surrogateescape")), excludes, staged=False
    )


def staged_targets(path: str, excludes: tuple[str, ...]) -> tuple[list[Target], dict[str, set[int]]]:
    """Staged files (contents from the index) and their added lines."""
    root = repo_root(path)
    diff = git(
        root, "diff", "--cached", "-U0", "--no-color", "--no-ext-diff", "--no-textconv",
        "--diff-filter=ACMRT", "--src-prefix=a/", "--dst-prefix=b/", "--",
    )
    return _select(
        root, path, parse_added_lines(diff.decode("utf-8", "surrogateescape")), excludes, staged=True
    )


def scan_prefix(root: str, path: str) -> str:
    """``path`` relative to the work tree ``root`` (POSIX; "" for the top)."""
    here = os.path.abspath(path)
    prefix = os.path.relpath(here, os.path.realpath(root)).replace(os.sep, "/")
    if prefix.startswith(".."):
        prefix = os.path.relpath(os.path.realpath(here), os.path.realpath(root)).replace(os.sep, "/")
    return "" if prefix == "." else prefix


def _select(
    root: str, path: str, added: dict[str, set[int]], excludes: tuple[str, ...], *, staged: bool
) -> tuple[list[Target], dict[str, set[int]]]:
    scan_root = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))
    prefix = scan_prefix(root, scan_root)
    excl = Excluder.for_root(scan_root, excludes)
    targets: list[Target] = []
    lines: dict[str, set[int]] = {}
    only = os.path.realpath(path) if os.path.isfile(path) else None
    for repo_rel, numbers in sorted(added.items()):
        rel = _within(repo_rel, prefix)
        abspath = os.path.join(root, repo_rel)
        if only is not None and os.path.realpath(abspath) != only:
            continue
        if rel is None or path_excluded(rel, excl):
            continue  # no skip_dir here (as before): api drops vendored directories by looking at
            # the files on disk, and tracked files under .tox/, __pycache__/… are scanned
        data = git(root, "show", f":0:{repo_rel}") if staged else None  # stage 0: a path "0:x" stays a path
        if data is None and not os.path.isfile(abspath):
            continue
        targets.append(Target(abspath, repo_rel, data))  # reported repo-relative
        lines[repo_rel] = numbers
    return targets, lines
