"""A local stand-in for a vendor's API-key API (SendGrid's shape), on loopback.

``POST /v3/api_keys {name, scopes?}`` → 201 ``{api_key_id, api_key, name, scopes}`` (the
key's value is shown only here, as SendGrid does); ``GET /v3/api_keys`` → ``{result:
[{api_key_id, name}]}``; ``GET|DELETE /v3/api_keys/{id}`` → 200 / 204, 404 when gone.
Those need the admin key (``Authorization: Bearer <admin>``). ``GET /v3/scopes`` answers
200 ``{scopes}`` to any *live* key (admin or issued) and 401 to anything else, so verify
and smoke checks that call it prove the key works. Tests read the state directly
(:attr:`FakeVendor.keys`, :attr:`deleted`) and can make creation fail or hang.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.quiet import QuietThreadingHTTPServer


@dataclass
class ApiKey:
    api_key_id: str
    name: str
    value: str
    scopes: list[str] = field(default_factory=list)


class FakeVendor:
    def __init__(self) -> None:
        self.admin_key = "SG.admin." + secrets.token_urlsafe(32)
        self.keys: dict[str, ApiKey] = {}
        self.deleted: list[ApiKey] = []
        #: answer POST /v3/api_keys with this status instead of creating (0 = create)
        self.fail_create = 0
        #: create keys without the scopes asked for (a misconfigured admin key, say)
        self.grant_no_scopes = False
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self._server = QuietThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- state, as the tests read it ---------------------------------------------------
    def live(self, prefix: str = "keyturn-") -> list[ApiKey]:
        with self._lock:
            return [k for k in self.keys.values() if k.name.startswith(prefix)]

    def by_value(self, value: str | None) -> ApiKey | None:
        with self._lock:
            return next((k for k in self.keys.values() if k.value == value), None)

    def add(self, name: str) -> ApiKey:
        """A key made outside keyturn (e.g. by hand in the dashboard)."""
        with self._lock:
            return self._create(name, ["mail.send"])

    def _create(self, name: str, scopes: list[str]) -> ApiKey:
        key = ApiKey("k" + secrets.token_urlsafe(16), name, "SG." + secrets.token_urlsafe(16) + "." +
                     secrets.token_urlsafe(32), scopes)
        self.keys[key.api_key_id] = key
        return key

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeVendor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- HTTP --------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _bearer(self) -> str:
                auth = self.headers.get("Authorization", "")
                return auth[7:] if auth.startswith("Bearer ") else ""

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw or b"{}")
                except ValueError:
                    return None

            def _route(self, method: str) -> None:
                path = self.path.split("?", 1)[0].rstrip("/")
                fake.requests.append(f"{method} {path}")
                body = self._body() if method == "POST" else None
                bearer = self._bearer()
                with fake._lock:
                    live = {k.value: k for k in fake.keys.values()}
                    if path == "/v3/scopes" and method == "GET":
                        if bearer == fake.admin_key:
                            return self._send(200, {"scopes": ["api_keys.create", "api_keys.delete",
                                                               "api_keys.read", "scopes.read"]})
                        key = live.get(bearer)
                        if key is None:
                            return self._send(401, {"errors": [{"field": None, "message":
                                                                "authorization required"}]})
                        return self._send(200, {"scopes": key.scopes})
                    if bearer != fake.admin_key:
                        return self._send(401, {"errors": [{"field": None, "message": "authorization required"}]})
                    if path == "/v3/api_keys" and method == "POST":
                        if fake.fail_create:
                            return self._send(fake.fail_create, {"errors": [{"message": "try again later"}]})
                        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
                            return self._send(400, {"errors": [{"field": "name", "message": "missing"}]})
                        scopes = [] if fake.grant_no_scopes else list(body.get("scopes") or ["mail.send"])
                        key = fake._create(body["name"], scopes)
                        return self._send(201, {"api_key_id": key.api_key_id, "api_key": key.value,
                                                "name": key.name, "scopes": key.scopes})
                    if path == "/v3/api_keys" and method == "GET":
                        return self._send(200, {"result": [{"api_key_id": k.api_key_id, "name": k.name}
                                                           for k in fake.keys.values()]})
                    if path.startswith("/v3/api_keys/"):
                        key_id = path[len("/v3/api_keys/"):]
                        key = fake.keys.get(key_id)
                        if key is None:
                            return self._send(404, {"errors": [{"field": None, "message": "unable to find API Key"}]})
                        if method == "GET":
                            return self._send(200, {"api_key_id": key.api_key_id, "name": key.name,
                                                    "scopes": key.scopes})
                        if method == "DELETE":
                            fake.deleted.append(fake.keys.pop(key_id))
                            return self._send(204)
                    return self._send(404, {"errors": [{"message": "no such route"}]})

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._route("DELETE")

        return Handler
