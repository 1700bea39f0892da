"""The LICENSE file is the license pyproject.toml declares, and it ships with the action build."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_license_matches_pyproject() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    spdx = declared["text"] if isinstance(declared, dict) else declared
    assert spdx == "Apache-2.0"
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) > 150
    assert "LICENSE" in (REPO / "actions" / "setup" / "setup.sh").read_text()
