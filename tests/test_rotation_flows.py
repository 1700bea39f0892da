"""Rotation flows beyond the invariants: emergency mode, finalize after grace with
every shape, --due, --dry-run, manual rollback, http checks against a local server,
several secrets in one run. Real OpenBao, in-process CLI (``main(argv)``)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac
import pytest

from keyturn.targets.file import FileTarget
from tests.fakes.quiet import QuietThreadingHTTPServer


def _manifest(path: str, *, grace: str = "24h", max_age: str = "90d", smoke: str = "", extra: str = "") -> str:
    return f"""\
version: 1
audit: {{log: logs/audit.jsonl, evidence_dir: logs/evidence}}
stores:
  bao: {{type: openbao, mount: secret}}
secrets:
  APP_TOKEN:
    store: bao
    path: {path}
    generator: {{type: urlsafe, bytes: 24}}
    policy: {{max_age: {max_age}, grace: {grace}}}
    targets:
      - file: out/single.env
      - file: out/dual.env
        shape: dual
      - file: out/versioned.env
        shape: versioned
        name: APP_TOKEN_PROV
{smoke}{extra}"""


@pytest.fixture
def ws(tmp_path: Path, vault_env: dict[str, str], unique: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}"))
    monkeypatch.setenv("KEYTURN_AUDIT_KEY_V1", "f" * 32)
    return tmp_path


def _env(ws: Path, rel: str) -> dict[str, str]:
    p = ws / rel
    return {k: v.reveal() for k, v in FileTarget(p).read().items()} if p.exists() else {}


def _kv(vault_env: dict[str, str]) -> hvac.api.secrets_engines.KvV2:
    return hvac.Client(url=vault_env["VAULT_ADDR"], token=vault_env["VAULT_TOKEN"]).secrets.kv.v2


def _meta(vault_env: dict[str, str], ws: Path) -> dict:  # type: ignore[type-arg]
    path = next(line.split(": ")[1] for line in (ws / "keyturn.yml").read_text().splitlines()
                if line.strip().startswith("path:"))
    return _kv(vault_env).read_secret_metadata(path=path.strip(), mount_point="secret")["data"]


def test_dry_run_prints_plan_and_writes_nothing(ws: Path, run_cli, vault_env) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("rotate", "APP_TOKEN", "--dry-run", cwd=ws)
    assert r.code == 0, r.err
    assert "APP_TOKEN: scheduled rotation of vault:bao" in r.out
    assert "target: file:out/dual.env [dual] APP_TOKEN, APP_TOKEN_PREVIOUS" in r.out
    assert "target: file:out/versioned.env [versioned] APP_TOKEN_PROV_V1, APP_TOKEN_PROV_ACTIVE_VERSION" in r.out
    assert not (ws / "out").exists() and not (ws / "logs").exists()
    r = run_cli("rotate", "APP_TOKEN", "--dry-run", "--format", "json", cwd=ws)
    plan = json.loads(r.out)["plan"][0]
    assert plan["next_generation"] == 1 and len(plan["targets"]) == 3


def test_finalize_retires_previous_and_grace_entries(ws: Path, run_cli, vault_env) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    dual, versioned = _env(ws, "out/dual.env"), _env(ws, "out/versioned.env")
    assert "APP_TOKEN_PREVIOUS" in dual
    assert {"APP_TOKEN_PROV_V1", "APP_TOKEN_PROV_V2"} <= versioned.keys()
    assert versioned["APP_TOKEN_PROV_ACTIVE_VERSION"] == "2"
    r = run_cli("finalize", cwd=ws)  # inside the 24h grace window: nothing happens
    assert r.code == 0 and "in grace until" in r.out
    assert "APP_TOKEN_PREVIOUS" in _env(ws, "out/dual.env")
    r = run_cli("finalize", "--force", cwd=ws)
    assert r.code == 0 and "retired" in r.out
    assert "APP_TOKEN_PREVIOUS" not in _env(ws, "out/dual.env")
    versioned = _env(ws, "out/versioned.env")
    assert "APP_TOKEN_PROV_V1" not in versioned and versioned["APP_TOKEN_PROV_V2"] == _env(ws, "out/single.env")["APP_TOKEN"]
    meta = _meta(vault_env, ws)
    assert meta["versions"]["1"]["deletion_time"]  # PREVIOUS revoked in the store
    assert not meta["versions"]["2"]["deletion_time"]
    events = [json.loads(x)["event"] for x in (ws / "logs/audit.jsonl").read_text().splitlines()]
    assert events[-1] == "rotation.retire"
    assert run_cli("finalize", "--force", cwd=ws).code == 0  # repeatable


def test_finalize_after_grace_expired_needs_no_force(tmp_path: Path, run_cli, vault_env, unique) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}", grace="1s"))
    assert run_cli("rotate", "APP_TOKEN", cwd=tmp_path).code == 0
    assert run_cli("rotate", "APP_TOKEN", cwd=tmp_path).code == 0
    import time

    time.sleep(1.2)
    r = run_cli("finalize", cwd=tmp_path)
    # On a slow machine the 1 s window may already have ended before the second rotation
    # completed, which then retired PREVIOUS itself; either way nothing is left live.
    assert r.code == 0 and ("retired" in r.out or "nothing to retire" in r.out), r.out + r.err
    versions = _meta(vault_env, tmp_path)["versions"]
    assert [v for v, info in versions.items() if not info["deletion_time"]] == ["2"]


def test_emergency_needs_reason_revokes_everything_old(ws: Path, run_cli, vault_env) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("rotate", "APP_TOKEN", "--mode", "emergency", cwd=ws)
    assert r.code == 2 and "--reason" in r.err
    for _ in range(3):
        assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    r = run_cli("rotate", "APP_TOKEN", "--mode", "emergency", "--reason", "leaked in CI log", cwd=ws)
    assert r.code == 0, r.err
    meta = _meta(vault_env, ws)
    assert meta["current_version"] == 4
    for v in ("1", "2", "3"):
        assert meta["versions"][v]["deletion_time"], f"version {v} must be revoked"
    assert not meta["versions"]["4"]["deletion_time"]
    assert "APP_TOKEN_PREVIOUS" not in _env(ws, "out/dual.env")  # grace 0: no dual-key window
    versioned = _env(ws, "out/versioned.env")
    assert set(versioned) == {"APP_TOKEN_PROV_V4", "APP_TOKEN_PROV_ACTIVE_VERSION"}
    records = [json.loads(x) for x in (ws / "logs/audit.jsonl").read_text().splitlines()]
    emergency = [x for x in records if x["event"] == "rotation.emergency"]
    assert len(emergency) == 1 and emergency[0]["reason"] == "leaked in CI log"
    assert emergency[0]["mode"] == "emergency"
    evidence = ws / "logs/evidence" / f"APP_TOKEN-{emergency[0]['rotation_id']}.json"
    ev = json.loads(evidence.read_text())
    assert ev["rotation_reason"] == "leaked in CI log" and ev["revoke_confirmed"] is True


def test_due_rotates_only_old_secrets(tmp_path: Path, run_cli, vault_env, unique) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}", max_age="1s"))
    r = run_cli("rotate", "--due", cwd=tmp_path)  # never rotated: due
    assert r.code == 0 and "APP_TOKEN: completed" in r.out
    r = run_cli("status", "--format", "json", cwd=tmp_path)
    assert json.loads(r.out)["secrets"][0]["current"] == "1"
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}", max_age="90d"))
    r = run_cli("rotate", "--due", cwd=tmp_path)
    assert r.code == 0 and "nothing is due" in r.err and r.out == ""
    r = run_cli("plan", "--due", "--format", "matrix", cwd=tmp_path)
    assert json.loads(r.out) == {"include": []}
    r = run_cli("plan", "--format", "matrix", cwd=tmp_path)
    assert json.loads(r.out) == {"include": [{"secret": "APP_TOKEN"}]}


def test_manual_rollback_during_grace(ws: Path, run_cli, vault_env) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    first = _env(ws, "out/single.env")["APP_TOKEN"]
    assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    assert _env(ws, "out/single.env")["APP_TOKEN"] != first
    r = run_cli("rollback", "APP_TOKEN", "--reason", "consumer broke", cwd=ws)
    assert r.code == 0, r.err
    assert _env(ws, "out/single.env")["APP_TOKEN"] == first
    assert _env(ws, "out/versioned.env")["APP_TOKEN_PROV_ACTIVE_VERSION"] == "1"
    assert "APP_TOKEN_PROV_V2" not in _env(ws, "out/versioned.env")
    r = run_cli("rollback", "APP_TOKEN", cwd=ws)
    assert r.code == 2 and "no PREVIOUS version" in r.err


class _Health(http.server.BaseHTTPRequestHandler):
    expected: str = ""
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        token = self.headers.get("Authorization", "")
        _Health.seen.append(token)
        status = 200 if token == f"Bearer {_Health.expected_value()}" else 401
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    @staticmethod
    def expected_value() -> str:
        return Path(_Health.expected).read_text().split("=", 1)[1].strip() if Path(_Health.expected).exists() else "?"

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server(tmp_path: Path) -> Iterator[str]:
    server = QuietThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Health.expected = str(tmp_path / "out/single.env")
    _Health.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()


def test_http_smoke_check_gets_the_value_in_a_header(tmp_path: Path, run_cli, vault_env, unique,  # type: ignore[no-untyped-def]
                                                     health_server: str) -> None:
    smoke = f"""    smoke:
      - http:
          url: {health_server}
          headers: {{Authorization: "Bearer {{{{ value }}}}"}}
