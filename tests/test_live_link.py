"""The scanner's live-secret link against a real rotation: a file holding a managed
secret's CURRENT (or PREVIOUS) value is reported as a leak of that live credential,
with the emergency-rotation command, and the value is printed nowhere."""

from __future__ import annotations

import json
from pathlib import Path

from keyturn.values import derived_forms
from tests.invariants_support import Workspace


def test_scan_names_the_live_secret_and_never_prints_it(tmp_path: Path, openbao) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    assert ws.rotate().returncode == 0
    previous = ws.reader()
    assert ws.rotate().returncode == 0
    current = ws.reader()
    assert previous and current and previous != current
    src = ws.root / "src"
    src.mkdir()
    (src / "settings.py").write_text(f'API_SECRET = "{current}"\nDEBUG = True\n')
    (src / "old.env").write_text(f"OLD_TOKEN={previous}\n")
    r = ws.run("scan", "src", "--manifest", "keyturn.yml", "--format", "json")
    assert r.returncode == 1, r.stderr
    findings = {f["path"]: f for f in json.loads(r.stdout)["findings"]}
    assert findings["settings.py"]["live_secret"] == {"secret": ws.name, "version": "CURRENT"}
    assert findings["old.env"]["live_secret"] == {"secret": ws.name, "version": "PREVIOUS"}
    text = ws.run("scan", "src", "--manifest", "keyturn.yml")
    assert f"keyturn rotate {ws.name} --mode emergency" in text.stdout
    sarif = ws.run("scan", "src", "--manifest", "keyturn.yml", "--format", "sarif")
    for out in (r.stdout, r.stderr, text.stdout, text.stderr, sarif.stdout, sarif.stderr):
        for value in (current, previous):
            for form in derived_forms(value):
                assert form not in out
    # Without --manifest the same lines are ordinary findings, not live ones.
    plain = json.loads(ws.run("scan", "src", "--format", "json").stdout)["findings"]
    assert all(f["live_secret"] is None for f in plain)
