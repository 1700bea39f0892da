"""Hash-chained audit log: append, verify, tamper detection, chain-key rotation, concurrency."""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keyturn.audit import (
    GENESIS_DIGEST,
    AuditLog,
    Keyring,
    canonical,
    compute_digest,
    verify_log,
)
from keyturn.errors import AuditVerifyFailed, ExitCode, UsageError
from keyturn.values import SecretValue

KEY1 = "v1-chain-key-0123456789abcdef"
KEY2 = "v2-chain-key-fedcba9876543210"
ENV1 = {"KEYTURN_AUDIT_KEY_V1": KEY1}
ENV12 = {"KEYTURN_AUDIT_KEY_V1": KEY1, "KEYTURN_AUDIT_KEY_V2": KEY2}
CANARY = "canary-Zq8#pL2v!9xW-value"


def fixed_clock(start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> Callable[[], datetime]:
    ticks = iter(range(1_000_000))
    return lambda: start + timedelta(seconds=next(ticks))


def make_log(path: Path, env: dict[str, str], n: int, **kw: Any) -> AuditLog:
    log = AuditLog(path, Keyring.from_env(env), environ={"GITHUB_ACTOR": "octocat"}, **kw)
    for i in range(n):
        log.append(
            "rotation.distribute",
            secret="db/prod",
            store="vault",
            versions={"current": str(i + 2), "previous": str(i + 1)},
            rotation_id="r-1",
            details={"target": f"repo:o/r{i}", "attempts": 1},
        )
    return log


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def rewrite(path: Path, new: list[str]) -> None:
    path.write_text("".join(new))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "security_audit.jsonl"


# -- round trips --------------------------------------------------------------------


def test_keyed_round_trip(log_path: Path) -> None:
    log = make_log(log_path, ENV1, 5)
    records = [json.loads(line) for line in lines(log_path)]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    assert records[0]["prev_digest"] == GENESIS_DIGEST
    assert all(b["prev_digest"] == a["digest"] for a, b in itertools.pairwise(records))
    first = records[0]
    assert first["ts"].endswith("Z") and first["key_version"] == 1 and first["actor"] == "octocat"
    assert set(first) == {
        "ts",
        "seq",
        "event",
        "secret",
        "store",
        "versions",
        "mode",
        "actor",
        "reason",
        "rotation_id",
        "details",
        "key_version",
        "prev_digest",
        "digest",
    }
    assert compute_digest(first, Keyring.from_env(ENV1)) == first["digest"]
    assert (
        canonical(first)
        == json.dumps(
            {k: v for k, v in first.items() if k != "digest"},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
    )
    report = verify_log(log_path, Keyring.from_env(ENV1))
    assert report.ok and report.records == 5 and report.first_bad_line is None
    assert report.head == records[-1]["digest"] == log.head()[1] and report.warning is None
    # Wrong key: named as a digest mismatch on line 1.
    wrong = verify_log(log_path, Keyring.from_env({"KEYTURN_AUDIT_KEY_V1": "x" * 32}))
    assert not wrong.ok and wrong.reason.startswith("line 1: digest mismatch")


def test_unkeyed_round_trip_warns(log_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    keyring = Keyring.from_env({})
    assert keyring.warning and "KEYTURN_AUDIT_KEY_V1" in keyring.warning
    with caplog.at_level(logging.WARNING, logger="keyturn.audit"):
        make_log(log_path, {}, 3)
    assert any("not keyed" in r.getMessage() for r in caplog.records)
    assert all(json.loads(line)["key_version"] == 0 for line in lines(log_path))
    report = verify_log(log_path, keyring)
    assert report.ok and report.records == 3 and report.warning


def test_actor_default_and_event_validation(log_path: Path) -> None:
    log = AuditLog(log_path, Keyring.from_env(ENV1), environ={})
    assert "@" in log.append("rotation.begin")["actor"]
    assert log.append("rotation.begin", actor="bot")["actor"] == "bot"
    for bad in ("Rotation.begin", "rotation", "rotation.", "rotation.be-gin"):
        with pytest.raises(ValueError):
            log.append(bad)
    assert log.append("rotation.smoke_check.http")["seq"] == 3


def test_missing_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nope.jsonl"):
        verify_log(tmp_path / "nope.jsonl", Keyring.from_env(ENV1))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    report = verify_log(empty, Keyring.from_env(ENV1))
    assert report.ok and report.records == 0 and report.head == GENESIS_DIGEST


# -- tampering ---------------------------------------------------------------------


def _verify(path: Path, env: dict[str, str] = ENV1, **kw: Any) -> Any:
    report = verify_log(path, Keyring.from_env(env), **kw)
    assert not report.ok
    return report


def test_edited_field(log_path: Path) -> None:
    make_log(log_path, ENV1, 8)
    content = lines(log_path)
    record = json.loads(content[6])
    record["reason"] = "nothing to see"
    content[6] = json.dumps(record) + "\n"
    rewrite(log_path, content)
    report = _verify(log_path)
    assert report.first_bad_line == 7 and report.records == 6
    assert report.reason == "line 7: digest mismatch (record edited or wrong key)"
    with pytest.raises(AuditVerifyFailed, match="line 7") as exc:
        report.raise_for_failure()
    assert exc.value.exit_code == ExitCode.CHECK_FAILED


def test_deleted_middle_line(log_path: Path) -> None:
    make_log(log_path, ENV1, 8)
    content = lines(log_path)
    del content[4]
    rewrite(log_path, content)
    report = _verify(log_path)
    assert report.first_bad_line == 5
    assert report.reason == (
        "line 5: prev_digest does not match line 4 (a line was deleted, inserted or reordered)"
    )


def test_deleted_first_line(log_path: Path) -> None:
    make_log(log_path, ENV1, 3)
    rewrite(log_path, lines(log_path)[1:])
    assert "genesis" in _verify(log_path).reason


def test_inserted_forged_line(log_path: Path) -> None:
    make_log(log_path, ENV1, 6)
    content = lines(log_path)
    forged = json.loads(content[3])
    forged.update(seq=5, event="rotation.complete", prev_digest=forged["digest"], digest="ab" * 32)
    content.insert(4, json.dumps(forged) + "\n")
    rewrite(log_path, content)
    report = _verify(log_path)
    assert report.first_bad_line == 5 and "digest mismatch" in report.reason


def test_inserted_copy_of_a_line(log_path: Path) -> None:
    make_log(log_path, ENV1, 6)
    content = lines(log_path)
    content.insert(4, content[1])
    rewrite(log_path, content)
    assert _verify(log_path).first_bad_line == 5


def test_swapped_lines(log_path: Path) -> None:
    make_log(log_path, ENV1, 6)
    content = lines(log_path)
    content[2], content[3] = content[3], content[2]
    rewrite(log_path, content)
    report = _verify(log_path)
    assert report.first_bad_line == 3 and "prev_digest does not match line 2" in report.reason


def test_wrong_seq_named(log_path: Path) -> None:
    # Only an unkeyed chain can be re-sealed by an editor; seq still catches renumbering.
    make_log(log_path, {}, 6)
    content = [json.loads(line) for line in lines(log_path)]
    content[4]["seq"] = 6
    content[4]["digest"] = compute_digest(content[4], Keyring())
    rewrite(log_path, [json.dumps(r) + "\n" for r in content])
    assert _verify(log_path, {}).reason == "line 5: seq 6 expected 5"


def test_truncated_last_line(log_path: Path) -> None:
    make_log(log_path, ENV1, 4)
    data = log_path.read_bytes()
    log_path.write_bytes(data[:-40])
    report = _verify(log_path)
    assert report.first_bad_line == 4 and "not valid JSON" in report.reason
    assert report.records == 3


def test_non_json_line(log_path: Path) -> None:
    make_log(log_path, ENV1, 4)
    content = lines(log_path)
    content.insert(2, "hello world\n")
    rewrite(log_path, content)
    assert _verify(log_path).reason == "line 3: not valid JSON"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"seq": NaN}', "line 2: not valid JSON"),
        ("[1, 2]", "line 2: not a JSON object"),
        ("\n", "line 2: empty line"),
    ],
)
def test_odd_lines(log_path: Path, line: str, reason: str) -> None:
    make_log(log_path, ENV1, 3)
    content = lines(log_path)
    content.insert(1, line if line.endswith("\n") else line + "\n")
    rewrite(log_path, content)
    assert _verify(log_path).reason == reason


