#!/usr/bin/env python3
"""Derive the split locks (requirements/{core,vault,aws,azure,scan}.txt) from requirements/action.txt.

action.txt is the one resolved lock (pip-compile, every store, target and the scanner). The
split locks let a job install only what it uses: ``core.txt`` (keyturn's dependencies, the
GitHub targets, the build backend) plus one lock per store SDK, and ``scan.txt`` for the
secret-scan gate. Each holds the packages of its ``.in`` file and everything they need, with
exactly action.txt's pins and sha256 hashes, so one Dependabot update and one review cover all
of them. "Needs" is read from pip-compile's own "# via" annotations in action.txt.

Nothing is resolved or downloaded here: derivation is text in, text out, so it works offline.
It also refuses to derive when the ``.in`` files drift from pyproject.toml (each mirrors its
extra), when action.in is not their union, or when a store lock would pull in another store's
SDK. Run after scripts/lock-requirements.sh; tests/test_requirements.py checks that every
split lock is what this script derives.

    python3 scripts/derive_requirements.py                 # write the split locks
    python3 scripts/derive_requirements.py --check         # exit 1 naming any stale lock
    python3 scripts/derive_requirements.py --root DIR ...  # another checkout (tests)
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The SDK locks: one per extra of pyproject.toml that a manifest can need beyond core —
#: its stores' SDKs and its issuers' (postgres). `keyturn manifest stores` prints these
#: names (keyturn._internal.sdks.LOCKED; tests/test_requirements.py checks they agree).
SDKS = ("vault", "aws", "azure", "postgres")
#: lock name -> the pyproject.toml parts its .in mirrors ("deps": [project.dependencies],
#: "build": [build-system].requires, anything else: that optional-dependencies extra).
SOURCES: dict[str, tuple[str, ...]] = {
    "core": ("deps", "github", "build"),
    "scan": ("deps", "scan", "build"),
    **{sdk: (sdk,) for sdk in SDKS},
}
HEADER = """\
#
# Derived from requirements/action.txt by scripts/derive_requirements.py: the packages of
# requirements/{name}.in and their dependencies, with action.txt's pins and hashes. {what}
#
"""
WHAT = {
    "core": "No store SDK, no scanner.",
    "scan": "No cloud SDK.",
    **{sdk: "Install with core.txt; no other SDK lock's packages." for sdk in SDKS},
}


class Drift(Exception):
    """The inputs disagree (pyproject.toml, the .in files, action.txt): one line saying what to fix."""


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def req_name(requirement: str) -> str:
    return norm(re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0])


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


def in_names(path: Path) -> set[str]:
    if not path.is_file():
        raise Drift(f"{path.name} is missing")
    return {req_name(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.lstrip().startswith("#")}


def pyproject_names(root: Path) -> dict[str, set[str]]:
    """part ("deps", "build", or an extra) -> normalised requirement names."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = data["project"]
    out = {"deps": {req_name(r) for r in project.get("dependencies", [])},
           "build": {req_name(r) for r in data.get("build-system", {}).get("requires", [])}}
    for extra, reqs in project.get("optional-dependencies", {}).items():
        out[extra] = {req_name(r) for r in reqs if not r.startswith("keyturn[")}
    return out


def closure(table: dict[str, tuple[str, set[str]]], wanted: set[str]) -> set[str]:
    keep = set(wanted)
    changed = True
    while changed:
        changed = False
        for name, (_, via) in table.items():
            if name not in keep and via & keep:
                keep.add(name)
                changed = True
    return keep


def derive(root: Path = REPO) -> dict[str, str]:
    """lock name -> the text its .txt must hold. Raises Drift when the inputs disagree."""
    req = root / "requirements"
    table = blocks((req / "action.txt").read_text(encoding="utf-8"))
    project = pyproject_names(root)
    direct = {name: in_names(req / f"{name}.in") for name in SOURCES}
    for name, parts in SOURCES.items():
        missing = [p for p in parts if p not in project]
        if missing:
            raise Drift(f"pyproject.toml has no {missing[0]!r} extra (requirements/{name}.in mirrors it)")
        expected = set().union(*(project[p] for p in parts))
        if direct[name] != expected:
            extra, lacking = sorted(direct[name] - expected), sorted(expected - direct[name])
            raise Drift(f"requirements/{name}.in does not mirror pyproject.toml ({' + '.join(parts)}): "
                        f"extra {extra}, missing {lacking}")
        unpinned = sorted(direct[name] - set(table))
        if unpinned:
            raise Drift(f"requirements/{name}.in names packages action.txt does not pin: {unpinned} — "
                        "run scripts/lock-requirements.sh")
    union = set().union(*direct.values())
    action_in = in_names(req / "action.in")
    if action_in != union:
        raise Drift(f"requirements/action.in is not the union of the split .in files: extra "
                    f"{sorted(action_in - union)}, missing {sorted(union - action_in)}")
    keep = {name: closure(table, wanted) for name, wanted in direct.items()}
    for name, packages in keep.items():
        foreign = sorted(packages & set().union(*(direct[s] for s in SDKS if s != name)))
        if foreign:
            raise Drift(f"requirements/{name}.txt would pull in another SDK lock's packages: {foreign}")
    return {name: HEADER.format(name=name, what=WHAT[name]) + "".join(table[p][0] for p in sorted(packages))
            for name, packages in keep.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a split lock is stale; write nothing")
    parser.add_argument("--root", type=Path, default=REPO, help="checkout to work on (default: this one)")
    args = parser.parse_args(argv)
    try:
        wanted = derive(args.root)
    except Drift as exc:
        print(f"derive_requirements: {exc}", file=sys.stderr)
        return 1
    req = args.root / "requirements"
    stale = [name for name, text in wanted.items()
             if not (req / f"{name}.txt").is_file() or (req / f"{name}.txt").read_text(encoding="utf-8") != text]
    if args.check:
        if stale:
            names = ", ".join(f"requirements/{n}.txt" for n in stale)
            print(f"{names} stale (edited by hand, or action.txt changed): run python3 "
                  "scripts/derive_requirements.py", file=sys.stderr)
            return 1
        return 0
    for name in stale:
        (req / f"{name}.txt").write_text(wanted[name], encoding="utf-8")
        print(f"wrote requirements/{name}.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
