"""The independently written secret-scanner corpus is deterministic and its labels are right."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import scan_corpus_blind as corpus  # noqa: E402


def _snapshot(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    sa = corpus.generate(a, seed=7, scale=1)
    sb = corpus.generate(b, seed=7, scale=1)
    corpus.generate(c, seed=8, scale=1)
    assert sa == sb
    assert _snapshot(a) == _snapshot(b)
    assert _snapshot(a) != _snapshot(c)


def test_every_label_line_holds_its_value(tmp_path):
    corpus.generate(tmp_path, seed=11, scale=1)
    labels = json.loads((tmp_path / "labels.json").read_text())
    negatives = json.loads((tmp_path / "negatives.json").read_text())
    assert {lab["kind"] for lab in labels} == set(corpus.KINDS)
    cache: dict[str, list[str]] = {}

    def lines(path: str) -> list[str]:
        if path not in cache:
            cache[path] = (tmp_path / "tree" / path).read_text(encoding="utf-8").split("\n")
        return cache[path]

    seen = set()
    for lab in labels:
        assert lab["kind"] in corpus.KINDS
        key = (lab["path"], lab["line"])
        assert key not in seen, key  # one planted secret per line
        seen.add(key)
        text = lines(lab["path"])[lab["line"] - 1]
        assert lab["value"] in text, lab
        if lab["kind"] == "private-key":
            assert "-----BEGIN " in text and "PRIVATE KEY-----" in text
            if "end_line" in lab:
                assert "-----END " in lines(lab["path"])[lab["end_line"] - 1]
    for neg in negatives:
        assert (neg["path"], neg["line"]) not in seen
        assert lines(neg["path"])[neg["line"] - 1].strip()
