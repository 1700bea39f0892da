"""``keyturn scan --config .gitleaks.toml``: gitleaks custom rules and allowlists, through the CLI.

Real files in ``tmp_path``; the CLI is called as users call it. Unsupported keys are one-line
usage errors (exit 2) naming the key; secrets never appear in any output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyturn.scan.engine import Engine
from keyturn.scan.gitleaks import go_regex, parse_config
from tests.scan._support import Fakes, run_scan

CONFIG = r"""
title = "acme gitleaks config"

[extend]
useDefault = true

[[rules]]
id = "acme-internal-token"
description = "ACME internal service token"
regex = '''\b(acme_[[:alnum:]]{32})\b'''
secretGroup = 1
entropy = 3.0
keywords = ["acme_"]
tags = ["internal"]

  [[rules.allowlists]]
  description = "the shared CI test token"
  regexes = ['''^acme_0{4}''']

[[rules]]
id = "legacy-session-key"
description = "Legacy session key (no keywords)"
regex = '''SESSKEY\.([a-f0-9]{40})'''
path = '''\.(?:cfg|ini)$'''

[allowlist]
description = "global"
paths = ['''(^|/)testdata/''']
stopwords = ["notasecret"]
"""


def _acme(fakes: Fakes) -> str:
    return "acme_" + fakes.s(32)


def _json(out: str) -> list[dict[str, object]]:
    return list(json.loads(out)["findings"])


def test_custom_rules_and_allowlists(tmp_path: Path, fakes: Fakes) -> None:
    root = tmp_path / "repo"
    (root / "testdata").mkdir(parents=True)
    cfg = tmp_path / ".gitleaks.toml"
    cfg.write_text(CONFIG)
    token, hexkey = _acme(fakes), fakes.s(40, "0123456789abcdef")
    (root / "app.py").write_text(f'client = connect("{token}")\nci = "acme_0000{fakes.s(28)}"\n')
    (root / "settings.cfg").write_text(f"session = SESSKEY.{hexkey}\n")
    (root / "settings.py").write_text(f"session = 'SESSKEY.{hexkey}'\n")  # path regex: .cfg/.ini only
    (root / "testdata" / "fixture.py").write_text(f'T = "{_acme(fakes)}"\n')  # global path allowlist
    (root / "doc.py").write_text('X = "acme_notasecretnotasecretnotasecret12"\n')  # stopword

    res = run_scan([str(root), "--config", str(cfg), "--format", "json"])
    assert res.code == 1, res.err
    got = sorted((f["detector"], f["path"], f["line"]) for f in _json(res.out))
    assert got == [("acme-internal-token", "app.py", 1), ("legacy-session-key", "settings.cfg", 1)]
    for blob in (res.out, res.err):
        assert token not in blob and hexkey not in blob

    # without --config the custom formats are not known
    plain = run_scan([str(root), "--format", "json"])
    assert not any(f["detector"] in ("acme-internal-token", "legacy-session-key") for f in _json(plain.out))


def test_global_allowlist_applies_to_builtin_detectors(tmp_path: Path, fakes: Fakes) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    token = fakes.github()
    (root / "a.py").write_text(f'GH = "{token}"\n')
    cfg = tmp_path / "gl.toml"
    cfg.write_text("[allowlist]\nregexTarget = \"line\"\nregexes = ['''^GH = ''']\n")
    assert run_scan([str(root), "--config", str(cfg)]).code == 0
    assert run_scan([str(root)]).code == 1


@pytest.mark.parametrize(
    "text,message",
    [
        ("[[rules]]\nid = 'x'\nregex = 'x'\nvalidate = 'y'\n", "unsupported key(s) in rule 'x': validate"),
        ("[extend]\npath = 'base.toml'\n", "unsupported key(s) in [extend]: path"),
        ("[extend]\nuseDefault = false\n", "useDefault = false is not supported"),
        ("[allowlist]\ncommits = ['abc']\n", "unsupported key(s) in allowlist: commits"),
        ("[[rules]]\nid = 'x'\npath = 'a'\n", "path-only rules are not supported"),
        ("[[rules]]\nid = 'x'\nregex = '('\n", "regex does not compile"),
        ("[[rules]]\nid = 'x'\nregex = 'a(b)'\nsecretGroup = 2\n", "secretGroup 2 but the regex has fewer groups"),
        ("[[rules]]\nid = 'github-token'\nregex = 'x'\nkeywords = ['x']\n", "are keyturn's own"),
        ("[[rules]]\nid = 'x'\nregex = 'x'\n[[rules.required]]\nid = 'y'\n", "unsupported key(s) in rule 'x': required"),
        ("not toml = = =\n", "not valid TOML"),
        ("[[rules]]\nid = 'x::warning file=a::pwned'\nregex = 'x'\nkeywords = ['x']\n", "rules[0]: id must be"),
        ("[[rules]]\nid = \"x\\n::add-mask::y\"\nregex = 'x'\nkeywords = ['x']\n", "rules[0]: id must be"),
        ("[[rules]]\nid = 'has space'\nregex = 'x'\nkeywords = ['x']\n", "rules[0]: id must be"),
    ],
)
def test_unsupported_or_bad_config_is_one_line_exit_2(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / ".gitleaks.toml"
    cfg.write_text(text)
    (tmp_path / "a.txt").write_text("hello\n")
    res = run_scan([str(tmp_path / "a.txt"), "--config", str(cfg)])
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and str(cfg) in lines[0], res.err


def test_a_taken_rule_id_is_a_usage_error_with_worker_processes_too(tmp_path: Path) -> None:
    """Checked where the config is loaded, not in each worker (which broke the pool:
    'internal error: BrokenProcessPool')."""
    cfg = tmp_path / ".gitleaks.toml"
    cfg.write_text("[[rules]]\nid = 'github-token'\nregex = 'zz[0-9]{8}'\nkeywords = ['zz']\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(6):
        (tree / f"f{i}.txt").write_text(f"line {i}\n")
    res = run_scan([str(tree), "--config", str(cfg), "--jobs", "2"])
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "github-token are keyturn's own" in lines[0], res.err


def test_a_custom_rule_id_with_dots_and_underscores_is_accepted(tmp_path: Path) -> None:
    cfg = tmp_path / ".gitleaks.toml"
    cfg.write_text("[[rules]]\nid = 'Corp_Token.v2'\nregex = 'zz[0-9]{8}'\nkeywords = ['zz']\n")
    (tmp_path / "a.txt").write_text("k = zz12345678\n")
    res = run_scan([str(tmp_path / "a.txt"), "--config", str(cfg), "--format", "json"])
    assert res.code == 1, res.err
    assert [f["detector"] for f in json.loads(res.out)["findings"]] == ["Corp_Token.v2"]


def test_missing_config_file(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello\n")
    res = run_scan([str(tmp_path / "a.txt"), "--config", str(tmp_path / "nope.toml")])
    assert res.code == 2 and "cannot read" in res.err


def test_go_regex_translation() -> None:
    assert go_regex(r"[[:alnum:]_]{4}\z") == r"[A-Za-z0-9_]{4}\Z"


def test_rule_allowlist_condition_and(fakes: Fakes) -> None:
    doc = {
        "rules": [
            {
                "id": "tok",
                "regex": r"tok_([a-z0-9]{20})",
                "keywords": ["tok_"],
                "allowlist": {"condition": "AND", "regexes": ["^aaa"], "paths": [r"\.md$"]},
            }
        ]
    }
    engine = Engine(b"k", custom=parse_config(doc, "x.toml"))
    line = "t = tok_aaa" + fakes.s(17, "bcdefghij0123456789") + "\n"
    assert [f.detector for f in engine.scan_text("a.py", line)] == ["tok"]  # path does not match: kept
    assert engine.scan_text("README.md", line) == []  # both conditions: allowlisted


def test_sarif_describes_custom_rules_in_the_driver(tmp_path: Path) -> None:
    cfg = tmp_path / ".gitleaks.toml"
    cfg.write_text("[[rules]]\nid = 'corp-token'\ndescription = 'Corp API token'\nregex = 'zz[0-9]{8}'\n"
                   "keywords = ['zz']\n")
    (tmp_path / "a.txt").write_text("k = zz12345678\n")
    res = run_scan([str(tmp_path / "a.txt"), "--config", str(cfg), "--format", "sarif"])
    assert res.code == 1, res.err
    run = json.loads(res.out)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    (result,) = run["results"]
    assert result["ruleId"] == "keyturn/corp-token"
    assert rules[result["ruleIndex"]]["id"] == "keyturn/corp-token"
    assert "Corp API token" in rules[result["ruleIndex"]]["shortDescription"]["text"]
