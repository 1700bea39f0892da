"""GitHubSession: one authenticated, paced PyGithub connection shared by all GitHub targets.

Holds the credential (a token, or a GitHub App installation token minted through
PyGithub's ``Auth.AppAuth``), the API root (``GITHUB_API_URL``; PyGithub ignores it, we
pass it), the :class:`~keyturn._internal.github_pacing.Scheduler`, and a
:class:`~keyturn.targets.github_cache.KeyCache` of each scope's public key and of
repository ids: a scope's key is fetched at most once per run, not at all when the cache
(persisted by the caller between runs) already holds it. Every request goes through
:meth:`GitHubSession.request`, which paces, retries and counts it.

PyGithub's own throttles and retries are switched off on purpose —
``seconds_between_requests=0``, ``seconds_between_writes=0``, ``retry=0`` — because the
scheduler does both: two layers would double every write wait (PyGithub's 1 s plus ours)
and PyGithub's urllib3 retries are invisible to the per-target ledger (a 5xx retried ten
times would surface as ``requests.exceptions.RetryError`` with no count). Values are
encrypted here (libsodium sealed box, PyNaCl) and never logged; errors carry method, path,
status and GitHub's message only. Must not import a store or the engine.

Environment (read by :meth:`GitHubSession.from_env`):

==========================================  ==============================================
``GITHUB_TOKEN``                            token with secrets write access, or:
``KEYTURN_GITHUB_APP_ID`` +                 a GitHub App (PEM; ``\\n`` escapes accepted);
``KEYTURN_GITHUB_APP_PRIVATE_KEY``          the App wins when both are set
``KEYTURN_GITHUB_APP_INSTALLATION_ID``      optional; else looked up for ``GITHUB_REPOSITORY``
``GITHUB_API_URL``                          API root, default ``https://api.github.com``
``KEYTURN_GITHUB_MIN_WRITE_INTERVAL``       seconds between writes, default ``1.0``
``KEYTURN_GITHUB_POINTS_PER_MINUTE``        planned points a minute, default ``810``
``KEYTURN_GITHUB_CONCURRENCY``              requests in flight, default ``4`` (max 100)
``KEYTURN_GITHUB_RETRY_SECONDS``            retry time per target (5xx), default ``120``
``KEYTURN_GITHUB_MAX_RETRIES``              optional cap on retries per request
==========================================  ==============================================
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from github import Github, GithubException
from nacl.public import PublicKey, SealedBox

from keyturn._internal.github_auth import NO_CREDENTIALS as NO_CREDENTIALS  # re-exported
from keyturn._internal.github_auth import auth_from_env
from keyturn._internal.github_pacing import Pacing, Scheduler
from keyturn.errors import ServiceError, UsageError
from keyturn.targets.github_cache import KeyCache, MemoryKeyCache, PublicKeyEntry

DEFAULT_API_URL = "https://api.github.com"


class GitHubRequestFailed(ServiceError):
    """A request failed for good (permanent status, or retries exhausted)."""

    def __init__(
        self, method: str, path: str, status: int | None, message: str, retries: int, spent: float = 0.0,
        limited: str = "",
    ) -> None:
        what = f"HTTP {status}" if status is not None else "connection failed"
        tail = f" after {retries} retries" if retries else ""
        if retries and spent >= 1:
            tail += f" in {spent:.0f} s"
        super().__init__(f"{what} on {method} {path}{tail}: {message[:200]}")
        self.method, self.path, self.status, self.github_message, self.retries = (
            method,
            path,
            status,
            message,
            retries,
        )
        #: why a rate-limit wait was given up ("" for any other failure)
        self.limited = limited


@dataclass
class Counter:
    """Requests and retries made on behalf of one target call (WriteReport figures)."""

    requests: int = 0
    retries: int = 0
    failing_for: float = 0.0  # seconds spent on failed attempts and their backoff
    limited_for: float = 0.0  # seconds waited on rate limits


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any

    def date(self) -> datetime | None:
        """The server's ``Date`` header (whole seconds, UTC), if it has a usable one."""
        raw = self.headers.get("date", "")
        try:
            parsed = parsedate_to_datetime(raw) if raw else None
        except (TypeError, ValueError):
            return None
        if parsed is None or parsed.tzinfo is None:
            return None
        return parsed.astimezone(UTC)


