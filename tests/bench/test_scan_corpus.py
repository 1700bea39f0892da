"""The benchmark corpus generator is deterministic and its labels are right."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def corpus_mod():
    spec = importlib.util.spec_from_file_location("scan_corpus", ROOT / "bench" / "scan_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("scan_corpus", mod)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def two_runs(corpus_mod, tmp_path_factory):
    a = tmp_path_factory.mktemp("corpus-a")
    b = tmp_path_factory.mktemp("corpus-b")
    la = corpus_mod.generate(a, seed=11)
    lb = corpus_mod.generate(b, seed=11)
    return a, la, b, lb


def test_same_seed_same_corpus(corpus_mod, two_runs):
    a, la, b, lb = two_runs
    assert la == lb
    assert (a / "labels.json").read_bytes() == (b / "labels.json").read_bytes()
    assert corpus_mod.tree_digest(a / "tree") == corpus_mod.tree_digest(b / "tree")


def test_other_seed_other_secrets(corpus_mod, two_runs, tmp_path):
    _, la, _, _ = two_runs
    lc = corpus_mod.generate(tmp_path, seed=12)
    assert {p["value"] for p in la["positives"]}.isdisjoint(
        {p["value"] for p in lc["positives"] if p["kind"] != "private-key"}
    )


def test_labels_point_at_planted_secrets(corpus_mod, two_runs):
    a, labels, _, _ = two_runs
    tree = a / "tree"
    # labels.json lives outside the scanned tree
    assert not (tree / "labels.json").exists()
    cache: dict[str, list[str]] = {}

    def line(path: str, n: int) -> str:
        if path not in cache:
            cache[path] = (tree / path).read_text(encoding="utf-8").split("\n")
        return cache[path][n - 1]

    seen = set()
    for p in labels["positives"]:
        assert p["kind"] in corpus_mod.KINDS
        text = line(p["path"], p["line"])
        assert p["value"] in text, p
        if p["kind"] == "private-key":
            assert "-----BEGIN" in text and "PRIVATE KEY-----" in text, p
        key = (p["path"], p["line"])
        assert key not in seen, "two labels on one line: %r" % (key,)
        seen.add(key)
    for n in labels["negatives"]:
        assert n["value"] in line(n["path"], n["line"]) or n["value"] == "", n
        assert (n["path"], n["line"]) not in seen, n


def test_corpus_is_big_enough(corpus_mod, two_runs):
    a, labels, _, _ = two_runs
    kinds = Counter(p["kind"] for p in labels["positives"])
    assert set(kinds) == set(corpus_mod.KINDS)
    assert min(kinds.values()) >= 40
    assert len(labels["negatives"]) >= 1000
    assert labels["bytes"] >= 2_000_000
    # the secrets really are random, not repeated
    vals = [p["value"] for p in labels["positives"] if p["kind"] != "private-key"]
    assert len(set(vals)) == len(vals)


def test_known_doc_examples_are_only_negatives(two_runs):
    _, labels, _, _ = two_runs
    values = {p["value"] for p in labels["positives"]}
    assert "AKIAIOSFODNN7EXAMPLE" not in values
    assert any(n["value"] == "AKIAIOSFODNN7EXAMPLE" for n in labels["negatives"])
    # JSON file written is valid JSON
    json.loads(json.dumps(labels))
