"""Shared fixtures: a real OpenBao dev server on loopback (one per pytest worker),
isolated per test by unique secret paths; helpers to run the CLI in-process and as a
real subprocess. Nothing here reaches beyond 127.0.0.1."""

from __future__ import annotations

import io
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyturn._internal.devserver import Server, start_openbao
from tests.fakes.github_api import FakeGitHub

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_openbao(tmp_path_factory.mktemp("openbao"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A real PostgreSQL cluster (Debian's) on 127.0.0.1, scram-sha-256 only
    (:class:`tests.pg_support.PgServer`); skipped with the reason when the server binaries
    are not installed."""
    from tests.pg_support import postgres_session  # imports the workspace helpers, which import this module

    yield from postgres_session()


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    """A fresh fake GitHub API (thread, free port) with acme/api (environments staging,
    production), acme/worker and org acme."""
    with FakeGitHub() as gh:
        gh.add_repo("acme/api", environments=["staging", "production"])
        gh.add_repo("acme/worker")
        gh.add_org("acme")
        yield gh


@pytest.fixture
def vault_env(openbao: Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """VAULT_ADDR/VAULT_TOKEN for the session's OpenBao; no GitHub Actions leakage."""
    env = {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    for k in ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "VAULT_NAMESPACE"):
        monkeypatch.delenv(k, raising=False)
    return env


@pytest.fixture
def dead_url() -> Iterator[str]:
    """An http URL on 127.0.0.1 that refuses connections: the port stays bound (not
    listening) for the whole test, so no other server in the process can take it."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:10]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli() -> object:
    """Call ``keyturn.cli.main(argv)`` in-process with captured streams."""
    from keyturn.cli import main

    def run(*argv: str, cwd: Path | None = None) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        old = os.getcwd()
        try:
            if cwd:
                os.chdir(cwd)
            with redirect_stdout(out), redirect_stderr(err):
                code = main(list(argv))
        finally:
            os.chdir(old)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KEYTURN_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra or {})
    return env


KEYTURN_CMD = [sys.executable, "-m", "keyturn"]
