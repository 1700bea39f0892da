"""AWS Secrets Manager errors → keyturn's error families, and retries with jitter.

One place decides what an AWS error means for a rotation: throttling, 5xx and lost
connections are retried with full jitter (``uniform(0, base·2^n)``, capped) and then
reported as :class:`StoreUnavailable` (exit 4); access denied names the IAM action and
the secret's ARN (``secretsmanager:UpdateSecretVersionStage on arn:…``); a disabled or
unusable KMS key names the key and the KMS permissions; a secret scheduled for deletion
and missing credentials or region are usage errors (exit 2) that name the fix. Messages
are built from error codes, action names and ARNs only: AWS error text can quote request
parameters, so it is never copied into a message. boto3/botocore are imported lazily.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from keyturn.errors import Conflict, KeyturnError, StoreUnavailable, UsageError

T = TypeVar("T")

THROTTLED = frozenset({
    "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
    "ServiceUnavailable", "ServiceUnavailableException", "InternalServiceError", "InternalFailure",
    "RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete",
})
DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
BAD_CREDENTIALS = frozenset({
    "UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException",
    "SignatureDoesNotMatch", "ExpiredTokenException", "ExpiredToken", "IncompleteSignature",
})
KMS = frozenset({
    "KMSDisabledException", "KMSInvalidStateException", "KMSAccessDeniedException", "KMSNotFoundException",
    "DisabledException", "KMSInternalException",
})
KMS_CRYPTO = frozenset({"DecryptionFailure", "EncryptionFailure"})


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    return int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)


class ScheduledForDeletion(UsageError):
    """The secret's name is scheduled for deletion (exit 2); a force-deleted secret is
    in this state for a few seconds, which a first rotation waits out."""


class Caller:
    """Runs boto3 calls for one store: retries, then translation. ``label`` is e.g.
    ``aws:main``; ``arn_for(secret_id)`` names the resource in permission messages."""

    def __init__(self, label: str, arn_for: Callable[[str], str], kms_key: str | None, *,
                 retries: int = 4, backoff: float = 0.5, cap: float = 8.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.label = label
        self.arn_for = arn_for
        self.kms_key = kms_key
        self.retries = retries
        self.backoff = backoff
        self.cap = cap
        self.sleep = sleep

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.backoff * (2 ** attempt)))

    def __call__(self, action: str, secret: str, secret_id: str, fn: Callable[[], T],
                 on_retry: Callable[[], None] | None = None) -> T:
        """Call ``fn`` (the SDK call for IAM ``action`` on ``secret_id``)."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            ReadTimeoutError,
        )

        transient = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except KeyturnError:
                raise
            except ClientError as exc:
                code = error_code(exc)
                if code not in THROTTLED and _status(exc) < 500:
                    raise self.translate(exc, action, secret, secret_id) from None
                final = StoreUnavailable(
                    f"{code or 'HTTP ' + str(_status(exc))} on {action} for {secret_id}: still failing after "
                    f"{attempt + 1} attempts (throttled or unavailable) — re-run later to resume",
                    store=self.label, secret=secret)
            except transient as exc:
                final = StoreUnavailable(
                    f"{action} for {secret_id} failed after {attempt + 1} attempts ({exc.__class__.__name__}) — "
                    "is AWS_ENDPOINT_URL / the region right and the endpoint reachable?",
                    store=self.label, secret=secret)
            except NoCredentialsError:
                raise UsageError(
                    f"{self.label}: no AWS credentials — in Actions use aws-actions/configure-aws-credentials "
                    "or auth.method: github-oidc; elsewhere AWS_PROFILE, AWS_ROLE_ARN + "
                    "AWS_WEB_IDENTITY_TOKEN_FILE or access keys") from None
            except NoRegionError:
                raise UsageError(f"{self.label}: no AWS region — set AWS_REGION or the store's region:") from None
            except BotoCoreError as exc:
                raise StoreUnavailable(f"{action} for {secret_id} failed ({exc.__class__.__name__})",
                                       store=self.label, secret=secret) from None
            # throttled, 5xx or a lost connection: retried with jitter, then reported
            if attempt >= self.retries:
                raise final
            if on_retry is not None:
                on_retry()
            self.sleep(self.delay(attempt))
        raise AssertionError("unreachable")

    def translate(self, exc: BaseException, action: str, secret: str, secret_id: str) -> KeyturnError:
        code = error_code(exc)
        arn = self.arn_for(secret_id)
        if code in DENIED or (_status(exc) == 403 and code in ("", "403", "Forbidden")):
            return StoreUnavailable(
                f"AccessDenied on {action} for {secret_id} — the role needs secretsmanager:{action} on {arn}",
                store=self.label, secret=secret)
        if code in BAD_CREDENTIALS:
            return StoreUnavailable(
                f"{code} on {action}: the AWS credentials are invalid or expired — check the role or keys "
                "this job assumes", store=self.label, secret=secret)
        if code in KMS or code in KMS_CRYPTO:
            key = self.kms_key or "the secret's KMS key"
            return StoreUnavailable(
                f"{code} on {action} for {secret_id}: KMS key {key} is disabled, pending deletion or not usable "
                "by this role — enable the key, or grant kms:Decrypt and kms:GenerateDataKey on it",
                store=self.label, secret=secret)
        if code == "InvalidRequestException" and "delet" in str(exc).lower():
            return ScheduledForDeletion(
                f"{self.label}: {secret}: {secret_id} is scheduled for deletion — restore it "
                f"(aws secretsmanager restore-secret --secret-id {secret_id}) or wait until it is gone")
        if code == "ResourceNotFoundException":
            return StoreUnavailable(f"{secret_id} not found on {action} (deleted outside keyturn?)",
                                    store=self.label, secret=secret)
        if code == "ResourceExistsException":
            return Conflict(f"{secret}: {self.label} {secret_id} was created or written concurrently "
                            f"({action}) — another rotation or writer is active; re-run when it has finished")
        if code == "LimitExceededException":
            return StoreUnavailable(
                f"LimitExceeded on {action} for {secret_id}: too many versions or requests — AWS keeps "
                "versions created in the last 24 h; rotate less often", store=self.label, secret=secret)
        if code in ("InvalidParameterException", "InvalidRequestException", "ValidationException"):
            return StoreUnavailable(f"{code} on {action} for {secret_id} (refused by Secrets Manager)",
                                    store=self.label, secret=secret)
        return StoreUnavailable(f"{code or exc.__class__.__name__} on {action} for {secret_id}",
                                store=self.label, secret=secret)
