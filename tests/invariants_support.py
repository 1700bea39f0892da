"""A throw-away keyturn workspace on the session's OpenBao, driven through real
``python -m keyturn`` processes (so tests can SIGKILL them at stage boundaries)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import hvac

from keyturn.targets.file import FileTarget
from tests.conftest import REPO, subprocess_env

#: The top of a one-store manifest on the session's OpenBao (audit files under logs/).
OPENBAO_HEAD = """\
version: 1
audit:
  log: logs/audit.jsonl
  evidence_dir: logs/evidence
stores:
  bao:
    type: openbao
    mount: secret
secrets:
"""

MANIFEST = OPENBAO_HEAD + """\
  {name}:
    store: bao
    path: inv/{uid}
    generator: {{type: hex, bytes: 32}}
    policy: {{max_age: 90d, grace: 24h}}
    impacted_services: [api]
    targets:
      - file: deploy/app.env
      - file: deploy/dual.env
        shape: dual
      - file: deploy/versioned.env
        shape: versioned
    validate:
      - command: ["sh", "-c", "test ${{#KEYTURN_VALUE}} -eq 64 && test ! -e fail-verify && {verify_extra}"]
    smoke:
      - command: ["sh", "-c", "test ! -e fail-smoke && grep -q '^{name}=' deploy/app.env && {smoke_extra}"]
"""


class Workspace:
    def __init__(self, root: Path, server: Any, name: str = "INV_SECRET", verify_extra: str = "true",
                 smoke_extra: str = "true", extra_env: dict[str, str] | None = None) -> None:
        self.root = root
        self.server = server
        self.name = name
        self.uid = uuid.uuid4().hex[:12]
        self.path = f"inv/{self.uid}"
        root.mkdir(parents=True, exist_ok=True)
        (root / "keyturn.yml").write_text(
            MANIFEST.format(name=name, uid=self.uid, verify_extra=verify_extra, smoke_extra=smoke_extra)
        )
        self.env = subprocess_env({"VAULT_ADDR": server.url, "VAULT_TOKEN": server.token,
                                   "KEYTURN_AUDIT_KEY_V1": "k" * 32, **(extra_env or {})})
        self.client = hvac.Client(url=server.url, token=server.token)

    # -- running -----------------------------------------------------------------
    def run(self, *args: str, fault: str | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        run_env = dict(self.env, **(env or {}))
        if fault:
            run_env["KEYTURN_FAULT_INJECT"] = f"kill-after:{fault}"
        return subprocess.run([sys.executable, "-m", "keyturn", *args], cwd=self.root, env=run_env,
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "keyturn", *args], cwd=self.root, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def rotate(self, *extra: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("rotate", self.name, *extra, fault=fault)

    # -- the store, as an ordinary reader sees it ----------------------------------------
    def reader(self) -> str | None:
        try:
            resp = self.client.secrets.kv.v2.read_secret_version(
                path=self.path, mount_point="secret", raise_on_deleted_version=False)
        except hvac.exceptions.InvalidPath:
            return None
        data = resp["data"]["data"]
        return data.get("value") if data else None

    def metadata(self) -> dict[str, Any]:
        try:
            return self.client.secrets.kv.v2.read_secret_metadata(path=self.path, mount_point="secret")["data"]
        except hvac.exceptions.InvalidPath:
            return {}

    def version_value(self, version: int | str) -> str | None:
        resp = self.client.secrets.kv.v2.read_secret_version(
            path=self.path, version=int(version), mount_point="secret", raise_on_deleted_version=False)
        data = resp["data"]["data"]
        return data.get("value") if data else None

    def current_version(self) -> int:
        return int(self.metadata().get("current_version") or 0)

    def journal(self) -> dict[str, Any]:
        """keyturn's journal document for this secret (empty when none)."""
        try:
            resp = self.client.secrets.kv.v2.read_secret_version(
                path=self.path + ".keyturn-rotation", mount_point="secret", raise_on_deleted_version=False)
        except hvac.exceptions.InvalidPath:
            return {}
        data = resp["data"]["data"] or {}
        return json.loads(data["journal"]) if "journal" in data else {}

    def tracked(self, role: str) -> list[dict[str, Any]]:
        return [v for v in self.journal().get("versions", []) if v["role"] == role]

    def generation(self) -> str:
        cur = self.tracked("current")
        return str(cur[0]["generation"]) if cur else "0"

    def previous_version(self) -> str | None:
        prev = sorted(self.tracked("previous"), key=lambda v: v["generation"])
        return prev[-1]["version"] if prev else None

    def previous_value(self) -> str | None:
        prev = self.previous_version()
        return self.version_value(prev) if prev else None

    def live_versions(self) -> list[int]:
        return sorted(int(n) for n, info in self.metadata().get("versions", {}).items()
                      if not info.get("deletion_time") and not info.get("destroyed"))

    def pending_exists(self) -> bool:
        """An operation in flight (journal op) or a pending value left behind."""
        try:
            self.client.secrets.kv.v2.read_secret_metadata(path=self.path + ".keyturn-pending", mount_point="secret")
            return True
        except hvac.exceptions.InvalidPath:
            pass
        return bool(self.journal().get("op"))

    # -- targets -------------------------------------------------------------------
    def dotenv(self, rel: str) -> dict[str, str]:
        p = self.root / rel
        if not p.exists():
            return {}
        return {k: v.reveal() for k, v in FileTarget(p).read().items()}

    def target_values(self) -> list[str]:
        """Every secret value any target holds (ACTIVE_VERSION excluded)."""
        out = []
        for rel in ("deploy/app.env", "deploy/dual.env", "deploy/versioned.env"):
            for k, v in self.dotenv(rel).items():
                if not k.endswith("_ACTIVE_VERSION"):
                    out.append(v)
        return out

    def audit_events(self) -> list[dict[str, Any]]:
        log = self.root / "logs" / "audit.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def assert_targets_hold_current(ws: Workspace) -> None:
    """I2: every target holds the store's CURRENT (and PREVIOUS where the shape says)."""
    current = ws.reader()
    assert current is not None
    n = ws.name
    assert ws.dotenv("deploy/app.env")[n] == current
    dual = ws.dotenv("deploy/dual.env")
    assert dual[n] == current
    prev = ws.previous_value()
    if prev is not None:
        assert dual[f"{n}_PREVIOUS"] == prev
    else:
        assert f"{n}_PREVIOUS" not in dual
    versioned = ws.dotenv("deploy/versioned.env")
    gen = ws.generation()
    assert versioned[f"{n}_ACTIVE_VERSION"] == gen
    assert versioned[f"{n}_V{gen}"] == current