"""
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}", smoke=smoke))
    r = run_cli("rotate", "APP_TOKEN", cwd=tmp_path)
    assert r.code == 0, r.err
    assert "http GET " in r.err and "(HTTP 200)" in r.err
    value = _env(tmp_path, "out/single.env")["APP_TOKEN"]
    assert _Health.seen == [f"Bearer {value}"]
    assert value not in r.out + r.err


def test_several_secrets_worst_exit_code_wins(tmp_path: Path, run_cli, vault_env, unique) -> None:  # type: ignore[no-untyped-def]
    extra = f"""  BROKEN:
    store: bao
    path: flows/{unique}-broken
    generator: {{type: hex, bytes: 16}}
    validate:
      - command: ["false"]
"""
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}", extra=extra))
    r = run_cli("rotate", "BROKEN", "APP_TOKEN", cwd=tmp_path)
    assert r.code == 1
    assert "BROKEN: FAILED (exit 1)" in r.out and "APP_TOKEN: completed" in r.out
    r = run_cli("rotate", "NOPE", "APP_TOKEN", cwd=tmp_path)
    assert r.code == 2 and "no secret named 'NOPE'" in r.err and "APP_TOKEN, BROKEN" in r.err


def test_due_honours_the_policy_kind_schedules(tmp_path: Path, vault_env: dict[str, str], unique: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``rotate --due`` picks a secret by its kind's default max_age: 31 days after a
    rotation a high-privilege token (30d) is due, an external API key (90d) and a webhook
    signing secret (180d) are not; at 91 days the API key is due too."""
    import os
    from datetime import timedelta

    from keyturn.manifest import load_manifest
    from keyturn.rotation import planning
    from keyturn.rotation.context import Progress, Runtime
    from keyturn.rotation.lifecycle import rotate
    from keyturn.rotation.record import utcnow

    kinds = {"ADMIN": "high-privilege-token", "VENDOR": "external-api-key", "HOOK": "webhook-signing-secret"}
    secrets_yaml = "".join(f"""\
  {name}:
    store: bao
    path: kinds/{unique}/{name}
    generator: {{type: hex}}
    policy: {{kind: {kind}}}
""" for name, kind in kinds.items())
    (tmp_path / "keyturn.yml").write_text(f"""\
version: 1
audit: {{log: logs/audit.jsonl, evidence_dir: logs/evidence}}
stores:
  bao: {{type: openbao, mount: secret}}
secrets:
{secrets_yaml}""")
    monkeypatch.setenv("KEYTURN_AUDIT_KEY_V1", "f" * 32)
    start = utcnow()
    offset = {"days": 0}

    def clock():  # type: ignore[no-untyped-def]
        return start + timedelta(days=offset["days"])

    rt = Runtime(load_manifest(tmp_path / "keyturn.yml"), dict(os.environ), Progress(quiet=True), clock=clock)
    for name in kinds:
        rotate(rt, name)
    assert planning.due_secrets(rt, list(kinds)) == []
    offset["days"] = 31
    assert planning.due_secrets(rt, list(kinds)) == ["ADMIN"]
    offset["days"] = 91
    assert planning.due_secrets(rt, list(kinds)) == ["ADMIN", "VENDOR"]
    offset["days"] = 181
    assert planning.due_secrets(rt, list(kinds)) == ["ADMIN", "VENDOR", "HOOK"]


