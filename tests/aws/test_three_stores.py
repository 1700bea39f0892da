"""One manifest with a secret in each of the three stores — OpenBao, AWS Secrets Manager
(moto server) and Azure Key Vault (the HTTPS fake, GitHub OIDC login) — rotated end to
end by real ``keyturn`` processes: create → verify → promote → distribute → smoke, a
rotation in grace, a smoke-failure rollback, an emergency rotation and finalize. The
engine is the same for all three; after emergency only CURRENT is live in each store."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import hvac
import pytest

from keyturn.stores.azure import kv_name
from keyturn.targets.file import FileTarget
from tests.aws.moto_server import aws_env
from tests.azure_support import identity, keyvault, oidc_env  # noqa: F401 (fixtures)
from tests.conftest import subprocess_env

MANIFEST = """\
version: 1
audit: {{log: logs/audit.jsonl, evidence_dir: logs/evidence}}
stores:
  bao: {{type: openbao, mount: secret}}
  sm: {{type: aws, min_interval: 0s}}
  kv: {{type: azure, vault_url: "{kv_url}", ca_cert: "{ca}", auth: {{method: github-oidc}}}}
secrets:
{secrets}"""

SECRET = """\
  {name}:
    store: {store}
    path: three/{uid}
    generator: {{type: hex, bytes: 32}}
    policy: {{max_age: 90d, grace: 24h}}
    targets:
      - file: deploy/app.env
      - file: deploy/{lower}.env
        shape: dual
    validate:
      - command: ["sh", "-c", "test ${{#KEYTURN_VALUE}} -eq 64"]
    smoke:
      - command: ["sh", "-c", "test ! -e fail-smoke && grep -q '^{name}=' deploy/app.env"]
"""


@pytest.fixture
def three(tmp_path: Path, openbao: Any, moto: Any, keyvault: Any, identity: Any) -> dict[str, Any]:  # noqa: F811
    uid = uuid.uuid4().hex[:10]
    secrets = "".join(SECRET.format(name=n, store=s, uid=uid, lower=n.lower())
                      for n, s in (("BAO_S", "bao"), ("AWS_S", "sm"), ("AZ_S", "kv")))
    root = tmp_path / "ws"
    root.mkdir()
    (root / "keyturn.yml").write_text(MANIFEST.format(kv_url=keyvault.url, ca=keyvault.ca_pem, secrets=secrets))
    oidc, authority = identity
    env = subprocess_env({"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token, **aws_env(moto),
                          **oidc_env(keyvault, oidc, authority), "KEYTURN_AUDIT_KEY_V1": "k" * 32,
                          "AWS_CONFIG_FILE": "/nonexistent/c", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/s"})
    aws = aws_env(moto)
    sm = boto3.client("secretsmanager", region_name=aws["AWS_REGION"], endpoint_url=aws["AWS_ENDPOINT_URL"],
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bao = hvac.Client(url=openbao.url, token=openbao.token)
    return {"root": root, "env": env, "uid": uid, "sm": sm, "bao": bao, "kv": keyvault}


def _run(t: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keyturn", *args], cwd=t["root"], env=t["env"],
                          capture_output=True, text=True, timeout=180)


def _current(t: dict[str, Any]) -> dict[str, str | None]:
    path = f"three/{t['uid']}"
    bao = t["bao"].secrets.kv.v2.read_secret_version(path=path, mount_point="secret", raise_on_deleted_version=True)
    aws = t["sm"].get_secret_value(SecretId=path, VersionStage="AWSCURRENT")["SecretString"]
    return {"BAO_S": bao["data"]["data"]["value"], "AWS_S": aws, "AZ_S": t["kv"].latest_value(kv_name(path))}


def _live_counts(t: dict[str, Any]) -> dict[str, int]:
    path = f"three/{t['uid']}"
    meta = t["bao"].secrets.kv.v2.read_secret_metadata(path=path, mount_point="secret")["data"]["versions"]
    bao = sum(1 for v in meta.values() if not v["deletion_time"] and not v["destroyed"])
    stages = t["sm"].describe_secret(SecretId=path).get("VersionIdsToStages", {})
    aws = sum(1 for v in stages.values() if v)
    az = sum(1 for v in t["kv"].versions(kv_name(path)) if v.enabled)
    return {"BAO_S": bao, "AWS_S": aws, "AZ_S": az}


def _targets(t: dict[str, Any]) -> dict[str, str]:
    return {k: v.reveal() for k, v in FileTarget(t["root"] / "deploy" / "app.env").read().items()}


def _ok(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 0, r.stderr


def test_one_manifest_three_stores_end_to_end(three: dict[str, Any]) -> None:
    t = three
    names = ["BAO_S", "AWS_S", "AZ_S"]
    _ok(_run(t, "rotate", *names))
    first = _current(t)
    assert all(first.values()) and _targets(t) == first  # I2 in every store
    _ok(_run(t, "rotate", *names))
    second = _current(t)
    assert all(second[n] != first[n] for n in names)
    for n in names:  # dual targets carry PREVIOUS in grace
        dual = {k: v.reveal() for k, v in FileTarget(t["root"] / "deploy" / f"{n.lower()}.env").read().items()}
        assert dual[n] == second[n] and dual[f"{n}_PREVIOUS"] == first[n]
    assert _live_counts(t) == {"BAO_S": 2, "AWS_S": 2, "AZ_S": 2}
    # A failed smoke check rolls each store back (I4).
    (t["root"] / "fail-smoke").touch()
    r = _run(t, "rotate", *names)
    assert r.returncode == 1 and r.stderr.count("rolled back") == 3, r.stderr
    assert _current(t) == second and _targets(t) == second
    (t["root"] / "fail-smoke").unlink()
    # Emergency: grace 0, every other version revoked (I8).
    _ok(_run(t, "rotate", *names, "--mode", "emergency", "--reason", "drill"))
    third = _current(t)
    assert all(third[n] not in (first[n], second[n]) for n in names) and _targets(t) == third
    _ok(_run(t, "finalize"))
    assert _live_counts(t) == {"BAO_S": 1, "AWS_S": 1, "AZ_S": 1}
    doctor = _run(t, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    for text in (_run(t, "status").stdout, (t["root"] / "logs" / "audit.jsonl").read_text()):
        assert not any(v in text for v in list(first.values()) + list(third.values()) if v)