@pytest.mark.parametrize("digest", ["é" * 64, "AB" * 32, 7])
def test_malformed_digest(log_path: Path, digest: Any) -> None:
    make_log(log_path, ENV1, 3)
    content = lines(log_path)
    record = json.loads(content[1])
    record["digest"] = digest
    content[1] = json.dumps(record, ensure_ascii=False) + "\n"
    rewrite(log_path, content)
    report = _verify(log_path)
    assert report.first_bad_line == 2 and "digest" in report.reason


def test_tail_truncation_needs_an_anchor(log_path: Path) -> None:
    log = make_log(log_path, ENV1, 6)
    count, head = log.head()
    assert count == 6
    rewrite(log_path, lines(log_path)[:4])
    keyring = Keyring.from_env(ENV1)
    assert verify_log(log_path, keyring).ok  # a chain alone cannot see it
    by_count = verify_log(log_path, keyring, expect_count=count)
    assert not by_count.ok and by_count.first_bad_line == 5 and "deleted" in by_count.reason
    by_head = verify_log(log_path, keyring, expect_head=head)
    assert not by_head.ok and "not found" in by_head.reason


def test_anchor_still_found_after_growth(log_path: Path) -> None:
    log = make_log(log_path, ENV1, 3)
    count, head = log.head()
    log.append("rotation.retire", secret="db/prod")
    keyring = Keyring.from_env(ENV1)
    assert verify_log(log_path, keyring, expect_count=count, expect_head=head).ok
    assert not verify_log(log_path, keyring, expect_count=2, expect_head=head).ok


