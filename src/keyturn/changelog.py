"""``keyturn changelog-pr``: carry a run's audit records and evidence into the repository.

Runners are ephemeral, so the audit lines and evidence a rotation wrote on the runner
are committed to one fixed branch (default ``keyturn/rotations``) and proposed in one
rolling pull request that is updated in place: ten rotations make one PR, not ten. The
run's records are appended to the repository's audit log and re-chained onto the head
found there (:mod:`keyturn._internal.audit_merge`), each operation gets a
``SECURITY-CHANGELOG.md`` entry rendered from ``templates/changelog-entry.md.j2``, and
evidence files are copied with their audit anchors renamed to the merged chain. Every
file converges on its own (entries carry a marker, records an identity, evidence is
compared by content), so a killed run is finished by the next. No diff → no commit and
no PR: the operation is ``none``. Values are never available here: only audit records
(which refuse values) and evidence files (which hold none) are read. Must not import a
store, target or the engine.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyturn._internal import audit_merge
from keyturn._internal.changelog_render import Entry, entries_from, render
from keyturn._internal.github_repo import RemoteFile, RepoClient
from keyturn.audit import GENESIS_DIGEST, Keyring
from keyturn.errors import UsageError

HEADER = "# Security changelog\n\nWhat keyturn rotated, newest first. Values are never recorded.\n\n"
MARKER = "<!-- keyturn:entry "


@dataclass(frozen=True)
class Settings:
    repository: str
    branch: str
    base: str | None
    title: str
    changelog_path: str  # repository paths (posix, relative to the root)
    log_path: str
    evidence_dir: str
    local_log: Path
    local_evidence: Path
    server_url: str = "https://github.com"


def settings_from(manifest: Any, environ: Mapping[str, str]) -> Settings:
    """Settings from a loaded manifest (``audit:`` and ``changelog:``) and the Actions env."""
    repository = environ.get("GITHUB_REPOSITORY", "").strip()
    if not repository:
        raise UsageError("changelog-pr: set GITHUB_REPOSITORY=owner/name (Actions sets it)")
    root = Path(environ.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    model = manifest.model
    local_log = manifest.resolve(model.audit.log)
    local_evidence = manifest.resolve(model.audit.evidence_dir)
    changelog = manifest.resolve(model.changelog.file)
    return Settings(repository, model.changelog.branch, model.changelog.base, model.changelog.title,
                    _repo_path(changelog, root, "changelog.file"), _repo_path(local_log, root, "audit.log"),
                    _repo_path(local_evidence, root, "audit.evidence_dir"), local_log, local_evidence,
                    (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"))


def _repo_path(path: Path, root: Path, key: str) -> str:
    rel = os.path.relpath(path.resolve(), root)
    if rel.startswith("..") or os.path.isabs(rel):
        raise UsageError(f"changelog-pr: {key} {path} is outside the repository checkout {root}")
    return Path(rel).as_posix()


@dataclass
class Outcome:
    operation: str  # created | updated | none
    branch: str
    base: str
    url: str = ""
    number: int = 0
    carried: int = 0
    head: str = ""
    count: int = 0
    files: list[str] = field(default_factory=list)
    dry_run: bool = False


@dataclass
class _Plan:
    base: str
    start: str  # the ref whose log the run continues
    branch_sha: str | None
    reset_to: str | None  # create/move the branch to this sha before writing
    writes: dict[str, tuple[bytes, str | None, str]]  # path -> (content, blob sha, commit message)
    merge: audit_merge.Merge
    entries: list[Entry]


def _read(client: RepoClient, path: str, ref: str) -> RemoteFile | None:
    return client.read_file(path, ref)


def choose_start(client: RepoClient, s: Settings) -> tuple[str, str | None, str | None, str]:
    """(ref to continue from, branch sha, sha to reset the branch to, base) — see module doc."""
    base = s.base or client.default_branch()
    base_sha = client.branch_sha(base)
    if base_sha is None:
        raise UsageError(f"changelog-pr: base branch {base!r} not found in {s.repository}")
    branch_sha = client.branch_sha(s.branch)
    if branch_sha is None:
        return base, None, base_sha, base
    if client.open_pull(s.branch, base) is not None:
        return s.branch, branch_sha, None, base
    # A branch without an open PR: keep it only if it holds records the base lacks.
    on_branch = _read(client, s.log_path, s.branch)
    on_base = _read(client, s.log_path, base)
    known = {audit_merge.identity(r) for r in audit_merge.parse(on_base.content if on_base else b"", s.log_path)}
    extra = [r for r in audit_merge.parse(on_branch.content if on_branch else b"", s.log_path)
             if audit_merge.identity(r) not in known]
    if extra:
        return s.branch, branch_sha, None, base
    return base, branch_sha, base_sha, base


def plan(client: RepoClient, s: Settings, keyring: Keyring) -> _Plan:
    start, branch_sha, reset_to, base = choose_start(client, s)
    remote_log = _read(client, s.log_path, start)
    local = s.local_log.read_bytes() if s.local_log.is_file() else b""
    merged = audit_merge.merge(remote_log.content if remote_log else b"", local, keyring,
                               remote_where=f"{s.repository}@{start}:{s.log_path}", local_where=str(s.local_log))
    writes: dict[str, tuple[bytes, str | None, str]] = {}
    evidence = _evidence_writes(client, s, start, merged.renamed, writes)
    records = audit_merge.parse(merged.data, s.log_path)
    carried_keys = {Entry.key_of(r) for r in merged.carried}
    entries = [e for e in entries_from(records, evidence, s.evidence_dir) if e.key in carried_keys]
    changelog = _read(client, s.changelog_path, start)
    text = changelog.content.decode("utf-8") if changelog else ""
    fresh = [e for e in entries if f"{MARKER}{e.key} -->" not in text]
    if fresh:
        rendered = "".join(render("changelog-entry.md.j2", e=e, log_path=s.log_path)
                           for e in sorted(fresh, key=lambda e: e.started, reverse=True))
        writes[s.changelog_path] = (_insert(text, rendered).encode("utf-8"), changelog.sha if changelog else None,
                                    _message("changelog", fresh))
    if merged.carried:
        writes[s.log_path] = (merged.data, remote_log.sha if remote_log else None,
                              f"keyturn: audit log +{len(merged.carried)} record(s), head {merged.head[:12]}"
                              + _describe(entries))
    return _Plan(base, start, branch_sha, reset_to, writes, merged, entries)


def _evidence_writes(client: RepoClient, s: Settings, ref: str, renamed: dict[str, str],
                     writes: dict[str, tuple[bytes, str | None, str]]) -> list[str]:
    if not s.local_evidence.is_dir():
        return []
    names: list[str] = []
    for path in sorted(s.local_evidence.iterdir()):
        if path.suffix not in (".json", ".md") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for old, new in renamed.items():
            if old and old != new:
                text = text.replace(old, new)
        repo_path = f"{s.evidence_dir}/{path.name}"
        names.append(repo_path)
        remote = _read(client, repo_path, ref)
        if remote is None or remote.content != text.encode("utf-8"):
            writes[repo_path] = (text.encode("utf-8"), remote.sha if remote else None,
                                 f"keyturn: evidence {path.name}")
    return names


def _insert(text: str, rendered: str) -> str:
    if not text.strip():
        return HEADER + rendered
    at = text.find(MARKER)
    if at < 0:
        return text.rstrip("\n") + "\n\n" + rendered
    return text[:at] + rendered + text[at:]


def _describe(entries: list[Entry]) -> str:
    if not entries:
        return ""
    return "\n\n" + "\n".join(f"- {e.secret}: {e.outcome}, {e.versions_text}; targets: "
                               f"{', '.join(e.targets) or 'none'}; checks: {'; '.join(e.checks) or 'none'}"
                               for e in entries)


def _message(what: str, entries: list[Entry]) -> str:
    return f"keyturn: {what} — {', '.join(f'{e.secret} {e.outcome}' for e in entries)}" + _describe(entries)


def changelog_pr(client: RepoClient, s: Settings, keyring: Keyring, *, dry_run: bool = False) -> Outcome:
    """Plan, then (unless ``dry_run``) commit and open or update the pull request."""
    p = plan(client, s, keyring)
    out = Outcome("none", s.branch, p.base, carried=len(p.merge.carried), head=p.merge.head,
                  count=p.merge.count, files=list(p.writes), dry_run=dry_run)
    existing = client.open_pull(s.branch, p.base) if p.branch_sha else None
    if existing is not None:
        out.url, out.number = existing.url, existing.number
    orphan = existing is None and p.start == s.branch  # commits on the branch, no PR (e.g. PR creation refused)
    if not p.writes and not orphan:
        return out
    out.operation = "updated" if existing is not None else "created"
    if dry_run:
        return out
    if p.reset_to is not None:
        if p.branch_sha is None:
            client.create_branch(s.branch, p.reset_to)
        elif p.branch_sha != p.reset_to:
            client.move_branch(s.branch, p.reset_to)
    for path, (content, sha, message) in p.writes.items():
        client.write_file(path, content, s.branch, message, sha)
    body = _body(client, s, p)
    if existing is not None:
        pull = client.update_pull(existing.number, s.title, body)
    else:
        pull = client.create_pull(s.branch, p.base, s.title, body)
    out.url, out.number = pull.url, pull.number
    return out


def _body(client: RepoClient, s: Settings, p: _Plan) -> str:
    """Everything the branch holds that the base lacks (so an update shows all of it)."""
    base_log = _read(client, s.log_path, p.base)
    known = {audit_merge.identity(r) for r in audit_merge.parse(base_log.content if base_log else b"", s.log_path)}
    records = audit_merge.parse(p.merge.data, s.log_path)
    keys = {Entry.key_of(r) for r in records if audit_merge.identity(r) not in known}
    files = [f"{s.evidence_dir}/{f.name}" for f in sorted(s.local_evidence.glob("*.md"))] \
        if s.local_evidence.is_dir() else []
    entries = [e for e in entries_from(records, files, s.evidence_dir) if e.key in keys]
    links = sorted({link for e in entries for link in e.evidence if link.endswith(".md")})
    blob = f"{s.server_url}/{s.repository}/blob/{s.branch}/"
    return render("pr-body.md.j2", entries=entries, log_path=s.log_path, count=p.merge.count,
                  head=p.merge.head, changelog_path=s.changelog_path, evidence=[blob + x for x in links])


def fetch_log(client: RepoClient, s: Settings, keyring: Keyring) -> tuple[str, int, str]:
    """Start this run's chain from the repository's head: write the remote log (PR branch,
    else base) to the local log path unless the local log holds records the remote lacks.
    Returns (ref, records, head)."""
    start, _, _, _ = choose_start(client, s)
    remote = _read(client, s.log_path, start)
    data = remote.content if remote else b""
    where = f"{s.repository}@{start}:{s.log_path}"
    audit_merge.verify_bytes(data, keyring, where)
    records = audit_merge.parse(data, where)
    head = str(records[-1]["digest"]) if records else GENESIS_DIGEST
    local = s.local_log.read_bytes() if s.local_log.is_file() else b""
    known = {audit_merge.identity(r) for r in records}
    if all(audit_merge.identity(r) in known for r in audit_merge.parse(local, str(s.local_log))) and data:
        from keyturn._internal.atomic import write_atomic

        write_atomic(s.local_log, data, 0o644)
    return start, len(records), head


def summary(out: Outcome) -> str:
    """The step summary (``templates/changelog-summary.md.j2``)."""
    return render("changelog-summary.md.j2", operation=out.operation, branch=out.branch, base=out.base,
                  url=out.url, carried=out.carried, head=out.head, files=out.files)
