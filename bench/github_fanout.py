"""Benchmark: one secret rotated into many GitHub targets, measured the way users run it.

Everything talks to local servers only: a real OpenBao dev server (behind a small
counting proxy, so the store's requests and bytes written are measured too) and the
fake GitHub REST API (``tests/fakes/github_api.py``) with a fixed latency per request
and — in paced runs — GitHub's 900 points a minute **enforced on arrival** (a request
over the limit gets GitHub's secondary-limit 403). Request counts come from the fake's
own log, never from keyturn's reports.

Three kinds of run, in one process, one after the other:

* **cli** — ``python -m keyturn rotate SECRET`` in a fresh workspace, exactly as a
  workflow step runs it, twice (first rotation, then a second one). Default pace
  (``KEYTURN_GITHUB_*`` defaults: 1 s between writes, 810 planned points a minute) or
  unpaced (``MIN_WRITE_INTERVAL=0``, ``POINTS_PER_MINUTE=1000000``, fake limit off).
* **targets** — the GitHub target layer alone (``TargetFactory`` → targets →
  ``write_ordered``, the batch API the engine is to call), a first run and a second run
  seeded with the first run's key cache through its JSON form (what the journal will
  carry). This is the floor the CLI reaches once the engine reads a target only on resume.
* **naive** — ``Github(base_url, auth)`` with PyGithub's defaults and
  ``get_repo(r)[.get_environment(e)].create_secret(...)`` per target.

Layouts: ``repo`` (one repository secret per repository), ``env`` (two environment
secrets per repository), ``org`` (one selected-visibility org secret per organization,
each selecting the same two repositories), ``file`` (one dotenv file per target: the
store's share of a rotation without GitHub). Results: markdown on stdout, JSON in
``bench/results/github-fanout-<UTC date>[-tag].json``.

Usage (repository root)::

    .venv/bin/python bench/github_fanout.py --plan quick   # 20 targets, ~2 min
    .venv/bin/python bench/github_fanout.py --plan full    # 20/200/1000, ~20 min
    .venv/bin/python bench/github_fanout.py --plan many    # rotate + status of 1,000 secrets
    .venv/bin/python bench/github_fanout.py --plan journal # store writes per rotation, 1…1000 targets
    .venv/bin/python bench/github_fanout.py --plan concurrency --latency-ms 200 --concurrency 1,4,16
"""

from __future__ import annotations

import argparse
import datetime as _dt
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import hvac  # noqa: E402
from github import Auth, Github  # noqa: E402

from keyturn._internal.devserver import start_openbao  # noqa: E402
from keyturn.manifest import load_manifest  # noqa: E402
from keyturn.targets.base import Entry  # noqa: E402
from keyturn.targets.batch import WriteJob, write_ordered  # noqa: E402
from keyturn.targets.registry import TargetFactory  # noqa: E402
from keyturn.values import SecretValue  # noqa: E402
from tests.fakes.github_api import FakeGitHub  # noqa: E402

NAME = "FANOUT_TOKEN"
SHARED = ("acme/shared0", "acme/shared1")
UNPACED = {
    "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0",
    "KEYTURN_GITHUB_POINTS_PER_MINUTE": "1000000",
}


