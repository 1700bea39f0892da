"""``generator: {type: vault-database-static-role}`` end to end: real ``python -m keyturn``
processes, the session's OpenBao (its built-in postgresql database plugin managing a
static role) and a real PostgreSQL 15 (scram-sha-256) whose logins prove which password
lives."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import hvac
import pytest

from tests.invariants_support import OPENBAO_HEAD, Workspace
from tests.pg_support import PgServer

MANIFEST = OPENBAO_HEAD + """\
  STATIC_DB:
    store: bao
    path: {path}
    generator:
      type: vault-database-static-role
      role: {role}
      mount: {mount}
      store: {gen_store}
      verify: {verify}
    policy: {{max_age: 30d, grace: 24h}}
    targets:
      - file: deploy/app.env
        name: DB_PASSWORD
"""


class StaticRole(Workspace):
    def __init__(self, root: Path, openbao: Any, pgs: PgServer, *, gen_store: str = "bao",
                 verify: str | None = None, role: str | None = None) -> None:
        super().__init__(root, openbao, name="STATIC_DB")
        self.pg = pgs
        tag = uuid.uuid4().hex[:8]
        self.user = f"static_{tag}"
        self.mount = f"db-{tag}"
        self.role = f"app-{tag}"
        pgs.create_login(self.user, secrets.token_urlsafe(18))
        bao = hvac.Client(url=openbao.url, token=openbao.token)
        bao.sys.enable_secrets_engine("database", path=self.mount)
        bao.secrets.database.configure(
            "pg", "postgresql-database-plugin", mount_point=self.mount, allowed_roles=["*"],
            connection_url=f"postgresql://{{{{username}}}}:{{{{password}}}}@{pgs.host}:{pgs.port}/postgres"
                           "?sslmode=disable",
            username=pgs.admin, password=pgs.password, password_authentication="scram-sha-256")
        bao.secrets.database.create_static_role(self.role, "pg", self.user, rotation_statements=[], rotation_period=86400,
                                                mount_point=self.mount)
        self.bao = bao
        verify = verify or f"{{host: {pgs.host}, port: {pgs.port}, database: postgres}}"
        (root / "keyturn.yml").write_text(MANIFEST.format(path=self.path, role=role or self.role, mount=self.mount,
                                                          gen_store=gen_store, verify=verify))
        self.seen: set[str] = set()

    def vault_password(self) -> str:
        data = self.bao.secrets.database.get_static_credentials(self.role, mount_point=self.mount)["data"]
        self.seen.add(data["password"])
        return str(data["password"])

    def value(self) -> str:
        v = self.reader()
        assert v is not None
        self.seen.add(v)
        return v

    def works(self, password: str) -> bool:
        return self.pg.login_ok(self.user, password)


def test_rotate_replaces_the_static_role_password_and_the_old_one_is_refused(tmp_path: Path, openbao: Any,
                                                                             postgres: PgServer) -> None:
    ws = StaticRole(tmp_path / "ws", openbao, postgres)
    old = ws.vault_password()
    assert ws.works(old)
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    new = ws.value()
    assert new != old and new == ws.vault_password(), "the store holds the password Vault set"
    assert ws.works(new)
    assert not ws.works(old), "Vault's static role: the old password dies at rotate"
    assert ws.dotenv("deploy/app.env") == {"DB_PASSWORD": new}
    cur = ws.tracked("current")[0]
    assert cur["credential"].startswith(f"{ws.role}@")
    assert ws.tracked("previous") == [], "overlap False: grace 0, nothing stays in grace"

    r2 = ws.rotate()
    assert r2.returncode == 0, r2.stderr
    newer = ws.value()
    assert ws.works(newer) and not ws.works(new)
    f = ws.run("finalize", ws.name, "--force")
    assert f.returncode == 0, f.stderr
    assert ws.works(newer), "finalize must not touch the CURRENT password"
    for out in (r.stdout, r.stderr, r2.stdout, r2.stderr, f.stdout, f.stderr):
        for password in ws.seen:
            assert password not in out
    written = "\n".join(p.read_text(errors="replace") for p in ws.root.rglob("*")
                        if p.is_file() and not p.name.endswith(".env"))
    assert not any(p in written or p in json.dumps(ws.journal()) for p in ws.seen)


@pytest.mark.slow
def test_a_killed_rotation_converges_on_the_role_s_one_live_password(tmp_path: Path, openbao: Any,
                                                                     postgres: PgServer) -> None:
    ws = StaticRole(tmp_path / "ws", openbao, postgres)
    assert ws.rotate().returncode == 0
    for point in ("issued", "created", "verified", "promote-write", "promoted", "distributed", "completed"):
        before = ws.value()
        killed = ws.rotate(fault=point)
        assert killed.returncode < 0, (point, killed.stderr)
        again = ws.rotate()
        assert again.returncode == 0, (point, again.stderr)
        now = ws.value()
        assert now == ws.vault_password(), f"{point}: the store must hold the role's live password"
        assert ws.works(now) and not ws.works(before), point
        assert ws.dotenv("deploy/app.env") == {"DB_PASSWORD": now}, point
        assert not ws.pending_exists(), point


def test_a_missing_static_role_is_one_line_before_any_write(tmp_path: Path, openbao: Any,
                                                            postgres: PgServer) -> None:
    ws = StaticRole(tmp_path / "ws", openbao, postgres, role="no-such-role")
    r = ws.rotate()
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "no static role 'no-such-role'" in r.stderr
    assert ws.metadata() == {} and ws.journal() == {}


def test_a_token_without_rotate_role_update_is_a_policy_error_before_any_write(tmp_path: Path, openbao: Any,
                                                                              postgres: PgServer) -> None:
    """The issuer checks capabilities as the store does (one helper): ``sudo`` is not
    ``update``, and a missing capability is a policy to fix — exit 2, one line."""
    ws = StaticRole(tmp_path / "ws", openbao, postgres)
    policy = (f'path "secret/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}\n'
              f'path "{ws.mount}/static-roles/{ws.role}" {{ capabilities = ["read"] }}\n'
              f'path "{ws.mount}/static-creds/{ws.role}" {{ capabilities = ["read"] }}\n'
              f'path "{ws.mount}/rotate-role/{ws.role}" {{ capabilities = ["read", "sudo"] }}\n')
    ws.bao.sys.create_or_update_policy(f"rotator-{ws.role}", policy)
    token = ws.bao.auth.token.create(policies=[f"rotator-{ws.role}"], ttl="10m")["auth"]["client_token"]
    ws.env["VAULT_TOKEN"] = token
    before = ws.vault_password()
    r = ws.rotate()
    assert r.returncode == 2, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert f"lacks capabilities: update on {ws.mount}/rotate-role/{ws.role} — add them to its policy" in line, line
    assert ws.vault_password() == before and ws.metadata() == {} and ws.journal() == {}


def test_the_generator_store_must_be_a_vault_store_of_the_manifest(tmp_path: Path, openbao: Any,
                                                                   postgres: PgServer) -> None:
    ws = StaticRole(tmp_path / "ws", openbao, postgres, gen_store="nope")
    r = ws.run("manifest", "check")
    assert r.returncode == 2 and "generator.store" in r.stderr and "unknown store 'nope'" in r.stderr, r.stderr


def test_verify_false_skips_the_login_and_a_wrong_verify_port_abandons_nothing_silently(
        tmp_path: Path, openbao: Any, postgres: PgServer, dead_url: str) -> None:
    ws = StaticRole(tmp_path / "ws", openbao, postgres, verify="false")
    assert ws.rotate().returncode == 0
    assert ws.works(ws.value())
    port = dead_url.rsplit(":", 1)[1]
    bad = StaticRole(tmp_path / "bad", openbao, postgres, verify=f"{{host: 127.0.0.1, port: {port}}}")
    r = bad.rotate()
    assert r.returncode == 1, r.stderr
    assert "pre-promotion check failed: issuer:vault-database-static-role" in r.stderr
    assert bad.metadata() == {} or bad.reader() is None
    live = bad.vault_password()
    assert bad.works(live), "the abandoned password was replaced; Vault still manages the role"


def test_manifest_check_imports_no_database_or_vault_sdk(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import subprocess_env

    (tmp_path / "keyturn.yml").write_text("""\
version: 1
stores:
  bao: {type: openbao}
secrets:
  A:
    store: bao
    path: a
    generator: {type: vault-database-static-role, role: r, store: bao, verify: {host: db.internal}}
  B:
    store: bao
    path: b
    generator: {type: postgres-password, users: [app_a, app_b]}
    targets: [{file: b.env, fields: {U: username, P: password}}]
""")
    code = ("import sys; from keyturn.cli import main; rc = main(['manifest', 'check']); "
            "bad = [m for m in ('pg8000', 'scramp', 'hvac', 'requests') if m in sys.modules]; "
            "print('LOADED', bad); sys.exit(rc or (3 if bad else 0))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "LOADED []" in r.stdout