def assert_no_foreign_values(ws: Workspace) -> None:
    """I3: no target ever holds a value that is neither CURRENT nor PREVIOUS."""
    op = ws.journal().get("op") or {}
    in_flight_old = ws.version_value(op["old_version"]) if op.get("old_version") else None
    live = {v for v in (ws.reader(), ws.previous_value(), in_flight_old) if v}
    # While a rotation is in flight (after promote), the old CURRENT is PREVIOUS.
    for v in ws.target_values():
        assert v in live, "a target holds a value that is neither CURRENT nor PREVIOUS"


HOLD_IN_VERIFY = "while test ! -e release; do sleep 0.05; done"


def start_held_rotation(ws: Workspace) -> subprocess.Popen[str]:
    """With a workspace made with ``verify_extra=HOLD_IN_VERIFY``: complete one rotation,
    then start a second that waits inside its validate check (holding the lease) until
    ``release`` exists again. Returns the running process."""
    (ws.root / "release").touch()
    first = ws.rotate()
    assert first.returncode == 0, first.stderr
    (ws.root / "release").unlink()
    proc = ws.popen("rotate", ws.name)
    deadline = time.monotonic() + 30
    while not ws.pending_exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc


def dedent(text: str) -> str:
    return textwrap.dedent(text)


__all__ = ["HOLD_IN_VERIFY", "Workspace", "start_held_rotation", "assert_targets_hold_current", "assert_no_foreign_values", "REPO"]
