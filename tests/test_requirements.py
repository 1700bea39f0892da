"""The split locks of actions/setup and ``keyturn manifest stores``, which chooses among them.

``requirements/{core,vault,aws,azure,scan}.txt`` are derived from ``requirements/action.txt`` by
``scripts/derive_requirements.py`` (same pins, same hashes). These tests check that each lock
holds its own SDK and no other cloud SDK, that together they cover action.txt, that the drift
check fails when a lock is edited by hand or an ``.in`` file stops mirroring pyproject.toml (on a
copy of the checkout), and that ``keyturn manifest stores`` names the SDKs a manifest needs while
importing none of them. One slow test runs the real setup script with ``stores: auto``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keyturn.cli import main

REPO = Path(__file__).resolve().parents[1]
REQ = REPO / "requirements"
SCRIPT = REPO / "scripts" / "derive_requirements.py"

#: Each store's SDK packages (what must be in its lock and in no other).
SDKS = {
    "vault": {"hvac"},
    "aws": {"boto3", "botocore", "s3transfer"},
    "azure": {"azure-core", "azure-identity", "azure-keyvault-secrets", "msal", "msal-extensions"},
}
CLOUD = set().union(*SDKS.values())
GITHUB = {"pygithub", "pynacl"}
SCANNER = {"detect-secrets", "hyperscan"}
CORE = {"pyyaml", "pydantic", "jinja2", "cryptography", "setuptools", "wheel"}


def lock_blocks(name: str) -> dict[str, str]:
    """package -> its block (pin line, hashes, via comments) in requirements/<name>.txt."""
    text = (REQ / f"{name}.txt").read_text(encoding="utf-8")
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"^([A-Za-z0-9_.-]+)==", block)
        if m:  # the pin line and its indented lines (hashes, via), not a comment that follows
            lines = block.splitlines()
            body = [lines[0], *(line for line in lines[1:] if line.startswith("    "))]
            out[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = "\n".join(body)
    return out


def derive(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)


# --------------------------------------------------------------------------- the locks


def test_split_locks_are_what_the_script_derives() -> None:
    result = derive("--check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("store", sorted(SDKS))
def test_each_store_lock_has_its_sdk_and_no_other(store: str) -> None:
    packages = set(lock_blocks(store))
    assert SDKS[store] <= packages
    assert not packages & (CLOUD - SDKS[store]), packages & (CLOUD - SDKS[store])
    assert not packages & (GITHUB | SCANNER | {"pydantic", "pyyaml", "jinja2"})  # those come with core.txt
    assert not any(p.startswith("azure") for p in packages) or store == "azure"


def test_core_lock_has_keyturn_github_and_build_backend_but_no_store_sdk_or_scanner() -> None:
    packages = set(lock_blocks("core"))
    assert CORE | GITHUB <= packages
    assert not packages & (CLOUD | SCANNER)


def test_scan_lock_has_the_scanner_and_no_cloud_sdk() -> None:
    packages = set(lock_blocks("scan"))
    assert CORE | SCANNER <= packages
    assert not packages & (CLOUD | GITHUB)
    assert not any(p.startswith(("azure", "boto", "msal")) for p in packages)


@pytest.mark.parametrize("lock", ["core", "vault", "aws", "azure", "postgres", "scan"])
def test_lock_blocks_are_action_lock_blocks(lock: str) -> None:
    """Same pins and hashes as action.txt, every package hash-pinned."""
    action = lock_blocks("action")
    blocks = lock_blocks(lock)
    assert blocks
    for name, block in blocks.items():
        assert "--hash=sha256:" in block, name
        assert block == action[name], name


def test_split_locks_cover_the_action_lock() -> None:
    covered = set().union(*(lock_blocks(n) for n in ("core", "vault", "aws", "azure", "postgres", "scan")))
    assert covered == set(lock_blocks("action"))


# --------------------------------------------------------------------------- the drift check can fail


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what the script reads: pyproject.toml and requirements/."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REQ, root / "requirements")
    assert derive("--check", "--root", root).returncode == 0
    return root


def test_a_hand_edited_lock_is_stale(checkout: Path) -> None:
    aws = checkout / "requirements" / "aws.txt"
    original = aws.read_text(encoding="utf-8")
    # A hand edit: pin botocore differently (its hashes would no longer match action.txt's).
    aws.write_text(original.replace("botocore==1.44.5", "botocore==1.44.4"), encoding="utf-8")
    result = derive("--check", "--root", checkout)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "requirements/aws.txt" in result.stderr
    assert "core.txt" not in result.stderr
    # Without --check the script writes it back.
    result = derive("--root", checkout)
    assert result.returncode == 0 and result.stdout == "wrote requirements/aws.txt\n"
    assert aws.read_text(encoding="utf-8") == original


def test_an_added_package_in_a_lock_is_stale(checkout: Path) -> None:
    vault = checkout / "requirements" / "vault.txt"
    boto = lock_blocks("action")["boto3"]
    vault.write_text(vault.read_text(encoding="utf-8") + boto + "\n", encoding="utf-8")
    result = derive("--check", "--root", checkout)
    assert result.returncode == 1 and "requirements/vault.txt" in result.stderr


def test_a_missing_lock_is_stale(checkout: Path) -> None:
    (checkout / "requirements" / "azure.txt").unlink()
    result = derive("--check", "--root", checkout)
    assert result.returncode == 1 and "requirements/azure.txt" in result.stderr


def test_an_extra_that_drifts_from_its_in_file_fails(checkout: Path) -> None:
    pyproject = checkout / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace(
        'aws = ["boto3>=1.34"]', 'aws = ["boto3>=1.34", "aws-requests-auth>=0.4"]'), encoding="utf-8")
    result = derive("--check", "--root", checkout)
    assert result.returncode == 1
    assert "requirements/aws.in does not mirror pyproject.toml" in result.stderr
    assert "aws-requests-auth" in result.stderr


def test_an_action_in_that_is_not_the_union_fails(checkout: Path) -> None:
    action_in = checkout / "requirements" / "action.in"
    action_in.write_text(action_in.read_text(encoding="utf-8").replace("hvac>=2.1,<3\n", ""), encoding="utf-8")
    result = derive("--check", "--root", checkout)
    assert result.returncode == 1 and "action.in is not the union" in result.stderr and "hvac" in result.stderr


def test_a_store_lock_that_would_pull_another_store_sdk_fails(checkout: Path) -> None:
    """If a store SDK started depending on another one, the split would be a lie: refuse it."""
    action = checkout / "requirements" / "action.txt"
    text = action.read_text(encoding="utf-8")
    text = re.sub(r"(boto3==[^\n]*\n(?:    --hash[^\n]*\n)*)    # via -r requirements/action.in\n",
                  r"\1    # via\n    #   -r requirements/action.in\n    #   hvac\n", text, count=1)
    assert "#   hvac" in text
    action.write_text(text, encoding="utf-8")
    result = derive("--check", "--root", checkout)
    assert result.returncode == 1
    assert "requirements/vault.txt would pull in another SDK lock's packages: ['boto3'" in result.stderr


# --------------------------------------------------------------------------- keyturn manifest stores


def manifest(tmp_path: Path, stores: str, checks: str = "") -> Path:
    path = tmp_path / "keyturn.yml"
    path.write_text(textwrap.dedent("""\
        version: 1
        stores:
        {stores}
        secrets:
          DB:
            store: first
            path: app/db
            generator: {{type: hex, bytes: 16}}
        {checks}
        """).format(stores=textwrap.indent(textwrap.dedent(stores), "  "),
                    checks=textwrap.indent(textwrap.dedent(checks), "    ")), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("stores", "checks", "expected"),
    [
        ("first: {type: vault}\n", "", "vault\n"),
        ("first: {type: openbao}\n", "", "vault\n"),
        ("first: {type: aws, region: us-east-1}\n", "", "aws\n"),
        ("first: {type: azure, vault_url: 'https://kv.vault.azure.net'}\n", "", "azure\n"),
        ("first: {type: azure, vault_url: 'https://kv.vault.azure.net'}\nsecond: {type: vault}\n"
         "third: {type: openbao}\n", "", "azure\nvault\n"),
        ("first: {type: vault}\n", "validate:\n  - aws-sts: {region: us-east-1}\n", "aws\nvault\n"),
        ("first: {type: aws}\n", "smoke:\n  - vault-token: {}\n", "aws\nvault\n"),
        ("first: {type: aws}\n", "smoke:\n  - command: ['true']\n", "aws\n"),
    ],
)
def test_manifest_stores_names_the_sdks_the_manifest_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stores: str, checks: str, expected: str
) -> None:
    path = manifest(tmp_path, stores, checks)
    assert main(["manifest", "stores", "--manifest", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == expected and out.err == ""


@pytest.mark.parametrize(
    ("generator", "expected"),
    [
        ("{type: postgres-password, users: [app_a, app_b]}", "postgres\nvault\n"),
        ("{type: vault-database-static-role, role: app, store: first, verify: false}", "postgres\nvault\n"),
        ("{type: aws-iam-access-key, user: deployer}", "aws\nvault\n"),
        ("{type: command, issue: [sh, -c, 'true'], revoke: [sh, -c, 'true']}", "vault\n"),
    ],
)
def test_manifest_stores_names_what_the_issuers_need(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], generator: str, expected: str
) -> None:
    """An issuer's SDK is named like a store's (the PostgreSQL issuers' `postgres` lock was
    dropped, so `stores: auto` installed a venv where they could not run)."""
    path = manifest(tmp_path, "first: {type: vault}\n")
    text = path.read_text(encoding="utf-8").replace("generator: {type: hex, bytes: 16}", f"generator: {generator}")
    path.write_text(text, encoding="utf-8")
    assert main(["manifest", "stores", "--manifest", str(path)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == expected


def test_every_extra_a_manifest_can_need_has_a_lock() -> None:
    """keyturn's list of locked extras, the derive script's, and the extras stores,
    issuers and checks declare agree: none would make `stores: auto` install nothing."""
    import importlib.util

    from keyturn._internal.sdks import IN_CORE, LOCKED
    from keyturn.issuers.registry import BUILTIN as ISSUERS
    from keyturn.stores.registry import EXTRAS as STORE_EXTRAS
    from keyturn.validators import registry as checks

    spec = importlib.util.spec_from_file_location("derive", REPO / "scripts" / "derive_requirements.py")
    assert spec is not None and spec.loader is not None
    derive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(derive)
    assert set(derive.SDKS) == LOCKED
    declared = set(STORE_EXTRAS.values()) | {e for _, extras in ISSUERS.values() for e in extras.split(",") if e}
    declared |= {getattr(c, "extra", "") for c in checks.check_config_models() if getattr(c, "extra", "")}
    assert declared - IN_CORE <= LOCKED, sorted(declared - IN_CORE - LOCKED)
    for name in LOCKED:
        assert (REPO / "requirements" / f"{name}.txt").is_file(), name


def test_manifest_stores_bad_manifest_is_a_one_line_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = manifest(tmp_path, "first: {type: gcp}\n")
    assert main(["manifest", "stores", "--manifest", str(path)]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and str(path) in out.err


BLOCK_SDKS = """\
import importlib.abc, sys
BLOCKED = {"hvac", "boto3", "botocore", "azure", "msal", "github", "nacl", "detect_secrets", "hyperscan",
           "requests", "urllib3"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("not installed: " + name, name=name)
sys.meta_path.insert(0, Block())
from keyturn.cli import main
rc = main(sys.argv[1:])
leaked = sorted({m.split(".")[0] for m in sys.modules} & BLOCKED)
print("imported:", leaked, file=sys.stderr)
sys.exit(rc)
"""


def test_manifest_stores_runs_with_no_sdk_installed(tmp_path: Path) -> None:
    """What `stores: auto` relies on: core.txt alone is enough to ask."""
    path = manifest(tmp_path, "first: {type: azure, vault_url: 'https://kv.vault.azure.net'}\nsecond: {type: aws}\n",
                    "smoke:\n  - vault-token: {}\n")
    result = subprocess.run([sys.executable, "-c", BLOCK_SDKS, "manifest", "stores", "--manifest", str(path)],
                            capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "aws\nazure\nvault\n"
    assert result.stderr == "imported: []\n"


# --------------------------------------------------------------------------- the real install


@pytest.mark.slow
def test_setup_installs_only_the_store_sdks_the_manifest_names(tmp_path: Path) -> None:
    """actions/setup with `stores: auto` on an AWS-only manifest: a real venv from core.txt +
    aws.txt (hash-checked, wheels only), boto3 importable, no other store SDK, no scanner."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    path = manifest(workspace, "first: {type: aws, region: us-east-1}\n")
    path.write_text(path.read_text(encoding="utf-8") + "  PG_APP:\n    store: first\n    path: app/pg\n"
                    "    generator: {type: postgres-password, users: [app_a, app_b]}\n", encoding="utf-8")
    files = {name: tmp_path / name.lower() for name in ("GITHUB_PATH", "GITHUB_ENV", "GITHUB_OUTPUT")}
    for f in files.values():
        f.touch()
    env = {**os.environ, "GITHUB_ACTION_PATH": str(REPO / "actions" / "setup"), "RUNNER_TEMP": str(tmp_path),
           "KEYTURN_STORES": "auto", "KEYTURN_PYTHON": sys.executable,
           **{k: str(v) for k, v in files.items()}}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run([str(REPO / "actions" / "setup" / "setup.sh")], env=env, cwd=workspace,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(requirements: core aws postgres)" in result.stdout
    assert "locks=core aws postgres" in files["GITHUB_OUTPUT"].read_text(encoding="utf-8").splitlines()
    py = tmp_path / "keyturn-venv" / "bin" / "python"
    probe = ("import importlib.util as u; print(' '.join(m for m in ('boto3', 'github', 'nacl', 'yaml', 'pg8000', "
             "'scramp', 'hvac', 'azure', 'msal', 'detect_secrets', 'hyperscan') if u.find_spec(m)))")
    found = subprocess.run([str(py), "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert found.stdout.split() == ["boto3", "github", "nacl", "yaml", "pg8000", "scramp"]
