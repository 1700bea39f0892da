"""Every detector and filter: positive and negative fixtures (tests/scan/fixtures/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyturn.scan.engine import Engine, all_detectors
from keyturn.scan.rulepack import load_rules
from tests.scan._support import FIXTURES, expected, fixture_cases

CASES = fixture_cases()


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(b"test-key")


@pytest.fixture(scope="module")
def engine_re() -> Engine:
    return Engine(b"test-key", use_hyperscan=False)


@pytest.mark.parametrize("name,path", CASES, ids=[c[0] for c in CASES])
def test_fixture(engine: Engine, name: str, path: Path) -> None:
    detector, lines = expected(path)
    found = engine.scan_bytes(path.name, path.read_bytes())
    got = sorted((f.detector, f.line) for f in found)
    if detector is None:
        assert got == [], f"{name}: unexpected findings {got}"
    else:
        assert got == sorted((detector, n) for n in lines)


@pytest.mark.parametrize("name,path", CASES, ids=[c[0] for c in CASES])
def test_re_fallback_matches_hyperscan(engine: Engine, engine_re: Engine, name: str, path: Path) -> None:
    data = path.read_bytes()
    assert engine_re.scan_bytes(path.name, data) == engine.scan_bytes(path.name, data)


def test_every_detector_has_positive_and_negative_fixture() -> None:
    # live-secret is value-based (test_live.py); provider rules carry their own examples (test_rules.py)
    ids = {d.id for d in all_detectors()} - {"live-secret"} - {r.id for r in load_rules()}
    for kind in ("positive", "negative"):
        covered = {p.name.split(".")[0] for p in (FIXTURES / kind).iterdir()}
        assert ids <= covered, f"{kind} fixtures missing for {sorted(ids - covered)}"


def test_required_detector_ids_exist() -> None:
    ids = {d.id for d in all_detectors()}
    assert {
        "github-token",
        "gitlab-token",
        "slack-token",
        "slack-webhook",
        "stripe-key",
        "openai-key",
        "anthropic-key",
        "google-api-key",
        "aws-access-key",
        "azure-storage-key",
        "azure-sas",
        "npm-token",
        "pypi-token",
        "private-key",
        "jwt",
        "url-credentials",
        "generic-secret",
        "twilio-key",
        "mailchimp-key",
        "sendgrid-key",
    } <= ids
    assert len(ids) == len(all_detectors()), "detector ids must be unique"


def test_private_key_one_finding_at_begin_line(engine: Engine) -> None:
    path = FIXTURES / "positive" / "private-key.pem.txt"
    found = [f for f in engine.scan_bytes("k.pem", path.read_bytes()) if f.line == 3]
    assert len(found) == 1
    assert found[0].end_line > found[0].line  # region spans the key block


def test_columns_are_one_based_and_unicode_safe(engine: Engine, fakes) -> None:  # type: ignore[no-untyped-def]
    token = fakes.github()
    text = f"# café ünïcödé\nnote = 'é' ; t = \"{token}\"\n"
    [f] = engine.scan_text("u.py", text)
    line = text.splitlines()[1]
    assert (f.line, f.column, f.end_column) == (2, line.index(token) + 1, line.index(token) + len(token) + 1)


def test_pragma_allowlist_same_line_and_nextline(engine: Engine, fakes) -> None:  # type: ignore[no-untyped-def]
    t1, t2, t3 = fakes.github(), fakes.github(), fakes.github()
    text = (
        f'a = "{t1}"  # pragma: allowlist secret\n'
        "# pragma: allowlist nextline secret\n"
        f'b = "{t2}"\n'
        f'c = "{t3}"\n'
    )
    assert [f.line for f in engine.scan_text("p.py", text)] == [4]
    assert [f.line for f in engine.scan_text("p.py", text.replace("\n", "\r\n"))] == [4]


def test_specific_detector_wins_over_generic(engine: Engine, fakes) -> None:  # type: ignore[no-untyped-def]
    found = engine.scan_text("s.py", f'api_token = "{fakes.github()}"\n')
    assert [f.detector for f in found] == ["github-token"]


def test_finding_never_holds_the_value(engine: Engine, fakes) -> None:  # type: ignore[no-untyped-def]
    token = fakes.stripe()
    [f] = engine.scan_text("v.py", f'k = "{token}"\n')
    blob = repr(f) + str(f.to_json())
    assert token not in blob and token[8:20] not in blob


def test_lock_file_and_integrity_hashes_are_not_findings(engine: Engine) -> None:
    text = '"integrity": "sha512-Q0b8aRXnQ9ehb0J1m2UX1Sx4/8Bxb2Cv1vTqq8P6Q1Zr2WqVvlP0yHq6HKx9E1z3Kd5OjQ1Y9Wy0H0y5b1Q=="\n'
    assert engine.scan_text("package.json", text) == []


def test_generic_in_megabyte_minified_line(engine: Engine, fakes) -> None:  # type: ignore[no-untyped-def]
    pw = fakes.password()
    blob = '{"items":[' + ",".join(f'{{"id":{i},"name":"n{i}"}}' for i in range(30000))
    text = blob + f'],"db_password":"{pw}","x":1}}\n'
    [f] = engine.scan_text("config.json", text)
    assert f.detector == "generic-secret" and f.column == text.index(pw) + 1


def test_same_span_reported_once_by_the_format_detector(engine: Engine, fakes) -> None:  # type: ignore[no-untyped-def]
    text = f"//npm.pkg.github.com/:_authToken={fakes.github()}\n"
    assert [f.detector for f in engine.scan_text(".npmrc", text)] == ["github-token"]
    text = "//registry.npmjs.org/:_authToken=" + fakes.s(36) + "\n"
    assert [f.detector for f in engine.scan_text(".npmrc", text)] == ["npm-token"]


def test_stripe_test_and_publishable_keys_not_generic(engine: Engine, fakes) -> None:  # type: ignore[no-untyped-def]
    for prefix in ("sk_test_", "pk_test_", "pk_live_", "rk_test_"):
        text = f'stripe.api_key = "{prefix}{fakes.s(24)}"\nstripe_secret_key = "{prefix}{fakes.s(24)}"\n'
        assert engine.scan_text("app.py", text) == []
