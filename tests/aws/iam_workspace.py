"""A keyturn workspace whose secret is an IAM user's access key (generator
``aws-iam-access-key``), kept in the session moto server's Secrets Manager and written to
dotenv files through ``fields:``. IAM and the store are read back with plain boto3, as an
operator would; every pending value a check saw is appended to ``seen-values`` (a test
side channel) so leak checks know secrets that were issued and then discarded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from tests.aws.workspace import AwsWorkspace

NAME = "DEPLOY_KEY"
USER = "deployer"
FIELDS = "{AWS_ACCESS_KEY_ID: access_key_id, AWS_SECRET_ACCESS_KEY: secret_access_key}"

MANIFEST = """\
version: 1
audit:
  log: logs/audit.jsonl
  evidence_dir: logs/evidence
stores:
  sm:
    type: aws
    min_interval: 0s
secrets:
  {name}:
    store: sm
    path: {path}
    generator: {{type: aws-iam-access-key, user: {user}, verify_timeout: 5s{extra}}}
    policy: {{max_age: 90d, grace: {grace}}}
    impacted_services: [deployer]
    targets:
      - file: deploy/app.env
        fields: {fields}
      - file: deploy/dual.env
        shape: dual
        fields: {fields}
    validate:
      - command: ["sh", "-c", "printf '%s\\\\n' \\"$KEYTURN_VALUE\\" >> seen-values && test ! -e fail-verify"]
    smoke:
      - command: ["sh", "-c", "test ! -e fail-smoke && grep -q '^AWS_ACCESS_KEY_ID=AKIA' deploy/app.env"]
"""


class IamWorkspace(AwsWorkspace):
    def __init__(self, root: Path, server: Any, *, grace: str = "24h", extra: str = "", user: str = USER) -> None:
        super().__init__(root, server, name=NAME)
        self.user = user
        (root / "keyturn.yml").write_text(MANIFEST.format(
            name=NAME, path=self.path, user=user, grace=grace, extra=extra, fields=FIELDS))
        self.iam = boto3.client("iam", region_name=self.aws["AWS_REGION"], endpoint_url=self.aws["AWS_ENDPOINT_URL"],
                                aws_access_key_id="testing", aws_secret_access_key="testing")

    # -- IAM, as an operator sees it ------------------------------------------------------
    def create_user(self) -> None:
        self.iam.create_user(UserName=self.user)

    def create_key(self) -> dict[str, str]:
        made = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        return {"access_key_id": made["AccessKeyId"], "secret_access_key": made["SecretAccessKey"]}

    def keys(self) -> dict[str, str]:
        """Access key id → status."""
        meta = self.iam.list_access_keys(UserName=self.user)["AccessKeyMetadata"]
        return {k["AccessKeyId"]: k["Status"] for k in meta}

    def seed_store(self, pair: dict[str, str]) -> None:
        """The key already in use, in the store before keyturn manages it."""
        self.sm.create_secret(Name=self.path, SecretString=json.dumps(pair))

    # -- the store and targets -----------------------------------------------------------
    def pair(self, stage: str = "AWSCURRENT") -> dict[str, str] | None:
        text = self.text(stage)
        return None if text is None else dict(json.loads(text))

    def current_key(self) -> str:
        pair = self.pair()
        assert pair is not None
        return pair["access_key_id"]

    def file_pair(self, rel: str = "deploy/app.env", suffix: str = "") -> dict[str, str]:
        env = self.dotenv(rel)
        return {"access_key_id": env[f"AWS_ACCESS_KEY_ID{suffix}"],
                "secret_access_key": env[f"AWS_SECRET_ACCESS_KEY{suffix}"]}

    def seen_secrets(self) -> set[str]:
        p = self.root / "seen-values"
        lines = p.read_text().splitlines() if p.exists() else []
        return {json.loads(x)["secret_access_key"] for x in lines if x.strip()}

    def written(self) -> str:
        """Everything keyturn wrote that is not a target: audit log, evidence, the journal."""
        texts = [p.read_text(errors="replace") for p in (self.root / "logs").rglob("*") if p.is_file()]
        return "\n".join(texts + [json.dumps(self.journal())])