@dataclass(frozen=True)
class ScopeKey:
    key_id: str
    box: SealedBox[PublicKey] = field(repr=False)
    cached: bool = False  # taken from the KeyCache, not fetched in this run

    def seal(self, plaintext: str) -> str:
        return base64.b64encode(self.box.encrypt(plaintext.encode("utf-8"))).decode("ascii")


class GitHubSession:
    """Paced access to one GitHub API root with one credential. Thread-safe."""

    def __init__(
        self,
        github: Github,
        scheduler: Scheduler,
        *,
        api_url: str = DEFAULT_API_URL,
        cache: KeyCache | None = None,
    ) -> None:
        self.github = github
        self.scheduler = scheduler
        self.api_url = api_url
        self.cache: KeyCache = cache if cache is not None else MemoryKeyCache()
        self._keys: dict[str, ScopeKey] = {}  # this run's keys, decoded
        self._fresh_ids: set[str] = set()  # repository ids fetched (not cached) this run
        self._lock = threading.Lock()
        self._scope_locks: dict[str, threading.Lock] = {}
        self.total = Counter()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        wall: Callable[[], float] | None = None,
        cache: KeyCache | None = None,
    ) -> GitHubSession:
        """Build from ``GITHUB_TOKEN`` or a GitHub App, ``GITHUB_API_URL`` and the
        ``KEYTURN_GITHUB_*`` pacing variables; ``cache`` holds public keys and repository
        ids between runs (default: this run only). ``sleep``/``clock``/``wall`` are for tests."""
        api_url = (environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        try:  # a bad URL otherwise fails deep inside PyGithub (AttributeError, ValueError)
            parts = urllib.parse.urlsplit(api_url)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            ok = False
        if not ok:
            raise UsageError("GITHUB_API_URL is not an http(s) URL with a valid host and port "
                             "(e.g. https://api.github.com or https://HOST/api/v3)")
        pacing = Pacing.from_env(environ)
        # Deliberate: PyGithub neither throttles nor retries; the Scheduler does both.
        kwargs: dict[str, Any] = {
            "base_url": api_url,
            "seconds_between_requests": 0,
            "seconds_between_writes": 0,
            "retry": 0,
        }
        auth = auth_from_env(environ, kwargs)
        scheduler = Scheduler(
            pacing, clock=clock or time.monotonic, wall=wall or time.time, sleep=sleep or time.sleep
        )
        return cls(Github(auth=auth, **kwargs), scheduler, api_url=api_url, cache=cache)

    # -- requests ------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        counter: Counter,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        ok_missing: bool = False,
    ) -> Response:
        """Send one request through the scheduler, retrying per :class:`Scheduler.decide`.
        Returns the response (``404`` too when ``ok_missing``); raises GitHubRequestFailed."""
        requester = self.github.requester
        clock = self.scheduler.clock
        attempt = 0
        while True:
            self.scheduler.acquire(method)
            status: int | None = None
            headers: dict[str, str] = {}
            raw = ""
            sent = clock()
            try:
                status, headers, raw = requester.requestJson(method, path, parameters=params, input=body)
            except (requests.ConnectionError, requests.Timeout, OSError) as exc:
                raw = json.dumps({"message": type(exc).__name__})
            except GithubException as exc:  # minting a GitHub App installation token failed
                status, headers = exc.status, dict(exc.headers or {})
                detail = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
                raw = json.dumps({"message": f"GitHub App installation token: {detail}"})
            finally:
                self.scheduler.release()
                counter.requests += 1
                with self._lock:
                    self.total.requests += 1
            headers = {k.lower(): v for k, v in headers.items()}
            self.scheduler.observe(headers)
            data = _json(raw)
            if status is not None and (status < 400 or (status == 404 and ok_missing)):
                return Response(status, headers, data)
            message = str(data.get("message", "")) if isinstance(data, dict) else ""
            if status is None or status >= 500:
                counter.failing_for += max(clock() - sent, 0.0)  # a timeout is time spent too
            decision = self.scheduler.decide(
                status,
                headers,
                message,
                attempt,
                failing_for=counter.failing_for,
                limited_for=counter.limited_for,
            )
            if not decision.retry:
                spent = counter.failing_for + counter.limited_for
                raise GitHubRequestFailed(
                    method, _short(path), status, message or "no message", attempt, spent,
                    limited=decision.reason if decision.limited else "",
                )
            attempt += 1
            counter.retries += 1
            with self._lock:
                self.total.retries += 1
            if decision.pause_all:  # the scheduler holds every request until the pause ends
                counter.limited_for += decision.delay
            else:
                counter.failing_for += decision.delay
                self.scheduler.backoff(decision.delay)

    def pages(self, path: str, key: str, counter: Counter) -> Any:
        """Yield items of a paged list endpoint (``per_page=100``, following ``Link: next``)."""
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": 100}
        while url:
            resp = self.request("GET", url, counter, params=params)
            yield from (resp.data or {}).get(key, [])
            url, params = _next_link(resp.headers.get("link", "")), None

    # -- public keys and repository ids -------------------------------------------------
    def public_key(self, scope: str, counter: Counter) -> ScopeKey:
        """The scope's public key (``{scope}/secrets/public-key``): from this run, else
        from the cache, else fetched (and cached). At most one fetch per scope per run,
        also when targets run in threads."""
        with self._lock:
            known = self._keys.get(scope)
            lock = self._scope_locks.setdefault(scope, threading.Lock())
        if known is not None:
            return known
        with lock:
            with self._lock:
                known = self._keys.get(scope)
            if known is not None:
                return known
            entry = self.cache.get_key(scope)
            if entry is not None and entry.valid():
                key = _scope_key(entry, cached=True)
            else:
                key = self._fetch_key(scope, counter)
            with self._lock:
                self._keys[scope] = key
            return key

    def refresh_public_key(self, scope: str, stale: ScopeKey, counter: Counter) -> ScopeKey:
        """Replace a key GitHub refused (422) by a freshly fetched one — unless another
        thread already did, or ``stale`` was itself fetched in this run (then the key is
        not the problem and the caller should give up)."""
        with self._lock:
            lock = self._scope_locks.setdefault(scope, threading.Lock())
        with lock:
            with self._lock:
                current = self._keys.get(scope)
            if current is not None and current.key_id != stale.key_id:
                return current
            self.cache.drop_key(scope)
            key = self._fetch_key(scope, counter)
            with self._lock:
                self._keys[scope] = key
            return key

    def _fetch_key(self, scope: str, counter: Counter) -> ScopeKey:
        data = self.request("GET", f"{scope}/secrets/public-key", counter).data
        entry = PublicKeyEntry(str(data["key_id"]), str(data["key"]))
        key = _scope_key(entry, cached=False)
        self.cache.put_key(scope, entry)
        return key

    def repo_ids(self, full_names: list[str], counter: Counter) -> tuple[list[int], bool]:
        """Ids of ``owner/name`` repositories, one ``GET /repos/{r}`` per repository not
        yet known (cache or this run). Returns the ids and whether any came from the
        cache unverified in this run (a 422 may then mean a deleted and re-created repository)."""
        ids: list[int] = []
        any_cached = False
        for name in full_names:
            repo_id = self.cache.get_repo_id(name)
            if repo_id is None:
                with self._lock:
                    lock = self._scope_locks.setdefault(f"repo:{name.lower()}", threading.Lock())
                with lock:  # one lookup per repository even when targets run in threads
                    repo_id = self.cache.get_repo_id(name)
                    if repo_id is None:
                        repo_id = int(self.request("GET", f"/repos/{name}", counter).data["id"])
                        with self._lock:
                            self._fresh_ids.add(name.lower())
                        self.cache.put_repo_id(name, repo_id)
            with self._lock:
                any_cached = any_cached or name.lower() not in self._fresh_ids
            ids.append(repo_id)
        return ids, any_cached

    def forget_repo_ids(self, full_names: list[str]) -> None:
        for name in full_names:
            with self._lock:
                fresh = name.lower() in self._fresh_ids
            if not fresh:
                self.cache.drop_repo_id(name)


def _scope_key(entry: PublicKeyEntry, *, cached: bool) -> ScopeKey:
    return ScopeKey(entry.key_id, SealedBox(PublicKey(base64.b64decode(entry.key))), cached=cached)


def _json(raw: str) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw[:200]}


def _next_link(link: str) -> str | None:
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().strip("<>")
    return None


def _short(path: str) -> str:
    return path.split("?", 1)[0]
