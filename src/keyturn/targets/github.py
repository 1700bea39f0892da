"""GitHub Actions / Dependabot secrets as rotation targets: repository, environment, organization.

One target object per scope (``github:acme/api``, ``github:acme/api@env:production``,
``github:acme/worker@dependabot``, ``github-org:acme``). A write seals each entry with the
scope's public key (fetched at most once per run through the shared
:class:`~keyturn._internal.github_client.GitHubSession`, not at all when its
:class:`~keyturn.targets.github_cache.KeyCache` remembers it) and PUTs it: GitHub's
201/204 is the confirmation, timed by the response's ``Date``. A cached key GitHub
refuses (422) is refetched once. ``is_current`` reads GitHub's ``updated_at`` (a GET of
the secret for one entry, the paged list for several) and is meant for resumes: a target
the ledger shows as attempted before. Many targets are written concurrently through
:func:`keyturn.targets.batch.write_ordered`. Call :meth:`preflight` for every target before the first write:
names and sizes GitHub would refuse are rejected up front (``UsageError``, exit 2).
Failures raise :class:`~keyturn.errors.TargetFailed` naming the target, never a value.
Must not import a store or the engine.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from keyturn._internal.github_client import Counter, GitHubRequestFailed, GitHubSession, ScopeKey
from keyturn.errors import TargetFailed, UsageError
from keyturn.targets.base import Entry, Target, WriteReport
from keyturn.values import GITHUB_MAX_BYTES

if TYPE_CHECKING:
    from keyturn.targets.github_config import GitHubOrgTargetConfig, GitHubTargetConfig
    from keyturn.targets.registry import TargetFactory

Visibility = Literal["all", "private", "selected"]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OWNER_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HINTS = {
    401: "bad credentials — check GITHUB_TOKEN or the GitHub App key",
    403: "permission denied — the GitHub App needs {permission}: write (a classic token: {scope})",
    404: "not found — check the repository/environment/organization exists and the token/App can see it",
    422: "GitHub refused the request",
}


def validate_secret_name(name: str) -> None:
    """Raise UsageError for a name GitHub refuses: only ``[A-Za-z0-9_]``, no leading
    digit, no ``GITHUB_`` prefix (any case)."""
    if not _NAME.match(name or ""):
        raise UsageError(
            f"github: secret name {name!r} is not allowed — use letters, digits and _ only, "
            "not starting with a digit"
        )
    if name.upper().startswith("GITHUB_"):
        raise UsageError(f"github: secret name {name!r} is not allowed — names must not start with GITHUB_")


def validate_entries(entries: Sequence[Entry], label: str = "github") -> None:
    """Names and value sizes for one target (no request is sent)."""
    seen: set[str] = set()
    for entry in entries:
        validate_secret_name(entry.name)
        if entry.name.upper() in seen:
            raise UsageError(f"{label}: secret {entry.name} appears twice (GitHub names ignore case)")
        seen.add(entry.name.upper())
        size = len(entry.reveal().encode("utf-8"))
        if size > GITHUB_MAX_BYTES:
            raise UsageError(
                f"{label}: {entry.name} is {size} bytes; GitHub secrets hold at most "
                f"{GITHUB_MAX_BYTES // 1024} KB — store a reference to the value instead"
            )


class _GitHubScope:
    """Shared behaviour of every GitHub secrets scope; subclasses set the scope path."""

    _label: str
    _permission = "Secrets"  # the GitHub App permission a write needs (named in 403 hints)
    _token_scope = "repo"
    _scope: str  # e.g. /repos/acme/api/actions — ``{scope}/secrets/...`` are the endpoints

    def __init__(self, session: GitHubSession) -> None:
        self.session = session

    @property
    def label(self) -> str:
        return self._label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._label!r})"

    # -- contract ------------------------------------------------------------------
    def preflight(self, entries: Sequence[Entry]) -> None:
        """Reject what GitHub would refuse, before any target is written."""
        validate_entries(entries, self._label)

    def check_access(self) -> None:
        """Read the scope's public key (cached for the run's writes): proves the token is
        valid, the repository/environment/organization exists and the permission is there."""
        counter = Counter()
        try:
            self.session.public_key(self._scope, counter)
            self._extra_body(counter)
        except GitHubRequestFailed as exc:
            raise self._failed(exc, counter, []) from exc

    @property
    def max_in_flight(self) -> int:
        """How many targets of this session may be written at once (``KEYTURN_GITHUB_CONCURRENCY``)."""
        return self.session.scheduler.pacing.concurrency

    @property
    def cache_scope(self) -> str:
        """This target's key in the session's :class:`~keyturn.targets.github_cache.KeyCache`."""
        return self._scope

    @property
    def cache_repos(self) -> tuple[str, ...]:
        """Repositories whose ids this target keeps in the cache (org ``selected`` only)."""
        return ()

    def write(self, entries: Sequence[Entry]) -> WriteReport:
        """Public key (once per scope per run, or cached) + one PUT per entry; nothing else."""
        self.preflight(entries)
        if not entries:
            return WriteReport(skipped=True)
        counter = Counter()
        created: list[str] = []
        updated: list[str] = []
        times: list[datetime] = []
        try:
            key = self.session.public_key(self._scope, counter)
            extra, ids_cached = self._extra_body(counter)
            for entry in entries:
                path = self._path(entry.name)
                try:
                    resp = self.session.request("PUT", path, counter, body=_body(entry, key, extra))
                except GitHubRequestFailed as exc:
                    if exc.status != 422 or not (key.cached or ids_cached):
                        raise
                    # Remembered from an earlier run and refused: GitHub rotated the scope's
                    # key (or a selected repository was re-created). Refetch once, retry once.
                    counter.retries += 1
                    if key.cached:
                        key = self.session.refresh_public_key(self._scope, key, counter)
                    if ids_cached:
                        self.session.forget_repo_ids(list(self.cache_repos))
                        extra, ids_cached = self._extra_body(counter)
                    resp = self.session.request("PUT", path, counter, body=_body(entry, key, extra))
                (created if resp.status == 201 else updated).append(entry.name)
                times.append(resp.date() or datetime.fromtimestamp(self.session.scheduler.wall(), UTC))
        except GitHubRequestFailed as exc:
            raise self._failed(exc, counter, created + updated) from exc
        return WriteReport(
            retries=counter.retries,
            requests=counter.requests,
            confirmed_at=min(times),
            details={"created": ",".join(created), "updated": ",".join(updated)},
        )

    def delete(self, names: Sequence[str]) -> WriteReport:
        counter = Counter()
        deleted: list[str] = []
        try:
            for name in names:
                validate_secret_name(name)
                resp = self.session.request("DELETE", self._path(name), counter, ok_missing=True)
                if resp.status != 404:
                    deleted.append(name)
        except GitHubRequestFailed as exc:
            raise self._failed(exc, counter, deleted) from exc
        return WriteReport(
            retries=counter.retries, requests=counter.requests, details={"deleted": ",".join(deleted)}
        )

    def is_current(self, entries: Sequence[Entry], *, since: datetime) -> bool:
        """True iff every entry exists with ``updated_at >= since``. GitHub reports whole
        seconds; the engine passes the first second after promotion, so a write in the
        promotion's own second reads as not current (one harmless rewrite, never a stale
        value taken as current). A missing scope (404) is not current; other failures
        raise TargetFailed."""
        if since.tzinfo is None or since.utcoffset() is None:
            raise UsageError(f"{self._label}: is_current needs a timezone-aware `since`")
        if not entries:
            return True
        counter = Counter()
        try:
            items = self._read([e.name for e in entries], counter)
        except GitHubRequestFailed as exc:
            if exc.status == 404:
                return False
            raise self._failed(exc, counter, []) from exc
        return all(
            e.name.upper() in items
            and _parse_time(items[e.name.upper()]["updated_at"]) >= since
            and self._settings_match(items[e.name.upper()])
            for e in entries
        )

    # -- helpers -------------------------------------------------------------------
    def _path(self, name: str) -> str:
        return f"{self._scope}/secrets/{urllib.parse.quote(name, safe='')}"

    def _extra_body(self, counter: Counter) -> tuple[dict[str, Any], bool]:
        """Body fields besides the value, and whether they rest on cached data."""
        return {}, False

    def _settings_match(self, item: dict[str, Any]) -> bool:
        """Whether scope settings besides the value (org visibility) are as configured."""
        return True

    def _read(self, names: Sequence[str], counter: Counter) -> dict[str, dict[str, Any]]:
        """Metadata per (upper-cased) name: one GET for one name, else the paged list."""
        if len(names) == 1:
            resp = self.session.request("GET", self._path(names[0]), counter, ok_missing=True)
            if resp.status == 404 or not isinstance(resp.data, dict):
                return {}
            return {str(resp.data["name"]).upper(): resp.data}
        wanted = {n.upper() for n in names}
        found: dict[str, dict[str, Any]] = {}
        for item in self.session.pages(f"{self._scope}/secrets", "secrets", counter):
            name = str(item.get("name", "")).upper()
            if name in wanted:
                found[name] = item
                if len(found) == len(wanted):
                    break
        return found

    def _failed(self, exc: GitHubRequestFailed, counter: Counter, written: Iterable[str]) -> TargetFailed:
        if exc.limited:
            hint = f"rate limited: {exc.limited} — re-run later; targets already confirmed will be skipped"
        else:
            hint = _HINTS.get(exc.status or 0, "GitHub kept failing — re-run to resume").format(
                permission=self._permission, scope=self._token_scope
            )
        err = TargetFailed(f"{exc} — {hint}", target=self._label)
        err.requests, err.retries, err.written = counter.requests, counter.retries, list(written)  # type: ignore[attr-defined]
        return err


class GitHubRepoSecretTarget(_GitHubScope):
    """A repository's Actions secrets, one of its environments' secrets, or its Dependabot secrets."""

    def __init__(
        self,
        session: GitHubSession,
        repo: str,
        *,
        environment: str | None = None,
        dependabot: bool = False,
    ) -> None:
        super().__init__(session)
        if not _OWNER_REPO.match(repo or ""):
            raise UsageError(f"github: repository {repo!r} must be written owner/name")
        if environment is not None and dependabot:
            raise UsageError(f"github:{repo}: Dependabot secrets have no environments — drop one of the two")
        if environment is not None and not environment.strip():
            raise UsageError(f"github:{repo}: environment name is empty")
        self.repo, self.environment, self.dependabot = repo, environment, dependabot
        base = f"/repos/{repo}"
        if environment is not None:
            self._scope = f"{base}/environments/{urllib.parse.quote(environment, safe='')}"
            self._label = f"github:{repo}@env:{environment}"
            self._permission = "Environments"
        elif dependabot:
            self._scope, self._label = f"{base}/dependabot", f"github:{repo}@dependabot"
            self._permission = "Dependabot secrets"
        else:
            self._scope, self._label = f"{base}/actions", f"github:{repo}"


class GitHubOrgSecretTarget(_GitHubScope):
    """An organization's Actions (or Dependabot) secrets with their repository visibility."""

    def __init__(
        self,
        session: GitHubSession,
        org: str,
        *,
        visibility: Visibility = "private",
        repositories: Sequence[str] = (),
        dependabot: bool = False,
    ) -> None:
        super().__init__(session)
        if not re.match(r"^[A-Za-z0-9-]+$", org or ""):
            raise UsageError(f"github-org: organization {org!r} is not a valid login")
        if visibility not in ("all", "private", "selected"):
            raise UsageError(
                f"github-org:{org}: visibility must be all, private or selected, not {visibility!r}"
            )
        bad = [r for r in repositories if not _OWNER_REPO.match(r)]
        if bad:
            raise UsageError(f"github-org:{org}: repositories must be written owner/name: {', '.join(bad)}")
        if visibility == "selected" and not repositories:
            raise UsageError(f"github-org:{org}: visibility selected needs a repositories list")
        if repositories and visibility != "selected":
            raise UsageError(f"github-org:{org}: repositories apply only to visibility selected")
        self.org, self.visibility, self.dependabot = org, visibility, dependabot
        self.repositories = list(repositories)
        self._scope = f"/orgs/{org}/{'dependabot' if dependabot else 'actions'}"
        self._label = f"github-org:{org}" + ("@dependabot" if dependabot else "")
        self._permission = "Organization dependabot secrets" if dependabot else "Organization secrets"
        self._token_scope = "admin:org"

    def _settings_match(self, item: dict[str, Any]) -> bool:
        # A changed visibility makes the scope stale even when the value is recent.
        # (The selected-repository list is not compared: that would cost a request.)
        return item.get("visibility") in (None, self.visibility)

    @property
    def cache_repos(self) -> tuple[str, ...]:
        return tuple(self.repositories) if self.visibility == "selected" else ()

    def _extra_body(self, counter: Counter) -> tuple[dict[str, Any], bool]:
        body: dict[str, Any] = {"visibility": self.visibility}
        cached = False
        if self.visibility == "selected":
            # Resolved once per run (the session remembers them), or taken from the cache.
            ids, cached = self.session.repo_ids(self.repositories, counter)
            # PyGithub (checked against GitHub) sends ints for Actions, strings for Dependabot.
            body["selected_repository_ids"] = [str(i) for i in ids] if self.dependabot else ids
        return body, cached


def _body(entry: Entry, key: ScopeKey, extra: dict[str, Any]) -> dict[str, Any]:
    return {"encrypted_value": key.seal(entry.reveal()), "key_id": key.key_id, **extra}


def _parse_time(raw: str) -> datetime:
    return datetime.fromisoformat(str(raw))


__all__ = [
    "GitHubOrgSecretTarget",
    "GitHubRepoSecretTarget",
    "validate_entries",
    "validate_secret_name",
]


# ---------------------------------------------------------------------------- builders (targets/registry)
def build_repo_targets(config: GitHubTargetConfig, factory: TargetFactory) -> list[Target]:
    """``- github: owner/repo``: the repository's (or Dependabot's) secrets, or one target per environment."""
    session = factory.github_session()
    if config.environments:
        return [GitHubRepoSecretTarget(session, config.github, environment=env) for env in config.environments]
    return [GitHubRepoSecretTarget(session, config.github, dependabot=config.dependabot)]


def build_org_targets(config: GitHubOrgTargetConfig, factory: TargetFactory) -> list[Target]:
    """``- github-org: org``: the organization's (or Dependabot's) secrets."""
    return [GitHubOrgSecretTarget(factory.github_session(), config.github_org, visibility=config.visibility,
                                  repositories=list(config.repositories), dependabot=config.dependabot)]
