"""Helpers for the scanner tests: CLI runner, temporary git repositories, fake tokens.

Fake tokens are generated at test time (random, correct shape) so no realistic secret
literal needs to live in test code; detector fixtures live in ``tests/scan/fixtures/``.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import string
import subprocess
import zlib
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from keyturn.errors import KeyturnError
from keyturn.scan import cli

FIXTURES = Path(__file__).parent / "fixtures"
ALNUM = string.ascii_letters + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def crc32_b62(body: str) -> str:
    """GitHub/npm token checksum: base62 of CRC32(body), zero-padded to 6 (computed here,
    independently of keyturn.scan.checksums)."""
    n, out = zlib.crc32(body.encode()), ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(6, "0")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_scan(argv: list[str]) -> CliResult:
    """Parse like ``keyturn scan …`` and run, mapping UsageError to exit 2 as keyturn.cli does."""
    parser = argparse.ArgumentParser(prog="keyturn")
    sub = parser.add_subparsers(dest="command")
    cli.add_parser(sub)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            args = parser.parse_args(["scan", *argv])
            code = cli.run(args)
        except KeyturnError as exc:
            print(f"keyturn: error: {exc}", file=err)
            code = int(exc.exit_code)
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


class Fakes:
    """Random, well-shaped fake credentials (never real)."""

    def __init__(self, seed: int = 1234) -> None:
        self.r = random.Random(seed)

    def s(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def github(self, prefix: str = "ghp_") -> str:
        """A classic GitHub token with a valid CRC32 checksum (never issued)."""
        body = self.s(30)
        return prefix + body + crc32_b62(body)

    def npm(self) -> str:
        body = self.s(30)
        return "npm_" + body + crc32_b62(body)

    def stripe(self) -> str:
        return "sk_live_" + self.s(24)

    def password(self) -> str:
        return self.s(12) + "#" + self.s(8)


class GitRepo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
        proc = subprocess.run(
            [
                "git",
                "-c",
                "user.name=keyturn-test",
                "-c",
                "user.email=test@keyturn.invalid",
                "-c",
                "commit.gpgsign=false",
                *args,
            ],
            cwd=self.path,
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        return proc.stdout

    def write(self, rel: str, text: str) -> Path:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def commit(self, message: str = "commit") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def fixture_cases() -> list[tuple[str, Path]]:
    return [(f"{p.parent.name}/{p.name}", p) for p in sorted(FIXTURES.glob("*/*")) if p.is_file()]


def expected(path: Path) -> tuple[str | None, list[int]]:
    """Parse the ``# expect: DETECTOR L1,L2`` / ``# expect: none`` header."""
    head = path.read_text().splitlines()[0]
    parts = head.split("expect:", 1)[1].split()
    if parts[0] == "none":
        return None, []
    return parts[0], [int(x) for x in parts[1].split(",")]
