#!/usr/bin/env python3
"""Azure Key Vault store: requests and time per rotation, and how they grow as the
journal sibling accumulates versions (Key Vault cannot delete single versions).

Starts the HTTPS Key Vault fake (``tests/fakes/azure_keyvault.py``, Azure's page size of
25) and the github-oidc login fakes in-process, then rotates one secret ``--rotations``
times in-process (``keyturn.rotation.lifecycle.rotate``: lease, pending sibling, validate
check, compare-and-verify promote, dotenv target, smoke check, audit, evidence), and in
the same run the hand-written peer: ``SecretClient.set_secret`` + rewrite the dotenv file
(no pending stage, no checks, no journal, no resume). Reports, per window of rotations,
the median requests (from the fake's log) and milliseconds, and the ratio to the peer.
Loopback only.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "src"), str(REPO)]

MANIFEST = """\
version: 1
audit: {{log: logs/audit.jsonl, evidence_dir: logs/evidence}}
stores:
  kv: {{type: azure, vault_url: "{url}", ca_cert: "{ca}", auth: {{method: github-oidc}}}}
secrets:
  BENCH_SECRET:
    store: kv
    path: bench/one
    generator: {{type: hex, bytes: 32}}
    policy: {{grace: 0s}}
    targets:
      - file: deploy/.env
    validate:
      - command: ["sh", "-c", "test ${{#KEYTURN_VALUE}} -eq 64"]
    smoke:
      - command: ["sh", "-c", "grep -q '^BENCH_SECRET=' deploy/.env"]
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rotations", type=int, default=60)
    parser.add_argument("--json", metavar="FILE", help="also write results as JSON")
    args = parser.parse_args()

    from keyturn.manifest import load_manifest
    from keyturn.rotation.context import Progress, Runtime
    from keyturn.rotation.lifecycle import rotate
    from tests.azure_support import CLIENT_ID, reader
    from tests.fakes.azure_keyvault import FakeKeyVault
    from tests.fakes.identity import FakeActionsOidc, FakeAuthority

    work = Path(tempfile.mkdtemp(prefix="keyturn-bench-azure-"))
    kv = FakeKeyVault(page_size=25).start(str(work))
    oidc = FakeActionsOidc().start()
    authority = FakeAuthority(ctx=kv.tls_context(), tenant=kv.tenant, client_id=CLIENT_ID, assertion=oidc.jwt,
                              access_token=kv.token).start()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KEYTURN_", "AZURE_"))},
           "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": oidc.request_token,
           "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_TENANT_ID": kv.tenant, "AZURE_AUTHORITY_HOST": authority.url,
           "KEYTURN_AUDIT_KEY_V1": secrets.token_hex(32)}
    (work / "keyturn.yml").write_text(MANIFEST.format(url=kv.url, ca=kv.ca_pem))
    rows: list[dict[str, float]] = []
    peer: list[dict[str, float]] = []
    client = reader(kv)
    try:
        os.chdir(work)
        rt = Runtime(load_manifest(work / "keyturn.yml"), env, Progress(quiet=True))
        for _ in range(args.rotations):
            before, t = len(kv.log), time.perf_counter()
            rotate(rt, "BENCH_SECRET")
            rows.append({"ms": (time.perf_counter() - t) * 1000, "requests": len(kv.log) - before})
            before, t = len(kv.log), time.perf_counter()
            value = secrets.token_hex(32)
            client.set_secret("bench--hand", value)
            tmp = work / "hand.env.tmp"
            tmp.write_text(f"BENCH_SECRET={value}\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, work / "hand.env")
            peer.append({"ms": (time.perf_counter() - t) * 1000, "requests": len(kv.log) - before})
    finally:
        kv.stop()
        oidc.stop()
        authority.stop()
    peer_ms = statistics.median(p["ms"] for p in peer[1:] or peer)
    peer_req = statistics.median(p["requests"] for p in peer[1:] or peer)
    journal_versions = len(kv.versions("bench--one-keyturn-rotation"))
    print(f"Azure Key Vault store, {args.rotations} rotations of one secret, in-process, medians per window:")
    print("| rotations | requests/rotation | ms/rotation | ratio ms to hand-written |\n|---|---:|---:|---:|")
    size = max(1, args.rotations // 4)
    for start in range(0, args.rotations, size):
        win = rows[start:start + size]
        ms = statistics.median(r["ms"] for r in win)
        print(f"| {start + 1}–{start + len(win)} | {statistics.median(r['requests'] for r in win):.0f} | "
              f"{ms:.0f} | {ms / peer_ms:.1f}x |")
    print(f"| hand-written set_secret + dotenv | {peer_req:.0f} | {peer_ms:.0f} | 1.0x |")
    print(f"journal sibling versions after {args.rotations} rotations: {journal_versions}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rotations": rows, "peer": peer,
                                               "journal_versions": journal_versions}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
