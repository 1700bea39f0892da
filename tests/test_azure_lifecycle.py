"""Lifecycle of a ``type: azure`` secret through real ``keyturn`` processes against the
Key Vault fake, logging in with the github-oidc client assertion (OIDC request URL and
token endpoint on loopback): rotate, SIGKILL at stage boundaries and re-run (I3
converges, no extra versions), smoke failure with a killed rollback (I4), and finalize
leaving only CURRENT enabled (I8)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from keyturn.stores.azure import kv_name
from keyturn.stores.base import SecretRef
from keyturn.targets.file import FileTarget
from tests.azure_support import identity, keyvault, make_store, oidc_env  # noqa: F401 (fixtures)
from tests.conftest import subprocess_env
from tests.fakes.azure_keyvault import FakeKeyVault

KILLED = -signal.SIGKILL
MANIFEST = """\
version: 1
audit: {{log: logs/audit.jsonl, evidence_dir: logs/evidence}}
stores:
  kv:
    type: azure
    vault_url: {url}
    ca_cert: {ca}
    auth: {{method: github-oidc}}
secrets:
  {name}:
    store: kv
    path: inv/{uid}
    generator: {{type: hex, bytes: 32}}
    policy: {{max_age: 90d, grace: {grace}}}
    targets:
      - file: deploy/app.env
      - file: deploy/dual.env
        shape: dual
    validate:
      - command: ["sh", "-c", "test ${{#KEYTURN_VALUE}} -eq 64"]
    smoke:
      - command: ["sh", "-c", "test ! -e fail-smoke && grep -q '^{name}=' deploy/app.env"]
