"""Fake identity endpoints for keyless Azure login tests.

* :class:`FakeActionsOidc` — the GitHub Actions OIDC token service behind
  ``ACTIONS_ID_TOKEN_REQUEST_URL`` (plain http on loopback): ``GET ?audience=...`` with
  ``Authorization: Bearer <request token>`` answers ``{"value": <jwt>}``; it records the
  audiences asked for.
* :class:`FakeAuthority` — a Microsoft identity platform authority (https, same CA as the
  Key Vault fake): ``POST /<tenant>/oauth2/v2.0/token`` with a client assertion answers an
  access token the Key Vault fake accepts, if the assertion and client id are the ones
  expected; otherwise ``invalid_client`` as Entra ID does (AADSTS700213 style).
Test-only: imports nothing from keyturn.
"""

from __future__ import annotations

import json
import ssl
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from tests.fakes.quiet import QuietThreadingHTTPServer


class _Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(QuietThreadingHTTPServer):
    owner: Any


def _serve(handler: type[BaseHTTPRequestHandler], owner: Any, ctx: ssl.SSLContext | None) -> _Server:
    server = _Server(("127.0.0.1", 0), handler)
    server.owner = owner
    if ctx is not None:
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server


class FakeActionsOidc:
    def __init__(self, *, request_token: str = "gha-request-token", jwt: str = "eyJhbGciOi.fake-gha.jwt") -> None:
        self.request_token = request_token
        self.jwt = jwt
        self.audiences: list[str] = []
        self._server: _Server | None = None

    def start(self) -> Self:
        self._server = _serve(_OidcHandler, self, None)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        # GitHub's URL already carries a query string; clients append &audience=
        return f"http://127.0.0.1:{self._server.server_address[1]}/_apis/oidc/token?api-version=2.0"


class _OidcHandler(_Base):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802
        owner: FakeActionsOidc = self.server.owner
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.headers.get("Authorization", "").lower() != f"bearer {owner.request_token}":
            return self._send(401, {"message": "Unauthorized"})
        owner.audiences.append((query.get("audience") or [""])[0])
        self._send(200, {"value": owner.jwt, "count": len(owner.jwt)})


class FakeAuthority:
    def __init__(self, *, ctx: ssl.SSLContext, tenant: str, client_id: str, assertion: str,
                 access_token: str) -> None:
        self.ctx = ctx
        self.tenant = tenant
        self.client_id = client_id
        self.assertion = assertion
        self.access_token = access_token
        self.requests: list[dict[str, str]] = []
        self._server: _Server | None = None

    def start(self) -> Self:
        self._server = _serve(_AuthorityHandler, self, self.ctx)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"


class _AuthorityHandler(_Base):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802
        owner: FakeAuthority = self.server.owner
        base = f"{owner.url}/{owner.tenant}"
        if self.path.startswith(f"/{owner.tenant}/v2.0/.well-known/openid-configuration"):
            return self._send(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                    "issuer": f"{base}/v2.0"})
        self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802
        owner: FakeAuthority = self.server.owner
        n = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(n).decode()).items()}
        owner.requests.append({k: v for k, v in form.items() if k != "client_assertion"})
        if self.path.split("?")[0] != f"/{owner.tenant}/oauth2/v2.0/token":
            return self._send(400, {"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant not found."})
        if form.get("client_id") != owner.client_id or form.get("client_assertion") != owner.assertion:
            return self._send(401, {"error": "invalid_client", "error_description":
                                    "AADSTS700213: No matching federated identity record found for presented "
                                    "assertion subject."})
        self._send(200, {"access_token": owner.access_token, "expires_in": 3600, "token_type": "Bearer"})
