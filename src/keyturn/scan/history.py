"""Git history: which blobs each commit introduced, read with git's plumbing.

``git log -z --raw --reverse --topo-order -M --diff-merges=combined RANGE`` lists, oldest
commit first, every path a commit changed with its new blob id and its parents' blob ids
(merges list only paths that differ from every parent: a conflict resolution or an "evil
merge"). No checkout and no patch text: blob contents come from one ``git cat-file
--batch`` process (:mod:`keyturn.scan.blobs`). A finding counts as introduced by a commit
when its value is not in the parent blob of that path — so a secret that was already
there before the range, or only moved within the file, is not reported again — and each
(path, rule, value) is reported once, at the oldest commit that introduced it.

This module holds the log reader, the result type (:class:`HistoryResult`, whose
:class:`Origin` per finding names commit and author date) and :func:`scan_history`.
Imports the stdlib and keyturn.scan; never stores, targets or SDKs.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from keyturn.errors import UsageError
from keyturn.scan import gitmodes
from keyturn.scan.blobs import scan_blobs
from keyturn.scan.files import Excluder, path_excluded, skip_reason
from keyturn.scan.model import Finding, ScanOptions, ScanResult, Summary
from keyturn.scan.runner import EngineSpec

_NULL_CHUNK = 1 << 20
#: ``--history ALL``: every branch, tag and other ref, not just what HEAD reaches.
ALL_REFS = "ALL"
#: Modes whose "blob" is not file content: a submodule commit (gitlink) and a symlink target.
_NOT_CONTENT = ("160000", "120000")


@dataclass(frozen=True)
class Commit:
    sha: str
    author_date: str  # ISO 8601 as git prints it (%aI)


@dataclass(frozen=True)
class Change:
    commit: int  # index into the commit list
    path: str
    blob: str
    parents: tuple[tuple[str, str], ...]  # (parent blob id, path there) for each parent that had one


@dataclass(frozen=True)
class Origin:
    """Where a history finding came from."""

    commit: str
    author_date: str

    def note(self) -> str:
        """What a history finding's message says: where it came from and what to do."""
        return (
            f"in git history: added by commit {self.commit[:12]} ({self.author_date}); a later commit "
            "that removes it does not take it out of history — rotate it, deleting it is not enough"
        )

    def to_json(self) -> dict[str, str]:
        return {"commit": self.commit, "author_date": self.author_date}


def origin_key(f: Finding) -> tuple[str, str, int, int, str]:
    return (f.detector, f.path, f.line, f.column, f.hashed_secret)


@dataclass
class HistoryResult(ScanResult):
    """A scan result in which some findings come from commits (see :func:`origin_of`)."""

    origins: dict[tuple[str, str, int, int, str], Origin] = field(default_factory=dict)
    commits: int = 0
    rev_range: str = ""


def origin_of(result: ScanResult, f: Finding) -> Origin | None:
    if isinstance(result, HistoryResult):
        return result.origins.get(origin_key(f))
    return None


def _tokens(stream: subprocess.Popen[bytes]) -> Iterator[bytes]:
    assert stream.stdout is not None
    rest = b""
    while chunk := stream.stdout.read(_NULL_CHUNK):
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def read_log(root: str, rev_range: str, pathspec: str = "") -> tuple[list[Commit], list[Change]]:
    """Commits of ``rev_range`` (oldest first) and every content change they made."""
    if rev_range == ALL_REFS:
        revs = ["--all"]
    else:
        gitmodes.check_revision("--history", rev_range)
        revs = ["--end-of-options", rev_range]
    args = [
        *gitmodes.GIT_BASE, "-c", "log.showSignature=false", "-c", "diff.renameLimit=2000",
        "log", "-z", "--raw", "--no-abbrev", "-M", "--diff-merges=combined", "--reverse",
        "--topo-order", "--no-decorate", "--no-color", "--format=%x01%H%x00%aI",
        *revs, "--", *([pathspec] if pathspec else []),
    ]  # fmt: skip
    errors = tempfile.TemporaryFile()  # a file, not a pipe: warnings per commit must not block git
    try:
        proc = subprocess.Popen(args, cwd=root, stdout=subprocess.PIPE, stderr=errors)
    except FileNotFoundError as exc:
        errors.close()
        raise gitmodes.git_not_installed() from exc
    commits: list[Commit] = []
    changes: list[Change] = []
    tokens = _tokens(proc)
    for tok in tokens:
        tok = tok.lstrip(b"\n")
        if not tok:
            continue
        if tok.startswith(b"\x01"):
            commits.append(Commit(_decode(tok[1:]), _decode(next(tokens, b"")).strip()))
            continue
        if not tok.startswith(b":") or not commits:
            continue
        colons = len(tok) - len(tok.lstrip(b":"))
        fields = _decode(tok[colons:]).split()
        n = colons  # parents
        modes, shas, status = fields[: n + 1], fields[n + 1 : 2 * n + 2], fields[-1]
        paths = [_decode(next(tokens, b""))]
        if n == 1 and status[:1] in ("R", "C"):
            paths.append(_decode(next(tokens, b"")))
        new_mode, new_blob = modes[-1], shas[-1]
        if set(new_blob) == {"0"} or new_mode in _NOT_CONTENT or status.startswith("D"):
            continue
        old_path = paths[0]
        parents = tuple(
            (sha, old_path)
            for mode, sha in zip(modes[:-1], shas[:-1], strict=True)
            if set(sha) != {"0"} and mode not in _NOT_CONTENT
        )
        changes.append(Change(len(commits) - 1, paths[-1], new_blob, parents))
    proc.wait()
    errors.seek(0)
    err = errors.read().decode("utf-8", "replace").strip().splitlines()
    errors.close()
    if proc.returncode != 0:
        detail = err[-1] if err else f"exit {proc.returncode}"
        raise UsageError(f"--history {rev_range}: git log failed in {root}: {detail}")
    return commits, changes


