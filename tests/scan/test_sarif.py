"""SARIF 2.1.0: schema-valid, stable rules and fingerprints, redacted, repo-relative."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from keyturn.scan.engine import all_detectors
from tests.scan._support import Fakes, run_scan

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "sarif-schema-2.1.0.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _sarif(root: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    res = run_scan([str(root), "--format", "sarif", *extra])
    assert res.code in (0, 1), res.err
    return json.loads(res.out)  # type: ignore[no-any-return]


def test_sarif_validates_against_official_schema(tmp_path: Path, fakes: Fakes, validator) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "dir with space").mkdir()
    (tmp_path / "dir with space" / "a.py").write_text(f'token = "{fakes.github()}"\n')
    (tmp_path / "b.env").write_text(f"DB_PASSWORD={fakes.password()}\n")
    doc = _sarif(tmp_path)
    validator.validate(doc)
    assert len(doc["runs"]) == 1 and len(doc["runs"][0]["results"]) == 2
    clean = tmp_path / "clean"
    clean.mkdir()
    validator.validate(_sarif(clean))


def test_rules_and_results_shape(tmp_path: Path, fakes: Fakes) -> None:
    token = fakes.github()
    (tmp_path / "a.py").write_text(f'\n\ntoken = "{token}"\n')
    doc = _sarif(tmp_path)
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "keyturn" and driver["semanticVersion"]
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == {f"keyturn/{d.id}" for d in all_detectors()}
    for rule in rules.values():
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"]
        assert "security" in rule["properties"]["tags"]
        assert 0 < float(rule["properties"]["security-severity"]) <= 10
        assert rule["properties"]["precision"] in ("high", "medium")
    [res] = doc["runs"][0]["results"]
    assert res["ruleId"] == "keyturn/github-token"
    assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "a.py"
    assert loc["region"]["startLine"] == 3 and loc["region"]["startColumn"] == 10
    assert loc["region"]["snippet"]["text"] == "<redacted:github-token>"
    assert "a.py" in res["message"]["text"] and "GitHub token" in res["message"]["text"]
    text = json.dumps(doc)
    assert token not in text and token[4:16] not in text


def test_fingerprints_stable_across_runs_and_line_moves(tmp_path: Path, fakes: Fakes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    token = fakes.github()
    f = tmp_path / "a.py"
    f.write_text(f'token = "{token}"\n')
    fp1 = _sarif(tmp_path)["runs"][0]["results"][0]["partialFingerprints"]
    f.write_text(f'# moved down\n\n\ntoken = "{token}"\n')
    fp2 = _sarif(tmp_path)["runs"][0]["results"][0]["partialFingerprints"]
    assert fp1 == fp2
    monkeypatch.setenv("KEYTURN_SCAN_FINGERPRINT_KEY", "my-own-key")
    fp3 = _sarif(tmp_path)["runs"][0]["results"][0]["partialFingerprints"]
    assert fp3 != fp1  # keyed: a different key gives unguessable, different fingerprints
