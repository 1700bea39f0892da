"""AWS errors → exit codes and one-line messages that name the missing permission and
never the payload: AccessDenied from a real moto server enforcing an IAM policy, and
throttling / KMS / deletion / conflicts at the SDK boundary (botocore's Stubber, since
moto neither throttles nor models KMS key state). Retries use full jitter."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from keyturn.errors import Conflict, StoreUnavailable, UsageError
from keyturn.stores.aws import AwsStore, AwsStoreConfig
from keyturn.stores.aws_errors import Caller
from keyturn.stores.base import RotationId, SecretRef
from keyturn.values import SecretValue
from tests.aws.moto_server import REGION, start_moto

PAYLOAD = "payload-that-must-never-appear-0123456789"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:app/db-AbCdEf"


def _store(**kw: Any) -> AwsStore:
    env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": REGION,
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}
    store = AwsStore("main", AwsStoreConfig(type="aws", **kw), env, retries=3, backoff=0.2)
    return store


@pytest.fixture
def stubbed() -> Iterator[tuple[AwsStore, Stubber, list[float]]]:
    store = _store(kms_key_id="alias/rotation")
    slept: list[float] = []
    store.call.sleep = slept.append
    with Stubber(store._sm) as stub:
        yield store, stub, slept
        stub.assert_no_pending_responses()


def _described(stub: Stubber, stages: dict[str, list[str]] | None = None) -> None:
    stub.add_response("describe_secret", {"ARN": ARN, "Name": "app/db",
                                          "VersionIdsToStages": stages or {"v" * 32: ["AWSCURRENT"]}})


REF = SecretRef("S", "app/db", "")


def test_throttling_is_retried_with_jitter_then_succeeds(stubbed: Any) -> None:
    store, stub, slept = stubbed
    for _ in range(2):
        stub.add_client_error("describe_secret", "ThrottlingException", "Rate exceeded", 400)
    _described(stub)
    stub.add_response("list_secret_version_ids", {"Versions": []})
    assert store.describe(REF).current == "v" * 32
    assert len(slept) == 2 and 0 <= slept[0] <= 0.2 and 0 <= slept[1] <= 0.4


def test_jitter_is_full_and_capped() -> None:
    caller = Caller("aws:x", lambda s: s, None, backoff=0.5, cap=2.0)
    delays = [caller.delay(5) for _ in range(200)]
    assert all(0 <= d <= 2.0 for d in delays) and len({round(d, 6) for d in delays}) > 150


def test_throttled_after_retries_is_exit_4(stubbed: Any) -> None:
    store, stub, slept = stubbed
    for _ in range(4):
        stub.add_client_error("describe_secret", "TooManyRequestsException", PAYLOAD, 429)
    with pytest.raises(StoreUnavailable) as err:
        store.describe(REF)
    msg = str(err.value)
    assert err.value.exit_code == 4 and "after 4 attempts (throttled or unavailable)" in msg
    assert PAYLOAD not in msg and "\n" not in msg and len(slept) == 3


def test_kms_key_disabled_names_the_key_and_permissions(stubbed: Any) -> None:
    store, stub, _ = stubbed
    _described(stub, {"c" * 32: ["AWSCURRENT"]})
    stub.add_client_error("get_secret_value", "ResourceNotFoundException", "no such version", 400)  # not adopted
    # (no key: the CURRENT value is not read — nothing of it is kept in the new version)
    stub.add_client_error("put_secret_value", "KMSDisabledException", f"key is disabled {PAYLOAD}", 400)
    with pytest.raises(StoreUnavailable) as err:
        store.create_pending(REF, RotationId("r" * 40), SecretValue(PAYLOAD, mask=False))
    msg = str(err.value)
    assert "KMSDisabledException on PutSecretValue" in msg and "KMS key alias/rotation is disabled" in msg
    assert "kms:Decrypt and kms:GenerateDataKey" in msg and PAYLOAD not in msg and err.value.exit_code == 4


def test_decryption_failure_on_read_is_a_kms_message(stubbed: Any) -> None:
    store, stub, _ = stubbed
    stub.add_client_error("get_secret_value", "DecryptionFailure", "cannot decrypt", 400)
    with pytest.raises(StoreUnavailable, match="DecryptionFailure on GetSecretValue .* KMS key alias/rotation"):
        store.read(REF, "v" * 32)  # type: ignore[arg-type]


def test_scheduled_for_deletion_is_a_usage_error_with_the_restore_command(stubbed: Any) -> None:
    store, stub, _ = stubbed
    stub.add_client_error("describe_secret", "InvalidRequestException",
                          "You can't perform this operation on the secret because it was marked for deletion.", 400)
    with pytest.raises(UsageError, match="scheduled for deletion — restore it .*restore-secret --secret-id app/db") \
            as err:
        store.preflight(REF)
    assert err.value.exit_code == 2


def test_concurrent_create_is_a_conflict(stubbed: Any) -> None:
    store, stub, _ = stubbed
    stub.add_client_error("describe_secret", "ResourceNotFoundException", "nope", 400)
    stub.add_client_error("create_secret", "ResourceExistsException", "exists", 400)
    stub.add_client_error("get_secret_value", "ResourceNotFoundException", "nope", 400)
    with pytest.raises(Conflict) as err:
        store.create_pending(REF, RotationId("r" * 40), SecretValue(PAYLOAD, mask=False))
    assert err.value.exit_code == 3 and "created or written concurrently (CreateSecret)" in str(err.value)


def test_expired_credentials_are_named(stubbed: Any) -> None:
    store, stub, _ = stubbed
    stub.add_client_error("describe_secret", "ExpiredTokenException", "expired", 400)
    with pytest.raises(StoreUnavailable, match="credentials are invalid or expired"):
        store.describe(REF)


def test_unreachable_endpoint_is_retried_then_exit_4() -> None:
    store = _store()
    store.call.sleep = lambda s: None
    with pytest.raises(StoreUnavailable, match="failed after 4 attempts .*AWS_ENDPOINT_URL") as err:
        store.describe(REF)
    assert err.value.exit_code == 4


# ---------------------------------------------------------------------------- real IAM denial
@pytest.fixture
def enforcing_moto(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A moto server that enforces IAM after the 4 setup calls: a user whose policy
    allows everything keyturn reads and writes except UpdateSecretVersionStage."""
    server = start_moto(tmp_path / "moto-iam", extra_env={"INITIAL_NO_AUTH_ACTION_COUNT": "4"})
    try:
        admin = {"region_name": REGION, "endpoint_url": server.url, "aws_access_key_id": "admin",
                 "aws_secret_access_key": "admin"}
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="rotator")
        iam.put_user_policy(UserName="rotator", PolicyName="p", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": [
                "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
                "secretsmanager:CreateSecret", "secretsmanager:ListSecretVersionIds", "secretsmanager:TagResource"]}]}))
        key = iam.create_access_key(UserName="rotator")["AccessKey"]
        boto3.client("secretsmanager", **admin).create_secret(Name="app/db", SecretString="initial-value-0001")
        yield {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
               "AWS_REGION": REGION, "AWS_ENDPOINT_URL": server.url}
    finally:
        server.stop()


