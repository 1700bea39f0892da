"""Fixtures for the scanner tests (helpers live in :mod:`tests.scan._support`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.scan._support import CliResult, Fakes, GitRepo, run_scan


@pytest.fixture
def scan_cli() -> Callable[[list[str]], CliResult]:
    return run_scan


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    for var in (
        "GITHUB_ACTIONS",
        "GITHUB_STEP_SUMMARY",
        "GITHUB_OUTPUT",
        "KEYTURN_SCAN_FORMAT",
        "KEYTURN_SCAN_EXIT_ZERO",
        "KEYTURN_SCAN_JOBS",
        "KEYTURN_SCAN_FINGERPRINT_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KEYTURN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "keyturn-cache"))


@pytest.fixture
def fakes() -> Fakes:
    return Fakes()


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")
