"""``generator: {type: postgres-password}`` end to end: real ``python -m keyturn`` processes,
the session's OpenBao as the store and a real PostgreSQL 15 (scram-sha-256 on every
connection, ``log_statement=all``) whose logins prove which passwords live."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.pg_support import PgServer, PgWorkspace, make_logins, unique_users

def test_alternating_users_take_turns_and_finalize_scrambles_the_previous(tmp_path: Path, openbao: Any,
                                                                         postgres: PgServer) -> None:
    users = unique_users(2)
    before = make_logins(postgres, *users)
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users)
    ws.seen.update(before.values())
    outputs = []

    r = ws.rotate()
    outputs += [r.stdout, r.stderr]
    assert r.returncode == 0, r.stderr
    first = ws.value()
    assert first["username"] == users[0], "the first rotation sets the first listed user"
    assert ws.works(first)
    assert ws.dotenv("deploy/app.env") == {"DB_USER": users[0], "DB_PASSWORD": first["password"]}
    assert ws.works({"username": users[1], "password": before[users[1]]}), "the other user was not touched"

    r = ws.rotate()
    outputs += [r.stdout, r.stderr]
    assert r.returncode == 0, r.stderr
    second = ws.value()
    assert second["username"] == users[1], "the new password goes to the user that is not CURRENT"
    assert ws.works(second)
    assert ws.works(first), "the previous user keeps working through the grace window"
    assert ws.previous() == first
    assert ws.dotenv("deploy/app.env") == {"DB_USER": users[1], "DB_PASSWORD": second["password"]}
    rid = ws.tracked("current")[0]["credential"].split("#")[1]
    assert ws.comment(users[1]) == f"keyturn rotation {rid}"

    r = ws.run("finalize", ws.name, "--force")
    outputs += [r.stdout, r.stderr]
    assert r.returncode == 0, r.stderr
    assert not ws.works(first), "finalize must scramble the previous user's password"
    assert ws.works(second)
    assert ws.comment(users[0]).startswith("keyturn revoked ")
    assert ws.tracked("previous") == []
    assert any(e["event"] == "rotation.revoke" for e in ws.audit_events())

    r = ws.rotate()  # and round again: back to the first user, the second keeps working
    outputs += [r.stdout, r.stderr]
    assert r.returncode == 0, r.stderr
    third = ws.value()
    assert third["username"] == users[0] and ws.works(third) and ws.works(second)
    assert ws.run("audit", "verify").returncode == 0
    ws.assert_nothing_leaked(*outputs)


def test_the_password_reaches_postgres_only_as_a_scram_verifier(tmp_path: Path, openbao: Any,
                                                                postgres: PgServer) -> None:
    users = unique_users(2)
    make_logins(postgres, *users)
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users)
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    value = ws.value()
    log = postgres.server_log()
    assert f'ALTER ROLE "{users[0]}" PASSWORD \'SCRAM-SHA-256$4096:' in log, \
        "log_statement=all shows the statement: it must carry a verifier"
    assert value["password"] not in log
    stored = postgres.sql("SELECT rolpassword FROM pg_authid WHERE rolname = :n", n=users[0])[0][0]
    assert stored.startswith("SCRAM-SHA-256$4096:") and value["password"] not in stored


def test_single_user_mode_replaces_the_password_in_place(tmp_path: Path, openbao: Any,
                                                         postgres: PgServer) -> None:
    users = unique_users(1)
    before = make_logins(postgres, *users)
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users)
    old = {"username": users[0], "password": before[users[0]]}
    ws.seen.add(old["password"])
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    first = ws.value()
    assert first["username"] == users[0] and ws.works(first)
    assert not ws.works(old), "single-user mode: the old password dies at rotate"
    r2 = ws.rotate()
    assert r2.returncode == 0, r2.stderr
    second = ws.value()
    assert ws.works(second) and not ws.works(first)
    assert ws.tracked("previous") == [], "grace 0: nothing stays tracked as PREVIOUS"
    ws.assert_nothing_leaked(r.stdout, r.stderr, r2.stdout, r2.stderr)


ROTATE_POINTS = ["issued", "created", "verified", "promote-write", "promoted", "distribute-1", "distributed",
                 "completed"]


@pytest.mark.slow
def test_a_rotation_killed_at_each_boundary_converges_without_a_second_live_password(
        tmp_path: Path, openbao: Any, postgres: PgServer) -> None:
    users = unique_users(2)
    make_logins(postgres, *users)
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users)
    outputs = []
    assert ws.rotate().returncode == 0
    for point in ROTATE_POINTS:
        before = ws.value()
        killed = ws.rotate(fault=point)
        assert killed.returncode < 0, (point, killed.stderr)
        again = ws.rotate()
        outputs += [killed.stdout, killed.stderr, again.stdout, again.stderr]
        if point == "completed":  # everything was done but the journal's last word
            assert again.returncode == 0, (point, again.stderr)
            assert ws.value() != before
        else:
            assert again.returncode == 0, (point, again.stderr)
        now = ws.value()
        assert now["username"] != before["username"], point
        assert ws.works(now), point
        assert ws.works(before), f"{point}: the PREVIOUS user must still work"
        assert ws.dotenv("deploy/app.env") == {"DB_USER": now["username"], "DB_PASSWORD": now["password"]}
        rid = ws.tracked("current")[0]["credential"].split("#")[1]
        assert ws.comment(now["username"]) == f"keyturn rotation {rid}", \
            f"{point}: the role must carry the rotation whose password the store holds"
        assert not ws.pending_exists(), point
    ws.assert_nothing_leaked(*outputs)


FINALIZE_POINTS = ["finalize-begun", "retire-targets", "retire-issuer", "retire-store"]


@pytest.mark.slow
def test_a_finalize_killed_at_each_boundary_converges(tmp_path: Path, openbao: Any, postgres: PgServer) -> None:
    users = unique_users(2)
    make_logins(postgres, *users)
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users)
    assert ws.rotate().returncode == 0
    for point in FINALIZE_POINTS:
        assert ws.rotate().returncode == 0
        old, now = ws.previous(), ws.value()
        assert old is not None and ws.works(old)
        killed = ws.run("finalize", ws.name, "--force", fault=point)
        assert killed.returncode < 0, (point, killed.stderr)
        again = ws.run("finalize", ws.name, "--force")
        assert again.returncode == 0, (point, again.stderr)
        assert not ws.works(old), f"{point}: the previous password must be dead after finalize"
        assert ws.works(now), point
        assert ws.tracked("previous") == [] and not ws.journal().get("op"), point


def test_bad_admin_credentials_fail_in_one_line_before_any_write(tmp_path: Path, openbao: Any,
                                                                  postgres: PgServer) -> None:
    users = unique_users(2)
    make_logins(postgres, *users)
    wrong = "wrong-" + secrets.token_hex(8)
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users, env={"PGPASSWORD": wrong})
    r = ws.rotate()
    assert r.returncode == 4, r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "internal error" not in line
    assert "PGUSER" in line and "PGPASSWORD" in line and "refused" in line
    assert wrong not in r.stdout + r.stderr
    assert ws.metadata() == {} and ws.journal() == {}
    assert ws.comment(users[0]) == "" and ws.comment(users[1]) == ""


def test_a_missing_role_or_admin_variable_is_a_usage_error_before_any_write(tmp_path: Path, openbao: Any,
                                                                             postgres: PgServer) -> None:
    users = unique_users(2)
    make_logins(postgres, users[0])  # the second user was never created
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users)
    r = ws.rotate()
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and f"role {users[1]!r} does not exist" in r.stderr
    assert ws.metadata() == {} and ws.comment(users[0]) == ""

    ws2 = PgWorkspace(tmp_path / "ws2", openbao, postgres, users, env={"PGPASSWORD": ""})
    r = ws2.rotate()
    assert r.returncode == 2 and "PGPASSWORD" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

    ws3 = PgWorkspace(tmp_path / "ws3", openbao, postgres, [postgres.admin, users[0]])
    r = ws3.rotate()
    assert r.returncode == 2 and "separate admin role" in r.stderr, r.stderr


def test_an_admin_prefix_reads_other_variables(tmp_path: Path, openbao: Any, postgres: PgServer) -> None:
    users = unique_users(1)
    make_logins(postgres, *users)
    prefixed = {f"APPDB_{k[2:]}": v for k, v in postgres.admin_env.items()}
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users, extra=", admin_env: APPDB_",
                     env=dict(prefixed, PGHOST="", PGPASSWORD=""))
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert ws.works(ws.value())


def test_unreachable_server_is_a_service_error(tmp_path: Path, openbao: Any, postgres: PgServer,
                                               dead_url: str) -> None:
    users = unique_users(1)
    port = dead_url.rsplit(":", 1)[1]
    ws = PgWorkspace(tmp_path / "ws", openbao, postgres, users, env={"PGPORT": port})
    r = ws.rotate()
    assert r.returncode == 4, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "PGHOST/PGPORT" in r.stderr
    assert ws.metadata() == {}