def _count_journal_writes(monkeypatch: pytest.MonkeyPatch) -> list[dict]:  # type: ignore[type-arg]
    """Every journal write (the store's bookkeeping record) a rotation makes, decoded."""
    from keyturn.stores.vault import VaultJournal

    writes: list[dict] = []  # type: ignore[type-arg]
    real = VaultJournal.save

    def counting(self: VaultJournal, text: str, token: str) -> str:
        writes.append(json.loads(text))
        return real(self, text, token)

    monkeypatch.setattr(VaultJournal, "save", counting)
    return writes


def _stages(writes: list[dict]) -> list[str | None]:  # type: ignore[type-arg]
    return [(w["op"] or {}).get("stage") if w["op"] is not None else None for w in writes]


def test_journal_is_written_only_at_durability_points(ws: Path, run_cli, vault_env,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """#13 item 5: one secret, three file targets, no smoke check. The journal is written
    where a kill must find the state on re-run — the lease and rotation id before the
    pending write, verified (with the promotion time) before promote, promoted before any
    target write, smoked before a revocation — and the end. Stages with nothing durable
    to add (created, each target, distributed) ride along with the next write."""
    writes = _count_journal_writes(monkeypatch)
    assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    # first rotation: nothing to revoke
    assert _stages(writes) == ["begun", "verified", "promoted", None], _stages(writes)
    final = writes[-1]
    assert [v["role"] for v in final["versions"]] == ["current"]
    writes.clear()
    assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    # second: version 1 stays PREVIOUS in its grace window, still nothing to revoke
    assert _stages(writes) == ["begun", "verified", "promoted", None], _stages(writes)
    writes.clear()
    assert run_cli("rotate", "APP_TOKEN", cwd=ws).code == 0
    # third: version 1 is superseded — smoked (and its RETIRING role) is durable before it is revoked
    assert _stages(writes) == ["begun", "verified", "promoted", "smoked", None], _stages(writes)
    assert {v["version"]: v["role"] for v in writes[-2]["versions"]}["1"] == "retiring"
    assert "1" not in {v["version"] for v in writes[-1]["versions"]}
    assert _env(ws, "out/single.env")["APP_TOKEN"] == _env(ws, "out/dual.env")["APP_TOKEN"]
    ledger = writes[-2]["op"]["ledger"]
    assert sorted(row["status"] for row in ledger.values()) == ["confirmed"] * 3


def test_a_smoke_check_makes_distribution_durable_first(tmp_path: Path, run_cli, vault_env, unique,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A smoke check may take long: the distributed ledger is written before it runs, so a
    kill during the check does not make the re-run write the targets again."""
    smoke = """    smoke:
      - command: ["sh", "-c", "test -n \\"$KEYTURN_VALUE\\""]
"""
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}", smoke=smoke))
    monkeypatch.setenv("KEYTURN_AUDIT_KEY_V1", "f" * 32)
    writes = _count_journal_writes(monkeypatch)
    r = run_cli("rotate", "APP_TOKEN", cwd=tmp_path)
    assert r.code == 0, r.err
    assert _stages(writes) == ["begun", "verified", "promoted", "distributed", None], _stages(writes)
    assert all(row["status"] == "confirmed" for row in writes[3]["op"]["ledger"].values())


def _lease(op: dict) -> Any:  # type: ignore[type-arg]
    """How long a journal write's lease runs (from the operation's first lease)."""
    from keyturn.rotation.record import parse_iso

    return parse_iso(op["lock_expires"]) - parse_iso(op["lock_since"])  # type: ignore[operator]


def test_the_lease_outlasts_a_stage_of_long_checks(tmp_path: Path, run_cli, vault_env, unique,  # type: ignore[no-untyped-def]
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease is renewed only when the journal is written; smoke checks that may take
    40 minutes (timeouts) get a lease of 40 + 5 min from the write before them, so another
    run cannot take a rotation over while its checks are still waiting."""
    from datetime import timedelta

    smoke = """    smoke:
      - command: ["sh", "-c", "true"]
        timeout: 25m
      - command: ["sh", "-c", "true"]
        timeout: 15m
"""
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}", smoke=smoke))
    monkeypatch.setenv("KEYTURN_AUDIT_KEY_V1", "f" * 32)
    writes = _count_journal_writes(monkeypatch)
    r = run_cli("rotate", "APP_TOKEN", cwd=tmp_path)
    assert r.code == 0, r.err
    before_smoke = next(w["op"] for w in writes if w["op"] and w["op"]["stage"] == "distributed")
    lease = _lease(before_smoke)
    assert lease >= timedelta(minutes=45), lease
    # without long checks the default lease stays 15 min
    writes.clear()
    (tmp_path / "keyturn.yml").write_text(_manifest(f"flows/{unique}-short"))
    assert run_cli("rotate", "APP_TOKEN", cwd=tmp_path).code == 0
    first = writes[0]["op"]
    assert _lease(first) <= timedelta(minutes=15)
