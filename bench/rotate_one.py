#!/usr/bin/env python3
"""Rotation time for one secret: keyturn vs a hand-written hvac script, same run.

Starts a local OpenBao dev server, then alternates, ``--repeat`` times each:

* ``keyturn``      — ``python -m keyturn rotate BENCH_SECRET`` (the whole protocol:
  lease, pending, validate check, CAS promote, dotenv target, smoke check, audit log,
  evidence record), as a workflow step runs it;
* ``keyturn-core`` — the same rotation in-process (``keyturn.rotation.lifecycle.rotate``),
  i.e. without interpreter start-up and imports;
* ``hand-written`` — the script people write instead: generate, ``create_or_update``,
  rewrite the dotenv file (no pending stage, no checks, no audit, no resume).

Reports medians and the ratio keyturn / hand-written. Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

MANIFEST = """\
version: 1
audit: {log: logs/audit.jsonl, evidence_dir: logs/evidence}
stores:
  bao: {type: openbao, mount: secret}
secrets:
  BENCH_SECRET:
    store: bao
    path: bench/one
    generator: {type: hex, bytes: 32}
    targets:
      - file: deploy/.env
    validate:
      - command: ["sh", "-c", "test ${#KEYTURN_VALUE} -eq 64"]
    smoke:
      - command: ["sh", "-c", "grep -q '^BENCH_SECRET=' deploy/.env"]
"""

HAND_WRITTEN = """
import os, secrets, sys, hvac
client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"])
value = secrets.token_hex(32)
client.secrets.kv.v2.create_or_update_secret(path="bench/hand", secret={"value": value}, mount_point="secret")
path = os.path.join(sys.argv[1], "hand.env")
tmp = path + ".tmp"
with open(tmp, "w") as fh:
    fh.write(f"BENCH_SECRET={value}\\n")
os.chmod(tmp, 0o600)
os.replace(tmp, path)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", metavar="FILE", help="also write results as JSON")
    args = parser.parse_args()

    from keyturn._internal.devserver import start_openbao
    from keyturn.manifest import load_manifest
    from keyturn.rotation.context import Progress, Runtime
    from keyturn.rotation.lifecycle import rotate

    work = Path(tempfile.mkdtemp(prefix="keyturn-bench-"))
    server = start_openbao(work / "bao")
    env = dict(os.environ, VAULT_ADDR=server.url, VAULT_TOKEN=server.token,
               KEYTURN_AUDIT_KEY_V1=secrets.token_hex(32), PYTHONPATH=str(REPO / "src"))
    env.pop("GITHUB_ACTIONS", None)
    (work / "keyturn.yml").write_text(MANIFEST)
    times: dict[str, list[float]] = {"keyturn": [], "keyturn-core": [], "hand-written": []}
    try:
        os.environ.update(VAULT_ADDR=server.url, VAULT_TOKEN=server.token)
        rt = Runtime(load_manifest(work / "keyturn.yml"), dict(env), Progress(quiet=True))
        rotate(rt, "BENCH_SECRET")  # warm-up: first version, imports
        for _ in range(args.repeat):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "keyturn", "-q", "rotate", "BENCH_SECRET"], cwd=work,
                               env=env, capture_output=True, text=True)
            times["keyturn"].append(time.perf_counter() - t)
            if r.returncode:
                raise SystemExit(f"keyturn failed: {r.stderr}")
            t = time.perf_counter()
            rotate(rt, "BENCH_SECRET")
            times["keyturn-core"].append(time.perf_counter() - t)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", HAND_WRITTEN, str(work)], env=env, check=True)
            times["hand-written"].append(time.perf_counter() - t)
    finally:
        server.stop()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"one-secret rotation, {args.repeat} runs each, medians (OpenBao dev server on loopback):")
    print("| variant | median s | min s | max s |\n|---|---|---|---|")
    for k, v in times.items():
        print(f"| {k} | {med[k]:.3f} | {min(v):.3f} | {max(v):.3f} |")
    print(f"ratio keyturn / hand-written: {med['keyturn'] / med['hand-written']:.2f}x; "
          f"in-process protocol alone: {med['keyturn-core'] * 1000:.0f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps({"repeat": args.repeat, "times": times, "median": med}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
