#!/usr/bin/env python3
"""Derive requirements/scan.txt (the secret-scan gate's lock) from requirements/action.txt.

The scan gate must install no cloud SDK, so it gets its own lock: the packages of
requirements/scan.in and everything they need, with exactly the pins and sha256 hashes of
action.txt (so one Dependabot update and one review cover both). "Needs" is read from
pip-compile's own "# via" annotations in action.txt. Run after scripts/lock-requirements.sh;
tests/test_workflows.py checks that scan.txt is what this script derives.

    python3 scripts/derive_scan_requirements.py          # write requirements/scan.txt
    python3 scripts/derive_scan_requirements.py --check  # exit 1 if it is stale
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "requirements" / "action.txt"
SCAN_IN = REPO / "requirements" / "scan.in"
SCAN = REPO / "requirements" / "scan.txt"
HEADER = """\
#
# Derived from requirements/action.txt by scripts/derive_scan_requirements.py: the packages of
# requirements/scan.in and their dependencies, with action.txt's pins and hashes. No cloud SDK.
#
"""


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def blocks(text: str) -> dict[str, tuple[str, set[str]]]:
    """name -> (block text, names it is required via)."""
    out: dict[str, tuple[str, set[str]]] = {}
    current: str | None = None
    lines: list[str] = []
    via: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if m:
            if current:
                out[current] = ("\n".join(lines) + "\n", via)
            current, lines, via = norm(m.group(1)), [line], set()
            continue
        if current is None or not line.startswith("    "):
            continue
        lines.append(line)
        body = line.strip().lstrip("#").strip()
        body = body.removeprefix("via").strip()
        if body.startswith("-r "):
            via.add("-r")
        elif body and not body.startswith("--hash"):
            via.add(norm(body))
    if current:
        out[current] = ("\n".join(lines) + "\n", via)
    return out


def derive() -> str:
    table = blocks(ACTION.read_text(encoding="utf-8"))
    wanted = {norm(re.split(r"[<>=!;\[ ]", line.strip(), maxsplit=1)[0])
              for line in SCAN_IN.read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.lstrip().startswith("#")}
    missing = wanted - set(table)
    if missing:
        raise SystemExit(f"scan.in names packages action.txt does not pin: {sorted(missing)}")
    keep = set(wanted)
    changed = True
    while changed:
        changed = False
        for name, (_, via) in table.items():
            if name not in keep and via & keep:
                keep.add(name)
                changed = True
    return HEADER + "".join(table[name][0] for name in sorted(keep))


def main() -> int:
    text = derive()
    if "--check" in sys.argv[1:]:
        if not SCAN.is_file() or SCAN.read_text(encoding="utf-8") != text:
            print("requirements/scan.txt is stale: run python3 scripts/derive_scan_requirements.py", file=sys.stderr)
            return 1
        return 0
    SCAN.write_text(text, encoding="utf-8")
    print(f"wrote {SCAN.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
