"""Real-tree benchmark: ``keyturn scan`` vs Kingfisher vs detect-secrets on installed packages.

Builds a tree of real third-party source with ``pip install --no-deps --target`` (default:
botocore, Django, numpy, pandas, ansible + ansible-core: ~685 MB, ~28,000 files), then in one
run, interleaved, a fixed number of repeats each:

- ``keyturn scan TREE --format json`` (this checkout's ``src``),
- ``kingfisher scan TREE --no-validate --no-update-check --git-history none --format json``
  (PyPI ``kingfisher-bin``; pass its path with ``--kingfisher``),
- ``detect-secrets scan --all-files --no-verify`` on every ``--ds-k``-th file only (it runs
  at well under 1 MB/s; the full tree would take most of an hour per run).

Reports wall time medians, MB/s over the text bytes (files without NUL), peak RSS of the
whole process tree, and findings per top-level package for each tool. Nothing here reaches
the network except pip when it builds the tree.

Usage::

    .venv/bin/python bench/scan_realtree.py --kingfisher /path/to/kingfisher --work /tmp/rt
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan_bench as sb  # noqa: E402  (measured_run, Keyturn, DetectSecrets, tree_stats, ...)

PACKAGES = ["botocore==1.31.85", "django==5.2.19", "numpy==2.4.6", "pandas==3.1.1",
            "ansible==12.3.0", "ansible-core==2.19.14"]


class Kingfisher(sb.Tool):
    name = "kingfisher"
    ok_codes = (0, 200, 205)

    def __init__(self, exe: str) -> None:
        self.exe = exe

    def argv(self, path: Path) -> list[str]:
        return [self.exe, "scan", ".", "--no-validate", "--no-update-check",
                "--git-history", "none", "--format", "json"]

    def parse(self, stdout: bytes) -> list[dict]:
        first = stdout.split(b"\n", 1)[0]
        data = json.loads(first)
        out = []
        for f in data.get("findings", []):
            fd = f["finding"]
            p = fd["path"][2:] if fd["path"].startswith("./") else fd["path"]
            out.append({"path": p, "line": fd["line"], "type": f["rule"]["id"], "kind": f["rule"]["id"]})
        return out


def build_tree(work: Path, packages: list[str]) -> Path:
    tree = work / "tree"
    if not tree.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tree),
                        *packages], check=True)
    return tree


def per_package(findings: list[dict]) -> dict[str, int]:
    c: Counter[str] = Counter()
    for f in findings:
        parts = f["path"].split("/")
        top = parts[0] if parts[0] != "ansible_collections" else "/".join(parts[:3])
        c[top] += 1
    return dict(sorted(c.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/keyturn-realtree"))
    ap.add_argument("--kingfisher", required=True, help="path of the kingfisher executable")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ds-k", type=int, default=50, help="detect-secrets scans every k-th file")
    ap.add_argument("--ds-runs", type=int, default=1)
    ap.add_argument("--skip-ds", action="store_true")
    ap.add_argument("--results", type=Path, default=None)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    tree = build_tree(args.work, PACKAGES)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    res: dict = {"machine": sb.machine(), "packages": PACKAGES,
                 "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    log("full tree: %s" % tree)
    kt, kf = sb.Keyturn(), Kingfisher(args.kingfisher)
    full = sb.throughput([(kt, args.runs), (kf, args.runs)], tree, log)
    for name in ("keyturn", "kingfisher"):
        full["tools"][name]["per_package"] = per_package(full["tools"][name]["finding_list"])
    full["ratio_keyturn_vs_kingfisher"] = round(
        full["tools"]["kingfisher"]["median_seconds"] / full["tools"]["keyturn"]["median_seconds"], 2)
    res["full"] = full
    if not args.skip_ds:
        sub = sb.build_subset(tree, args.work, args.ds_k)
        log("subset (every %d-th file): %s" % (args.ds_k, sub))
        part = sb.throughput([(kt, args.runs), (kf, args.runs), (sb.DetectSecrets(), args.ds_runs)], sub, log)
        for name in part["tools"]:
            part["tools"][name]["per_package"] = per_package(part["tools"][name]["finding_list"])
        res["subset"] = part
    print(md(res))
    out = args.results or (sb.HERE / "results" / ("scan-realtree-%s.json" % _dt.date.today().isoformat()))
    out.write_text(json.dumps(res, indent=1) + "\n")
    log("results: %s" % out)
    return 0


def md(res: dict) -> str:
    lines = []
    for key, title in (("full", "full tree"), ("subset", "subset")):
        t = res.get(key)
        if not t:
            continue
        lines.append("%s: %d files, %.1f MB (%.1f MB text)\n" % (title, t["files"], t["bytes"] / 1e6,
                                                               t["text_bytes"] / 1e6))
        lines.append("| tool | repeats | median s | MB/s (text) | peak RSS MB | findings |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for name, r in t["tools"].items():
            lines.append("| %s | %d | %.2f | %.1f | %.0f | %d |" % (
                name, r["repeats"], r["median_seconds"], r["mb_per_s_text"], r["peak_rss_mb_max"], r["findings"]))
        lines.append("")
        for name, r in t["tools"].items():
            lines.append("%s findings per package: %s" % (name, json.dumps(r["per_package"])))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