def test_access_denied_names_the_action_and_the_secret_arn(enforcing_moto: dict[str, str]) -> None:
    store = AwsStore("main", AwsStoreConfig(type="aws"), enforcing_moto, retries=0)
    rid = RotationId("20260101T000000Z-" + uuid.uuid4().hex[:24])
    value = SecretValue(PAYLOAD, mask=False)
    head = store.describe(REF).head
    store.create_pending(REF, rid, value)
    with pytest.raises(StoreUnavailable) as err:
        store.promote(REF, rid, value, head)
    msg = str(err.value)
    assert "AccessDenied on UpdateSecretVersionStage for app/db" in msg, msg
    assert "the role needs secretsmanager:UpdateSecretVersionStage on arn:aws:secretsmanager:us-east-1:" in msg
    assert ":secret:app/db-" in msg and PAYLOAD not in msg and err.value.exit_code == 4


def test_create_after_a_force_delete_waits_for_the_name(stubbed: Any) -> None:
    store, stub, slept = stubbed
    rid = RotationId("r" * 40)
    stub.add_client_error("describe_secret", "ResourceNotFoundException", "nope", 400)
    stub.add_client_error("create_secret", "InvalidRequestException", "You can't create this secret because a "
                          "secret with this name is already scheduled for deletion.", 400)
    stub.add_response("create_secret", {"ARN": ARN, "Name": "app/db", "VersionId": rid})
    stub.add_response("update_secret_version_stage", {"ARN": ARN, "Name": "app/db"})
    _described(stub, {rid: ["AWSCURRENT", "AWSPENDING"]})
    stub.add_response("get_secret_value", {"SecretString": PAYLOAD, "VersionId": rid})
    got = store.create_pending(REF, rid, SecretValue(PAYLOAD, mask=False))
    assert got.reveal() == PAYLOAD and len(slept) == 1
