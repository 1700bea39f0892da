"""A throw-away keyturn workspace whose secret lives in AWS Secrets Manager (the
session's moto server), driven through real ``python -m keyturn`` processes so tests
can SIGKILL them at stage boundaries. The store is read back with boto3 and an
explicit ``VersionStage``, as any reader would (moto does not move its default version)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3

from keyturn.targets.file import FileTarget
from tests.aws.moto_server import aws_env
from tests.conftest import subprocess_env

MANIFEST = """\
version: 1
audit:
  log: logs/audit.jsonl
  evidence_dir: logs/evidence
stores:
  sm:
    type: aws
    min_interval: {min_interval}
secrets:
  {name}:
    store: sm
    path: inv/{uid}
{key_line}    generator: {{type: hex, bytes: 32}}
    policy: {{max_age: 90d, grace: {grace}}}
    impacted_services: [api]
    targets:
      - file: deploy/app.env
      - file: deploy/dual.env
        shape: dual
      - file: deploy/versioned.env
        shape: versioned
    validate:
      - command: ["sh", "-c", "test ${{#KEYTURN_VALUE}} -eq 64 && test ! -e fail-verify"]
    smoke:
      - command: ["sh", "-c", "test ! -e fail-smoke && grep -q '^{name}=' deploy/app.env"]
"""


class AwsWorkspace:
    def __init__(self, root: Path, server: Any, *, grace: str = "24h", key: str = "", min_interval: str = "0s",
                 name: str = "AWS_SECRET") -> None:
        self.root = root
        self.name = name
        self.key = key
        self.path = f"inv/{uuid.uuid4().hex[:12]}"
        root.mkdir(parents=True, exist_ok=True)
        (root / "keyturn.yml").write_text(MANIFEST.format(
            name=name, uid=self.path.split("/")[1], grace=grace, min_interval=min_interval,
            key_line=f"    key: {key}\n" if key else ""))
        self.aws = aws_env(server)
        self.env = subprocess_env({**self.aws, "KEYTURN_AUDIT_KEY_V1": "k" * 32,
                                   "AWS_CONFIG_FILE": "/nonexistent/aws-config",
                                   "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials"})
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
            self.env.pop(k, None)
        self.sm = boto3.client("secretsmanager", region_name=self.aws["AWS_REGION"],
                               endpoint_url=self.aws["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                               aws_secret_access_key="testing")

    # -- running -----------------------------------------------------------------
    def run(self, *args: str, fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = dict(self.env)
        if fault:
            env["KEYTURN_FAULT_INJECT"] = f"kill-after:{fault}"
        return subprocess.run([sys.executable, "-m", "keyturn", *args], cwd=self.root, env=env,
                              capture_output=True, text=True, timeout=timeout)

    def rotate(self, *extra: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("rotate", self.name, *extra, fault=fault)

    # -- the store, as an ordinary reader sees it ----------------------------------------
    def _field(self, text: str) -> str:
        return str(json.loads(text)[self.key]) if self.key else text

    def text(self, stage: str = "AWSCURRENT") -> str | None:
        try:
            return str(self.sm.get_secret_value(SecretId=self.path, VersionStage=stage)["SecretString"])
        except (self.sm.exceptions.ResourceNotFoundException, self.sm.exceptions.InvalidRequestException):
            return None

    def reader(self) -> str | None:
        text = self.text()
        return None if text is None else self._field(text)

    def stages(self) -> dict[str, list[str]]:
        try:
            info = self.sm.describe_secret(SecretId=self.path)
        except self.sm.exceptions.ResourceNotFoundException:
            return {}
        return {k: v for k, v in info.get("VersionIdsToStages", {}).items() if v}

    def current_version(self) -> str | None:
        return next((k for k, v in self.stages().items() if "AWSCURRENT" in v), None)

    def live_versions(self) -> list[str]:
        return sorted(self.stages())

    def version_value(self, version: str) -> str | None:
        try:
            text = self.sm.get_secret_value(SecretId=self.path, VersionId=version)["SecretString"]
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        return self._field(str(text))

    def all_versions(self) -> list[str]:
        try:
            resp = self.sm.list_secret_version_ids(SecretId=self.path, IncludeDeprecated=True)
        except self.sm.exceptions.ResourceNotFoundException:
            return []
        return [v["VersionId"] for v in resp["Versions"]]

    def journal(self) -> dict[str, Any]:
        try:
            text = self.sm.get_secret_value(SecretId=self.path + ".keyturn-rotation",
                                            VersionStage="AWSCURRENT")["SecretString"]
        except self.sm.exceptions.ResourceNotFoundException:
            return {}
        return dict(json.loads(text))

    def previous_version(self) -> str | None:
        prev = sorted((v for v in self.journal().get("versions", []) if v["role"] == "previous"),
                      key=lambda v: v["generation"])
        return prev[-1]["version"] if prev else None

    # -- targets -------------------------------------------------------------------
    def dotenv(self, rel: str) -> dict[str, str]:
        p = self.root / rel
        return {k: v.reveal() for k, v in FileTarget(p).read().items()} if p.exists() else {}

    def target_values(self) -> list[str]:
        return [v for rel in ("deploy/app.env", "deploy/dual.env", "deploy/versioned.env")
                for k, v in self.dotenv(rel).items() if not k.endswith("_ACTIVE_VERSION")]

    def audit_events(self) -> list[dict[str, Any]]:
        log = self.root / "logs" / "audit.jsonl"
        return [json.loads(x) for x in log.read_text().splitlines() if x.strip()] if log.exists() else []
