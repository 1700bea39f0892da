#!/usr/bin/env python3
"""Install everything into .venv and run the whole test suite (README command #2).

Extra arguments go to pytest, e.g. ``python3 scripts/test.py -k manifest -x``.
Exit code 5 from pytest (no tests collected) is turned into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import REPO, ensure  # noqa: E402


def main() -> int:
    py = ensure("test")
    args = sys.argv[1:]
    workers = os.environ.get("KEYTURN_TEST_WORKERS", "2")
    cmd = [str(py), "-m", "pytest", "-p", "no:cacheprovider"]
    if workers not in ("0", "1"):
        cmd += ["-n", workers]
    cmd += args
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    code = subprocess.run(cmd, cwd=REPO).returncode
    if code == 5:
        print("pytest collected no tests: failing on purpose", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
