"""The registration seam for targets and checks: a backend is a config module, an
implementation with a builder, and one line in ``targets/registry.py`` or
``validators/registry.py`` — the manifest assembles its unions from those tables.

A toy target and a toy check defined outside keyturn's source are registered by a driver
that adds one line to each table before the manifest is imported, then runs the real CLI:
the manifest validates them (kind, fields, error locations, one owner per entry, schema),
and a rotation against the real OpenBao writes the toy target and runs the toy check.
Also: loading a manifest imports the backends' config modules only — never an
implementation module or an SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import hvac

from keyturn._internal.devserver import Server
from tests.conftest import REPO, subprocess_env

TOY_PLUGIN = '''
"""A toy target (a JSON file of entries) and a toy check (the value's length)."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from keyturn._internal.configbase import KeyedConfig
from keyturn.targets.base import WriteReport
from keyturn.targets.config import EntryScope, TargetConfigBase
from keyturn.validators.base import CheckResult


class ToyTargetConfig(TargetConfigBase):
    kind_keys = ("toy",)

    toy: str = Field(pattern=r"^[a-z]+$", description="bucket")

    def entry_scopes(self) -> list[EntryScope]:
        return [EntryScope(("toy", self.toy), f"toy bucket {self.toy}")]


class ToyTarget:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def label(self) -> str:
        return f"toy:{self.path.stem}"

    def _load(self) -> dict[str, str]:
        return json.loads(self.path.read_text()) if self.path.exists() else {}

    def preflight(self, entries) -> None:
        pass

    def check_access(self) -> None:
        pass

    def write(self, entries) -> WriteReport:
        data = self._load()
        data.update({e.name: e.reveal() for e in entries})
        self.path.write_text(json.dumps(data))
        return WriteReport(requests=1)

    def delete(self, names) -> WriteReport:
        data = self._load()
        for n in names:
            data.pop(n, None)
        self.path.write_text(json.dumps(data))
        return WriteReport(requests=1)

    def is_current(self, entries, *, since) -> bool:
        data = self._load()
        return all(data.get(e.name) == e.reveal() for e in entries)


def build_toy(config: ToyTargetConfig, factory) -> list[ToyTarget]:
    return [ToyTarget(factory.base_dir / f"{config.toy}.json")]


class ToyCheckConfig(KeyedConfig):
    kind_keys = ("toy-check", "toy_check")

    toy_check: int = Field(alias="toy-check", ge=1, description="the value's expected length")


class ToyCheck:
    def __init__(self, length: int) -> None:
        self.length = length

    @property
    def label(self) -> str:
        return f"toy length {self.length}"

    def run(self, secret_name, value) -> CheckResult:
        ok = len(value.reveal()) == self.length
        return CheckResult(ok=ok, label=self.label, detail="length ok" if ok else "wrong length")


def build_toy_check(config: ToyCheckConfig, base_dir, environ) -> ToyCheck:
    return ToyCheck(config.toy_check)
'''

#: What a contributor adds: one line in each registry (here at run time, before the
#: manifest is imported, since the toy lives outside keyturn's source).
DRIVER = '''
import sys

import keyturn.targets.registry as targets
import keyturn.validators.registry as checks

targets.TARGET_CONFIGS["toyplug:ToyTargetConfig"] = "toyplug:build_toy"
checks.CHECK_CONFIGS["toyplug:ToyCheckConfig"] = "toyplug:build_toy_check"

from keyturn.cli import main

sys.exit(main(sys.argv[1:]))
'''


def _manifest(path: str, targets: str, validate: str = "      - toy-check: 64") -> str:
    return textwrap.dedent("""\
        version: 1
        audit: {log: logs/audit.jsonl, evidence_dir: logs/evidence}
        stores:
          bao: {type: openbao, mount: secret}
        secrets:
          TOY_SECRET:
            store: bao
            path: %s
            generator: {type: hex, bytes: 32}
            targets:
        %s
            validate:
        %s
        """) % (path, targets, validate)


def _ws(tmp_path: Path) -> Path:
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "toyplug.py").write_text(TOY_PLUGIN)
    (plugin / "toyrun.py").write_text(DRIVER)
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def _run(ws: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    e = subprocess_env(env)
    e["PYTHONPATH"] = f"{ws.parent / 'plugin'}:{e['PYTHONPATH']}"
    return subprocess.run([sys.executable, str(ws.parent / "plugin" / "toyrun.py"), *argv], cwd=ws, env=e,
                          capture_output=True, text=True, timeout=120)


def test_a_registered_target_and_check_validate_without_editing_the_manifest_module(tmp_path: Path) -> None:
    ws = _ws(tmp_path)
    manifest = ws / "keyturn.yml"
    manifest.write_text(_manifest("toy/a", "      - toy: alpha\n        shape: dual"))
    r = _run(ws, "manifest", "check")
    assert r.returncode == 0, r.stderr
    assert "keyturn.yml: ok — 1 secret(s), 1 store(s)" in r.stdout

    # The kind lists, in the union's error messages, come from the registries.
    manifest.write_text(_manifest("toy/a", "      - bogus: alpha"))
    r = _run(ws, "manifest", "check")
    assert r.returncode == 2
    assert ("keyturn.yml:11: secrets.TOY_SECRET.targets[0]: unknown target type: expected one of the keys "
            "file, github, github-org, toy (got 'bogus')") in r.stderr
    manifest.write_text(_manifest("toy/a", "      - toy: alpha", "      - bogus: 1"))
    r = _run(ws, "manifest", "check")
    assert r.returncode == 2
    assert ("secrets.TOY_SECRET.validate[0]: unknown check type: expected a command:, http:, github-workflow:, "
            "aws-sts:, vault-token: or toy-check: entry (got 'bogus')") in r.stderr

    # The toy's own fields are validated and located like a built-in's.
    manifest.write_text(_manifest("toy/a", "      - toy: Alpha"))
    r = _run(ws, "manifest", "check")
    assert r.returncode == 2
    assert "keyturn.yml:11: secrets.TOY_SECRET.targets[0].toy:" in r.stderr and "'Alpha'" in r.stderr
    manifest.write_text(_manifest("toy/a", "      - toy: alpha", "      - toy_check: 0"))
    r = _run(ws, "manifest", "check")
    assert r.returncode == 2
    assert "keyturn.yml:13: secrets.TOY_SECRET.validate[0].toy_check:" in r.stderr

    # One owner per entry holds in the toy's scopes, with the shape names from targets/base.py.
    manifest.write_text(_manifest("toy/a", "      - toy: alpha\n        shape: dual\n"
                                  "      - toy: alpha\n        name: TOY_SECRET_PREVIOUS"))
    r = _run(ws, "manifest", "check")
    assert r.returncode == 2
    assert ("secrets.TOY_SECRET.targets[1]: entry TOY_SECRET_PREVIOUS in toy bucket alpha is also written by "
            "secrets.TOY_SECRET.targets[0]") in r.stderr
    manifest.write_text(_manifest("toy/a", "      - toy: alpha\n        shape: dual\n"
                                  "      - toy: beta\n        name: TOY_SECRET_PREVIOUS"))
    assert _run(ws, "manifest", "check").returncode == 0  # another bucket is another place

    schema = json.loads(_run(ws, "manifest", "schema").stdout)
    assert {"ToyTargetConfig", "ToyCheckConfig"} <= set(schema["$defs"])


def test_a_registered_target_is_written_by_a_real_rotation(tmp_path: Path, openbao: Server, unique: str) -> None:
    ws = _ws(tmp_path)
    path = f"toy/{unique}"
    (ws / "keyturn.yml").write_text(_manifest(path, "      - toy: alpha\n        shape: dual"))
    env = {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token, "KEYTURN_AUDIT_KEY_V1": "f" * 32}
    for _ in range(2):
        r = _run(ws, "rotate", "TOY_SECRET", env=env)
        assert r.returncode == 0, r.stderr
    assert "toy length 64" in r.stdout + r.stderr  # the toy check ran on the pending value
    kv = hvac.Client(url=openbao.url, token=openbao.token).secrets.kv.v2
    versions = kv.read_secret_metadata(path=path, mount_point="secret")["data"]["versions"]
    current, previous = (kv.read_secret_version(path=path, version=v, mount_point="secret",
                                                raise_on_deleted_version=True)["data"]["data"]["value"]
                         for v in sorted(versions, key=int, reverse=True)[:2])
    assert json.loads((ws / "alpha.json").read_text()) == {"TOY_SECRET": current, "TOY_SECRET_PREVIOUS": previous}

    # A failing toy check stops the rotation before promotion: the store and the target keep CURRENT.
    (ws / "keyturn.yml").write_text(_manifest(path, "      - toy: alpha\n        shape: dual", "      - toy-check: 5"))
    r = _run(ws, "rotate", "TOY_SECRET", env=env)
    assert r.returncode == 1 and "wrong length" in r.stdout + r.stderr
    assert json.loads((ws / "alpha.json").read_text())["TOY_SECRET"] == current


def test_loading_a_manifest_imports_config_modules_only() -> None:
    """Every target and check kind in one manifest, loaded: the backends' light config
    modules are imported, no implementation module and no SDK."""
    manifest = textwrap.dedent("""\
        version: 1
        stores:
          bao: {type: openbao}
          aws: {type: aws, region: us-east-1}
          az: {type: azure, vault_url: "https://kv.vault.azure.net"}
        secrets:
          A:
            store: bao
            path: a/b
            generator: {type: hex}
            targets:
              - file: deploy/.env
              - github: acme/api
                environments: [prod]
              - github-org: acme
            validate:
              - command: [sh, -c, "true"]
              - http: {url: "https://example.test/health"}
              - github-workflow: {repository: acme/api, workflow: smoke.yml}
              - aws-sts: {}
              - vault-token: {}
        """)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from keyturn.manifest import parse_manifest\n"
        f"m = parse_manifest({manifest!r}, Path('keyturn.yml'))\n"
        "assert len(m.model.secrets['A'].targets) == 3 and len(m.model.secrets['A'].validate_) == 5\n"
        "sdk = ('boto3', 'botocore', 'hvac', 'azure', 'github', 'nacl', 'requests', 'urllib3', 'jinja2')\n"
        "impl = ('keyturn.targets.file', 'keyturn.targets.github', 'keyturn.validators.command',\n"
        "        'keyturn.validators.http', 'keyturn.validators.aws_sts', 'keyturn.validators.vault_token',\n"
        "        'keyturn.validators.github_workflow', 'keyturn.rotation.engine')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in sdk or m in impl)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO / "src")}).stdout.strip()
    assert out == ""
