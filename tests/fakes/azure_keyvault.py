"""A stateful HTTPS fake of the Azure Key Vault secrets REST API, plus a fake Microsoft
identity token endpoint and a fake GitHub Actions OIDC token endpoint.

The real ``azure.keyvault.secrets.SecretClient`` and ``azure-identity`` credentials talk
to it over TLS (a ``trustme`` CA; pass ``ca_pem`` as ``connection_verify``). It honours
the bearer-challenge handshake (a request without the expected token gets 401 with
``WWW-Authenticate: Bearer authorization=..., resource=...``), versions with 32-hex ids,
``nextLink`` paging, tags, enable/disable (a disabled version answers 403
``SecretDisabled``, and so does get-by-name when the newest version is disabled), soft
delete, recover and purge (PUT on a deleted-but-recoverable name answers 409), the
``attributes.exp`` / ``nbf`` dates as the REST API has them (integer epoch seconds, recorded
on PUT and PATCH and returned on every read and listing; anything else answers 400
``BadParameter``; like Key Vault, an expired secret is still readable), and Azure's error
bodies. Faults: ``deny`` makes an operation answer 403 ``ForbiddenByRbac``
naming its data action; ``fail_next`` queues statuses (429 with Retry-After, 503) for the
next requests. Test-only: imports nothing from keyturn.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

import trustme

from tests.fakes.quiet import QuietThreadingHTTPServer

ACTIONS = {  # operation -> RBAC data action (what Azure's 403 names)
    "get": "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "list": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "set": "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    "update": "Microsoft.KeyVault/vaults/secrets/update/action",
    "delete": "Microsoft.KeyVault/vaults/secrets/delete",
    "recover": "Microsoft.KeyVault/vaults/secrets/recover/action",
    "purge": "Microsoft.KeyVault/vaults/secrets/purge/action",
    "getdeleted": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
}


@dataclass
class Version:
    id: str
    value: str
    tags: dict[str, str]
    content_type: str | None
    enabled: bool
    created: int
    updated: int
    exp: int | None = None
    nbf: int | None = None


@dataclass
class Secret:
    name: str
    versions: list[Version] = field(default_factory=list)
    deleted_at: int | None = None


class _Http(QuietThreadingHTTPServer):
    owner: FakeKeyVault


class FakeKeyVault:
    """One vault on ``https://127.0.0.1:PORT``; ``token`` is the bearer it accepts."""

    def __init__(self, *, tenant: str = "00000000-0000-0000-0000-0000000000aa", token: str = "kv-test-token",
                 page_size: int = 2, purge_protection: bool = False) -> None:
        self.tenant = tenant
        self.token = token
        self.page_size = page_size
        self.purge_protection = purge_protection
        self.secrets: dict[str, Secret] = {}
        self.deny: set[str] = set()
        self.ignore_disable = False  # answer PATCH enabled=false with 200 but keep the version enabled
        self.fail_next: list[tuple[int, str]] = []  # (status, operation or "*")
        self.log: list[tuple[str, str, int]] = []
        self.lock = threading.RLock()
        self.ca = trustme.CA()
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost")
        self._dir: Any = None
        self.ca_pem = ""
        self._server: _Http | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, ca_dir: str) -> Self:
        import os

        self.ca_pem = os.path.join(ca_dir, "kv-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_pem)
        self._server = _Http(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._server.socket = self.tls_context().wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def tls_context(self) -> ssl.SSLContext:
        """A server context with this fake's leaf certificate (for sibling fakes)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._cert.configure_cert(ctx)
        return ctx

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ test helpers
    def put(self, name: str, value: str, tags: dict[str, str] | None = None) -> str:
        """A write by someone else (bypassing keyturn). Returns the version id."""
        with self.lock:
            return self._new_version(name, value, tags or {}, None, {}).id

    def versions(self, name: str) -> list[Version]:
        with self.lock:
            s = self.secrets.get(name.lower())
            return list(s.versions) if s else []

    def latest_value(self, name: str) -> str | None:
        """What a reader by name gets (None when absent, deleted or newest disabled)."""
        with self.lock:
            s = self.secrets.get(name.lower())
            if not s or not s.versions or s.deleted_at is not None or not s.versions[-1].enabled:
                return None
            return s.versions[-1].value

    def _new_version(self, name: str, value: str, tags: dict[str, str], ctype: str | None,
                     attrs: dict[str, Any]) -> Version:
        s = self.secrets.setdefault(name.lower(), Secret(name))
        now = int(time.time())
        v = Version(uuid.uuid4().hex, value, dict(tags), ctype, bool(attrs.get("enabled", True)), now, now,
                    attrs.get("exp"), attrs.get("nbf"))
        s.versions.append(v)
        return v


class _Handler(BaseHTTPRequestHandler):
    server: _Http
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    # ------------------------------------------------------------------ plumbing
    @property
    def kv(self) -> FakeKeyVault:
        return self.server.owner

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.kv.log.append((self.command, self.path.split("?")[0], status))

    def _error(self, status: int, code: str, message: str, inner: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if inner:
            err["innererror"] = {"code": inner}
        self._send(status, {"error": err}, headers)

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else {}

    def _bundle(self, name: str, v: Version, *, value: bool = True) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": v.enabled, "created": v.created, "updated": v.updated,
                                 "recoveryLevel": "Recoverable+Purgeable" if not self.kv.purge_protection
                                 else "Recoverable", "recoverableDays": 7}
        if v.exp is not None:
            attrs["exp"] = v.exp
        if v.nbf is not None:
            attrs["nbf"] = v.nbf
        out: dict[str, Any] = {"id": f"{self.kv.url}/secrets/{name}/{v.id}", "attributes": attrs, "tags": v.tags}
        if v.content_type:
            out["contentType"] = v.content_type
        if value:
            out["value"] = v.value
        return out

    def _deleted_bundle(self, s: Secret) -> dict[str, Any]:
        out = self._bundle(s.name, s.versions[-1], value=False)
        out.update(recoveryId=f"{self.kv.url}/deletedsecrets/{s.name}", deletedDate=s.deleted_at,
                   scheduledPurgeDate=(s.deleted_at or 0) + 7 * 86400)
        return out

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.kv.token}":
            return True
        self._body()  # drain
        self._error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", headers={
            "WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/{self.kv.tenant}", '
                                'resource="https://vault.azure.net"'})
        return False

    def _denied(self, op: str, name: str) -> bool:
        with self.kv.lock:
            for i, (status, which) in enumerate(self.kv.fail_next):
                if which in ("*", op):
                    del self.kv.fail_next[i]
                    self._body()
                    if status == 429:
                        self._error(429, "Throttled", "Request was not processed because too many requests were "
                                    "received. Reason: VaultRequestTypeLimitReached", headers={"Retry-After": "0"})
                    else:
                        self._error(status, "ServiceUnavailable", "The service is unavailable.")
                    return True
        if op in self.kv.deny:
            self._body()
            self._error(403, "Forbidden", "Caller is not authorized to perform action on resource.\r\nIf role "
                        "assignments, deny assignments or role definitions were changed recently, please observe "
                        f"propagation time.\r\nCaller: appid=test\r\nAction: '{ACTIONS[op]}'\r\nResource: "
                        f"'/vaults/fake/secrets/{name}'\r\nAssignment: (not found)\r\n", "ForbiddenByRbac")
            return True
        return False

    def _bad_dates(self, attrs: dict[str, Any]) -> bool:
        """The REST API takes ``exp``/``nbf`` as integer epoch seconds (or null): 400 otherwise."""
        for key in ("exp", "nbf"):
            v = attrs.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                self._error(400, "BadParameter", f"Property attributes.{key} has invalid value {v!r}: expected "
                            "an integer (seconds since 1970-01-01T00:00:00Z)")
                return True
        return False

    def _route(self) -> tuple[list[str], dict[str, list[str]]]:
        parts = urllib.parse.urlsplit(self.path)
        segs = [urllib.parse.unquote(p) for p in parts.path.split("/")]
        return segs[1:], urllib.parse.parse_qs(parts.query)

    # ------------------------------------------------------------------ verbs
    def do_GET(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        segs, query = self._route()
        kv = self.kv
        with kv.lock:
            if segs[0] == "secrets" and len(segs) == 3 and segs[2] == "versions":
                if self._denied("list", segs[1]):
                    return
                s = kv.secrets.get(segs[1].lower())
                if not s or s.deleted_at is not None:
                    return self._error(404, "SecretNotFound", f"A secret with (name/id) {segs[1]} was not found "
                                       "in this key vault.")
                skip = int((query.get("skip") or ["0"])[0])
                size = min(int((query.get("maxresults") or [str(kv.page_size)])[0]), kv.page_size)
                page = s.versions[skip:skip + size]
                items = []
                for v in page:
                    item = self._bundle(s.name, v, value=False)
                    items.append(item)
                nxt = (f"{kv.url}/secrets/{s.name}/versions?skip={skip + size}&maxresults={size}"
                       if skip + size < len(s.versions) else None)
                return self._send(200, {"value": items, "nextLink": nxt})
            if segs[0] == "secrets" and len(segs) == 3:
                if self._denied("get", segs[1]):
                    return
                s = kv.secrets.get(segs[1].lower())
                if not s or s.deleted_at is not None or not s.versions:
                    return self._error(404, "SecretNotFound", f"A secret with (name/id) {segs[1]} was not found "
                                       "in this key vault.")
                if segs[2]:
                    found = [v for v in s.versions if v.id == segs[2]]
                    if not found:
                        return self._error(404, "SecretNotFound", f"A secret with (name/id) {segs[1]}/{segs[2]} "
                                           "was not found in this key vault.")
                    v = found[0]
                else:
                    v = s.versions[-1]
                if not v.enabled:
                    return self._error(403, "Forbidden", "Operation get is not allowed on a disabled secret.",
                                       "SecretDisabled")
                return self._send(200, self._bundle(s.name, v))
            if segs[0] == "deletedsecrets" and len(segs) == 2:
                if self._denied("getdeleted", segs[1]):
                    return
                s = kv.secrets.get(segs[1].lower())
                if not s or s.deleted_at is None:
                    return self._error(404, "SecretNotFound", f"Deleted Secret not found: {segs[1]}")
                return self._send(200, self._deleted_bundle(s))
        self._error(404, "NotFound", "no such route")

    def do_PUT(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        segs, _ = self._route()
        if segs[0] != "secrets" or len(segs) != 2:
            return self._error(404, "NotFound", "no such route")
        if self._denied("set", segs[1]):
            return
        body = self._body()
        if self._bad_dates(body.get("attributes") or {}):
            return
        kv = self.kv
        with kv.lock:
            s = kv.secrets.get(segs[1].lower())
            if s and s.deleted_at is not None:
                return self._error(409, "Conflict", f"Secret {segs[1]} is currently in a deleted but recoverable "
                                   "state, and its name cannot be reused; in this state, the secret can only be "
                                   "recovered or purged.", "ObjectIsDeletedButRecoverable")
            v = kv._new_version(segs[1], str(body["value"]), body.get("tags") or {}, body.get("contentType"),
                                body.get("attributes") or {})
            self._send(200, self._bundle(kv.secrets[segs[1].lower()].name, v))

    def do_PATCH(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        segs, _ = self._route()
        if segs[0] != "secrets" or len(segs) != 3:
            return self._error(404, "NotFound", "no such route")
        if self._denied("update", segs[1]):
            return
        body = self._body()
        if self._bad_dates(body.get("attributes") or {}):
            return
        kv = self.kv
        with kv.lock:
            s = kv.secrets.get(segs[1].lower())
            found = [v for v in (s.versions if s and s.deleted_at is None else [])
                     if v.id == segs[2] or (not segs[2] and v is s.versions[-1])]  # type: ignore[union-attr]
            if not s or not found:
                return self._error(404, "SecretNotFound", f"A secret with (name/id) {segs[1]}/{segs[2]} was not "
                                   "found in this key vault.")
            v = found[0]
            attrs = body.get("attributes") or {}
            if "enabled" in attrs and attrs["enabled"] is not None and not (kv.ignore_disable and not attrs["enabled"]):
                v.enabled = bool(attrs["enabled"])
            if "exp" in attrs:
                v.exp = attrs["exp"]
            if "nbf" in attrs:
                v.nbf = attrs["nbf"]
            if body.get("tags") is not None:
                v.tags = dict(body["tags"])
            if body.get("contentType") is not None:
                v.content_type = body["contentType"]
            v.updated = int(time.time())
            self._send(200, self._bundle(s.name, v, value=False))

    def do_DELETE(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        segs, _ = self._route()
        kv = self.kv
        if segs[0] == "secrets" and len(segs) == 2:
            if self._denied("delete", segs[1]):
                return
            with kv.lock:
                s = kv.secrets.get(segs[1].lower())
                if not s or s.deleted_at is not None:
                    return self._error(404, "SecretNotFound", f"A secret with (name/id) {segs[1]} was not found.")
                s.deleted_at = int(time.time())
                return self._send(200, self._deleted_bundle(s))
        if segs[0] == "deletedsecrets" and len(segs) == 2:
            if self._denied("purge", segs[1]):
                return
            with kv.lock:
                s = kv.secrets.get(segs[1].lower())
                if not s or s.deleted_at is None:
                    return self._error(404, "SecretNotFound", f"Deleted Secret not found: {segs[1]}")
                if kv.purge_protection:
                    return self._error(403, "Forbidden", "Operation \"purge\" is not allowed because purge "
                                       "protection is enabled for this vault.", "PurgeProtectionEnabled")
                del kv.secrets[segs[1].lower()]
                return self._send(204)
        self._error(404, "NotFound", "no such route")

    def do_POST(self) -> None:  # noqa: N802
        if not self._authorized():
            return
        segs, _ = self._route()
        kv = self.kv
        if segs[0] == "deletedsecrets" and len(segs) == 3 and segs[2] == "recover":
            if self._denied("recover", segs[1]):
                return
            self._body()
            with kv.lock:
                s = kv.secrets.get(segs[1].lower())
                if not s or s.deleted_at is None:
                    return self._error(404, "SecretNotFound", f"Deleted Secret not found: {segs[1]}")
                s.deleted_at = None
                return self._send(200, self._bundle(s.name, s.versions[-1], value=False))
        self._error(404, "NotFound", "no such route")
