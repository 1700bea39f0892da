"""GitHub targets through the whole engine and CLI: the issue's exact manifest forms
against the local fake GitHub API (the real PyGithub client talks to it and the fake
decrypts each sealed box) and a real OpenBao. Covers exact values per target kind,
resume after SIGKILL mid-fan-out (only the remainder is written), a permanent 404 that
fails naming the target while the others are confirmed, and finalize."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.fakes.github_api import FakeGitHub
from tests.invariants_support import Workspace

TARGETS = """\
      - file: deploy/app.env
      - github: acme/api
        environments: [staging, production]
      - github: acme/worker
        shape: dual
        name: WORKER_PROV_SECRET
      - github: acme/worker
        dependabot: true
      - github-org: acme
        visibility: selected
        repositories: [acme/api]
"""


def _ws(tmp_path: Path, openbao, fake: FakeGitHub, extra_targets: str = "") -> Workspace:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao, name="PROV_SECRET", extra_env={
        "GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0"})
    manifest = (ws.root / "keyturn.yml").read_text()
    head, _, _ = manifest.partition("    targets:\n")
    ws.manifest_tail = manifest.split("    validate:\n", 1)[1]  # type: ignore[attr-defined]
    (ws.root / "keyturn.yml").write_text(head + "    targets:\n" + TARGETS + extra_targets + "    validate:\n"
                                         + ws.manifest_tail)  # type: ignore[attr-defined]
    return ws


def _github_values(fake: FakeGitHub) -> dict[str, str | None]:
    return {
        "api@staging": fake.value("acme/api", "PROV_SECRET", environment="staging"),
        "api@production": fake.value("acme/api", "PROV_SECRET", environment="production"),
        "worker": fake.value("acme/worker", "WORKER_PROV_SECRET"),
        "worker@dependabot": fake.value("acme/worker", "PROV_SECRET", dependabot=True),
        "org": fake.value("acme", "PROV_SECRET"),
    }


def test_every_target_kind_receives_the_exact_value(tmp_path: Path, openbao, fake: FakeGitHub) -> None:  # type: ignore[no-untyped-def]
    ws = _ws(tmp_path, openbao, fake)
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    first = ws.reader()
    assert set(_github_values(fake).values()) == {first}
    org = fake.secret("acme", "PROV_SECRET")
    assert org is not None and org.visibility == "selected"
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    current = ws.reader()
    assert current != first and set(_github_values(fake).values()) == {current}
    assert fake.value("acme/worker", "WORKER_PROV_SECRET_PREVIOUS") == first  # dual shape in grace
    assert ws.dotenv("deploy/app.env")["PROV_SECRET"] == current
    # One public-key fetch per scope, in the first run only: the journal keeps the keys
    # (public data) for the next rotation.
    key_gets = [r.path for r in fake.requests("GET", r"/secrets/public-key$")]
    assert len(key_gets) == len(set(key_gets)) == 5
    # finalize removes grace-only entries
    r = ws.run("finalize", "--force")
    assert r.returncode == 0, r.stderr
    assert fake.value("acme/worker", "WORKER_PROV_SECRET_PREVIOUS") is None
    assert fake.value("acme/worker", "WORKER_PROV_SECRET") == current
    for text in (r.stdout, r.stderr, (ws.root / "logs/audit.jsonl").read_text()):
        assert current not in text and first not in text


def test_resume_after_kill_mid_fan_out_writes_only_the_unrecorded_remainder(  # type: ignore[no-untyped-def]
        tmp_path: Path, openbao, fake: FakeGitHub) -> None:
    """The ledger is written every 4 target results (#13 item 5): killed after the 5th of
    6 targets, the re-run skips the 4 recorded ones and writes the 5th (written, not yet
    recorded: at most one batch is repeated) and the 6th."""
    ws = _ws(tmp_path, openbao, fake)
    ws.env["KEYTURN_GITHUB_CONCURRENCY"] = "1"  # "not reached yet" below assumes one write in flight
    assert ws.rotate().returncode == 0
    v1 = ws.reader()
    fake.clear_log()
    r = ws.rotate(fault="distribute-5")  # file, api@staging, api@production, worker, dependabot; then SIGKILL
    assert r.returncode == -signal.SIGKILL
    v2 = ws.reader()
    assert v2 != v1
    values = _github_values(fake)
    assert values["api@staging"] == values["api@production"] == values["worker@dependabot"] == v2
    assert values["org"] == v1  # not reached yet: still PREVIOUS
    recorded = {k for k, row in ws.journal()["op"]["ledger"].items() if row.get("status") == "confirmed"}
    assert len(recorded) == 4, recorded
    fake.clear_log()
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    for done in ("file:deploy/app.env", "github:acme/api@env:staging", "github:acme/api@env:production",
                 "github:acme/worker"):
        assert f"skip {done} " in r.stderr, (done, r.stderr)
    puts = fake.requests("PUT", r"/secrets/[A-Z_]+$")
    # dependabot (written, not recorded): 1; org: 1 — nothing for the four recorded targets
    assert sorted(p.path.split("/")[1] for p in puts) == ["orgs", "repos"], [p.path for p in puts]
    assert set(_github_values(fake).values()) == {v2}


def test_missing_repository_is_found_before_anything_is_written(tmp_path: Path, openbao,  # type: ignore[no-untyped-def]
                                                                  fake: FakeGitHub) -> None:
    """Issue #7 obs. 8: a target that cannot be written is found by the preflight, before
    any PENDING exists or anything is promoted."""
    ws = _ws(tmp_path, openbao, fake, extra_targets="      - github: acme/missing\n")
    r = ws.rotate()
    assert r.returncode == 4, r.stderr
    assert "github:acme/missing" in r.stderr and "404" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert ws.reader() is None and not ws.pending_exists() and ws.metadata() == {}
    assert fake.requests("PUT") == []
    fake.add_repo("acme/missing")
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert fake.value("acme/missing", "PROV_SECRET") == ws.reader()


def test_target_failing_after_promotion_is_recorded_and_resumed(tmp_path: Path, openbao,  # type: ignore[no-untyped-def]
                                                               fake: FakeGitHub) -> None:
    ws = _ws(tmp_path, openbao, fake, extra_targets="      - github: acme/missing\n")
    fake.add_repo("acme/missing")
    fake.inject(r"/repos/acme/missing/actions/secrets/PROV_SECRET$", 404, times=None, method="PUT")
    r = ws.rotate()
    assert r.returncode == 4, r.stderr
    assert "github:acme/missing" in r.stderr and "1 target(s) failed" in r.stderr
    current = ws.reader()
    assert set(_github_values(fake).values()) == {current}
    ledger = ws.journal()["op"]["ledger"]
    assert ledger["github:acme/missing#PROV_SECRET"]["status"] == "failed"
    assert sum(1 for row in ledger.values() if row["status"] == "confirmed") == 6
    distribute = [e for e in ws.audit_events() if e["event"] == "rotation.distribute"]
    assert {e["details"]["target"] for e in distribute} >= {"github:acme/missing", "github-org:acme"}
    # Fix the cause and re-run: only the failed target is written.
    fake.clear_faults()
    fake.clear_log()
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert [p.path for p in fake.requests("PUT", r"/secrets/[A-Z_]+$")] == \
        ["/repos/acme/missing/actions/secrets/PROV_SECRET"]
    assert fake.value("acme/missing", "PROV_SECRET") == current


def test_write_in_the_promotion_second_is_not_taken_as_current(tmp_path: Path, openbao, fake: FakeGitHub,  # type: ignore[no-untyped-def]
                                                                monkeypatch) -> None:
    """GitHub's updated_at and promoted_at have whole-second resolution: a target the
    previous rotation wrote in the same second as this promotion must still be rewritten."""
    import time
    from datetime import UTC, datetime, timedelta

    from keyturn.manifest import load_manifest
    from keyturn.rotation.context import Progress, Runtime
    from keyturn.rotation.lifecycle import rotate

    ws = _ws(tmp_path, openbao, fake)
    frozen = float(int(time.time()))
    fake.clock = lambda: frozen  # every write reports updated_at == this second
    for key, value in ws.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(ws.root)
    clock = lambda: datetime.fromtimestamp(frozen, UTC) + timedelta(milliseconds=500)  # noqa: E731
    rt = Runtime(load_manifest(ws.root / "keyturn.yml"), dict(ws.env), Progress(quiet=True), clock=clock)
    rotate(rt, ws.name)
    first = ws.reader()
    fake.clear_log()
    rt2 = Runtime(load_manifest(ws.root / "keyturn.yml"), dict(ws.env), Progress(quiet=True), clock=clock)
    rotate(rt2, ws.name)  # promoted in the very second the previous writes report
    second = ws.reader()
    assert second != first
    assert set(_github_values(fake).values()) == {second}, "a stale target was taken as current"


def test_rotation_request_floor_counted_by_the_fake(tmp_path: Path, openbao, fake: FakeGitHub) -> None:  # type: ignore[no-untyped-def]
    """What `keyturn rotate` sends to GitHub: one public-key GET per scope, the PUTs, the
    selected repository's id once, and no read-back of a secret after its PUT. (Reads
    before a write are the engine's resume check.)"""
    ws = _ws(tmp_path, openbao, fake)
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    log = [(x.method, x.path, x.status) for x in fake.log]
    keys = [p for m, p, _ in log if p.endswith("/secrets/public-key")]
    puts = [(i, p) for i, (m, p, _) in enumerate(log) if m == "PUT"]
    reads = [(i, p) for i, (m, p, _) in enumerate(log) if m == "GET" and "/secrets/" in p and p not in keys]
    assert len(keys) == len(set(keys)) == 5  # api@staging, api@production, worker, worker@dependabot, org
    assert len(puts) == 5 and all(s == 201 for m, _, s in log if m == "PUT")
    assert [p for m, p, _ in log if p == "/repos/acme/api"] == ["/repos/acme/api"]  # selected id, once
    for i, path in puts:  # the 201/204 is the confirmation: no read-back after a write
        assert all(j < i for j, p in reads if p == path), path
    assert reads == []  # a fresh rotation reads nothing before writing (no resume check)
    assert len(log) == len(keys) + len(puts) + 1 + 1  # + the selected repository's id + the dual DELETE
    # The second rotation: the keys and the repository id come from the journal: PUTs only
    # (+ the dual shape's NAME_PREVIOUS).
    fake.clear_log()
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert [x.method for x in fake.log] == ["PUT"] * 6, [(x.method, x.path) for x in fake.log]
