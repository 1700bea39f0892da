"""PostgreSQL plumbing shared by the database issuers: where to connect, a login with
errors turned into one-line text, and SCRAM-SHA-256 verifiers computed client-side.

A password reaches the server only inside the SCRAM handshake of a login (pg8000 runs
the SASL exchange; the plaintext never crosses the wire). ``ALTER ROLE … PASSWORD``
is sent a verifier (``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>``, RFC 5802 /
RFC 7677 as PostgreSQL stores it), so the plaintext is in no statement, server log or
``pg_stat_statements`` row. Error text is built from SQLSTATE and the server's message
(which never quotes a password) plus host, port, database and role names.

Imports pg8000 only inside :func:`connect`; never imports a store, target or the engine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyturn.errors import UsageError
from keyturn.values import SecretValue, visible_ascii

SSLMODES = ("disable", "require", "verify-ca", "verify-full")
#: what a role name may be in a manifest (unquoted PostgreSQL identifiers, plus . $ -)
ROLE_NAME = r"^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$"
_VERIFIER = re.compile(r"^SCRAM-SHA-256\$[0-9]+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: SQLSTATEs of a refused login
BAD_PASSWORD = ("28P01", "28000")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    database: str
    sslmode: str = "disable"
    sslrootcert: str | None = None

    @property
    def where(self) -> str:
        return f"postgresql://{self.host}:{self.port}/{self.database}"


def default_sslmode(host: str) -> str:
    """``disable`` on loopback, else ``verify-full`` (pg8000 has no ``prefer``)."""
    return "disable" if host in _LOOPBACK else "verify-full"


class PgRefused(Exception):
    """A refused or failed PostgreSQL call: ``sqlstate`` ("" for a transport failure) and
    a one-line reason without any value."""

    def __init__(self, sqlstate: str, why: str) -> None:
        super().__init__(why)
        self.sqlstate = sqlstate
        self.why = why

    @property
    def bad_login(self) -> bool:
        return self.sqlstate in BAD_PASSWORD


def _ssl_context(endpoint: Endpoint) -> Any:
    if endpoint.sslmode == "disable":
        return None
    ctx = ssl.create_default_context(cafile=endpoint.sslrootcert) if endpoint.sslrootcert else \
        ssl.create_default_context()
    if endpoint.sslmode == "require":
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif endpoint.sslmode == "verify-ca":
        ctx.check_hostname = False
    return ctx


def refused(exc: BaseException) -> PgRefused:
    """pg8000's exception as a :class:`PgRefused` (server message + SQLSTATE, or the transport failure)."""
    detail = exc.args[0] if exc.args else None
    if isinstance(detail, dict):
        code = str(detail.get("C", ""))
        message = " ".join(str(detail.get("M", exc.__class__.__name__)).split())[:200]
        return PgRefused(code, f"{message} (SQLSTATE {code})" if code else message)
    text = " ".join(str(exc).split())[:200] or exc.__class__.__name__
    return PgRefused("", text)


def connect(endpoint: Endpoint, user: str, password: SecretValue, *, timeout: float = 15) -> Any:
    """A pg8000 native connection (raises :class:`PgRefused`)."""
    import pg8000.exceptions
    import pg8000.native

    try:
        return pg8000.native.Connection(user, host=endpoint.host, port=endpoint.port, database=endpoint.database,
                                        password=password.reveal(), ssl_context=_ssl_context(endpoint),
                                        timeout=timeout, application_name="keyturn")
    except (pg8000.exceptions.Error, OSError, ssl.SSLError) as exc:
        raise refused(exc) from None


def run(conn: Any, statement: str, **params: Any) -> list[list[Any]]:
    import pg8000.exceptions

    try:
        return list(conn.run(statement, **params) or [])
    except (pg8000.exceptions.Error, OSError) as exc:
        raise refused(exc) from None


def login_works(endpoint: Endpoint, user: str, password: SecretValue) -> str | None:
    """None when ``user`` logs in with ``password``; else why not (no value)."""
    try:
        conn = connect(endpoint, user, password)
    except PgRefused as exc:
        return f"login as {user} at {endpoint.where} refused: {exc.why}"
    try:
        run(conn, "SELECT 1")
    except PgRefused as exc:
        return f"login as {user} at {endpoint.where}: {exc.why}"
    finally:
        close(conn)
    return None


def close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a broken connection is closed anyway
        pass


# -- identifiers and verifiers -------------------------------------------------------------


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    if not re.fullmatch(ROLE_NAME, name):
        raise UsageError(f"{name!r} is not a role name keyturn manages (letters, digits, _ $ . -)")
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted SQL string literal (for public text: comments, verifiers)."""
    if "\\" in text or "\x00" in text:
        raise UsageError("a SQL literal keyturn writes may not contain a backslash or NUL")
    return "'" + text.replace("'", "''") + "'"


def scram_verifier(password: str, *, iterations: int = 4096, salt: bytes | None = None) -> str:
    """PostgreSQL's stored form of a SCRAM-SHA-256 password (what ``pg_authid`` holds).

    SASLprep is the identity for the printable ASCII passwords keyturn generates; other
    text is refused rather than prepared differently from the server."""
    if not password or not visible_ascii(password):
        raise UsageError("a PostgreSQL password keyturn sets must be printable ASCII without spaces")
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    verifier = (f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}$"
                f"{b64(stored_key).decode()}:{b64(server_key).decode()}")
    assert _VERIFIER.match(verifier)
    return verifier


def new_password() -> SecretValue:
    """A random password (256 bits, URL-safe ASCII: nothing any driver or DSN must quote)."""
    return SecretValue(secrets.token_urlsafe(32))


# -- the admin connection from the environment ------------------------------------------------


@dataclass(frozen=True)
class AdminLogin:
    endpoint: Endpoint
    user: str
    password: SecretValue
    prefix: str

    def open(self) -> Any:
        return connect(self.endpoint, self.user, self.password)


def admin_from_env(prefix: str, env: Mapping[str, str], *, where: str) -> AdminLogin:
    """``{prefix}HOST``, ``PORT`` (5432), ``USER``, ``PASSWORD``, ``DATABASE`` (postgres),
    ``SSLMODE`` and ``SSLROOTCERT`` — as libpq names them with the default prefix ``PG``."""
    def var(name: str) -> str:
        return f"{prefix}{name}"

    missing = [var(n) for n in ("HOST", "USER", "PASSWORD") if not env.get(var(n))]
    if missing:
        raise UsageError(f"{where}: the admin connection needs {', '.join(missing)} in the environment "
                         f"(a GitHub secret for {var('PASSWORD')}; never a command-line argument)")
    host = env[var("HOST")]
    try:
        port = int(env.get(var("PORT")) or 5432)
        if not 0 < port < 65536:
            raise ValueError
    except ValueError:
        raise UsageError(f"{where}: {var('PORT')} is not a port number") from None
    sslmode = env.get(var("SSLMODE")) or default_sslmode(host)
    if sslmode not in SSLMODES:
        raise UsageError(f"{where}: {var('SSLMODE')} must be one of {', '.join(SSLMODES)} "
                         f"(pg8000 cannot do {sslmode!r})")
    raw = env[var("PASSWORD")]
    return AdminLogin(Endpoint(host, port, env.get(var("DATABASE")) or "postgres", sslmode,
                               env.get(var("SSLROOTCERT")) or None),
                      env[var("USER")], SecretValue(raw, mask=False), prefix)
