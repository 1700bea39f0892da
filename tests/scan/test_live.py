"""Live-secret link: a finding equal to a managed secret's CURRENT/PREVIOUS value."""

from __future__ import annotations

import base64
import json
import sys
import types
from pathlib import Path

import pytest

from keyturn.scan import live
from keyturn.values import SecretValue
from tests.scan._support import Fakes, run_scan


@pytest.fixture
def managed(monkeypatch: pytest.MonkeyPatch, fakes: Fakes) -> dict[str, str]:
    values = {"CURRENT": fakes.password() + "Zz9", "PREVIOUS": fakes.github()}
    calls: list[str] = []

    def live_values(manifest_path: str) -> list[tuple[str, str, SecretValue]]:
        calls.append(manifest_path)
        return [("db/prod", ver, SecretValue(v, mask=False)) for ver, v in values.items()]

    module = types.ModuleType("keyturn.rotation.live")
    module.live_values = live_values  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyturn.rotation.live", module)
    return values


def test_live_values_are_reported_with_rotate_hint(
    tmp_path: Path, managed: dict[str, str], fakes: Fakes
) -> None:
    manifest = tmp_path / "keyturn.yml"
    manifest.write_text("secrets: {}\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "settings.py").write_text(
        f'DB_PASSWORD = "{managed["CURRENT"]}"\nOLD = "{managed["PREVIOUS"]}"\nOTHER = "{fakes.github()}"\n'
    )
    res = run_scan([str(src), "--manifest", str(manifest), "--format", "json"])
    assert res.code == 1
    by_line = {f["line"]: f["live_secret"] for f in json.loads(res.out)["findings"]}
    assert by_line == {
        1: {"secret": "db/prod", "version": "CURRENT"},
        2: {"secret": "db/prod", "version": "PREVIOUS"},
        3: None,
    }
    text = run_scan([str(src), "--manifest", str(manifest)])
    assert (
        "live credential — run: keyturn rotate db/prod --mode emergency --reason 'leaked in settings.py'"
        in text.out
    )
    sarif = run_scan([str(src), "--manifest", str(manifest), "--format", "sarif"]).out
    assert "keyturn rotate db/prod --mode emergency" in sarif
    for blob in (res.out, res.err, text.out, text.err, sarif):
        for v in managed.values():
            assert v not in blob and base64.b64encode(v.encode()).decode() not in blob


def test_live_value_without_a_known_shape_is_found(tmp_path: Path, managed: dict[str, str]) -> None:
    manifest = tmp_path / "keyturn.yml"
    manifest.write_text("secrets: {}\n")
    src = tmp_path / "src"
    src.mkdir()
    encoded = base64.b64encode(managed["CURRENT"].encode()).decode()
    (src / "notes.md").write_text(f"rotated value was {managed['CURRENT']} yesterday\nb64: x={encoded}\n")
    res = run_scan([str(src), "--manifest", str(manifest), "--format", "json"])
    found = [(f["line"], f["detector"], f["live_secret"]["version"]) for f in json.loads(res.out)["findings"]]
    assert found == [(1, "live-secret", "CURRENT"), (2, "live-secret", "CURRENT")]
    assert run_scan([str(src)]).code == 0  # without --manifest these are just words
    for v in (managed["CURRENT"], encoded):
        assert v not in res.out and v not in res.err


def test_fingerprints_are_keyed_per_run(managed: dict[str, str]) -> None:
    k1, t1 = live.live_fingerprints("m.yml")
    k2, t2 = live.live_fingerprints("m.yml")
    assert k1 != k2 and set(t1).isdisjoint(t2)
    assert all(managed["CURRENT"] not in fp for fp in t1)


def test_missing_provider_is_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keyturn.rotation.live", None)
    manifest = tmp_path / "keyturn.yml"
    manifest.write_text("secrets: {}\n")
    assert run_scan([str(tmp_path), "--manifest", str(manifest)]).code == 2
