"""README's --help blocks are the real output (STYLE §5), and it starts with the two
commands that .ci/run relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_help_blocks_match_real_output(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("update_readme_help", REPO / "scripts/update_readme_help.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setenv("COLUMNS", "100")
    readme = (REPO / "README.md").read_text()
    blocks = mod.BLOCK.findall(readme)
    assert len(blocks) >= 3, "README must show --help blocks"
    assert mod.render(readme) == readme, "README --help blocks drifted: run python3 scripts/update_readme_help.py"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text().splitlines()
    fence = readme.index("```bash")
    assert readme[fence + 1].startswith("python3 scripts/demo.py")
    assert readme[fence + 2].startswith("python3 scripts/test.py")
    assert "python3 scripts/test.py" in (REPO / ".ci/run").read_text()
