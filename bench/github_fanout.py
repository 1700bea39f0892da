"""Benchmark: one secret rotated into many GitHub targets, keyturn vs a naive PyGithub loop.

Both runs talk to the local fake GitHub API (``tests/fakes/github_api.py``) with a fixed
latency per request, in the same process, one after the other, each against a fresh fake:

* **keyturn** — ``GitHubSession.from_env`` (pacing from ``--min-write-interval``, default
  1 s = keyturn's default) and one ``GitHubRepoSecretTarget`` per scope, written the way
  the engine does: ``preflight`` all, then ``write`` each (key fetch once per scope, PUT,
  one ``updated_at`` read as confirmation). Then a **re-run** with the same promotion time:
  ``is_current`` per target, nothing left to write.
* **naive** — ``Github(base_url, auth)`` with PyGithub's defaults (0.25 s between requests,
  1 s between writes, ``GithubRetry``) and ``g.get_repo(r).create_secret(...)`` (or
  ``.get_environment(e).create_secret(...)``) per target; no confirmation, no resume.

Targets: half repository secrets on their own repositories, the other half environment
secrets on repositories with two environments each (``--targets 200``: 100 repositories ×
repo secret + 50 × 2 environments). Reports requests per target (by kind), achieved
writes/minute (writes − 1 over the span from first to last write) and wall time, as
markdown on stdout and JSON in ``bench/results/github-fanout-<UTC date>.json``.

Usage (from the repository root)::

    .venv/bin/python bench/github_fanout.py                          # 200 targets, 20 ms, ~8 min
    .venv/bin/python bench/github_fanout.py --targets 20 --skip-naive
    .venv/bin/python bench/github_fanout.py --min-write-interval 0   # points budget only
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from github import Auth, Github

from keyturn._internal.github_client import GitHubSession
from keyturn.targets.base import Entry
from keyturn.targets.github import GitHubRepoSecretTarget
from keyturn.values import SecretValue
from tests.fakes.github_api import FakeGitHub

NAME = "SHARED_API_TOKEN"


def layout(n: int) -> list[tuple[str, str | None]]:
    """(repo, environment) per target: ceil(n/2) repo secrets, the rest as env pairs."""
    repo_targets = (n + 1) // 2
    out: list[tuple[str, str | None]] = [(f"acme/svc{i:03d}", None) for i in range(repo_targets)]
    envs = ("staging", "production")
    for i in range(n - repo_targets):
        out.append((f"acme/app{i // 2:03d}", envs[i % 2]))
    return out


def make_fake(targets: list[tuple[str, str | None]], latency: float) -> FakeGitHub:
    fake = FakeGitHub(latency=latency).start()
    for repo, env in targets:
        fake.add_repo(repo, environments=[env] if env else [])
    return fake


def kind_of(path: str) -> str:
    if path.endswith("/public-key"):
        return "public-key GET"
    if path.count("/") == 3:  # /repos/{owner}/{repo}
        return "repo GET"
    if path.endswith(("/environments/staging", "/environments/production")):
        return "environment GET"
    return "secret"


def summarize(fake: FakeGitHub, n: int, wall: float) -> dict[str, Any]:
    log = list(fake.log)
    kinds: Counter[str] = Counter()
    for r in log:
        kind = kind_of(r.path)
        kinds[f"{r.method} {kind}" if kind == "secret" else kind] += 1
    writes = [r.at for r in log if r.method == "PUT" and r.status in (201, 204)]
    span = (writes[-1] - writes[0]) if len(writes) > 1 else 0.0
    return {
        "targets": n,
        "wall_s": round(wall, 2),
        "requests": len(log),
        "requests_per_target": round(len(log) / n, 2),
        "by_kind": dict(sorted(kinds.items())),
        "writes": len(writes),
        "writes_per_minute": round((len(writes) - 1) / span * 60, 1) if span else None,
        "non_2xx": sum(1 for r in log if r.status >= 300),
    }


def run_keyturn(targets: list[tuple[str, str | None]], latency: float, interval: float) -> dict[str, Any]:
    fake = make_fake(targets, latency)
    try:
        env = {
            "GITHUB_TOKEN": fake.token,
            "GITHUB_API_URL": fake.url,
            "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": str(interval),
        }
        session = GitHubSession.from_env(env)
        value = SecretValue("bench-value-" + "x" * 40, mask=False)
        entries = [Entry(NAME, value)]
        objs = [GitHubRepoSecretTarget(session, r, environment=e) for r, e in targets]
        since = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
        start = time.monotonic()
        for t in objs:
            t.preflight(entries)
        reports = [t.write(entries) for t in objs]
        wall = time.monotonic() - start
        result = summarize(fake, len(objs), wall)
        result["report_requests"] = sum(r.requests for r in reports)
        result["report_retries"] = sum(r.retries for r in reports)
        result["scheduler_slept_s"] = round(session.scheduler.slept, 2)
        assert all(fake.value(r, NAME, environment=e) == value.reveal() for r, e in targets)

        fake.clear_log()
        start = time.monotonic()
        skipped = sum(1 for t in objs if t.is_current(entries, since=since))
        rerun = summarize(fake, len(objs), time.monotonic() - start)
        rerun["skipped"] = skipped
        result["rerun"] = rerun
        return result
    finally:
        fake.stop()


def run_naive(targets: list[tuple[str, str | None]], latency: float) -> dict[str, Any]:
    fake = make_fake(targets, latency)
    try:
        g = Github(base_url=fake.url, auth=Auth.Token(fake.token))  # library defaults on purpose
        value = "bench-value-" + "x" * 40
        start = time.monotonic()
        for repo, env in targets:
            r = g.get_repo(repo)
            if env is None:
                r.create_secret(NAME, value)
            else:
                r.get_environment(env).create_secret(NAME, value)
        wall = time.monotonic() - start
        assert all(fake.value(r, NAME, environment=e) == value for r, e in targets)
        return summarize(fake, len(targets), wall)
    finally:
        fake.stop()


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = [
        "| run | targets | requests | requests/target | writes | writes/min | wall (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['targets']} | {r['requests']} | {r['requests_per_target']} | "
            f"{r['writes']} | {r['writes_per_minute'] or '—'} | {r['wall_s']} |"
        )
    rows.append("")
    for name, r in results.items():
        rows.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in r["by_kind"].items()))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--min-write-interval", type=float, default=1.0, help="keyturn pacing (s)")
    ap.add_argument("--skip-naive", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--tag", default="", help="suffix for the results file name")
    args = ap.parse_args(argv)
    targets = layout(args.targets)
    latency = args.latency_ms / 1000
    results: dict[str, dict[str, Any]] = {}
    print(
        f"keyturn: {args.targets} targets, {args.latency_ms} ms latency, "
        f"{args.min_write_interval} s between writes …",
        file=sys.stderr,
    )
    kt = run_keyturn(targets, latency, args.min_write_interval)
    results["keyturn"] = kt
    results["keyturn re-run (all current)"] = kt.pop("rerun")
    if not args.skip_naive:
        print("naive PyGithub loop (library defaults) …", file=sys.stderr)
        results["naive PyGithub"] = run_naive(targets, latency)
    print(table(results))
    meta = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "targets": args.targets,
        "latency_ms": args.latency_ms,
        "min_write_interval": args.min_write_interval,
        "python": sys.version.split()[0],
    }
    if not args.no_save:
        suffix = f"-{args.tag}" if args.tag else ""
        out = ROOT / "bench" / "results" / f"github-fanout-{meta['date'][:10]}{suffix}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
        print(f"\nwrote {out.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