class PathFilter:
    """The tree walk's path rules for paths that exist only in history."""

    def __init__(self, scan_root: str, prefix: str, opts: ScanOptions) -> None:
        self.opts = opts
        self.prefix = prefix
        self.excl = Excluder.for_root(scan_root, opts.excludes)
        self._seen: dict[str, bool] = {}

    def keep(self, path: str) -> bool:
        """``path`` is repo-relative; exclude globs match it relative to the scan root."""
        known = self._seen.get(path)
        if known is None:
            known = self._seen[path] = self._keep(path)
        return known

    def _keep(self, path: str) -> bool:
        rel = path[len(self.prefix) + 1 :] if self.prefix and path.startswith(self.prefix + "/") else path
        return not path_excluded(rel, self.excl, self.opts) and skip_reason(path, 0, self.opts) is None


def introduced(
    commits: list[Commit], changes: list[Change], found: dict[str, list[Finding]]
) -> tuple[list[Finding], dict[tuple[str, str, int, int, str], Origin]]:
    """Findings each change introduced (value absent from its parents), oldest first, once each."""
    values = {blob: {f.hashed_secret for f in fs} for blob, fs in found.items()}
    done: set[str] = set()
    seen: set[tuple[str, str, str]] = set()
    out: list[Finding] = []
    origins: dict[tuple[str, str, int, int, str], Origin] = {}
    for ch in changes:
        if ch.blob in done or ch.blob not in found:
            continue
        done.add(ch.blob)
        before: set[str] = set()
        for blob, _ in ch.parents:
            before |= values.get(blob, set())
        commit = commits[ch.commit]
        for f in found[ch.blob]:
            key = (f.path, f.detector, f.hashed_secret)
            if f.hashed_secret in before or key in seen:
                continue
            seen.add(key)
            out.append(f)
            origins[origin_key(f)] = Origin(commit.sha, commit.author_date)
    return out, origins


#: blob id -> (path it was scanned under, its findings): what a ``--diff`` scan may reuse.
Scanned = dict[str, tuple[str, list[Finding]]]


def scan_history(
    path: str, rev_range: str, opts: ScanOptions, spec: EngineSpec, *, scanned: Scanned | None = None
) -> HistoryResult:
    """Scan every blob ``rev_range`` introduced, for the tree or subdirectory ``path``.

    ``scanned``, if given, receives every blob put through the engine (skips included:
    the same path and bytes get the same verdict), so ``--diff`` need not scan a
    working-tree file again that is byte for byte one of them."""
    started = time.monotonic()
    root = gitmodes.repo_root(path)
    prefix = gitmodes.scan_prefix(root, path)
    commits, changes = read_log(root, rev_range, f":(top,literal){prefix}" if prefix else "")
    scan_root = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    keep = PathFilter(scan_root, prefix if os.path.isdir(path) else os.path.dirname(prefix), opts)
    wanted: dict[str, str] = {}  # blob -> path it is scanned under (its first new occurrence)
    for ch in changes:
        if keep.keep(ch.path):
            wanted.setdefault(ch.blob, ch.path)
    for ch in changes:
        if ch.blob in wanted:
            for blob, old in ch.parents:
                wanted.setdefault(blob, old)
    batch = scan_blobs(root, wanted, opts, spec)
    if scanned is not None:
        scanned.update((blob, (p, batch.found.get(blob, []))) for blob, p in wanted.items())
    findings, origins = introduced(commits, changes, batch.found)
    summary = Summary(
        files_scanned=batch.files,
        bytes_scanned=batch.bytes,
        files_skipped=batch.skipped,
        findings=len(findings),
        new_findings=len(findings),
        seconds=time.monotonic() - started,
    )
    return HistoryResult(findings, summary, origins=origins, commits=len(commits), rev_range=rev_range)
