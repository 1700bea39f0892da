"""Benchmark ``keyturn scan --history`` on a real history, against Kingfisher in the same run.

The history is built from released versions of a PyPI package, committed one after
another (the wheels hold the package's real source: Python, templates, locale files,
JavaScript…). Between two releases a "plant" commit adds a file with fake credentials
(random GitHub PAT with a correct CRC32 suffix, a Stripe-shaped live key); the next
release's commit replaces the tree and so deletes it again — a secret added and removed,
which only a history scan can find.

Measured, each tool scanning the whole history, ``--repeats`` times, medians:

- keyturn: ``keyturn scan REPO --history --format json`` (a work tree; keyturn reads the
  history through ``git log --raw`` and ``git cat-file --batch``, the tree is not read);
- Kingfisher (PyPI ``kingfisher-bin``): ``kingfisher scan BARE --git-history full
  --no-validate --no-update-check`` on a bare clone of the same repository (so it scans
  the history and no work tree).

Throughput is the repository's unique blob bytes divided by wall time, so both tools are
measured against the same denominator; each tool's own "bytes scanned" is reported too.
Peak memory is the summed RSS of the tool's whole process tree, sampled from /proc.

Usage (repository root)::

    .venv/bin/python bench/history_bench.py                 # django, 16 releases, 3 repeats
    .venv/bin/python bench/history_bench.py --repeats 1 --skip-kingfisher

Results: markdown on stdout, JSON in ``bench/results/history-<UTC date>[-tag].json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import shutil
import statistics
import string
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = REPO / ".venv" / "bin"
PY = str(VENV / "python") if (VENV / "python").exists() else sys.executable
KEYTURN = [PY, "-c", "import sys; from keyturn.cli import main; sys.exit(main())", "scan"]
DEFAULT_VERSIONS = "3.2,3.2.25,4.0,4.0.10,4.1,4.1.13,4.2,4.2.10,4.2.20,5.0,5.0.8,5.0.14,5.1,5.1.8,5.2,5.2.8"
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, **GIT_ENV, **(env or {})}
    ident = ["-c", "user.name=bench", "-c", "user.email=bench@keyturn.invalid", "-c", "commit.gpgsign=false"]
    proc = subprocess.run(["git", *ident, *args], cwd=cwd, env=full, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"git {args[0]} failed: {proc.stderr.strip()}")
    return proc.stdout


# -- fake credentials --------------------------------------------------------------


def github_pat(r: random.Random) -> str:
    body = "".join(r.choice(string.ascii_letters + string.digits) for _ in range(30))
    crc = zlib.crc32(body.encode())
    digits = ""
    while crc:
        crc, d = divmod(crc, 62)
        digits = BASE62[d] + digits
    return "ghp_" + body + digits.rjust(6, "0")


def stripe_key(r: random.Random) -> str:
    return "sk_live_" + "".join(r.choice(string.ascii_letters + string.digits) for _ in range(24))


# -- building the history ---------------------------------------------------------------


def download(package: str, versions: list[str], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    wheels = []
    for v in versions:
        have = [p for p in dest.glob("*.whl") if f"-{v}-" in p.name and p.name.lower().startswith(package.lower())]
        if not have:
            subprocess.run(
                [PY, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                 "--python-version", "3.12", f"{package}=={v}", "-d", str(dest)],
                check=True,
            )  # fmt: skip
            have = [p for p in dest.glob("*.whl") if f"-{v}-" in p.name]
        wheels.append(have[0])
    return wheels


def _clear(tree: Path) -> None:
    for entry in tree.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def build_history(wheels: list[Path], repo: Path, seed: int = 7) -> list[dict[str, str]]:
    """One commit per release, a plant commit after each but the last; returns the plants."""
    r = random.Random(seed)
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    plants: list[dict[str, str]] = []
    day = _dt.datetime(2024, 1, 1, 12, 0, tzinfo=_dt.UTC)
    for i, wheel in enumerate(wheels):
        _clear(repo)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(repo)
        stamp = (day + _dt.timedelta(days=2 * i)).isoformat()
        env = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"release {wheel.name}", env=env)
        if i == len(wheels) - 1:
            break
        gh, sk = github_pat(r), stripe_key(r)
        leak = repo / "deploy" / f"settings_{i}.py"
        leak.parent.mkdir(exist_ok=True)
        leak.write_text(f'GITHUB_TOKEN = "{gh}"\nSTRIPE_API_KEY = "{sk}"\n')
        stamp = (day + _dt.timedelta(days=2 * i + 1)).isoformat()
        env = {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "add deploy settings", env=env)
        plants.append({"path": f"deploy/settings_{i}.py", "commit": git(repo, "rev-parse", "HEAD").strip()})
    return plants


def history_stats(repo: Path) -> dict[str, int]:
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectsize)")
    blobs = [int(size) for kind, size in (line.split() for line in out.splitlines()) if kind == "blob"]
    commits = int(git(repo, "rev-list", "--count", "HEAD").strip())
    return {"commits": commits, "blobs": len(blobs), "blob_bytes": sum(blobs)}


# -- measuring ------------------------------------------------------------------------


def _tree_rss(root_pid: int) -> int:
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/statm") as fh:
                rss[int(entry)] = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def measured(argv: list[str], cwd: Path) -> dict[str, object]:
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    out_chunks: list[bytes] = []
    import threading

    def drain() -> None:
        assert proc.stdout is not None
        out_chunks.append(proc.stdout.read())

    reader = threading.Thread(target=drain)
    reader.start()
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        time.sleep(0.02)
    reader.join()
    seconds = time.perf_counter() - started
    assert proc.stderr is not None
    err = proc.stderr.read().decode("utf-8", "replace")
    return {"seconds": seconds, "peak_rss_mb": peak / 2**20, "rc": proc.returncode,
            "stdout": b"".join(out_chunks), "stderr": err}  # fmt: skip


def run_keyturn(
    repo: Path, extra: list[str]
) -> tuple[dict[str, object], list[dict[str, object]], dict[str, int]]:
    res = measured([*KEYTURN, str(repo), "--history", "--format", "json", "--exit-zero", *extra], REPO)
    if res["rc"] != 0:
        raise SystemExit(f"keyturn failed: {res['stderr']}")
    doc = json.loads(res["stdout"])  # type: ignore[arg-type]
    return res, doc["findings"], {"bytes_scanned": doc["summary"]["bytes_scanned"],
                                  "files_scanned": doc["summary"]["files_scanned"]}  # fmt: skip


def kingfisher_bin() -> str | None:
    for cand in (VENV / "kingfisher", shutil.which("kingfisher")):
        if cand and Path(cand).exists():
            return str(cand)
    return None


def run_kingfisher(binary: str, bare: Path) -> tuple[dict[str, object], list[dict[str, object]], dict[str, int]]:
    argv = [binary, "--no-update-check", "-q", "scan", str(bare), "--git-history", "full",
            "--no-validate", "-f", "json"]  # fmt: skip
    res = measured(argv, bare.parent)
    if res["rc"] not in (0, 200, 205):  # kingfisher exits non-zero when it finds something
        raise SystemExit(f"kingfisher failed (exit {res['rc']}): {str(res['stderr'])[-400:]}")
    doc = json.loads(res["stdout"])  # type: ignore[arg-type]
    found = [f["finding"] for f in doc.get("findings", [])]
    summary = doc.get("metadata", {}).get("summary", {})
    return res, found, {"bytes_scanned": int(summary.get("bytes_scanned", 0)),
                        "files_scanned": int(summary.get("blobs_scanned", 0))}  # fmt: skip


def _kf_path(f: dict[str, object]) -> str:
    meta = f.get("git_metadata") or {}
    file = meta.get("file", {}) if isinstance(meta, dict) else {}
    return str(file.get("path") or f.get("path") or "")


def summarise(name: str, runs: list[dict[str, object]], stats: dict[str, int], blob_bytes: int) -> dict[str, object]:
    secs = [float(r["seconds"]) for r in runs]  # type: ignore[arg-type]
    med = statistics.median(secs)
    return {
        "tool": name,
        "seconds_median": round(med, 2),
        "seconds_all": [round(s, 2) for s in secs],
        "mb_per_s_history": round(blob_bytes / med / 1e6, 1),
        "peak_rss_mb": round(max(float(r["peak_rss_mb"]) for r in runs), 1),  # type: ignore[arg-type]
        **stats,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", default="django")
    ap.add_argument("--versions", default=DEFAULT_VERSIONS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/keyturn-history-bench"))
    ap.add_argument("--repo", type=Path, help="benchmark this existing repository's history instead")
    ap.add_argument("--skip-kingfisher", action="store_true")
    ap.add_argument("--tag", default="")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args(argv)

    versions = args.versions.split(",")
    repo = args.workdir / "repo"
    bare = args.workdir / "repo.git"
    marker = args.workdir / "built.json"
    recipe = {"package": args.package, "versions": versions}
    if args.repo:
        repo, bare, plants, versions = args.repo.resolve(), args.workdir / "given.git", [], []
        args.package = repo.name
        if bare.exists():
            shutil.rmtree(bare)
        args.workdir.mkdir(parents=True, exist_ok=True)
        git(args.workdir, "clone", "-q", "--bare", "--single-branch", str(repo), str(bare))
    elif marker.exists() and json.loads(marker.read_text()).get("recipe") == recipe and bare.exists():
        plants = json.loads(marker.read_text())["plants"]  # the same history, built before
    else:
        plants = build_history(download(args.package, versions, args.workdir / "wheels"), repo)
        if bare.exists():
            shutil.rmtree(bare)
        git(args.workdir, "clone", "-q", "--bare", str(repo), str(bare))
        marker.write_text(json.dumps({"recipe": recipe, "plants": plants}))
    hist = history_stats(repo)
    print(f"history: {hist['commits']} commits, {hist['blobs']} blobs, {hist['blob_bytes'] / 1e6:.1f} MB", file=sys.stderr)

    rows: list[dict[str, object]] = []
    kf_bin = None if args.skip_kingfisher else kingfisher_bin()
    if not kf_bin and not args.skip_kingfisher:
        print("kingfisher not found: pip install kingfisher-bin (or --skip-kingfisher)", file=sys.stderr)
    planted = {p["path"] for p in plants}
    runs: dict[str, list[dict[str, object]]] = {"keyturn": [], "keyturn --jobs 1": [], "kingfisher": []}
    last: dict[str, tuple[list[dict[str, object]], dict[str, int]]] = {}
    for i in range(args.repeats):  # interleaved, so a change in machine load hits every tool alike
        for name in runs:
            if name == "kingfisher":
                if not kf_bin:
                    continue
                res, found, stats = run_kingfisher(kf_bin, bare)
            else:
                res, found, stats = run_keyturn(repo, ["--jobs", "1"] if "jobs" in name else [])
            runs[name].append(res)
            last[name] = (found, stats)
            print(f"{name} run {i + 1}: {float(res['seconds']):.2f}s", file=sys.stderr)  # type: ignore[arg-type]
    for name, found_stats in last.items():
        found, stats = found_stats
        row = summarise(name, runs[name], stats, hist["blob_bytes"])
        paths = [_kf_path(f) if name == "kingfisher" else str(f["path"]) for f in found]
        row["findings"] = len(found)
        row["planted_files_found"] = len(planted & set(paths))
        if name != "kingfisher":
            row["planted_commits_right"] = sum(
                1 for f in found for p in plants if f["path"] == p["path"] and f.get("commit") == p["commit"]
            )
        row["other_findings"] = sorted({p for p in paths if p not in planted})
        rows.append(row)

    from importlib.metadata import version

    result = {
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "git": git(REPO, "--version").strip(), "load_avg": os.getloadavg()},
        "package": args.package,
        "versions": versions,
        "history": hist,
        "plants": len(plants),
        "kingfisher_version": version("kingfisher-bin") if kf_bin else None,
        "results": rows,
    }  # fmt: skip
    what = f"{len(versions)} {args.package} releases + {len(plants)} plant commits" if versions else args.package
    print(f"\n{hist['commits']} commits ({what}), {hist['blobs']} unique blobs, {hist['blob_bytes'] / 1e6:.1f} MB\n")
    print("| tool | wall (s), median | MB/s of history | peak RSS (MB) | blobs scanned | MB scanned "
          "| findings | planted files found |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['tool']} | {row['seconds_median']} | {row['mb_per_s_history']} | {row['peak_rss_mb']} "
              f"| {row['files_scanned']} | {int(row['bytes_scanned']) / 1e6:.1f} | {row['findings']} "  # type: ignore[call-overload]
              f"| {row['planted_files_found']}/{len(plants)} |")  # fmt: skip
    if len(rows) == 3:
        ratio = float(rows[2]["seconds_median"]) / float(rows[0]["seconds_median"])  # type: ignore[arg-type]
        print(f"\nkeyturn / kingfisher speed ratio (same run): {ratio:.2f}x")
        result["speed_ratio_vs_kingfisher"] = round(ratio, 2)
    if not args.no_save:
        out = HERE / "results" / f"history-{_dt.date.today().isoformat()}{'-' + args.tag if args.tag else ''}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {out.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
