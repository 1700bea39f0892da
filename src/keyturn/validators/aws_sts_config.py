"""The ``aws-sts`` check's manifest config (``- aws-sts: {...}``).

Imports pydantic and :mod:`keyturn._internal.configbase` only: the manifest imports it,
and loading a manifest never imports boto3. The check itself is
:mod:`keyturn.validators.aws_sts`.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from keyturn._internal.configbase import ConfigModel, Duration, KeyedConfig


class AwsStsSpec(ConfigModel):
    region: str | None = Field(default=None, description="Default: $AWS_REGION / $AWS_DEFAULT_REGION")
    endpoint_url: str | None = Field(default=None, description="Default: $AWS_ENDPOINT_URL_STS / $AWS_ENDPOINT_URL")
    access_key_id_field: str | None = Field(
        default=None, description="JSON field of the value holding the key id (default: AccessKeyId, or "
                                  "access_key_id as the aws-iam issuer stores it)")
    secret_access_key_field: str | None = Field(
        default=None, description="JSON field holding the secret key (default: SecretAccessKey, or "
                                  "secret_access_key)")
    expect_account: str | None = Field(default=None, pattern=r"^[0-9]{12}$", description="Fail unless this account")
    timeout: Duration = timedelta(seconds=20)


class AwsStsCheckConfig(KeyedConfig):
    kind_keys = ("aws-sts", "aws_sts")
    extra = "aws"

    aws_sts: AwsStsSpec = Field(alias="aws-sts")
