"""The README's AWS section cannot drift: its manifest loads with ``type: aws``, its
least-privilege policy grants every Secrets Manager action the store calls (and no
other), and the JSON Schema knows the store's settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from keyturn import manifest
from keyturn.errors import ManifestError
from keyturn.stores.aws import AwsStoreConfig
from tests.conftest import REPO


def _section() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## AWS Secrets Manager setup")
    return text[start:text.index("\n## ", start + 1)]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), flags=re.S)


def test_readme_manifest_loads_as_an_aws_store(tmp_path: Path) -> None:
    loaded = manifest.parse_manifest(_blocks("yaml")[0], tmp_path / "keyturn.yml")
    store = loaded.model.stores["aws"]
    assert isinstance(store, AwsStoreConfig)
    assert store.region == "eu-west-1" and store.kms_key_id == "alias/rotation" and store.key == "password"
    assert loaded.entry_key("DB_PASSWORD") == "password"


def test_readme_policy_grants_exactly_the_actions_the_store_calls() -> None:
    policy = json.loads(_blocks("json")[1])
    granted = {a.split(":", 1)[1] for st in policy["Statement"] for a in st["Action"]
               if a.startswith("secretsmanager:")}
    source = (REPO / "src/keyturn/stores/aws.py").read_text()
    called = set(re.findall(r'call\(\s*"(\w+)"', source))
    assert called and called | {"TagResource"} == granted
    resources = policy["Statement"][0]["Resource"]
    assert any(r.endswith(":secret:prod/db.keyturn-rotation-??????") for r in resources)


def test_bad_aws_settings_are_one_line_manifest_errors(tmp_path: Path) -> None:
    text = _blocks("yaml")[0].replace("auth: {method: default}", "auth: {method: keys}")
    with pytest.raises(ManifestError) as err:
        manifest.parse_manifest(text, tmp_path / "keyturn.yml")
    assert "keyturn.yml:" in str(err.value) and "auth" in str(err.value)
    text = _blocks("yaml")[0].replace("kms_key_id:", "kms_key:")
    with pytest.raises(ManifestError, match="kms_key"):
        manifest.parse_manifest(text, tmp_path / "keyturn.yml")


def test_the_schema_describes_the_aws_store() -> None:
    schema = json.dumps(manifest.json_schema())
    for field in ("kms_key_id", "min_interval", "github-oidc", "AwsStoreConfig"):
        assert field in schema
