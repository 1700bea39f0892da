"""Create ``.venv`` next to the repository and install keyturn with an extra into it.

Used by ``scripts/test.py`` and ``scripts/demo.py`` so both README commands work on a
fresh machine with only Python 3.11+. Re-installs only when ``pyproject.toml`` changed.
Standard library only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("KEYTURN_VENV", REPO / ".venv"))


def venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure(extra: str) -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"keyturn needs Python 3.11+, this is {sys.version.split()[0]}")
    py = venv_python()
    if not py.exists():
        print(f"creating virtualenv {VENV} …", file=sys.stderr, flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + extra.encode()).hexdigest()[:16]
    stamp = VENV / f".keyturn-{extra}-{digest}"
    if not stamp.exists():
        print(f"installing keyturn[{extra}] into {VENV} (first run takes a few minutes) …",
              file=sys.stderr, flush=True)
        quiet = [] if os.environ.get("KEYTURN_VERBOSE_INSTALL") else ["-q"]
        subprocess.run([str(py), "-m", "pip", "install", *quiet, "--upgrade", "pip"], check=True)
        subprocess.run([str(py), "-m", "pip", "install", *quiet, "-e", f"{REPO}[{extra}]"], check=True)
        for old in VENV.glob(f".keyturn-{extra}-*"):
            old.unlink()
        stamp.touch()
    return py
