"""A stateful fake of the GitHub REST API's Actions/Dependabot secrets endpoints.

A real HTTP server on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a thread) that the
real PyGithub client talks to. It keeps one Curve25519 key pair per secrets scope,
decrypts every sealed box it receives (tests assert the exact value that arrived),
enforces GitHub's secret-name and size rules, 404s unknown repositories, environments
and organizations, logs every request (method, path, status) and can inject faults
(5xx, 403 secondary limit, 429 with ``retry-after``), per-request latency, a primary
rate-limit budget, a "hold" that blocks writes after K of them (kill tests), and — when
``points_per_minute`` is set — GitHub's secondary limit enforced on arrival (GET 1 point,
writes 5, over any 60 s window; concurrent requests above ``max_in_flight``), answered
with GitHub's 403 and counted in ``limited``; ``rotate_key`` replaces a scope's key pair.
It also serves the two GitHub App endpoints keyturn uses for installation tokens.
Test-only: imports nothing from keyturn.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from nacl.public import PrivateKey, SealedBox

from tests.fakes.quiet import QuietThreadingHTTPServer

MAX_SECRET_BYTES = 48 * 1024
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
PRIMARY_MESSAGE = "API rate limit exceeded for installation ID 1."
_DEFAULT_BODIES = {
    401: "Bad credentials",
    403: SECONDARY_MESSAGE,
    404: "Not Found",
    422: "Validation Failed",
    429: SECONDARY_MESSAGE,
}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int
    query: str = ""
    at: float = 0.0  # time.monotonic() when the response was sent


@dataclass
class StoredSecret:
    value: str
    created_at: float
    updated_at: float
    visibility: str | None = None
    selected_repository_ids: list[int] = field(default_factory=list)


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int
    times: int | None
    headers: dict[str, str]
    body: Any
    method: str | None


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    environments: set[str]


class FakeGitHub:
    """``with FakeGitHub() as gh: gh.add_repo("acme/api", environments=["prod"])``."""

    def __init__(
        self, *, token: str = "ghs_faketoken", latency: float = 0.0, points_per_minute: int | None = None
    ) -> None:
        self.points_per_minute = points_per_minute  # None: secondary limit not enforced
        self.max_in_flight = 100
        self._arrivals: deque[tuple[float, int]] = deque()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.limited = 0  # secondary-limit answers the enforcement gave
        self.tokens: set[str] = {token}
        self.token = token
        self.latency = latency
        self.log: list[LoggedRequest] = []
        self.repos: dict[str, _Repo] = {}
        self.orgs: set[str] = set()
        self.secrets: dict[str, dict[str, StoredSecret]] = {}
        self.apps: dict[str, tuple[str, dict[int, list[str]]]] = {}
        self.rate_remaining: int | None = None  # None: unlimited
        self.rate_reset_in = 1.0
        self._rate_reset_at = 0.0
        self.clock: Callable[[], float] = time.time
        self._keys: dict[str, tuple[str, PrivateKey]] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1000)
        self._writes = 0
        self._writes_changed = threading.Condition(self._lock)
        self._hold_after: int | None = None
        self.held = 0  # writes currently blocked by hold_writes_after
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> FakeGitHub:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = QuietThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "fake not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- state setup ---------------------------------------------------------------
    def add_repo(self, full_name: str, *, environments: list[str] | tuple[str, ...] = ()) -> int:
        owner, name = full_name.split("/")
        with self._lock:
            repo = self.repos.get(full_name.lower())
            if repo is None:
                repo = _Repo(next(self._ids), owner, name, set())
                self.repos[full_name.lower()] = repo
            repo.environments.update(environments)
            return repo.id

    def add_org(self, org: str) -> None:
        self.orgs.add(org.lower())

    def add_app(self, app_id: str, public_key_pem: str, installations: dict[int, list[str]]) -> None:
        """Register a GitHub App (RS256 JWTs checked with ``public_key_pem``) and its
        installations: ``{installation_id: ["owner/repo", ...]}``."""
        self.apps[str(app_id)] = (public_key_pem, installations)

    def inject(
        self,
        path_regex: str,
        status: int,
        *,
        times: int | None = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (``None``: all) with ``status``."""
        with self._lock:
            self._faults.append(
                _Fault(re.compile(path_regex), status, times, dict(headers or {}), body, method)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def hold_writes_after(self, count: int) -> None:
        """After ``count`` successful secret writes, block further writes until released;
        held writes are then dropped (503, not stored), as if the client died before
        they reached GitHub."""
        with self._lock:
            self._hold_after = count
            self._release.clear()

    def release_writes(self) -> None:
        with self._lock:
            self._hold_after = None
        self._release.set()

    def wait_for_writes(self, count: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._writes_changed:
            while self._writes < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._writes_changed.wait(left)
            return True

    # -- inspection ----------------------------------------------------------------
    @property
    def writes(self) -> int:
        return self._writes

    def requests(self, method: str | None = None, pattern: str | None = None) -> list[LoggedRequest]:
        rx = re.compile(pattern) if pattern else None
        return [
            r
            for r in list(self.log)
            if (method is None or r.method == method) and (rx is None or rx.search(r.path))
        ]

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()

    def rotate_key(self, scope: str) -> None:
        """GitHub rotated ``scope``'s key pair (e.g. ``/repos/acme/api/actions``): boxes
        sealed for the old key are refused with 422 from now on."""
        with self._lock:
            self._keys[scope.lower()] = (str(next(self._ids) * 7919), PrivateKey.generate())

    def _secondary_limit(self, method: str) -> tuple[int, dict[str, str], Any] | None:
        """GitHub's secondary limits on arrival: points over the last 60 s, requests in flight."""
        with self._lock:
            if self.points_per_minute is None:
                return None
            now, cost = self.clock(), (1 if method in ("GET", "HEAD", "OPTIONS") else 5)
            while self._arrivals and self._arrivals[0][0] <= now - 120.0:  # clock may jitter
                self._arrivals.popleft()
            used = sum(points for at, points in self._arrivals if at > now - 60.0)
            if used + cost > self.points_per_minute or self.in_flight > self.max_in_flight:
                self.limited += 1
                return 403, {}, {"message": SECONDARY_MESSAGE}
            self._arrivals.append((now, cost))
            return None

    def secret(
        self, owner: str, name: str, *, environment: str | None = None, dependabot: bool = False
    ) -> StoredSecret | None:
        """A stored secret of ``owner`` ("acme/api" for a repository, "acme" for an org)."""
        if "/" in owner:
            scope = f"/repos/{owner}/" + (
                f"environments/{environment}" if environment else ("dependabot" if dependabot else "actions")
            )
        else:
            scope = f"/orgs/{owner}/" + ("dependabot" if dependabot else "actions")
        return self.secrets.get(scope.lower(), {}).get(name.upper())

    def value(self, owner: str, name: str, **kw: Any) -> str | None:
        stored = self.secret(owner, name, **kw)
        return None if stored is None else stored.value

    # -- request handling (called from handler threads) ----------------------------
    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parsed = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(parsed.path)
        query = urllib.parse.parse_qs(parsed.query)
        over_limit = self._secondary_limit(method)  # on arrival, before the latency
        if self.latency:
            time.sleep(self.latency)
        if over_limit is not None:
            return over_limit
        fault = self._take_fault(method, path)
        if fault is not None:
            message = (
                fault.body
                if fault.body is not None
                else {"message": _DEFAULT_BODIES.get(fault.status, "Server Error")}
            )
            return fault.status, dict(fault.headers), message
        m = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if m and method == "POST":
            return self._installation_token(headers, int(m.group(1)))
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/installation", path)
        if m and method == "GET":  # App JWT auth, like access_tokens
            return self._repo_installation(headers, f"{m.group(1)}/{m.group(2)}")
        if not self._authorized(headers):
            return 401, {}, {"message": "Bad credentials"}
        limited = self._primary_limit()
        if limited is not None:
            return limited
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)", path)
        if m and method == "GET":
            return self._get_repo(f"{m.group(1)}/{m.group(2)}")
        m = re.fullmatch(r"/orgs/([^/]+)", path)
        if m and method == "GET":
            if m.group(1).lower() not in self.orgs:
                return 404, {}, {"message": "Not Found"}
            return 200, {}, {"login": m.group(1), "id": 1, "url": f"{self.url}/orgs/{m.group(1)}"}
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/environments/([^/]+)", path)
        if m and method == "GET":
            repo = self.repos.get(f"{m.group(1)}/{m.group(2)}".lower())
            if repo is None or m.group(3) not in repo.environments:
                return 404, {}, {"message": "Not Found"}
            return 200, {}, {"id": 1, "name": m.group(3), "url": f"{self.url}{parsed.path}"}
        m = re.fullmatch(
            r"(/(?:repos/[^/]+/[^/]+/(?:actions|dependabot|environments/[^/]+)|orgs/[^/]+/(?:actions|dependabot)))/secrets(?:/([^/]+))?",
            path,
        )
        if m:
            scope, name = m.group(1), m.group(2)
            if not self._scope_exists(scope):
                return 404, {}, {"message": "Not Found"}
            if name == "public-key" and method == "GET":
                key_id, key = self._key(scope)
                return 200, {}, {"key_id": key_id, "key": base64.b64encode(bytes(key.public_key)).decode()}
            if name is None and method == "GET":
                return self._list(scope, parsed.path, query)
            if name is not None and method == "GET":
                return self._get_secret(scope, name)
            if name is not None and method == "PUT":
                return self._put_secret(scope, name, body)
            if name is not None and method == "DELETE":
                with self._lock:
                    found = self.secrets.get(scope.lower(), {}).pop(name.upper(), None)
                return (204, {}, None) if found else (404, {}, {"message": "Not Found"})
        return 404, {}, {"message": "Not Found"}

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method not in (None, method) or not fault.pattern.search(path):
                    continue
                if fault.times is not None:
                    if fault.times <= 0:
                        continue
                    fault.times -= 1
                return fault
        return None

    def _authorized(self, headers: Any) -> bool:
        auth = headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        return scheme.lower() in ("token", "bearer") and token in self.tokens

    def rate_headers(self) -> dict[str, str]:
        remaining = 4999 if self.rate_remaining is None else max(self.rate_remaining, 0)
        reset = self._rate_reset_at or (self.clock() + 3600)
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(int(reset)),
            "x-ratelimit-resource": "core",
        }

    def _primary_limit(self) -> tuple[int, dict[str, str], Any] | None:
        with self._lock:
            if self.rate_remaining is None:
                return None
            now = self.clock()
            if not self._rate_reset_at:
                self._rate_reset_at = now + self.rate_reset_in
            if now >= self._rate_reset_at:  # window over: unlimited again
                self.rate_remaining = None
                self._rate_reset_at = 0.0
                return None
            if self.rate_remaining <= 0:
                return 403, {}, {"message": PRIMARY_MESSAGE}
            self.rate_remaining -= 1
            return None

    def _scope_exists(self, scope: str) -> bool:
        parts = scope.strip("/").split("/")
        if parts[0] == "orgs":
            return parts[1].lower() in self.orgs
        repo = self.repos.get(f"{parts[1]}/{parts[2]}".lower())
        if repo is None:
            return False
        return parts[3] != "environments" or parts[4] in repo.environments

    def _key(self, scope: str) -> tuple[str, PrivateKey]:
        with self._lock:
            if scope.lower() not in self._keys:
                self._keys[scope.lower()] = (str(next(self._ids) * 7919), PrivateKey.generate())
            return self._keys[scope.lower()]

    def _get_repo(self, full_name: str) -> tuple[int, dict[str, str], Any]:
        repo = self.repos.get(full_name.lower())
        if repo is None:
            return 404, {}, {"message": "Not Found"}
        return (
            200,
            {},
            {
                "id": repo.id,
                "name": repo.name,
                "full_name": f"{repo.owner}/{repo.name}",
                "owner": {"login": repo.owner},
                "url": f"{self.url}/repos/{repo.owner}/{repo.name}",
                "default_branch": "main",
                "private": True,
            },
        )

    def _secret_json(self, scope: str, name: str, stored: StoredSecret) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": name,
            "created_at": iso(stored.created_at),
            "updated_at": iso(stored.updated_at),
        }
        if scope.startswith("/orgs/"):
            out["visibility"] = stored.visibility
            if stored.visibility == "selected":
                out["selected_repositories_url"] = f"{self.url}{scope}/secrets/{name}/repositories"
        return out

    def _get_secret(self, scope: str, name: str) -> tuple[int, dict[str, str], Any]:
        stored = self.secrets.get(scope.lower(), {}).get(name.upper())
        if stored is None:
            return 404, {}, {"message": "Not Found"}
        return 200, {}, self._secret_json(scope, name.upper(), stored)

    def _list(
        self, scope: str, raw_path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], Any]:
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        items = sorted(self.secrets.get(scope.lower(), {}).items())
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = f'<{self.url}{raw_path}?per_page={per_page}&page={page + 1}>; rel="next"'
        return (
            200,
            headers,
            {
                "total_count": len(items),
                "secrets": [self._secret_json(scope, n, s) for n, s in chunk],
            },
        )

    def _put_secret(self, scope: str, name: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        if not NAME_RE.match(name) or name.upper().startswith("GITHUB_"):
            return (
                422,
                {},
                {
                    "message": "Failed to add secret. Secret names can only contain alphanumeric "
                    "characters ([a-z], [A-Z], [0-9]) or underscores (_). Spaces are not allowed. "
                    "Must start with a letter ([a-z], [A-Z]) or underscores (_)."
                },
            )
        try:
            data = json.loads(body or b"{}")
            key_id, key = self._key(scope)
            if data.get("key_id") != key_id:
                return 422, {}, {"message": "Bad key_id"}
            value = SealedBox(key).decrypt(base64.b64decode(data["encrypted_value"])).decode("utf-8")
        except Exception:  # noqa: BLE001 — any malformed body is a 422 on GitHub too
            return 422, {}, {"message": "Invalid request: encrypted_value could not be decrypted"}
        if len(value.encode("utf-8")) > MAX_SECRET_BYTES:
            return 422, {}, {"message": "Secret value is too large (maximum 48 KB)"}
        visibility, selected = None, []
        if scope.startswith("/orgs/"):
            visibility = data.get("visibility")
            if visibility not in ("all", "private", "selected"):
                return 422, {}, {"message": "visibility must be all, private or selected"}
            selected = [int(i) for i in data.get("selected_repository_ids") or []]
            known = {r.id for r in self.repos.values()}
            if any(i not in known for i in selected):
                return 422, {}, {"message": "Unknown repository id in selected_repository_ids"}
        if self._hold_after is not None and self._writes >= self._hold_after:
            with self._lock:
                self.held += 1
            self._release.wait()  # the client was killed meanwhile: drop the write
            return 503, {}, {"message": "held write dropped"}
        with self._writes_changed:
            now = self.clock()
            bucket = self.secrets.setdefault(scope.lower(), {})
            old = bucket.get(name.upper())
            bucket[name.upper()] = StoredSecret(
                value, old.created_at if old else now, now, visibility, selected
            )
            self._writes += 1
            self._writes_changed.notify_all()
        return (204 if old else 201), {}, None

    def _installation_token(self, headers: Any, installation_id: int) -> tuple[int, dict[str, str], Any]:
        import jwt  # PyJWT, only needed for App tests

        token = headers.get("Authorization", "").partition(" ")[2]
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
            pem, installations = self.apps[str(claims["iss"])]
            jwt.decode(token, pem, algorithms=["RS256"])
        except Exception:  # noqa: BLE001
            return 401, {}, {"message": "A JSON web token could not be decoded"}
        if installation_id not in installations:
            return 404, {}, {"message": "Not Found"}
        minted = f"ghs_inst{installation_id}_{next(self._ids)}"
        self.tokens.add(minted)
        return 201, {}, {"token": minted, "expires_at": iso(self.clock() + 3600), "permissions": {}}

    def _repo_installation(self, headers: Any, full_name: str) -> tuple[int, dict[str, str], Any]:
        for _pem, installations in self.apps.values():
            for inst_id, repos in installations.items():
                if full_name.lower() in (r.lower() for r in repos):
                    return (
                        200,
                        {},
                        {"id": inst_id, "app_id": 1, "account": {"login": full_name.split("/")[0]}},
                    )
        return 404, {}, {"message": "Not Found"}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeGitHub
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.owner
        with fake._lock:
            fake.in_flight += 1
            fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
        try:
            status, headers, payload = fake.handle(self.command, self.path, self.headers, body)
        finally:
            with fake._lock:
                fake.in_flight -= 1
        data = b"" if payload is None else json.dumps(payload).encode()
        with fake._lock:
            fake.log.append(
                LoggedRequest(
                    self.command,
                    self.path.split("?")[0],
                    status,
                    self.path.partition("?")[2],
                    time.monotonic(),
                )
            )
        try:
            self.send_response(status)
            for key, val in {**fake.rate_headers(), **headers}.items():
                self.send_header(key, val)
            if data:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # client killed mid-request
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve
