"""A real PostgreSQL cluster for the tests (Debian's ``postgresql`` package), on loopback.

``initdb`` and ``postgres`` refuse to run as root, so both run as the ``postgres`` OS user
(uid/gid switched in the child before exec) in a temp directory that user owns (outside
pytest's root-only tmp dirs). ``pg_hba.conf`` asks for ``scram-sha-256`` on every
connection — with ``trust`` any password would "work" and a rotation test would prove
nothing. The server listens on 127.0.0.1 only, on a free port, with its socket in the temp
directory, ``log_statement=all`` into a log file the tests read (no password may ever show
there), and is stopped by PID (SIGINT: fast shutdown, then SIGKILL). The bootstrap
superuser gets a random password.
"""

from __future__ import annotations

import ctypes
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.invariants_support import OPENBAO_HEAD, Workspace

PR_SET_PDEATHSIG = 1
ADMIN = "keyturn_admin"


def pg_bin() -> Path | None:
    """The directory of Debian's PostgreSQL server binaries (newest version), or None."""
    override = os.environ.get("KEYTURN_PG_BIN")
    candidates = [override] if override else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for cand in candidates:
        if cand and (Path(cand) / "initdb").exists() and (Path(cand) / "postgres").exists():
            return Path(cand)
    return None


def skip_reason() -> str | None:
    """Why PostgreSQL tests cannot run here (None: they can)."""
    if pg_bin() is None:
        return ("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin): "
                "apt-get install postgresql (.ci/run does)")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no 'postgres' OS user to run the server as (apt-get install postgresql creates it)"
    if os.geteuid() != 0:
        return "the PostgreSQL fixture runs the server as the 'postgres' user, which needs root"
    try:
        import pg8000  # noqa: F401
    except ImportError:
        return "pg8000 not installed: pip install 'keyturn[postgres]'"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres() -> Any:
    user = pwd.getpwnam("postgres")

    def switch() -> None:  # pragma: no cover - runs in the child
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
        # after the uid change: a credential change clears the parent-death signal
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass

    return switch


