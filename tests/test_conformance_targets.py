"""The target and check conformance suites (``keyturn.testing.targets``) for every
built-in backend: the dotenv file target, the JWK Set file target, GitHub repository /
environment / Dependabot / organization secrets against the local GitHub fake (the real
PyGithub client, the fake decrypts each sealed box), and the command and http checks (a loopback HTTP server)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyturn._internal.github_client import GitHubSession
from keyturn.targets.base import Target
from keyturn.targets.file import FileTarget
from keyturn.generators import generate
from keyturn.targets.github import GitHubOrgSecretTarget, GitHubRepoSecretTarget
from keyturn.targets.jwks import JwksTarget
from keyturn.testing.targets import CheckConformance, TargetConformance
from keyturn.validators.base import Check
from keyturn.validators.command import CommandCheck
from keyturn.validators.http import HttpCheck
from keyturn.values import SecretValue
from tests.fakes.github_api import FakeGitHub
from tests.fakes.quiet import QuietThreadingHTTPServer


class TestFileTargetConformance(TargetConformance):
    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.dir = tmp_path

    def make_target(self) -> Target:
        return FileTarget("deploy/conf.env", base_dir=self.dir)

    def held(self, target: Target, name: str) -> str | None:
        assert isinstance(target, FileTarget)
        found = target.read().get(name)
        return found.reveal() if found is not None else None


class TestJwksTargetConformance(TargetConformance):
    @pytest.fixture(autouse=True)
    def _dir(self, tmp_path: Path) -> None:
        self.dir = tmp_path

    def make_target(self) -> Target:
        return JwksTarget("public/jwks.json", base_dir=self.dir)

    def make_value(self) -> SecretValue:
        return generate("ed25519")

    def held(self, target: Target, name: str) -> str | None:
        assert isinstance(target, JwksTarget)
        return target.entries().get(name)  # the kid: the value itself is never in the file


class _GitHubBase(TargetConformance):
    scope: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _fake(self, fake: FakeGitHub) -> None:
        self.gh = fake
        self.session = GitHubSession.from_env({"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url,
                                               "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0"})


class TestGitHubRepoConformance(_GitHubBase):
    def make_target(self) -> Target:
        return GitHubRepoSecretTarget(self.session, "acme/api")

    def held(self, target: Target, name: str) -> str | None:
        return self.gh.value("acme/api", name)


class TestGitHubEnvironmentConformance(_GitHubBase):
    def make_target(self) -> Target:
        return GitHubRepoSecretTarget(self.session, "acme/api", environment="production")

    def held(self, target: Target, name: str) -> str | None:
        return self.gh.value("acme/api", name, environment="production")


class TestGitHubDependabotConformance(_GitHubBase):
    def make_target(self) -> Target:
        return GitHubRepoSecretTarget(self.session, "acme/worker", dependabot=True)

    def held(self, target: Target, name: str) -> str | None:
        return self.gh.value("acme/worker", name, dependabot=True)


class TestGitHubOrgConformance(_GitHubBase):
    def make_target(self) -> Target:
        return GitHubOrgSecretTarget(self.session, "acme", visibility="selected", repositories=["acme/api"])

    def held(self, target: Target, name: str) -> str | None:
        return self.gh.value("acme", name)


class TestCommandCheckConformance(CheckConformance):
    def make_check(self, passing: bool) -> Check:
        # The check echoes the value (it must never come back in the result).
        script = 'echo "$KEYTURN_VALUE"; echo "$KEYTURN_VALUE" >&2; exit ' + ("0" if passing else "3")
        return CommandCheck(["sh", "-c", script], timeout=10)


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        status = 200 if self.path == "/ok" else 401
        body = (self.headers.get("X-Token") or "").encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    server = QuietThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class TestHttpCheckConformance(CheckConformance):
    @pytest.fixture(autouse=True)
    def _server(self, echo_url: str) -> None:
        self.url = echo_url

    def make_check(self, passing: bool) -> Check:
        return HttpCheck(f"{self.url}/{'ok' if passing else 'no'}", headers={"X-Token": "{{ value }}"}, timeout=5)
