#!/usr/bin/env python3
"""Regenerate the ``--help`` blocks in README.md from the real CLI (COLUMNS=100).

A block is introduced by ``<!-- help: ARGS -->`` and is the fenced ``text`` block that
follows. ``tests/test_readme.py`` fails when a block drifts from the real output.
"""

from __future__ import annotations

import io
import os
import re
import sys
from contextlib import redirect_stdout
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- help: (?P<args>[^>]*?) -->\n```text\n)(?P<body>.*?)(```)", re.S)


def help_text(args: str) -> str:
    sys.path.insert(0, str(REPO / "src"))
    os.environ["COLUMNS"] = "100"
    from keyturn.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        main([*args.split(), "--help"])
    return out.getvalue()


def render(readme: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + help_text(m.group("args")) + m.group(4), readme)


if __name__ == "__main__":
    path = REPO / "README.md"
    path.write_text(render(path.read_text()))
    print("README.md help blocks updated")
