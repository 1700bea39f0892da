"""Static checks in the suite, so CI enforces them: mypy --strict over the package and
ruff over everything (rules in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_mypy_strict_package() -> None:
    r = subprocess.run([str(BIN / "mypy"), "--strict", "--no-incremental", "src/keyturn"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]


def test_ruff() -> None:
    r = subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "src", "tests", "scripts", "bench"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]
