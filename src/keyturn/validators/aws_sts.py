"""``aws-sts`` check: ``sts:GetCallerIdentity`` signed with the new access key pair.

The value is a JSON object holding the key id and the secret key (field names
configurable; by default ``AccessKeyId`` / ``SecretAccessKey``, as IAM returns them, or
``access_key_id`` / ``secret_access_key``, as the ``aws-iam`` issuer stores them). The
check passes when STS accepts the signature — GetCallerIdentity needs no IAM permission,
so it proves exactly that the key pair is live — and, when ``expect_account`` is set,
when the caller's account matches. The detail carries the AWS error code or the caller's
ARN only (key ids and ARNs are identifiers, not secrets), never the key. boto3 is
imported lazily: only manifests that use this check need it. Never imports a store,
target or the engine.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from keyturn.validators.base import CheckResult
from keyturn.values import SecretValue

if TYPE_CHECKING:
    from pathlib import Path

    from keyturn.validators.aws_sts_config import AwsStsCheckConfig


#: the field names IAM's CreateAccessKey answers with
IAM_FIELDS = ("AccessKeyId", "SecretAccessKey")


class AwsStsCheck:
    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        access_key_id_field: str | None = None,
        secret_access_key_field: str | None = None,
        expect_account: str | None = None,
        timeout: float = 20,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.region, self.endpoint_url = region, endpoint_url
        self.fields: tuple[tuple[str, str], ...]
        if access_key_id_field or secret_access_key_field:
            self.fields = ((access_key_id_field or IAM_FIELDS[0], secret_access_key_field or IAM_FIELDS[1]),)
        else:  # IAM's own names, then those the aws-iam issuer stores
            from keyturn.issuers.aws_iam import AwsIamKeyGen

            issued_id, issued_secret = AwsIamKeyGen.FIELDS
            self.fields = (IAM_FIELDS, (issued_id, issued_secret))
        self.expect_account = expect_account
        self.timeout = float(timeout)
        self._environ = environ

    @property
    def label(self) -> str:
        return "aws-sts GetCallerIdentity" + (f" (account {self.expect_account})" if self.expect_account else "")

    def _keys(self, value: SecretValue) -> tuple[str, str] | None:
        try:
            data = json.loads(value.reveal())
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        for id_field, secret_field in self.fields:
            key_id, secret = data.get(id_field), data.get(secret_field)
            if isinstance(key_id, str) and isinstance(secret, str) and key_id and secret:
                return key_id, secret
        return None

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        started = time.monotonic()
        ok, detail = self._check(value)
        return CheckResult(ok, self.label, detail, round(time.monotonic() - started, 3))

    def _check(self, value: SecretValue) -> tuple[bool, str]:
        keys = self._keys(value)
        if keys is None:
            pairs = [f"{a} and {b}" for a, b in self.fields]
            wanted = pairs[0] + "".join(f" (or {p})" for p in pairs[1:])
            return False, f"the value is not a JSON object with string fields {wanted}"
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        env = os.environ if self._environ is None else self._environ
        region = self.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        endpoint = self.endpoint_url or env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL") or None
        config = Config(connect_timeout=self.timeout, read_timeout=self.timeout, retries={"max_attempts": 2})
        client: Any = boto3.session.Session().client(
            "sts", region_name=region, endpoint_url=endpoint, aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1], aws_session_token=None, config=config)
        try:
            identity = client.get_caller_identity()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "error"))
            return False, f"STS refused the key pair: {code}"
        except BotoCoreError as exc:
            return False, f"STS unreachable: {type(exc).__name__}"
        account, arn = str(identity.get("Account", "")), str(identity.get("Arn", ""))
        if self.expect_account and account != self.expect_account:
            return False, f"caller {arn} is in account {account}, expected {self.expect_account}"
        return True, f"caller {arn}"


def build(config: AwsStsCheckConfig, base_dir: Path, environ: Mapping[str, str] | None = None) -> AwsStsCheck:
    """The registry's builder for ``- aws-sts:`` entries (boto3 is imported when the check runs)."""
    sts = config.aws_sts
    return AwsStsCheck(region=sts.region, endpoint_url=sts.endpoint_url,
                       access_key_id_field=sts.access_key_id_field,
                       secret_access_key_field=sts.secret_access_key_field,
                       expect_account=sts.expect_account, timeout=sts.timeout.total_seconds(), environ=environ)
