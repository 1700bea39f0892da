"""SARIF 2.1.0: schema-valid, stable rules and fingerprints, redacted, repo-relative."""

from __future__ import annotations

import hashlib
import hmac
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


def _fp(doc: dict) -> list[str]:  # type: ignore[type-arg]
    return [r["partialFingerprints"]["keyturnSecret/v2"] for r in doc["runs"][0]["results"]]


def test_fingerprints_do_not_depend_on_the_value(tmp_path: Path, fakes: Fakes) -> None:
    """Nobody who reads alerts can test a guessed value: another value on the same line, same fingerprint."""
    f = tmp_path / "a.py"
    first, second = fakes.github(), fakes.github()
    f.write_text(f'token = "{first}"\n')
    doc1 = _sarif(tmp_path)
    f.write_text(f'token = "{second}"\n')
    doc2 = _sarif(tmp_path)
    assert _fp(doc1) == _fp(doc2)
    # the former value-keyed formula (public default key) appears nowhere in SARIF or JSON
    from keyturn.scan.model import fingerprint_key

    for token, doc in ((first, doc1), (second, doc2)):
        old = hmac.new(
            fingerprint_key(), f"keyturn/github-token\0a.py\0{token}".encode(), hashlib.sha256
        ).hexdigest()
        assert old not in json.dumps(doc)
        assert old not in run_scan([str(tmp_path), "--format", "json"]).out
    # JSON carries the same value-free fingerprint as SARIF
    [jf] = json.loads(run_scan([str(tmp_path), "--format", "json"]).out)["findings"]
    assert [jf["fingerprint"]] == _fp(doc2)


def test_fingerprints_follow_the_line_not_its_position(tmp_path: Path, fakes: Fakes) -> None:
    token = fakes.github()
    f = tmp_path / "a.py"
    f.write_text(f'API = "{token}"\nother = "{fakes.stripe()}"\n')
    [a, b] = _fp(_sarif(tmp_path))
    f.write_text(f'# header\n\n    API = "{token}"  \nother = "{fakes.stripe()}"\n')  # moved and re-indented
    assert _fp(_sarif(tmp_path)) == [a, b]
    f.write_text(f'API_V2 = "{token}"\nother = "{fakes.stripe()}"\n')  # the line's text changed
    [a2, b2] = _fp(_sarif(tmp_path))
    assert a2 != a and b2 == b


def test_identical_masked_lines_get_distinct_fingerprints(tmp_path: Path, fakes: Fakes) -> None:
    (tmp_path / "a.py").write_text(f'T = "{fakes.github()}"\nT = "{fakes.github()}"\n')
    (tmp_path / "b.py").write_text(f'T = "{fakes.github()}"\n')
    fps = _fp(_sarif(tmp_path))
    assert len(fps) == 3 and len(set(fps)) == 3
    assert fps == _fp(_sarif(tmp_path))  # stable across rescans


def test_masked_line_masks_every_reported_span() -> None:
    from keyturn.scan.fingerprints import masked_line

    assert masked_line('  a = "SECRET1", b = "SECRET2"  ', [(7, 14), (22, 29)]) == 'a = "\0", b = "\0"'
    assert masked_line("abc", []) == "abc"


def test_history_sarif_validates_and_names_the_commit(tmp_path: Path, fakes: Fakes, validator, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.scan._support import GitRepo

    repo = GitRepo(tmp_path / "repo")
    repo.write("a.py", f'T = "{fakes.github()}"\n')
    added = repo.commit()
    repo.write("a.py", "x = 1\n")
    repo.commit()
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    res = run_scan([str(repo.path), "--history", "--format", "sarif"])
    assert res.code == 1
    doc = json.loads(res.out)
    validator.validate(doc)
    [r] = doc["runs"][0]["results"]
    assert r["properties"]["commit"] == added and r["properties"]["authorDate"]
    assert f"added by commit {added[:12]}" in r["message"]["text"]
    assert f"| `{added[:12]}` (history: rotate) |" in summary.read_text()
    assert f"added by commit {added[:12]}" in res.err  # the ::error annotation says so too
