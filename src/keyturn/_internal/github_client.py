"""GitHubSession: one authenticated, paced PyGithub connection shared by all GitHub targets.

Holds the credential (a token, or a GitHub App installation token minted through
PyGithub's ``Auth.AppAuth``), the API root (``GITHUB_API_URL``; PyGithub ignores it, we
pass it), the :class:`~keyturn._internal.github_pacing.Scheduler`, and per-run caches of
each scope's public key and of repository ids. Every request goes through
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
``KEYTURN_GITHUB_MAX_RETRIES``              retries per request (limits, 5xx), default ``5``
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
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubIntegration
from nacl.public import PublicKey, SealedBox

from keyturn._internal.github_pacing import Pacing, Scheduler
from keyturn.errors import ServiceError, UsageError

DEFAULT_API_URL = "https://api.github.com"
NO_CREDENTIALS = (
    "github: no credentials — set GITHUB_TOKEN or KEYTURN_GITHUB_APP_ID/KEYTURN_GITHUB_APP_PRIVATE_KEY"
)


class GitHubRequestFailed(ServiceError):
    """A request failed for good (permanent status, or retries exhausted)."""

    def __init__(self, method: str, path: str, status: int | None, message: str, retries: int) -> None:
        what = f"HTTP {status}" if status is not None else "connection failed"
        tail = f" after {retries} retries" if retries else ""
        super().__init__(f"{what} on {method} {path}{tail}: {message[:200]}")
        self.method, self.path, self.status, self.github_message, self.retries = (
            method,
            path,
            status,
            message,
            retries,
        )


@dataclass
class Counter:
    """Requests and retries made on behalf of one target call (WriteReport figures)."""

    requests: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    data: Any


@dataclass(frozen=True)
class ScopeKey:
    key_id: str
    box: SealedBox[PublicKey] = field(repr=False)

    def seal(self, plaintext: str) -> str:
        return base64.b64encode(self.box.encrypt(plaintext.encode("utf-8"))).decode("ascii")


class GitHubSession:
    """Paced access to one GitHub API root with one credential. Thread-safe."""

    def __init__(self, github: Github, scheduler: Scheduler, *, api_url: str = DEFAULT_API_URL) -> None:
        self.github = github
        self.scheduler = scheduler
        self.api_url = api_url
        self._keys: dict[str, ScopeKey] = {}
        self._repo_ids: dict[str, int] = {}
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
    ) -> GitHubSession:
        """Build from ``GITHUB_TOKEN`` or a GitHub App, ``GITHUB_API_URL`` and the
        ``KEYTURN_GITHUB_*`` pacing variables. ``sleep``/``clock``/``wall`` are for tests."""
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
        auth = _auth_from_env(environ, api_url, kwargs)
        scheduler = Scheduler(
            pacing, clock=clock or time.monotonic, wall=wall or time.time, sleep=sleep or time.sleep
        )
        return cls(Github(auth=auth, **kwargs), scheduler, api_url=api_url)

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
        attempt = 0
        while True:
            self.scheduler.acquire(method)
            status: int | None = None
            headers: dict[str, str] = {}
            raw = ""
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
            decision = self.scheduler.decide(status, headers, message, attempt)
            if not decision.retry:
                raise GitHubRequestFailed(method, _short(path), status, message or "no message", attempt)
            attempt += 1
            counter.retries += 1
            with self._lock:
                self.total.retries += 1
            self.scheduler.backoff(decision.delay)

    def pages(self, path: str, key: str, counter: Counter) -> Any:
        """Yield items of a paged list endpoint (``per_page=100``, following ``Link: next``)."""
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": 100}
        while url:
            resp = self.request("GET", url, counter, params=params)
            yield from (resp.data or {}).get(key, [])
            url, params = _next_link(resp.headers.get("link", "")), None

    # -- per-run caches ------------------------------------------------------------
    def public_key(self, scope: str, counter: Counter) -> ScopeKey:
        """The scope's public key (``{scope}/secrets/public-key``), fetched once per run."""
        with self._lock:
            cached = self._keys.get(scope)
            lock = self._scope_locks.setdefault(scope, threading.Lock())
        if cached is not None:
            return cached
        with lock:  # one fetch per scope even when targets run in threads
            if scope not in self._keys:
                data = self.request("GET", f"{scope}/secrets/public-key", counter).data
                self._keys[scope] = ScopeKey(
                    str(data["key_id"]), SealedBox(PublicKey(base64.b64decode(data["key"])))
                )
            return self._keys[scope]

    def forget_public_key(self, scope: str) -> None:
        with self._lock:
            self._keys.pop(scope, None)

    def repo_id(self, full_name: str, counter: Counter) -> int:
        with self._lock:
            if full_name.lower() in self._repo_ids:
                return self._repo_ids[full_name.lower()]
        data = self.request("GET", f"/repos/{full_name}", counter).data
        with self._lock:
            self._repo_ids[full_name.lower()] = int(data["id"])
        return int(data["id"])


def _auth_from_env(environ: Mapping[str, str], api_url: str, kwargs: dict[str, Any]) -> Auth.Auth:
    token = environ.get("GITHUB_TOKEN", "").strip()
    app_id = environ.get("KEYTURN_GITHUB_APP_ID", "").strip()
    private_key = environ.get("KEYTURN_GITHUB_APP_PRIVATE_KEY", "").strip()
    if app_id and private_key:
        app_auth = Auth.AppAuth(app_id, private_key.replace("\\n", "\n"))
        raw_id = environ.get("KEYTURN_GITHUB_APP_INSTALLATION_ID", "").strip()
        if raw_id:
            if not raw_id.isdigit():
                raise UsageError("KEYTURN_GITHUB_APP_INSTALLATION_ID must be a number")
            return app_auth.get_installation_auth(int(raw_id))
        repository = environ.get("GITHUB_REPOSITORY", "").strip()
        if "/" not in repository:
            raise UsageError(
                "github: set KEYTURN_GITHUB_APP_INSTALLATION_ID (or GITHUB_REPOSITORY to look it up) "
                "for the GitHub App"
            )
        owner, repo = repository.split("/", 1)
        integration = GithubIntegration(auth=app_auth, **kwargs)
        try:
            installation = integration.get_repo_installation(owner, repo)
        except Exception as exc:  # PyGithub raises GithubException subclasses
            raise ServiceError(
                f"github: no installation of App {app_id} on {repository} — install the App "
                "there or set KEYTURN_GITHUB_APP_INSTALLATION_ID"
            ) from exc
        return app_auth.get_installation_auth(int(installation.id))
    if token:
        return Auth.Token(token)
    raise UsageError(NO_CREDENTIALS)


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
