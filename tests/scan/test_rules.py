"""The provider rule pack: every rule file loads, and every rule's examples behave as declared.

Each positive example must be reported by that rule (through the whole engine: prefilter,
regex, filters, checksum, context) and each negative example must not be; the Python ``re``
prefilter fallback must agree with Hyperscan on every example.
"""

from __future__ import annotations

import re

import pytest

from keyturn.scan.engine import Engine, all_detectors
from keyturn.scan.rulepack import (
    CHECKSUMS,
    RuleError,
    age_bech32,
    load_rules,
    parse_rules,
    rule_finder,
)

RULES = load_rules()
POS = [(r.id, i, ex) for r in RULES for i, ex in enumerate(r.examples)]
NEG = [(r.id, i, ex) for r in RULES for i, ex in enumerate(r.negative_examples)]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(b"test-key")


@pytest.fixture(scope="module")
def engine_re() -> Engine:
    return Engine(b"test-key", use_hyperscan=False)


def _ids(engine: Engine, line: str) -> set[str]:
    return {f.detector for f in engine.scan_text("examples.txt", line + "\n")}


def test_every_rule_has_examples_both_ways() -> None:
    assert len(RULES) >= 150
    for rule in RULES:
        assert rule.examples, rule.id
        assert rule.negative_examples, rule.id


def test_rule_ids_are_unique_across_all_detectors() -> None:
    ids = [d.id for d in all_detectors()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule_id,i,example", POS, ids=[f"{r}-{i}" for r, i, _ in POS])
def test_positive_example_found(engine: Engine, engine_re: Engine, rule_id: str, i: int, example: str) -> None:
    assert rule_id in _ids(engine, example)
    assert rule_id in _ids(engine_re, example)


@pytest.mark.parametrize("rule_id,i,example", NEG, ids=[f"{r}-{i}" for r, i, _ in NEG])
def test_negative_example_not_found(engine: Engine, engine_re: Engine, rule_id: str, i: int, example: str) -> None:
    assert rule_id not in _ids(engine, example)
    assert rule_id not in _ids(engine_re, example)


def test_checksum_names_are_known() -> None:
    """Every ``checksum`` a rule names is in CHECKSUMS (the loader refuses others: see below)."""
    assert {r.checksum for r in RULES if r.checksum} <= set(CHECKSUMS)


def test_age_bech32_checksum() -> None:
    # BIP-173 style: a valid age identity's data part checks, one flipped character does not
    key = next(r for r in RULES if r.id == "age-secret-key").examples[0].split()[-3]
    data = key.removeprefix("AGE-SECRET-KEY-1")
    assert age_bech32(data)
    flipped = data[:-1] + ("Q" if data[-1] != "Q" else "P")
    assert not age_bech32(flipped)


@pytest.mark.parametrize(
    "doc,message",
    [
        ({"provider": "X", "rules": [{"id": "x-key", "pattern": "x", "keywords": ["x"], "regexx": 1}]},
         "unknown key(s) regexx"),
        ({"provider": "X", "rules": [{"id": "x-key", "pattern": "(", "keywords": ["x"]}]}, "bad pattern"),
        ({"provider": "X", "rules": [{"id": "x-key", "pattern": "x"}]}, "needs keywords"),
        ({"provider": "X", "rules": [{"id": "X Key", "pattern": "x", "keywords": ["x"]}]}, "id must be"),
        ({"provider": "X", "rules": [{"id": "x-key", "pattern": "x", "keywords": ["x"], "checksum": "md5"}]},
         "unknown checksum"),
        ({"rules": []}, "needs provider"),
        ({"provider": "X", "rules": [{"id": "x-key", "pattern": "x", "keywords": ["x"], "entropy": "hi"}]},
         "entropy must be a number"),
    ],
)
def test_malformed_rule_files_are_named(doc: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError, match="rules/x.toml") as err:
        parse_rules(doc, "rules/x.toml")
    assert message in str(err.value)


def test_shipped_pack_compiles_on_first_use_and_still_names_a_bad_file() -> None:
    """load_rules() does not compile the patterns (start-up cost); the default group and a
    bad pattern's RuleError come when the rule first runs."""
    ok = {"id": "x-key", "pattern": r"x_(\w+)", "keywords": ["x_"]}
    lazy, eager = (parse_rules({"provider": "X", "rules": [ok]}, "rules/x.toml", compile_patterns=c)[0]
                   for c in (False, True))
    assert (lazy.group, eager.group) == (None, 1)
    line = "token x_Q7vK2pLm9ZtR4wXy8NbC3dFh"
    assert list(rule_finder(lazy)(line, line, 0)) == list(rule_finder(eager)(line, line, 0)) != []
    bad = parse_rules({"provider": "X", "rules": [{**ok, "pattern": "("}]}, "rules/x.toml", compile_patterns=False)
    with pytest.raises(RuleError, match="rules/x.toml: x-key: bad pattern"):
        list(rule_finder(bad[0])("x_", "x_", 0))


def test_prefilter_takes_each_rules_keywords() -> None:
    by_id = {d.id: d for d in all_detectors()}
    for rule in RULES:
        pats = [p for p, _ in by_id[rule.id].prefilter]
        if rule.prefilter:
            assert pats == list(rule.prefilter), rule.id
        else:
            assert pats == [re.escape(k) for k in rule.keywords], rule.id


def test_context_words_start_a_word(engine: Engine) -> None:
    rule = next(r for r in RULES if r.id == "ably-api-key")
    line = rule.examples[0]
    assert "ably-api-key" in _ids(engine, line)
    value = line.split('"')[1]
    assert "ably-api-key" not in _ids(engine, f'probably_key = "{value}"')


def test_examples_are_bare_tokens_and_neutral_json() -> None:
    """Prefix rules are proven on a log line and a JSON value with a neutral key, not an assignment."""
    for rule in RULES:
        if not rule.context:
            assert any(" DEBUG " in ex for ex in rule.examples), rule.id
            assert any(ex.startswith('{"value": ') for ex in rule.examples), rule.id
