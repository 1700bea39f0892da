"""PostgreSQL role passwords, set directly by keyturn (no Vault, no Lambda).

``generator: {type: postgres-password, users: [app_a, app_b]}`` — the *alternating users*
strategy of AWS's rotation functions: two login roles with the same grants take turns. A
rotation sets a new password on the role that is **not** the CURRENT credential's, so
the CURRENT user keeps working through distribution and the grace window; ``finalize``
scrambles the old one. ``users: [app]`` is single-user mode: the password changes in
place, the old one dies at issue (``overlap`` False: grace 0, a failed smoke check
cannot roll back).

The value is structured, ``{username, password}``: targets map it with
``fields: {DB_USER: username, DB_PASSWORD: password}``.

* The admin connection comes from the environment, never argv: ``PGHOST``, ``PGPORT``,
  ``PGUSER``, ``PGPASSWORD``, ``PGDATABASE`` (``PGSSLMODE``, ``PGSSLROOTCERT``), or the
  same names after another prefix (``admin_env: APPDB_`` → ``APPDB_HOST`` …).
* The password is set as a SCRAM-SHA-256 verifier computed here; the plaintext never
  reaches the server, its log or its statistics.
* The credential id is ``user#rotation_id``; the rotation id is recorded on the role
  (``COMMENT ON ROLE``, in the same transaction as the password) so ``revoke`` scrambles a
  role only while it still carries that rotation — otherwise the role was issued again
  since and that password is already dead. A role without keyturn's comment stands for
  the password set before keyturn (``user#before-keyturn``).

Imports pg8000 only inside methods (via :mod:`keyturn._internal.pg`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from keyturn._internal import pg
from keyturn._internal.configbase import ConfigModel
from keyturn.errors import ServiceError, UsageError
from keyturn.issuers.base import IssueRequest, Issued, field_value, structured_value

KIND = "postgres-password"
#: the comment keyturn keeps on a role it manages
MARK = "keyturn rotation "
REVOKED = "keyturn revoked "
BEFORE = "before-keyturn"


class PostgresPasswordGen(ConfigModel):
    type: Literal["postgres-password"]
    FIELDS: ClassVar[tuple[str, ...]] = ("username", "password")
    users: list[str] = Field(min_length=1, max_length=2, description=(
        "Two login roles with the same grants that take turns (alternating users), or one (single user: "
        "its password changes in place and the old one dies at once)"))
    admin_env: str = Field(default="PG", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description=(
        "Prefix of the admin connection's variables: PG → PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE"))
    database: str | None = Field(default=None, min_length=1, max_length=63, description=(
        "Database the new credential logs in to when it is verified (default: the admin's)"))

    @field_validator("users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        for name in v:
            if not re.fullmatch(pg.ROLE_NAME, name):
                raise ValueError(f"bad role name {name!r}: letters, digits, _ $ . - (up to 63)")
        if len(set(v)) != len(v):
            raise ValueError("the two alternating users must be different roles")
        return v


def _rid(comment: Any) -> str:
    """The rotation id a role carries (``before-keyturn`` when keyturn never set it)."""
    text = comment if isinstance(comment, str) else ""
    if text.startswith(MARK):
        return text[len(MARK):]
    if text.startswith(REVOKED):
        return "revoked:" + text[len(REVOKED):]
    return BEFORE


def split_id(credential_id: str) -> tuple[str, str]:
    user, sep, rid = credential_id.partition("#")
    if not sep or not user or not rid:
        raise UsageError(f"{KIND}: {credential_id!r} is not a credential id of the form user#rotation")
    return user, rid


class PostgresPasswordIssuer:
    kind = KIND
    fields: tuple[str, ...] = PostgresPasswordGen.FIELDS
    human_revoke = False

    def __init__(self, secret: str, config: PostgresPasswordGen, environ: Mapping[str, str],
                 base_dir: Any = None) -> None:
        import pg8000  # noqa: F401 - a missing driver is a one-line usage error when the issuer is built

        self.secret = secret
        self.users = tuple(config.users)
        self.overlap = len(self.users) == 2
        self.where = f"{secret}: generator {KIND}"
        self.admin = pg.admin_from_env(config.admin_env, environ, where=self.where)
        ep = self.admin.endpoint
        self.login_endpoint = pg.Endpoint(ep.host, ep.port, config.database or ep.database, ep.sslmode,
                                          ep.sslrootcert)
        if self.admin.user in self.users:
            raise UsageError(f"{self.where}: the admin user {self.admin.user!r} ({config.admin_env}USER) is one of "
                             "the users it rotates — use a separate admin role (CREATEROLE) for keyturn")

    # ------------------------------------------------------------------ plumbing
    def _fail(self, what: str, exc: pg.PgRefused) -> ServiceError:
        if exc.bad_login:
            return ServiceError(f"{self.where}: admin login as {self.admin.user} at {self.admin.endpoint.where} "
                                f"refused ({exc.why}) — check {self.admin.prefix}USER and "
                                f"{self.admin.prefix}PASSWORD")
        if not exc.sqlstate:
            return ServiceError(f"{self.where}: {what} at {self.admin.endpoint.where} failed: {exc.why} — is "
                                f"{self.admin.prefix}HOST/{self.admin.prefix}PORT right and the server up?")
        return ServiceError(f"{self.where}: {what} at {self.admin.endpoint.where} refused: {exc.why}")

    def _roles(self, conn: Any) -> dict[str, dict[str, Any]]:
        rows = pg.run(conn, "SELECT r.rolname, r.rolcanlogin, r.rolsuper, "
                            "shobj_description(r.oid, 'pg_authid') FROM pg_roles r WHERE r.rolname = ANY(:names)",
                      names=list(self.users))
        return {r[0]: {"login": r[1], "super": r[2], "rid": _rid(r[3])} for r in rows}

    def _session(self, what: str) -> Any:
        try:
            return self.admin.open()
        except pg.PgRefused as exc:
            raise self._fail(what, exc) from None

    # ------------------------------------------------------------------ protocol
    def preflight(self, current: str) -> None:
        conn = self._session("admin login")
        try:
            me = pg.run(conn, "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
            roles = self._roles(conn)
        except pg.PgRefused as exc:
            raise self._fail("reading pg_roles", exc) from None
        finally:
            pg.close(conn)
        is_super, can_create = bool(me and me[0][0]), bool(me and me[0][1])
        for user in self.users:
            role = roles.get(user)
            if role is None:
                raise UsageError(f"{self.where}: role {user!r} does not exist at {self.admin.endpoint.where} — "
                                 f"CREATE ROLE {user} LOGIN (with the app's grants), or fix generator.users")
            if not role["login"]:
                raise UsageError(f"{self.where}: role {user!r} cannot log in — ALTER ROLE {user} LOGIN")
            if not is_super and (role["super"] or not can_create):
                why = "is a superuser" if role["super"] else "needs CREATEROLE"
                raise ServiceError(f"{self.where}: admin {self.admin.user!r} may not set the password of {user!r} "
                                   f"({'the role' if role['super'] else 'the admin'} {why}) — "
                                   f"ALTER ROLE {self.admin.user} CREATEROLE, or use a superuser")

    def current_credential(self) -> str:
        """Before keyturn knows: the role keyturn set most recently (rotation ids sort by
        time), else the first listed user (documented: consumers start on ``users[0]``)."""
        conn = self._session("admin login")
        try:
            roles = self._roles(conn)
        except pg.PgRefused as exc:
            raise self._fail("reading pg_roles", exc) from None
        finally:
            pg.close(conn)
        marked = sorted((r["rid"], u) for u, r in roles.items() if r["rid"] != BEFORE and
                        not r["rid"].startswith("revoked:"))
        if marked:
            rid, user = marked[-1]
            return f"{user}#{rid}"
        return f"{self.users[0]}#{BEFORE}"

    def _next_user(self, current: str) -> str:
        if len(self.users) == 1:
            return self.users[0]
        cur_user = current.partition("#")[0] if "#" in current else ""  # another issuer's id: unknown
        if cur_user == self.users[0]:
            return self.users[1]
        return self.users[0]

    def issue(self, request: IssueRequest) -> Issued:
        # A resumed attempt sets the same user again: whatever an earlier attempt of this
        # rotation set there (its value lost) is overwritten, so one new password lives.
        user = self._next_user(request.current)
        password = pg.new_password()
        verifier = pg.scram_verifier(password.reveal())
        conn = self._session("admin login")
        try:
            pg.run(conn, "BEGIN")
            pg.run(conn, f"ALTER ROLE {pg.ident(user)} PASSWORD {pg.literal(verifier)}")
            pg.run(conn, f"COMMENT ON ROLE {pg.ident(user)} IS {pg.literal(MARK + request.rotation_id)}")
            pg.run(conn, "COMMIT")
        except pg.PgRefused as exc:
            raise self._fail(f"setting the password of {user}", exc) from None
        finally:
            pg.close(conn)
        value = structured_value(KIND, {"username": user, "password": password.reveal()})
        return Issued(value, f"{user}#{request.rotation_id}")

    def verify(self, issued: Issued) -> str | None:
        user = field_value(issued.value, "username", secret=self.secret).reveal()
        return pg.login_works(self.login_endpoint, user, field_value(issued.value, "password", secret=self.secret))

    def revoke(self, credential_id: str) -> bool:
        """Scramble the role's password (a random verifier nobody knows) if it still carries
        this credential's rotation; a role issued again since, or gone, holds no such password."""
        user, rid = split_id(credential_id)
        comment = "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = :n"
        conn = self._session("admin login")
        try:
            rows = pg.run(conn, comment, n=user)
            if not rows or _rid(rows[0][0]) != rid:
                return True
            scrambled = pg.scram_verifier(pg.new_password().reveal())
            pg.run(conn, "BEGIN")
            pg.run(conn, f"ALTER ROLE {pg.ident(user)} PASSWORD {pg.literal(scrambled)}")
            pg.run(conn, f"COMMENT ON ROLE {pg.ident(user)} IS {pg.literal(REVOKED + rid)}")
            pg.run(conn, "COMMIT")
            back = pg.run(conn, comment, n=user)
        except pg.PgRefused as exc:
            raise self._fail(f"scrambling the password of {user}", exc) from None
        finally:
            pg.close(conn)
        return bool(back) and _rid(back[0][0]) != rid
