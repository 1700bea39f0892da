"""AWS IAM access keys: ``generator: {type: aws-iam-access-key, user: NAME}``.

The value is structured (``access_key_id``, ``secret_access_key``); the credential id is
the access key id (public). AWS allows two keys per user, which is exactly the dual-key
window: the old key stays valid through grace, the new one is issued beside it.

* preflight (read-only): keyturn's own credentials can list the user's keys
  (``iam:ListAccessKeys``; a missing user is a usage error); a user holding two keys of
  which keyturn tracks neither gets a one-line error naming the older key and the fix.
* current_credential: the user's one key (a first rotation adopts it as the old key to
  replace); with two keys, the same error — never a silent deletion.
* issue: ``CreateAccessKey``. A resumed run first deletes the keys an earlier attempt of
  the same rotation created whose secret was lost (``request.lost``; else created after
  ``request.started`` and not tracked). When the user holds two keys and one is an old
  version keyturn tracks (a PREVIOUS this rotation supersedes), that one is revoked first
  to free the slot.
* verify: STS ``GetCallerIdentity`` signed with the new pair only (its own boto3 session,
  same region/endpoint), retried with backoff up to ``verify_timeout`` while IAM
  propagates the key; the answer must be this user in keyturn's own account.
* revoke: ``UpdateAccessKey Status=Inactive`` (read back), then ``DeleteAccessKey`` (read
  back absent); a key already gone is revoked. With ``delete_old: false`` it stops after
  the deactivation.

Credentials, region and endpoint come from keyturn's AWS plumbing (:mod:`keyturn.stores.aws_auth`,
``AWS_ENDPOINT_URL_IAM`` / ``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL``) and errors are
translated by :mod:`keyturn.stores.aws_errors`, so they read like the AWS store's. Messages
name users and key ids only, never a secret. boto3 is imported lazily (the manifest imports
this module for its config model).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field

from keyturn._internal.configbase import ConfigModel, Duration
from keyturn.errors import KeyturnError, StoreUnavailable, UsageError
from keyturn.issuers.base import IssueRequest, Issued, field_value, structured_value
from keyturn.stores.aws import AwsAuth, AwsDefaultAuth
from keyturn.stores.aws_errors import BAD_CREDENTIALS, DENIED, THROTTLED, Caller, error_code

KIND = "aws-iam-access-key"
T = TypeVar("T")
#: a key created this long before the rotation began still counts as the rotation's own
#: on a resumed run (clock skew between the runner and AWS)
SKEW = timedelta(seconds=60)
#: STS answers while a new key propagates through IAM (real AWS: InvalidClientTokenId)
NOT_YET = BAD_CREDENTIALS | DENIED


class AwsIamKeyGen(ConfigModel):
    type: Literal["aws-iam-access-key"]
    FIELDS: ClassVar[tuple[str, ...]] = ("access_key_id", "secret_access_key")
    user: str = Field(pattern=r"^[\w+=,.@-]{1,64}$", description="IAM user whose access key is rotated")
    region: str | None = Field(default=None, description="Region of the STS check (default: $AWS_REGION, "
                               "else us-east-1)")
    endpoint: str | None = Field(default=None, description="IAM endpoint (default: $AWS_ENDPOINT_URL_IAM / "
                                 "$AWS_ENDPOINT_URL)")
    verify_timeout: Duration = Field(default=timedelta(seconds=60), description="How long the new key may take "
                                     "to work at STS (IAM is eventually consistent)")
    delete_old: bool = Field(default=True, description="Retire = deactivate, then delete the old key (false: "
                             "deactivate only; it still counts toward AWS's two keys per user)")
    auth: AwsAuth = AwsDefaultAuth()


class _IamCaller(Caller):
    """The AWS store's retry loop, with IAM's words for a denied action."""

    def translate(self, exc: BaseException, action: str, secret: str, secret_id: str) -> KeyturnError:
        code = error_code(exc)
        if code in DENIED:
            return StoreUnavailable(f"AccessDenied on {action} for user {secret_id} — keyturn's role needs "
                                    f"iam:{action} on {self.arn_for(secret_id)}", store=self.label, secret=secret)
        if code in BAD_CREDENTIALS:
            return StoreUnavailable(f"{code} on {action}: the AWS credentials are invalid or expired — check the "
                                    "role or keys this job assumes", store=self.label, secret=secret)
        return StoreUnavailable(f"{code or exc.__class__.__name__} on {action} for user {secret_id}",
                                store=self.label, secret=secret)


def _when(d: Any) -> str:
    return d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(d, datetime) else "?"


class AwsIamKeyIssuer:
    kind = KIND
    fields: tuple[str, ...] = AwsIamKeyGen.FIELDS
    overlap = True
    human_revoke = False

    def __init__(self, secret: str, config: AwsIamKeyGen, environ: Mapping[str, str], base_dir: Any = None, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.secret = secret
        self.config = config
        self.user = config.user
        self.environ = environ
        self.region = (config.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
                       or "us-east-1")
        self.sleep = sleep
        self._session: Any = None
        self._iam: Any = None
        self._account = ""
        arn = lambda user: f"arn:aws:iam::*:user/{user}"  # noqa: E731
        self.call = _IamCaller(self.label, arn, None, sleep=sleep)
        #: CreateAccessKey is not idempotent: never retried (a resumed run cleans up instead)
        self.once = _IamCaller(self.label, arn, None, retries=0, sleep=sleep)

    @property
    def label(self) -> str:
        return f"iam:{self.user}"

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _once() -> Any:
        """botocore's own retries off: ``Caller`` retries (and counts) them."""
        from botocore.config import Config

        return Config(retries={"total_max_attempts": 1}, connect_timeout=30, read_timeout=30)

    def _client(self) -> Any:
        if self._iam is None:
            from keyturn.stores.aws_auth import make_session

            self._session = make_session(self.label, self.config.auth, self.environ, self.region)
            endpoint = (self.config.endpoint or self.environ.get("AWS_ENDPOINT_URL_IAM")
                        or self.environ.get("AWS_ENDPOINT_URL") or None)
            self._iam = self._session.client("iam", region_name=self.region, endpoint_url=endpoint,
                                             config=self._once())
        return self._iam

    def _do(self, action: str, fn: Callable[[Any], T], *, retry: bool = True) -> T:
        iam = self._client()
        return (self.call if retry else self.once)(action, self.secret, self.user, lambda: fn(iam))

    def _sts_endpoint(self) -> str | None:
        return self.environ.get("AWS_ENDPOINT_URL_STS") or self.environ.get("AWS_ENDPOINT_URL") or None

    def keys(self, *, missing_ok: bool = False) -> list[dict[str, Any]]:
        """The user's access keys (id, status, created), oldest first. No secret is listed."""
        def listed(iam: Any) -> list[dict[str, Any]]:
            try:
                pages = iam.get_paginator("list_access_keys").paginate(UserName=self.user)
                return [k for page in pages for k in page.get("AccessKeyMetadata", [])]
            except iam.exceptions.NoSuchEntityException:
                if missing_ok:
                    return []  # the user is gone, and its keys with it
                raise UsageError(f"{self.secret}: generator {KIND}: IAM user {self.user!r} does not exist "
                                 "(NoSuchEntity on ListAccessKeys) — create it, or fix generator.user") from None

        return sorted(self._do("ListAccessKeys", listed), key=lambda k: (k.get("CreateDate") or datetime.min
                      .replace(tzinfo=timezone.utc), k["AccessKeyId"]))

    def _two_keys(self, keys: list[dict[str, Any]], tracked: str = "") -> UsageError:
        """The user holds two keys keyturn may not touch: name the older untracked one."""
        foreign = [k for k in keys if k["AccessKeyId"] != tracked] or keys
        older = foreign[0]
        oid = older["AccessKeyId"]
        other = next(k["AccessKeyId"] for k in keys if k is not older)
        status = str(older.get("Status") or "?")
        delete = f"aws iam delete-access-key --user-name {self.user} --access-key-id {oid}"
        fix = (f"delete it ({delete})" if status == "Inactive" else
               f"deactivate it (aws iam update-access-key --user-name {self.user} --access-key-id {oid} "
               f"--status Inactive) to check nothing breaks, then delete it ({delete})")
        if not tracked:
            fix += f"; or delete {other} instead and keyturn adopts {oid} as the key to replace"
        return UsageError(
            f"{self.secret}: IAM user {self.user} already holds two access keys and keyturn tracks "
            f"{'neither' if not tracked else 'only ' + tracked} as its own (AWS allows two per user) — the older "
            f"untracked one is {oid} ({status}, created {_when(older.get('CreateDate'))}): {fix}")

    # ------------------------------------------------------------------ protocol
    def preflight(self, current: str) -> None:
        """Read-only: the user exists and its keys can be listed. Two keys neither of which
        is the one keyturn tracks as CURRENT cannot be resolved without a person."""
        keys = self.keys()
        if len(keys) >= 2 and current and current not in {k["AccessKeyId"] for k in keys}:
            raise self._two_keys(keys)

    def current_credential(self) -> str:
        keys = self.keys()
        if len(keys) >= 2:
            raise self._two_keys(keys)
        return str(keys[0]["AccessKeyId"]) if keys else ""

    def issue(self, request: IssueRequest) -> Issued:
        keys = self.keys()
        if request.resumed:
            started = request.started if request.started.tzinfo else request.started.replace(tzinfo=timezone.utc)
            since = started - SKEW
            lost = [k["AccessKeyId"] for k in keys if k["AccessKeyId"] not in request.known and (
                k["AccessKeyId"] == request.lost
                or (isinstance(k.get("CreateDate"), datetime) and k["CreateDate"] >= since))]
            if request.lost and request.lost not in lost:
                lost.append(request.lost)
            for key_id in lost:  # issued by an earlier attempt; its secret never reached the store
                if not self.revoke(key_id, delete=True):
                    raise StoreUnavailable(f"the key {key_id} an earlier attempt issued could not be deleted — "
                                           "re-run to retry", store=self.label, secret=self.secret)
            if lost:
                keys = self.keys()
        if len(keys) >= 2:
            old = [k for k in keys if k["AccessKeyId"] in request.known and k["AccessKeyId"] != request.current]
            if not old:
                raise self._two_keys(keys, request.current)
            # A PREVIOUS this rotation supersedes: it would be retired at the end anyway.
            if not self.revoke(old[0]["AccessKeyId"], delete=True):
                raise StoreUnavailable(f"the superseded key {old[0]['AccessKeyId']} could not be deleted to make "
                                       "room for the new key — re-run to retry", store=self.label,
                                       secret=self.secret)

        def create(iam: Any) -> Any:
            try:
                return iam.create_access_key(UserName=self.user)["AccessKey"]
            except iam.exceptions.LimitExceededException:
                raise self._two_keys(self.keys(), request.current) from None

        made = self._do("CreateAccessKey", create, retry=False)
        key_id = str(made["AccessKeyId"])
        value = structured_value(KIND, {"access_key_id": key_id, "secret_access_key": str(made["SecretAccessKey"])})
        made.clear()
        return Issued(value, key_id)

    def _own_account(self) -> str:
        if not self._account:
            self._client()
            sts = self._session.client("sts", region_name=self.region, endpoint_url=self._sts_endpoint(),
                                       config=self._once())
            ident = self.call("GetCallerIdentity", self.secret, self.user, sts.get_caller_identity)
            self._account = str(ident.get("Account") or "")
        return self._account

    def verify(self, issued: Issued) -> str | None:
        """STS GetCallerIdentity signed with the new key only, retried while IAM propagates it."""
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        key_id = field_value(issued.value, "access_key_id", secret=self.secret).reveal()
        secret_key = field_value(issued.value, "secret_access_key", secret=self.secret)
        account = self._own_account()
        sts = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret_key.reveal(),
                                    region_name=self.region).client(
            "sts", region_name=self.region, endpoint_url=self._sts_endpoint(),
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=10))
        timeout = self.config.verify_timeout.total_seconds()
        deadline = time.monotonic() + timeout
        attempt, last = 0, ""
        while True:
            try:
                arn = str(sts.get_caller_identity().get("Arn") or "")
            except ClientError as exc:
                last = error_code(exc) or "error"
                if last not in NOT_YET and last not in THROTTLED:
                    return f"STS GetCallerIdentity with the new key {key_id} failed ({last})"
            except BotoCoreError as exc:
                last = exc.__class__.__name__
            else:
                return self._check_arn(arn, account, key_id)
            pause = self.call.delay(attempt)
            if time.monotonic() + pause > deadline:
                return (f"the new key {key_id} did not work at STS within {int(timeout)} s ({last}) — IAM may be "
                        "slow to propagate it; raise generator.verify_timeout")
            attempt += 1
            self.sleep(pause)

    def _check_arn(self, arn: str, account: str, key_id: str) -> str | None:
        parts = arn.split(":", 5)
        ok = (len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("user/")
              and parts[5].rsplit("/", 1)[-1] == self.user and (not account or parts[4] == account))
        if ok:
            return None
        return (f"STS GetCallerIdentity with the new key {key_id} answered {arn or 'no Arn'}, not IAM user "
                f"{self.user}{' in account ' + account if account else ''}")

    def revoke(self, credential_id: str, *, delete: bool | None = None) -> bool:
        """Deactivate (read back Inactive), then delete (read back absent). Gone = revoked."""
        delete = self.config.delete_old if delete is None else delete

        def status() -> str | None:
            return next((str(k.get("Status")) for k in self.keys(missing_ok=True)
                         if k["AccessKeyId"] == credential_id), None)

        def update(iam: Any) -> bool:
            try:
                iam.update_access_key(UserName=self.user, AccessKeyId=credential_id, Status="Inactive")
            except iam.exceptions.NoSuchEntityException:
                return False
            return True

        def remove(iam: Any) -> None:
            try:
                iam.delete_access_key(UserName=self.user, AccessKeyId=credential_id)
            except iam.exceptions.NoSuchEntityException:
                pass

        if not self._do("UpdateAccessKey", update):
            return True  # already gone
        state = status()
        if state is None:
            return True
        if state != "Inactive":
            return False
        if not delete:
            return True
        self._do("DeleteAccessKey", remove)
        return status() is None
