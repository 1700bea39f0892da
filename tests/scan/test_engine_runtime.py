"""Runtime guarantees: no network, no forbidden imports, pool parity, prefilter cache."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from keyturn.scan import stock
from keyturn.scan.engine import Engine
from keyturn.scan.files import walk
from keyturn.scan.model import Finding, ScanOptions
from keyturn.scan.runner import EngineSpec, scan_targets
from tests.scan._support import FIXTURES, Fakes, run_scan

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_no_network_call_is_ever_attempted(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # type: ignore[arg-type]
    res = run_scan([str(FIXTURES / "positive"), "--format", "json", "--jobs", "1"])
    assert res.code == 1
    detectors = {f["detector"] for f in json.loads(res.out)["findings"]}
    assert {"twilio-key", "sendgrid-key", "mailchimp-key", "discord-token", "aws-access-key"} <= detectors
    assert attempts == []


def test_stock_plugins_never_verify() -> None:
    plugin = stock._plugin("twilio:TwilioKeyDetector")
    with pytest.raises(RuntimeError):
        plugin.verify("anything")  # type: ignore[attr-defined]


def test_scanner_imports_no_store_target_or_sdk() -> None:
    code = (
        "import sys, keyturn.scan.cli, keyturn.scan.api, keyturn.scan.sarif\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3','botocore','hvac','azure','github','requests')"
        " or m.startswith(('keyturn.stores','keyturn.targets','keyturn.rotation'))]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(REPO_ROOT / "src")},
    ).stdout.strip()
    assert out == ""


def test_process_pool_matches_serial(tmp_path: Path, fakes: Fakes) -> None:
    for i in range(30):
        (tmp_path / f"f{i}.py").write_text(f'T{i} = "{fakes.github()}"\n' if i % 3 == 0 else "x = 1\n")
    serial = scan_targets(walk(str(tmp_path), ScanOptions(jobs=1)), ScanOptions(jobs=1), EngineSpec(b"k"))
    pooled = scan_targets(walk(str(tmp_path), ScanOptions(jobs=2)), ScanOptions(jobs=2), EngineSpec(b"k"))

    def key(f: Finding) -> tuple[str, int]:
        return (f.path, f.line)

    assert sorted(serial.findings, key=key) == sorted(pooled.findings, key=key)
    assert (serial.files, serial.bytes) == (pooled.files, pooled.bytes) == (30, pooled.bytes)
    assert len(serial.findings) == 10


def test_prefilter_cache_roundtrip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fakes: Fakes) -> None:
    monkeypatch.setenv("KEYTURN_CACHE_DIR", str(tmp_path / "cache"))
    first = Engine(b"k")
    assert list((tmp_path / "cache").glob("scan-prefilter-*.hsdb"))
    second = Engine(b"k")  # loaded from the cache
    text = f'T = "{fakes.github()}"\n'
    assert first.scan_text("a.py", text) == second.scan_text("a.py", text) != []
    monkeypatch.setenv("KEYTURN_CACHE_DIR", "/proc/definitely/not/writable")
    assert Engine(b"k").scan_text("a.py", text)  # unwritable cache: compile each run