def test_append_refuses_corrupt_last_line(log_path: Path) -> None:
    log = make_log(log_path, ENV1, 3)
    good = log_path.read_bytes()
    log_path.write_bytes(good[:-25])
    with pytest.raises(UsageError, match="not valid JSON"):
        log.append("rotation.begin")
    edited = good.decode().splitlines(keepends=True)
    record = json.loads(edited[-1])
    record["secret"] = "other"
    edited[-1] = json.dumps(record) + "\n"
    rewrite(log_path, edited)
    with pytest.raises(UsageError, match="digest mismatch"):
        log.append("rotation.begin")
    assert len(lines(log_path)) == 3


def test_append_refuses_unkeyed_extension_of_keyed_log(log_path: Path) -> None:
    make_log(log_path, ENV1, 2)
    with pytest.raises(UsageError, match="KEYTURN_AUDIT_KEY_V1"):
        AuditLog(log_path, Keyring(), environ={}).append("rotation.begin")


def test_unkeyed_records_rejected_in_keyed_log(log_path: Path) -> None:
    make_log(log_path, {}, 2)
    # Issue #7 observation 9: adding a key later was a dead end naming an option the CLI lacks.
    with pytest.raises(UsageError, match=r"unkeyed chain: adopt KEYTURN_AUDIT_KEY_V1 first with `keyturn audit rekey"):
        make_log(log_path, ENV1, 1)
    report = _verify(log_path)
    assert report.first_bad_line == 1 and "keyturn audit rekey --reason TEXT" in report.reason
    assert "allow_unkeyed" not in report.reason
    assert verify_log(log_path, Keyring.from_env(ENV1), allow_unkeyed=True).ok


def test_rekey_adopts_a_key_for_an_unkeyed_chain(log_path: Path) -> None:
    make_log(log_path, {}, 3)
    log = AuditLog(log_path, Keyring.from_env(ENV1), environ={"GITHUB_ACTOR": "octocat"})
    record = log.rekey(reason="adopt the chain key")
    assert record is not None and record["event"] == "audit.rekey" and record["key_version"] == 1
    assert record["details"] == {"from_key_version": 0, "to_key_version": 1, "records_before": 3}
    assert log.rekey(reason="again") is None  # already adopted: nothing written
    make_log(log_path, ENV1, 2)  # keyed appends continue the chain
    report = verify_log(log_path, Keyring.from_env(ENV1))
    assert report.ok and report.records == 6 and report.key_versions == (0, 1)
    # From now on the key is required: without it, and for any later unkeyed record.
    assert "KEYTURN_AUDIT_KEY_V1" in _verify(log_path, {}).reason
    with pytest.raises(UsageError, match="signed with KEYTURN_AUDIT_KEY_V1"):
        AuditLog(log_path, Keyring(), environ={}).append("rotation.begin")
    # The rekey's HMAC covers the unkeyed prefix: editing it breaks the chain there.
    edited = lines(log_path)
    first = json.loads(edited[0])
    first["actor"] = "mallory"
    first["digest"] = compute_digest(first, Keyring())
    rewrite(log_path, [json.dumps(first) + "\n", *edited[1:]])
    assert _verify(log_path).first_bad_line == 2


