"""A local stand-in for GitHub Actions' OIDC provider, on loopback.

One thread serves both halves: ``/jwks`` (the public half of a test-generated RSA key,
as a JWKS document Vault/OpenBao fetch) and ``/token?audience=AUD`` (the runner's
``ACTIONS_ID_TOKEN_REQUEST_URL``: checks the bearer and answers ``{"value": JWT}``
for the requested audience). Tokens carry GitHub's real claim names and issuer; the
key is the test's own, so the server-side validation is real.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.quiet import QuietThreadingHTTPServer

ISSUER = "https://token.actions.githubusercontent.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(n: int) -> str:
    return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


class FakeGitHubOIDC:
    def __init__(self, repository: str = "acme/api", environment: str = "production") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:16]
        self.bearer = "oidc-request-" + uuid.uuid4().hex
        owner = repository.split("/")[0]
        self.claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": f"repo:{repository}:environment:{environment}",
            "repository": repository,
            "repository_owner": owner,
            "repository_id": "101",
            "repository_owner_id": "7",
            "environment": environment,
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "sha": "0" * 40,
            "workflow": "rotate",
            "workflow_ref": f"{repository}/.github/workflows/rotate.yml@refs/heads/main",
            "job_workflow_ref": f"{owner}/keyturn/.github/workflows/rotate-reusable.yml@refs/heads/main",
            "event_name": "workflow_dispatch",
            "run_id": "42",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
            "actor": "octocat",
        }
        self.requests: list[str] = []  # audiences asked for
        self._server = QuietThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -------------------------------------------------------------- tokens
    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def jwks(self) -> dict[str, Any]:
        pub = self.key.public_key().public_numbers()
        return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                          "n": _int_b64(pub.n), "e": _int_b64(pub.e)}]}

    def mint(self, audience: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {**self.claims, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + 300,
                  "jti": uuid.uuid4().hex}
        claims.update(overrides)
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(sig)}"

    def actions_env(self) -> dict[str, str]:
        """What a job with ``id-token: write`` sees (the URL carries api-version like GitHub's)."""
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.url}/token?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.bearer}

    # -------------------------------------------------------------- server
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _json(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                parts = urllib.parse.urlsplit(self.path)
                if parts.path == "/jwks":
                    return self._json(200, fake.jwks())
                if parts.path == "/token":
                    if self.headers.get("Authorization") != f"Bearer {fake.bearer}":
                        return self._json(401, {"message": "bad bearer"})
                    query = dict(urllib.parse.parse_qsl(parts.query))
                    if query.get("api-version") != "2.0" or not query.get("audience"):
                        return self._json(400, {"message": "api-version and audience required"})
                    fake.requests.append(query["audience"])
                    return self._json(200, {"count": 1, "value": fake.mint(query["audience"])})
                return self._json(404, {"message": "not found"})

        return Handler

    def __enter__(self) -> FakeGitHubOIDC:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
