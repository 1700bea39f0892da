"""A real moto server (Secrets Manager, STS, IAM) on a free loopback port, for the AWS
store's tests: output to a log file, dies with its parent, stopped by PID."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from keyturn._internal.devserver import Server, _die_with_parent, _wait_ready, free_port

REGION = "us-east-1"


def start_moto(workdir: Path, attempts: int = 3, extra_env: dict[str, str] | None = None) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    binary = str(Path(sys.executable).parent / "moto_server")
    last: Exception | None = None
    for attempt in range(attempts):
        port = free_port()
        log = workdir / f"moto-{port}.log"
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true", **(extra_env or {})}
        with open(log, "wb") as fh:
            proc = subprocess.Popen([binary, "-H", "127.0.0.1", "-p", str(port)], stdout=fh,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    preexec_fn=_die_with_parent, cwd=workdir)
        server = Server("moto", f"http://127.0.0.1:{port}", proc, log)
        try:
            _wait_ready(server, "/moto-api/", 30)
            return server
        except RuntimeError as exc:
            last = exc
            server.stop()
            if "already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise RuntimeError(str(last))


def reset(server: Server) -> None:
    req = urllib.request.Request(server.url + "/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        resp.read()


def aws_env(server: Server) -> dict[str, str]:
    """The standard AWS environment pointing at the moto server (static test keys)."""
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": server.url, "AWS_EC2_METADATA_DISABLED": "true"}