def test_rekey_refuses_without_a_key_or_reason_and_verifies_first(log_path: Path) -> None:
    make_log(log_path, {}, 2)
    with pytest.raises(UsageError, match="no chain key is set"):
        AuditLog(log_path, Keyring(), environ={}).rekey(reason="x")
    with pytest.raises(UsageError, match="--reason"):
        AuditLog(log_path, Keyring.from_env(ENV1), environ={}).rekey(reason=" ")
    rewrite(log_path, lines(log_path)[1:])  # a deleted first line is not adopted
    with pytest.raises(AuditVerifyFailed, match="line 1"):
        AuditLog(log_path, Keyring.from_env(ENV1), environ={}).rekey(reason="adopt")
    assert len(lines(log_path)) == 1


def test_keyed_record_after_unkeyed_without_rekey_is_rejected(log_path: Path) -> None:
    make_log(log_path, {}, 2)
    keyring = Keyring.from_env(ENV1)
    rows = [json.loads(line) for line in lines(log_path)]
    forged = dict(rows[1], seq=3, prev_digest=rows[1]["digest"], key_version=1, ts="2030-01-01T00:00:00.000000Z")
    forged["digest"] = compute_digest(forged, keyring)
    rewrite(log_path, [*lines(log_path), json.dumps(forged) + "\n"])
    report = _verify(log_path)
    assert report.first_bad_line == 3 and "without an audit.rekey record" in report.reason


def _resign(path: Path, keyring: Keyring, edit: Callable[[int, dict[str, Any]], dict[str, Any]]) -> None:
    """Rewrite the chain with ``edit`` applied to each record, every digest recomputed."""
    prev, out = GENESIS_DIGEST, []
    for i, line in enumerate(lines(path), start=1):
        record = edit(i, json.loads(line))
        record["prev_digest"] = prev
        record["digest"] = prev = compute_digest(record, keyring)
        out.append(json.dumps(record) + "\n")
    rewrite(path, out)


def test_key_version_going_backwards_is_rejected(log_path: Path) -> None:
    # Issue #8 item 5: V2-era records re-signed with the retired V1 must not verify.
    make_log(log_path, ENV12 | {"KEYTURN_AUDIT_KEY_ACTIVE_VERSION": "1"}, 2, clock=fixed_clock())
    make_log(log_path, ENV12, 3, clock=fixed_clock(datetime(2026, 2, 1, tzinfo=UTC)))
    with pytest.raises(UsageError, match="would go backwards"):
        make_log(log_path, ENV12 | {"KEYTURN_AUDIT_KEY_ACTIVE_VERSION": "1"}, 1)
    keyring = Keyring.from_env(ENV12)
    _resign(log_path, keyring, lambda i, r: dict(r, key_version=1) if i == 5 else r)
    report = verify_log(log_path, keyring)
    assert not report.ok and report.first_bad_line == 5
    assert "key_version 1 goes backwards (line 4 is signed with V2)" in report.reason


def test_timestamps_going_backwards_are_rejected(log_path: Path) -> None:
    make_log(log_path, ENV1, 4, clock=fixed_clock())
    keyring = Keyring.from_env(ENV1)
    _resign(log_path, keyring, lambda i, r: dict(r, ts="2025-12-31T00:00:00.000000Z") if i == 3 else r)
    report = verify_log(log_path, keyring)
    assert not report.ok and report.first_bad_line == 3
    assert "earlier than line 2's 2026-01-01T00:00:01.000000Z" in report.reason
    _resign(log_path, keyring, lambda i, r: dict(r, ts="yesterday") if i == 3 else r)
    assert "not an ISO-8601 time" in _verify(log_path).reason


def test_append_never_writes_a_timestamp_before_the_last(log_path: Path) -> None:
    make_log(log_path, ENV1, 1, clock=fixed_clock(datetime(2026, 5, 1, tzinfo=UTC)))
    make_log(log_path, ENV1, 1, clock=fixed_clock(datetime(2026, 4, 1, tzinfo=UTC)))  # a slower runner
    stamps = [json.loads(line)["ts"] for line in lines(log_path)]
    assert stamps == ["2026-05-01T00:00:00.000000Z", "2026-05-01T00:00:00.000000Z"]
    assert verify_log(log_path, Keyring.from_env(ENV1)).ok


