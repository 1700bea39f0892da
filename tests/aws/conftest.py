"""Fixtures for the AWS store: one moto server per pytest worker (session scope), reset
before each test that uses it; the standard AWS environment points at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from keyturn._internal.devserver import Server
from tests.aws.moto_server import aws_env, reset, start_moto

AWS_VARS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION",
            "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The session's moto server, empty; os.environ carries no other AWS settings."""
    reset(moto_server)
    for k in AWS_VARS:
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/keyturn-test-aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/keyturn-test-aws-credentials")
    return moto_server


@pytest.fixture
def env(moto: Server) -> dict[str, str]:
    return aws_env(moto)


@pytest.fixture
def sm(env: dict[str, str]) -> Any:
    """A plain boto3 Secrets Manager client: an ordinary reader/writer outside keyturn."""
    import boto3

    return boto3.client("secretsmanager", region_name=env["AWS_REGION"], endpoint_url=env["AWS_ENDPOINT_URL"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")