@dataclass
class PgServer:
    host: str
    port: int
    admin: str
    password: str
    root: Path
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def admin_env(self) -> dict[str, str]:
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.admin,
                "PGPASSWORD": self.password, "PGDATABASE": "postgres"}

    def connect(self, user: str | None = None, password: str | None = None, database: str = "postgres") -> Any:
        import pg8000.native

        return pg8000.native.Connection(user or self.admin, host=self.host, port=self.port, database=database,
                                        password=self.password if password is None else password, timeout=10)

    def login_ok(self, user: str, password: str) -> bool:
        """Does the server accept ``user`` with ``password`` (over TCP, scram-sha-256)?"""
        import pg8000.exceptions

        try:
            conn = self.connect(user, password)
        except pg8000.exceptions.DatabaseError as exc:
            if "28P01" in str(exc) or "password authentication failed" in str(exc):
                return False
            raise
        conn.close()
        return True

    def sql(self, statement: str, **params: Any) -> list[list[Any]]:
        conn = self.connect()
        try:
            return list(conn.run(statement, **params) or [])
        finally:
            conn.close()

    def create_login(self, name: str, password: str) -> None:
        """A LOGIN role with a password (set through a SCRAM verifier, never plaintext SQL)."""
        from keyturn._internal.pg import scram_verifier

        self.sql(f'CREATE ROLE "{name}" LOGIN PASSWORD \'{scram_verifier(password)}\'')

    def server_log(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown: open sessions do not hold it up
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(attempts: int = 3) -> PgServer:
    binaries = pg_bin()
    assert binaries is not None, skip_reason()
    user = pwd.getpwnam("postgres")
    root = Path(tempfile.mkdtemp(prefix="keyturn-pg-"))
    os.chown(root, user.pw_uid, user.pw_gid)
    data = root / "data"
    password = secrets.token_urlsafe(24)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    os.chown(pwfile, user.pw_uid, user.pw_gid)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "LANG": "C.UTF-8",
           "LC_ALL": "C.UTF-8"}
    init_log = root / "initdb.log"
    with open(init_log, "wb") as fh:
        done = subprocess.run([str(binaries / "initdb"), "-D", str(data), "-U", ADMIN, f"--pwfile={pwfile}",
                               "--auth=scram-sha-256", "--encoding=UTF8", "--no-sync"],
                              stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=root,
                              preexec_fn=_as_postgres(), timeout=120)
    pwfile.unlink()
    if done.returncode != 0:
        text = init_log.read_text(errors="replace")[-2000:]
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed ({done.returncode}): {text}")
    (data / "pg_hba.conf").write_text(
        "# keyturn tests: a password is always checked (never trust)\n"
        "local all all scram-sha-256\n"
        "host  all all 127.0.0.1/32 scram-sha-256\n"
    )
    last = ""
    for _ in range(attempts):
        port = _free_port()
        log = root / f"postgres-{port}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [str(binaries / "postgres"), "-D", str(data), "-c", f"port={port}",
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={root}",
                 "-c", "log_statement=all", "-c", "logging_collector=off", "-c", "fsync=off",
                 "-c", "password_encryption=scram-sha-256", "-c", "log_connections=on"],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=root,
                preexec_fn=_as_postgres(),
            )
        server = PgServer("127.0.0.1", port, ADMIN, password, root, log, proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                server.connect().close()
                return server
            except Exception:  # noqa: BLE001 - not accepting connections yet
                time.sleep(0.05)
        last = log.read_text(errors="replace")[-2000:]
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    shutil.rmtree(root, ignore_errors=True)
    raise RuntimeError(f"PostgreSQL did not start: {last}")


def postgres_session() -> Iterator[PgServer]:
    """Body of the session fixture: skip (with the reason) when PostgreSQL cannot run here."""
    import pytest

    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


# -- a keyturn workspace whose secret is a postgres-password credential ----------------------

MANIFEST = OPENBAO_HEAD + """\
  APPDB:
    store: bao
    path: {path}
    generator: {{type: postgres-password, users: [{users}]{extra}}}
    policy: {{max_age: 90d, grace: 24h}}
    targets:
      - file: deploy/app.env
        fields: {{DB_USER: username, DB_PASSWORD: password}}
"""


class PgWorkspace(Workspace):
    """A workspace (the session's OpenBao as store) whose secret ``APPDB`` is a
    ``postgres-password`` credential; ``seen`` collects every password the test handled."""

    def __init__(self, root: Path, openbao: Any, pgs: PgServer, users: list[str], *, extra: str = "",
                 env: dict[str, str] | None = None) -> None:
        super().__init__(root, openbao, name="APPDB", extra_env=dict(pgs.admin_env, **(env or {})))
        self.pg = pgs
        self.users = users
        (root / "keyturn.yml").write_text(MANIFEST.format(path=self.path, users=", ".join(users), extra=extra))
        self.seen: set[str] = set()  # every password this test handled: none may show anywhere

    def value(self) -> dict[str, str]:
        text = self.reader()
        assert text is not None
        data = json.loads(text)
        self.seen.add(data["password"])
        return data

    def previous(self) -> dict[str, str] | None:
        text = self.previous_value()
        if text is None:
            return None
        data = json.loads(text)
        self.seen.add(data["password"])
        return data

    def works(self, cred: dict[str, str]) -> bool:
        return self.pg.login_ok(cred["username"], cred["password"])

    def comment(self, user: str) -> str:
        rows = self.pg.sql("SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = :n", n=user)
        return rows[0][0] or ""

    def assert_nothing_leaked(self, *outputs: str) -> None:
        log = self.pg.server_log()
        written = "\n".join(p.read_text(errors="replace") for p in self.root.rglob("*")
                            if p.is_file() and not p.name.endswith(".env"))
        for password in self.seen:
            assert password not in log, "a password reached the PostgreSQL server log"
            assert password not in written, "a password reached the audit log, evidence or another file"
            assert password not in json.dumps(self.journal()), "a password reached the journal"
            for out in outputs:
                assert password not in out, "a password reached stdout or stderr"


def make_logins(pgs: PgServer, *names: str) -> dict[str, str]:
    """Login roles with a known first password each (consumers' state before keyturn)."""
    out = {}
    for name in names:
        password = secrets.token_urlsafe(18)
        pgs.create_login(name, password)
        out[name] = password
    return out


def unique_users(n: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"app_{tag}_{c}" for c in "ab"[:n]]


