"""Git-aware modes: ``--diff BASE`` (lines added since BASE) and ``--staged`` (pre-commit).

Both ask git for a zero-context diff, parse the added line numbers per file, and then
scan whole files (so multi-line detectors such as PEM keys see their context) keeping
only findings that start on an added line; paths are reported repo-relative. ``--diff`` compares the merge base of BASE
and HEAD with the working tree; ``--staged`` reads file contents from the index.
Imports only the stdlib and keyturn.scan; never stores, targets or SDKs.
"""

from __future__ import annotations

import os
import re
import subprocess

from keyturn.errors import UsageError
from keyturn.scan.files import Excluder, Target

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


def _git(root: str, *args: str, binary: bool = False) -> bytes:
    try:
        proc = subprocess.run(
            ["git", "-c", "core.quotepath=off", *args], cwd=root, capture_output=True, check=False
        )
    except FileNotFoundError as exc:
        raise UsageError("git is not installed: --diff and --staged need git on PATH") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            f"git {args[0]} failed in {root}: {msg[-1] if msg else 'exit ' + str(proc.returncode)}"
        )
    return proc.stdout


def repo_root(path: str) -> str:
    start = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)) or "."
    return _git(start, "rev-parse", "--show-toplevel").decode().strip()


def parse_added_lines(diff: str) -> dict[str, set[int]]:
    """``git diff -U0`` output -> {path: added 1-based line numbers} (new side)."""
    out: dict[str, set[int]] = {}
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            name = line[4:].strip()
            if name == "/dev/null":
                current = None
            else:
                if name.startswith('"') and name.endswith('"'):
                    name = name[1:-1]
                current = name.removeprefix("b/")
                out.setdefault(current, set())
        elif line.startswith("@@") and current is not None:
            m = _HUNK.match(line)
            if m:
                start, count = int(m.group(1)), int(m.group(2) or "1")
                out[current].update(range(start, start + count))
    return {k: v for k, v in out.items() if v}


def _within(rel: str, prefix: str) -> str | None:
    if not prefix:
        return rel
    if rel == prefix or rel.startswith(prefix + "/"):
        return rel[len(prefix) + 1 :] if rel != prefix else os.path.basename(rel)
    return None


def diff_targets(path: str, base: str, excludes: tuple[str, ...]) -> tuple[list[Target], dict[str, set[int]]]:
    """Files changed since ``base`` (working tree side) and their added lines."""
    root = repo_root(path)
    try:
        merge_base = _git(root, "merge-base", base, "HEAD").decode().strip()
    except UsageError:
        _git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")  # bad BASE -> UsageError
        merge_base = base
    diff = _git(root, "diff", "-U0", "--no-color", "--no-ext-diff", "--diff-filter=ACMR", merge_base, "--")
    return _select(
        root, path, parse_added_lines(diff.decode("utf-8", "surrogateescape")), excludes, staged=False
    )


def staged_targets(path: str, excludes: tuple[str, ...]) -> tuple[list[Target], dict[str, set[int]]]:
    """Staged files (contents from the index) and their added lines."""
    root = repo_root(path)
    diff = _git(root, "diff", "--cached", "-U0", "--no-color", "--no-ext-diff", "--diff-filter=ACMR", "--")
    return _select(
        root, path, parse_added_lines(diff.decode("utf-8", "surrogateescape")), excludes, staged=True
    )


def _select(
    root: str, path: str, added: dict[str, set[int]], excludes: tuple[str, ...], *, staged: bool
) -> tuple[list[Target], dict[str, set[int]]]:
    scan_root = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))
    prefix = os.path.relpath(scan_root, os.path.realpath(root)).replace(os.sep, "/")
    if prefix == ".":
        prefix = ""
    if prefix.startswith(".."):
        prefix = os.path.relpath(os.path.realpath(scan_root), os.path.realpath(root)).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix
    excl = Excluder.for_root(scan_root, excludes)
    targets: list[Target] = []
    lines: dict[str, set[int]] = {}
    only = os.path.realpath(path) if os.path.isfile(path) else None
    for repo_rel, numbers in sorted(added.items()):
        rel = _within(repo_rel, prefix)
        abspath = os.path.join(root, repo_rel)
        if only is not None and os.path.realpath(abspath) != only:
            continue
        if (
            rel is None
            or excl.excluded(rel)
            or any(excl.excluded("/".join(rel.split("/")[:i]), True) for i in range(1, rel.count("/") + 1))
        ):
            continue
        data = _git(root, "show", f":{repo_rel}") if staged else None
        if data is None and not os.path.isfile(abspath):
            continue
        targets.append(Target(abspath, repo_rel, data))  # reported repo-relative
        lines[repo_rel] = numbers
    return targets, lines