def test_duplicated_json_keys_are_rejected(log_path: Path) -> None:
    make_log(log_path, ENV1, 2)
    keyring = Keyring.from_env(ENV1)
    rows = lines(log_path)
    record = json.loads(rows[1])
    record["actor"] = "root@vm"
    record["digest"] = compute_digest(record, keyring)  # what a last-key-wins reader verifies
    text = json.dumps(record)
    forged = text.replace('"actor": "root@vm"', '"actor": "mallory", "actor": "root@vm"')
    assert forged != text
    rewrite(log_path, [rows[0], forged + "\n"])
    report = verify_log(log_path, keyring)
    assert not report.ok and report.first_bad_line == 2
    assert report.reason == "line 2: duplicate key 'actor' (a reader could take either value)"
    with pytest.raises(UsageError, match="duplicate key 'actor'"):
        make_log(log_path, ENV1, 1)
    nested = text.replace('"attempts": 1', '"attempts": 1, "attempts": 2')
    assert nested != text
    rewrite(log_path, [rows[0], nested + "\n"])
    assert "duplicate key 'attempts'" in _verify(log_path).reason


def test_cli_audit_rekey(log_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_log(log_path, {}, 2)
    for name in list(__import__("os").environ):
        if name.startswith("KEYTURN_AUDIT_KEY"):
            monkeypatch.delenv(name)
    r = run_cli("audit", "rekey", "--log", str(log_path), "--reason", "adopt")
    assert r.code == 2 and "no chain key is set" in r.err and len(r.err.splitlines()) == 1
    monkeypatch.setenv("KEYTURN_AUDIT_KEY_V1", KEY1)
    r = run_cli("audit", "verify", "--log", str(log_path))
    assert r.code == 1 and "keyturn audit rekey --reason TEXT" in r.err
    r = run_cli("audit", "rekey", "--log", str(log_path))
    assert r.code == 2 and "--reason" in r.err
    r = run_cli("audit", "rekey", "--log", str(log_path), "--reason", "adopt the key")
    assert r.code == 0, r.err
    assert r.out == f"{log_path}: line 3 audit.rekey adopts KEYTURN_AUDIT_KEY_V1; verification now requires it\n"
    assert run_cli("audit", "verify", "--log", str(log_path)).code == 0
    r = run_cli("audit", "rekey", "--log", str(log_path), "--reason", "again")
    assert r.code == 0 and "nothing to adopt" in r.out
    assert json.loads(lines(log_path)[-1])["reason"] == "adopt the key"


# -- chain-key rotation --------------------------------------------------------------


def test_key_rotation(log_path: Path) -> None:
    make_log(log_path, ENV12 | {"KEYTURN_AUDIT_KEY_ACTIVE_VERSION": "1"}, 3)
    make_log(log_path, ENV12, 3)  # default active = highest
    versions = [json.loads(line)["key_version"] for line in lines(log_path)]
    assert versions == [1, 1, 1, 2, 2, 2]
    report = verify_log(log_path, Keyring.from_env(ENV12))
    assert report.ok and report.key_versions == (1, 2)
    only_v2 = _verify(log_path, {"KEYTURN_AUDIT_KEY_V2": KEY2})
    assert only_v2.first_bad_line == 1
    assert only_v2.reason == "line 1: key_version 1 is not configured (set KEYTURN_AUDIT_KEY_V1)"


def test_not_after_window(log_path: Path) -> None:
    clock = fixed_clock(datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC))
    make_log(log_path, ENV1, 4, clock=clock)  # ts 23:59:58, :59, 00:00:00, :01
    assert (
        verify_log(
            log_path, Keyring.from_env(ENV1 | {"KEYTURN_AUDIT_KEY_V1_NOT_AFTER": "2026-03-01"})
        ).first_bad_line
        == 3
    )
    report = _verify(log_path, ENV1 | {"KEYTURN_AUDIT_KEY_V1_NOT_AFTER": "2026-03-01T23:59:59Z"})
    assert report.first_bad_line == 3 and "NOT_AFTER" in report.reason
    assert verify_log(
        log_path, Keyring.from_env(ENV1 | {"KEYTURN_AUDIT_KEY_V1_NOT_AFTER": "2026-03-02T00:00:01+00:00"})
    ).ok
    expired = ENV1 | {"KEYTURN_AUDIT_KEY_V1_NOT_AFTER": "2020-01-01T00:00:00Z"}
    with pytest.raises(UsageError, match="expired"):
        make_log(log_path, expired, 1)