"""


class AzureWorkspace:
    def __init__(self, root: Path, kv: FakeKeyVault, env: dict[str, str], grace: str = "0s") -> None:
        self.root, self.kv, self.name = root, kv, "AZ_SECRET"
        self.uid = uuid.uuid4().hex[:12]
        self.ref = SecretRef(self.name, f"inv/{self.uid}", "value")
        self.main = kv_name(self.ref.path)
        root.mkdir(parents=True, exist_ok=True)
        (root / "keyturn.yml").write_text(MANIFEST.format(url=kv.url, ca=kv.ca_pem, name=self.name, uid=self.uid,
                                                          grace=grace))
        self.env = subprocess_env({**env, "KEYTURN_AUDIT_KEY_V1": "k" * 32})
        self.store = make_store(kv)

    def run(self, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(self.env, **({"KEYTURN_FAULT_INJECT": f"kill-after:{fault}"} if fault else {}))
        return subprocess.run([sys.executable, "-m", "keyturn", *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=120)

    def reader(self) -> str | None:
        return self.kv.latest_value(self.main)

    def live(self) -> list[str]:
        return [v.id for v in self.kv.versions(self.main) if v.enabled]

    def journal(self) -> dict[str, Any]:
        text, _ = self.store.journal(self.ref).load()
        return json.loads(text) if text else {}

    def app(self) -> str | None:
        p = self.root / "deploy" / "app.env"
        return FileTarget(p).read()[self.name].reveal() if p.exists() else None

    def pending_live(self) -> bool:
        return self.kv.latest_value(self.main + "-keyturn-pending") is not None


def _ok(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 0, r.stderr


@pytest.fixture
def ws_env(keyvault: FakeKeyVault, identity) -> dict[str, str]:  # type: ignore[no-untyped-def]  # noqa: F811
    oidc, authority = identity
    return oidc_env(keyvault, oidc, authority)


@pytest.mark.parametrize("point", ["created", "verified", "promote-write", "promoted", "distribute-1", "distribute-2",
                                   "distributed", "smoked", "retire-store", "completed"])
def test_killed_at_a_stage_boundary_converges(tmp_path: Path, keyvault: FakeKeyVault, ws_env: dict[str, str],  # noqa: F811
                                              point: str) -> None:
    ws = AzureWorkspace(tmp_path / "ws", keyvault, ws_env)
    _ok(ws.run("rotate", ws.name))
    first = ws.reader()
    assert first and ws.app() == first
    r = ws.run("rotate", ws.name, fault=point)
    assert r.returncode == KILLED, (point, r.stderr)
    r = ws.run("rotate", ws.name)
    _ok(r)
    assert ws.reader() != first and ws.app() == ws.reader()  # I2 after the re-run
    assert all(v not in r.stdout + r.stderr for v in (first, ws.reader()))  # I5
    assert len(ws.kv.versions(ws.main)) == 2, point  # I3: no extra versions
    _ok(ws.run("finalize"))
    assert ws.live() == [ws.kv.versions(ws.main)[-1].id], point  # I8: only CURRENT is enabled
    assert not ws.pending_live() and not ws.journal().get("op")
    assert first not in (ws.root / "deploy" / "dual.env").read_text()


@pytest.mark.parametrize("point", ["rollback-store", "rollback-targets"])
def test_smoke_failure_with_killed_rollback_restores_old_value(tmp_path: Path, keyvault: FakeKeyVault,  # noqa: F811
                                                               ws_env: dict[str, str], point: str) -> None:
    ws = AzureWorkspace(tmp_path / "ws", keyvault, ws_env, grace="24h")
    _ok(ws.run("rotate", ws.name))
    first = ws.reader()
    (ws.root / "fail-smoke").touch()
    assert ws.run("rotate", ws.name, fault=point).returncode == KILLED
    r = ws.run("rotate", ws.name)
    assert r.returncode == 1 and "rolled back" in r.stderr, r.stderr
    assert ws.reader() == first and ws.app() == first  # I4: restored as a new version
    versions = ws.kv.versions(ws.main)
    assert len(versions) == 3 and ws.live() == [versions[-1].id]  # the bad and the copied-from versions disabled


def test_rotate_then_emergency_leaves_only_current(tmp_path: Path, keyvault: FakeKeyVault,  # noqa: F811
                                                   ws_env: dict[str, str]) -> None:
    ws = AzureWorkspace(tmp_path / "ws", keyvault, ws_env, grace="24h")
    keyvault.put(ws.main, "written-by-hand-" + "x" * 20)  # a version keyturn never made
    _ok(ws.run("rotate", ws.name))
    assert len(ws.live()) == 2  # PREVIOUS in grace
    _ok(ws.run("rotate", ws.name, "--mode", "emergency", "--reason", "leak drill"))
    assert ws.live() == [ws.kv.versions(ws.main)[-1].id]
    r = ws.run("doctor")
    assert r.returncode == 0, r.stdout + r.stderr


def test_rotated_version_expires_after_policy_max_age(tmp_path: Path, keyvault: FakeKeyVault,  # noqa: F811
                                                      ws_env: dict[str, str]) -> None:
    """`keyturn rotate` end to end: the manifest's policy.max_age (90d) becomes the new
    CURRENT version's Key Vault expiry, in epoch seconds, as the REST API stores it."""
    ws = AzureWorkspace(tmp_path / "ws", keyvault, ws_env, grace="24h")
    before = int(time.time())
    _ok(ws.run("rotate", ws.name))
    after = int(time.time()) + 1
    current = ws.kv.versions(ws.main)[-1]
    assert current.exp is not None and before + 90 * 86400 <= current.exp <= after + 90 * 86400
    assert ws.kv.latest_value(ws.main) == ws.app()


@pytest.mark.parametrize(("change", "code", "needle"), [
    ({"ACTIONS_ID_TOKEN_REQUEST_TOKEN": "stale"}, 2, "add `permissions: id-token: write` to this job"),
    ({"AZURE_CLIENT_ID": "99999999-0000-0000-0000-000000000000"}, 4, "could not get an Azure access token"),
])
def test_login_failures_are_one_line(tmp_path: Path, keyvault: FakeKeyVault, ws_env: dict[str, str],  # noqa: F811
                                     change: dict[str, str], code: int, needle: str) -> None:
    ws = AzureWorkspace(tmp_path / "ws", keyvault, {**ws_env, **change})
    r = ws.run("rotate", ws.name)
    assert r.returncode == code and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert ws.kv.versions(ws.main) == []  # nothing written