# -- layouts ----------------------------------------------------------------------------
def targets_yaml(layout: str, n: int) -> str:
    if layout == "repo":
        return "".join(f"      - github: acme/svc{i:04d}\n" for i in range(n))
    if layout == "env":
        return "".join(
            f"      - github: acme/app{i:04d}\n        environments: [staging, production]\n"
            for i in range((n + 1) // 2)
        )
    if layout == "file":
        return "".join(f"      - file: deploy/app{i:04d}.env\n" for i in range(n))
    if layout == "org":
        return "".join(
            f"      - github-org: org{i:04d}\n        visibility: selected\n"
            f"        repositories: [{', '.join(SHARED)}]\n"
            for i in range(n)
        )
    raise ValueError(layout)


def populate(fake: FakeGitHub, layout: str, n: int) -> None:
    for r in SHARED:
        fake.add_repo(r)
    for i in range(n if layout != "env" else (n + 1) // 2):
        if layout == "file":
            continue
        if layout == "repo":
            fake.add_repo(f"acme/svc{i:04d}")
        elif layout == "env":
            fake.add_repo(f"acme/app{i:04d}", environments=["staging", "production"])
        else:
            fake.add_org(f"org{i:04d}")


def target_count(layout: str, n: int) -> int:
    return 2 * ((n + 1) // 2) if layout == "env" else n


MANIFEST = """\
version: 1
audit: {{log: logs/audit.jsonl, evidence_dir: logs/evidence}}
stores:
  bao: {{type: openbao, mount: secret}}
secrets:
  {name}:
    store: bao
    path: fanout/{uid}
    generator: {{type: hex, bytes: 32}}
    targets:
{targets}"""


# -- a counting proxy in front of OpenBao ---------------------------------------------------
class StoreProxy:
    """Forwards HTTP to OpenBao and counts requests and request-body bytes of writes."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit("//", 1)[1].split(":")
        self.upstream = (host, int(port))
        self.requests = 0
        self.write_requests = 0
        self.bytes_written = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    proxy.requests += 1
                    if self.command in ("PUT", "POST", "PATCH"):
                        proxy.write_requests += 1
                        proxy.bytes_written += len(body)
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_LIST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reset(self) -> None:
        with self.lock:
            self.requests = self.write_requests = self.bytes_written = 0


# -- counting -------------------------------------------------------------------------------
def kind_of(method: str, path: str) -> str:
    if path.endswith("/secrets/public-key"):
        return "key GET"
    if method == "GET" and path.count("/") == 3 and path.startswith("/repos/"):
        return "repo GET"
    if method == "GET" and path.count("/") == 2 and path.startswith("/orgs/"):
        return "org GET"
    if method == "GET" and "/environments/" in path and "/secrets" not in path:
        return "environment GET"
    return f"secret {method}"


def summarize(fake: FakeGitHub, targets: int, wall: float) -> dict[str, Any]:
    log = list(fake.log)
    kinds: Counter[str] = Counter(kind_of(r.method, r.path) for r in log)
    return {
        "targets": targets,
        "requests": len(log),
        "per_target": round(len(log) / targets, 3),
        "by_kind": dict(sorted(kinds.items())),
        "limited_403": sum(1 for r in log if r.status in (403, 429)),
        "wall_s": round(wall, 2),
    }


# -- runs -----------------------------------------------------------------------------------
class Bench:
    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.work = Path(tempfile.mkdtemp(prefix="keyturn-fanout-"))
        self.bao = start_openbao(self.work / "bao")
        self.proxy = StoreProxy(self.bao.url)
        self.client = hvac.Client(url=self.bao.url, token=self.bao.token)

    def stop(self) -> None:
        self.proxy.server.shutdown()
        self.bao.stop()

    def cli(self, layout: str, n: int, paced: bool) -> list[dict[str, Any]]:
        runs = 1 if paced and n >= 200 else 2  # a paced second run of 200 costs the same 200 s
        fake = FakeGitHub(latency=self.latency, points_per_minute=900 if paced else None).start()
        try:
            populate(fake, layout, n)
            uid = f"{layout}{n}{'p' if paced else 'u'}{int(time.time() * 1000) % 10**8}"
            ws = self.work / uid
            ws.mkdir()
            (ws / "keyturn.yml").write_text(MANIFEST.format(name=NAME, uid=uid, targets=targets_yaml(layout, n)))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KEYTURN_", "VAULT_"))}
            env.update(
                PYTHONPATH=str(ROOT / "src"),
                VAULT_ADDR=self.proxy.url,
                VAULT_TOKEN=self.bao.token,
                GITHUB_TOKEN=fake.token,
                GITHUB_API_URL=fake.url,
                KEYTURN_AUDIT_KEY_V1="k" * 32,
            )
            if not paced:
                env.update(UNPACED)
            out = []
            for run in range(runs):
                fake.clear_log()
                self.proxy.reset()
                start = time.monotonic()
                proc = subprocess.run(
                    [sys.executable, "-m", "keyturn", "rotate", NAME], cwd=ws, env=env,
                    capture_output=True, text=True, timeout=7200,
                )
                wall = time.monotonic() - start
                if proc.returncode != 0:
                    raise RuntimeError(f"keyturn rotate failed ({proc.returncode}): {proc.stderr[-2000:]}")
                current = self.client.secrets.kv.v2.read_secret_version(
                    path=f"fanout/{uid}", mount_point="secret", raise_on_deleted_version=True
                )["data"]["data"]
                value = next(iter(current.values()))
                if layout == "file":
                    landed = {(ws / "deploy" / f"app{i:04d}.env").read_text().split("=", 1)[1].strip().strip("'\"")
                              for i in range(n)}
                else:
                    landed = {s.value for scope in fake.secrets.values() for s in scope.values()}
                assert landed == {value}, "a target does not hold CURRENT"
                r = summarize(fake, target_count(layout, n), wall)
                r.update(run=run + 1, store_requests=self.proxy.requests,
                         store_write_requests=self.proxy.write_requests,
                         store_bytes_written=self.proxy.bytes_written)
                out.append(r)
                print(f"  cli {layout} {n} {'paced' if paced else 'unpaced'} run {run + 1}: "
                      f"{r['per_target']}/target, {r['wall_s']} s", file=sys.stderr)
            return out
        finally:
            fake.stop()

    def targets(self, layout: str, n: int, paced: bool, concurrency: int = 4) -> list[dict[str, Any]]:
        fake = FakeGitHub(latency=self.latency, points_per_minute=900 if paced else None).start()
        try:
            populate(fake, layout, n)
            ws = Path(tempfile.mkdtemp(dir=self.work))
            (ws / "keyturn.yml").write_text(MANIFEST.format(name=NAME, uid="t", targets=targets_yaml(layout, n)))
            config = load_manifest(ws / "keyturn.yml").secret(NAME)
            env = {"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url,
                   "KEYTURN_GITHUB_CONCURRENCY": str(concurrency), **({} if paced else UNPACED)}
            state: dict[str, Any] = {}
            out = []
            for run in range(2):
                factory = TargetFactory(ws, env)
                factory.load_target_cache(json.loads(json.dumps(state)))  # as a journal carries it
                bound = [b for c in config.targets for b in factory.build(NAME, c)]
                value = SecretValue(f"bench-run-{run}-" + "x" * 40, mask=False)
                fake.clear_log()
                start = time.monotonic()
                jobs = [WriteJob(b.target, [Entry(b.entry_name, value)]) for b in bound]
                results = list(write_ordered(jobs))
                wall = time.monotonic() - start
                assert all(r.ok for r in results), [str(r.error) for r in results if not r.ok][:3]
                landed = {s.value for scope in fake.secrets.values() for s in scope.values()}
                assert landed == {value.reveal()}
                state = factory.target_cache(bound)
                r = summarize(fake, len(bound), wall)
                r.update(run=run + 1, concurrency=concurrency, peak_in_flight=fake.peak_in_flight,
                         cache_bytes=len(json.dumps(state)))
                out.append(r)
            return out
        finally:
            fake.stop()

    def many(self, secrets: int) -> list[dict[str, Any]]:
        """``keyturn rotate S0000 … S{n}`` (each secret one repository target) in one
        process, unpaced, then ``keyturn status --format json``: per-secret cost."""
        fake = FakeGitHub(latency=self.latency).start()
        try:
            uid = f"many{secrets}{int(time.time() * 1000) % 10**8}"
            ws = self.work / uid
            ws.mkdir()
            body = ["version: 1", "audit: {log: logs/audit.jsonl, evidence_dir: logs/evidence}",
                    "stores:", "  bao: {type: openbao, mount: secret}", "secrets:"]
            names = [f"MANY_{i:04d}" for i in range(secrets)]
            for i, name in enumerate(names):
                fake.add_repo(f"acme/m{i:04d}")
                body += [f"  {name}:", "    store: bao", f"    path: {uid}/{i:04d}",
                         "    generator: {type: hex, bytes: 32}", "    targets:",
                         f"      - github: acme/m{i:04d}"]
            (ws / "keyturn.yml").write_text("\n".join(body) + "\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KEYTURN_", "VAULT_"))}
            env.update(PYTHONPATH=str(ROOT / "src"), VAULT_ADDR=self.proxy.url, VAULT_TOKEN=self.bao.token,
                       GITHUB_TOKEN=fake.token, GITHUB_API_URL=fake.url, KEYTURN_AUDIT_KEY_V1="k" * 32,
                       **UNPACED)
            out = []
            for command in (["-q", "rotate", *names], ["status", "--format", "json"]):
                fake.clear_log()
                self.proxy.reset()
                start = time.monotonic()
                proc = subprocess.run([sys.executable, "-m", "keyturn", *command], cwd=ws, env=env,
                                      capture_output=True, text=True, timeout=7200)
                wall = time.monotonic() - start
                if proc.returncode != 0:
                    raise RuntimeError(f"keyturn {command[0]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
                r = summarize(fake, secrets, wall)
                r.update(command=next(c for c in command if not c.startswith("-")), store_requests=self.proxy.requests,
                         store_write_requests=self.proxy.write_requests,
                         store_bytes_written=self.proxy.bytes_written,
                         ms_per_secret=round(wall / secrets * 1000, 1),
                         store_requests_per_secret=round(self.proxy.requests / secrets, 2))
                out.append(r)
                print(f"  many {secrets} {r['command']}: {r['wall_s']} s", file=sys.stderr)
            return out
        finally:
            fake.stop()

    def naive(self, layout: str, n: int) -> dict[str, Any]:
        fake = FakeGitHub(latency=self.latency, points_per_minute=900).start()
        try:
            populate(fake, layout, n)
            g = Github(base_url=fake.url, auth=Auth.Token(fake.token))  # library defaults on purpose
            value = "bench-value-" + "x" * 40
            start = time.monotonic()
            if layout == "repo":
                for i in range(n):
                    g.get_repo(f"acme/svc{i:04d}").create_secret(NAME, value)
            elif layout == "env":
                for i in range((n + 1) // 2):
                    repo = g.get_repo(f"acme/app{i:04d}")
                    for e in ("staging", "production"):
                        repo.get_environment(e).create_secret(NAME, value)
            else:
                for i in range(n):
                    org = g.get_organization(f"org{i:04d}")
                    repos = [g.get_repo(r) for r in SHARED]
                    org.create_secret(NAME, value, visibility="selected", selected_repositories=repos)
            wall = time.monotonic() - start
            landed = {s.value for scope in fake.secrets.values() for s in scope.values()}
            assert landed == {value}
            return summarize(fake, target_count(layout, n), wall)
        finally:
            fake.stop()


PLANS: dict[str, list[tuple[str, str, int, bool]]] = {
    # (kind, layout, targets, paced)
    "many": [("many", "repo", 1000, False)],
    "journal": [  # store writes and bytes per rotation by number of targets (#13 item 5)
        ("cli", "file", 1, False), ("cli", "file", 4, False), ("cli", "file", 20, False),
        ("cli", "repo", 20, False), ("cli", "repo", 200, False), ("cli", "repo", 1000, False),
    ],
    "concurrency": [("targets", "repo", 200, False)],  # with --concurrency 1,4,16 --latency-ms 200
    "engine": [  # the CLI after the engine change: requests per target and journal bytes by size
        ("cli", "repo", 20, True), ("cli", "repo", 20, False), ("cli", "repo", 200, False),
        ("cli", "env", 200, False), ("cli", "org", 200, False), ("cli", "repo", 1000, False),
    ],
    "quick": [
        ("cli", "repo", 20, True), ("targets", "repo", 20, True), ("naive", "repo", 20, True),
    ],
    "full": [
        ("cli", "repo", 20, True), ("cli", "env", 20, True), ("cli", "org", 20, True),
        ("naive", "repo", 20, True), ("naive", "env", 20, True), ("naive", "org", 20, True),
        ("targets", "repo", 20, True), ("targets", "env", 20, True), ("targets", "org", 20, True),
        ("cli", "repo", 200, True), ("naive", "repo", 200, True),
        ("cli", "repo", 200, False), ("cli", "env", 200, False), ("cli", "org", 200, False),
        ("targets", "repo", 200, False), ("targets", "env", 200, False), ("targets", "org", 200, False),
        ("cli", "repo", 1000, False), ("targets", "repo", 1000, False), ("targets", "env", 1000, False),
        ("targets", "org", 1000, False),
    ],
}


def table(rows: list[dict[str, Any]]) -> str:
    out = [
        "| run | layout | targets | pace | # | requests | per target | by kind | 403/429 | store requests "
        "| store writes | store bytes | in flight | wall (s) |",
        "|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["kind"] == "many":
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in r["by_kind"].items())
        out.append(
            f"| {r['kind']} | {r['layout']} | {r['targets']} | {r['pace']} | {r.get('run', '')} | "
            f"{r['requests']} | {r['per_target']} | {kinds} | {r['limited_403']} | "
            f"{r.get('store_requests', '')} | {r.get('store_write_requests', '')} | {r.get('store_bytes_written', '')} | "
            f"{r.get('peak_in_flight', '')} | {r['wall_s']} |"
        )
    many = [r for r in rows if r["kind"] == "many"]
    if many:
        out += ["", "| command | secrets | wall (s) | ms/secret | GitHub requests | store requests/secret "
                "| store bytes written |", "|---|---:|---:|---:|---:|---:|---:|"]
        for r in many:
            out.append(f"| {r['command']} | {r['targets']} | {r['wall_s']} | {r['ms_per_secret']} | "
                       f"{r['requests']} | {r['store_requests_per_secret']} | {r['store_bytes_written']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", choices=sorted(PLANS), default="quick")
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--only", default="", help="comma-separated kinds to run (cli,targets,naive)")
    ap.add_argument("--concurrency", default="4", help="targets runs: KEYTURN_GITHUB_CONCURRENCY values, e.g. 1,4,16")
    ap.add_argument("--no-save", action="store_true")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    bench = Bench(args.latency_ms / 1000)
    rows: list[dict[str, Any]] = []
    try:
        for kind, layout, n, paced in PLANS[args.plan]:
            if args.only and kind not in args.only.split(","):
                continue
            print(f"{kind} {layout} {n} {'paced' if paced else 'unpaced'} …", file=sys.stderr)
            pace = "default" if paced else "unpaced"
            if kind == "many":
                results = bench.many(n)
            elif kind == "cli":
                results = bench.cli(layout, n, paced)
            elif kind == "targets":
                results = [r for c in args.concurrency.split(",") for r in bench.targets(layout, n, paced, int(c))]
            else:
                results = [bench.naive(layout, n)]
                pace = "PyGithub defaults"
            for r in results:
                rows.append({"kind": kind, "layout": layout, "pace": pace, **r})
    finally:
        bench.stop()
    print(table(rows))
    meta = {
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "plan": args.plan,
        "latency_ms": args.latency_ms,
        "python": sys.version.split()[0],
    }
    if not args.no_save:
        suffix = f"-{args.tag}" if args.tag else ""
        path = ROOT / "bench" / "results" / f"github-fanout-{meta['date'][:10]}{suffix}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