def test_keyring_from_env_errors() -> None:
    with pytest.raises(UsageError, match="shorter than 16"):
        Keyring.from_env({"KEYTURN_AUDIT_KEY_V1": "short"})
    with pytest.raises(UsageError, match="KEYTURN_AUDIT_KEY_V3 is not set"):
        Keyring.from_env(ENV1 | {"KEYTURN_AUDIT_KEY_ACTIVE_VERSION": "3"})
    with pytest.raises(UsageError, match="NOT_AFTER"):
        Keyring.from_env(ENV1 | {"KEYTURN_AUDIT_KEY_V1_NOT_AFTER": "soon"})
    keyring = Keyring.from_env(ENV12 | {"KEYTURN_AUDIT_KEY_V3": ""})
    assert keyring.versions == (1, 2) and keyring.active_version == 2
    assert KEY1 not in repr(keyring) and KEY2 not in repr(keyring)


# -- concurrency ---------------------------------------------------------------------


def _appender(path: str, worker: int, count: int) -> None:
    log = AuditLog(path, Keyring.from_env(ENV1), environ={"GITHUB_ACTOR": f"w{worker}"})
    for i in range(count):
        log.append("rotation.distribute", details={"worker": worker, "i": i})


def test_concurrent_appenders(log_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_appender, args=(str(log_path), w, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    report = verify_log(log_path, Keyring.from_env(ENV1))
    assert report.ok and report.records == 200
    seen = {(r["details"]["worker"], r["details"]["i"]) for r in map(json.loads, lines(log_path))}
    assert len(seen) == 200


# -- values never --------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "secret",
        "store",
        "mode",
        "actor",
        "reason",
        "rotation_id",
        "versions",
        "details",
        "nested",
        "listed",
    ],
)
def test_secret_value_rejected(log_path: Path, where: str) -> None:
    canary = SecretValue(CANARY, mask=False)
    kwargs: dict[str, Any] = {
        "versions": {"versions": {"current": canary}},
        "details": {"details": {"value": canary}},
        "nested": {"details": {"a": {"b": [1, {"c": canary}]}}},
        "listed": {"details": {"targets": ["x", canary]}},
    }.get(where, {where: canary})
    log = AuditLog(log_path, Keyring.from_env(ENV1), environ={})
    with pytest.raises(TypeError, match="SecretValue") as exc:
        log.append("rotation.create", **kwargs)
    assert CANARY not in str(exc.value)
    with pytest.raises(TypeError):
        log.append("rotation.create", details={"raw": CANARY.encode()})
    assert not log_path.exists() or CANARY not in log_path.read_text()


def test_keyed_fingerprint_is_the_only_value_trace(log_path: Path) -> None:
    canary = SecretValue(CANARY, mask=False)
    log = AuditLog(log_path, Keyring.from_env(ENV1), environ={})
    fp = canary.fingerprint(b"fingerprint-key-0123456789")
    log.append("rotation.create", details={"fingerprint": fp})
    text = log_path.read_text()
    assert fp in text and all(form not in text for form in canary.derived_forms())


# -- symlinks and modes (issue #8 item 7) --------------------------------------------


def test_audit_log_symlink_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text("")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "security_audit.jsonl").symlink_to(elsewhere)
    with pytest.raises(UsageError, match="is a symlink"):
        make_log(tmp_path / "logs" / "security_audit.jsonl", ENV1, 1)
    assert elsewhere.read_text() == ""


def test_audit_log_directory_symlink_below_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "logs").symlink_to(outside)
    log = AuditLog(repo / "logs" / "audit.jsonl", Keyring.from_env(ENV1), environ={}, root=repo)
    with pytest.raises(UsageError, match="logs: it is a symlink"):
        log.append("rotation.begin")
    assert list(outside.iterdir()) == []


def test_audit_directories_are_0750_under_umask_000(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0)
    try:
        make_log(tmp_path / "a" / "b" / "audit.jsonl", ENV1, 1)
    finally:
        os.umask(old)
    for d in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o750, d
