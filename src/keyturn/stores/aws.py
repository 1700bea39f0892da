"""AWS Secrets Manager store (boto3), on the service's own staging labels.

* CURRENT is the version labelled ``AWSCURRENT`` (what readers by name get); the store's
  ``head`` — promotion's compare-and-set token — is that version's id.
* PENDING is a version labelled ``AWSPENDING`` whose ``ClientRequestToken`` (= version id)
  is the rotation id: a re-run adopts it, never makes a second one. An ``AWSPENDING`` of
  another rotation or tool is a conflict (exit 3) and is never overwritten.
* promote moves ``AWSCURRENT`` with ``RemoveFromVersionId`` = the head seen at the start:
  Secrets Manager refuses the move when the label is elsewhere, a native CAS (I7); the
  old CURRENT becomes ``AWSPREVIOUS`` by itself; then ``AWSPENDING`` is removed.
* restore moves ``AWSCURRENT`` back to the old version (and returns that version id).
* retire removes every staging label from a version and reports it revoked only when it
  reads back label-less. A label-less version is *deprecated*: no reader gets it by stage
  and AWS deletes it eventually; its value stays readable by version id until then.
  Revoking the only version of a secret that a failed first rotation created deletes the
  secret (``ForceDeleteWithoutRecovery``) — AWS cannot remove ``AWSCURRENT``.
* A brand-new secret: AWS labels the first version ``AWSCURRENT`` itself, so the first
  value is readable from create on (there was nothing to read before).

With ``key:`` the secret is a JSON object and one field is rotated; every other byte of
the document is kept (:mod:`keyturn._internal.jsonfield`).

The journal lives in the sibling secret ``NAME.keyturn-rotation`` (`.` is allowed in
secret names), tagged ``keyturn:journal-for``. Its token is the id of its ``AWSCURRENT``
version. A save writes a new version with a fresh ClientRequestToken and a private label,
then moves ``AWSCURRENT`` to it with ``RemoveFromVersionId`` = the token: the move fails
when another writer moved the label first, so a concurrent writer is a Conflict. A retry
after a lost response reads back: ``AWSCURRENT`` already on our version is adopted.

AWS advises against writing a secret more often than about every 10 minutes
(``min_interval``; the engine refuses a scheduled rotation inside it). boto3 is imported
lazily: the manifest imports this module for its config model.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import Field

from keyturn._internal import jsonfield
from keyturn._internal.configbase import ConfigModel, Duration
from keyturn.errors import Conflict, StoreUnavailable, UsageError
from keyturn.stores.aws_errors import Caller, ScheduledForDeletion
from keyturn.stores.base import ROTATION_SUFFIX, RotationId, SecretRef, SecretState, VersionId
from keyturn.values import SecretValue

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
JOURNAL_STAGE = "keyturn-journal-write"
CREATED_TAG = "keyturn:created-by-rotation"
JOURNAL_TAG = "keyturn:journal-for"
NAME_RE = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


# ---------------------------------------------------------------------------- manifest config
class AwsDefaultAuth(ConfigModel):
    method: Literal["default"] = "default"


class AwsProfileAuth(ConfigModel):
    method: Literal["profile"]
    profile: str = Field(min_length=1, description="Profile name in the AWS config files")


class AwsGithubOidcAuth(ConfigModel):
    method: Literal["github-oidc"]
    role_arn: str | None = Field(default=None, description="Role to assume (default: $AWS_ROLE_ARN)")
    audience: str = Field(default="sts.amazonaws.com", description="Audience of the requested OIDC token")
    session_name: str | None = Field(default=None, description="Default: keyturn-$GITHUB_RUN_ID")
    duration: Duration = Field(default=timedelta(hours=1), description="Session duration")


AwsAuth = Annotated[Union[AwsDefaultAuth, AwsProfileAuth, AwsGithubOidcAuth], Field(discriminator="method")]


class AwsStoreConfig(ConfigModel):
    type: Literal["aws"]
    region: str | None = Field(default=None, description="Default: $AWS_REGION / $AWS_DEFAULT_REGION")
    endpoint: str | None = Field(default=None, description="Secrets Manager endpoint (default: $AWS_ENDPOINT_URL)")
    kms_key_id: str | None = Field(default=None, description="KMS key for secrets keyturn creates (default: aws/secretsmanager)")
    key: str = Field(default="", description="JSON field holding the value (default: the whole SecretString)")
    min_interval: Duration = Field(default=timedelta(minutes=10),
                                   description="Shortest time between two scheduled rotations of one secret")
    timeout: Duration = timedelta(seconds=30)
    auth: AwsAuth = AwsDefaultAuth()


def _token(rotation_id: str) -> str:
    """The ClientRequestToken (and so the version id) of a rotation's pending version."""
    if TOKEN_RE.match(rotation_id):
        return rotation_id
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "keyturn:" + rotation_id))


def _holder(stages: Mapping[str, list[str]], label: str) -> str | None:
    return next((vid for vid, labels in stages.items() if label in labels), None)


class AwsStore:
    """Secrets Manager adapter. One instance per manifest store entry."""

    def __init__(self, name: str, config: AwsStoreConfig, environ: Mapping[str, str] | None = None, *,
                 retries: int = 4, backoff: float = 0.5) -> None:
        import os

        from botocore.config import Config

        from keyturn.stores.aws_auth import make_session

        env = os.environ if environ is None else environ
        self.name = name
        self.config = config
        self.region = config.region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        session = make_session(self.label, config.auth, env, self.region)
        self.region = self.region or session.region_name
        if not self.region:
            raise UsageError(f"{self.label}: no AWS region — set AWS_REGION or stores.{name}.region")
        endpoint = (config.endpoint or env.get("AWS_ENDPOINT_URL_SECRETS_MANAGER") or env.get("AWS_ENDPOINT_URL")
                    or None)
        seconds = int(config.timeout.total_seconds()) or 30
        self._sm = session.client("secretsmanager", region_name=self.region, endpoint_url=endpoint, config=Config(
            retries={"total_max_attempts": 1}, connect_timeout=seconds, read_timeout=seconds))
        self._arns: dict[str, str] = {}
        self.call = Caller(self.label, self._arn, config.kms_key_id, retries=retries, backoff=backoff)

    @property
    def label(self) -> str:
        return f"aws:{self.name}"

    @property
    def min_interval(self) -> timedelta:
        return self.config.min_interval

    # ------------------------------------------------------------------ plumbing
    def _arn(self, secret_id: str) -> str:
        return self._arns.get(secret_id) or f"arn:aws:secretsmanager:{self.region}:*:secret:{secret_id}-*"

    def _check_name(self, ref: SecretRef) -> None:
        if not NAME_RE.match(ref.path + ROTATION_SUFFIX) or ref.path.startswith("arn:"):
            raise UsageError(f"{ref.name}: {self.label}: {ref.path!r} is not a Secrets Manager secret name "
                             "(use the name, not the ARN: letters, digits and /_+=.@- , up to 494 characters)")

    def _describe(self, ref: SecretRef, secret_id: str | None = None) -> dict[str, Any] | None:
        """describe_secret, or None when the secret does not exist (or is being deleted)."""
        sid = secret_id or ref.path

        def describe() -> dict[str, Any] | None:
            try:
                info: dict[str, Any] = self._sm.describe_secret(SecretId=sid)
            except self._sm.exceptions.ResourceNotFoundException:
                return None
            self._arns[sid] = info.get("ARN", "")
            return info

        info = self.call("DescribeSecret", ref.name, sid, describe)
        return None if info is None or info.get("DeletedDate") else info

    def _stages(self, ref: SecretRef) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
        info = self._describe(ref)
        stages = {vid: list(labels) for vid, labels in ((info or {}).get("VersionIdsToStages") or {}).items()
                  if labels}
        return info, stages

    def _text(self, ref: SecretRef, version: str | None = None, stage: str | None = None,
              secret_id: str | None = None) -> tuple[str | None, str]:
        """(SecretString, VersionId) of one version; (None, "") when it does not exist."""
        sid = secret_id or ref.path
        args: dict[str, str] = {"SecretId": sid}
        if version:
            args["VersionId"] = version
        if stage:
            args["VersionStage"] = stage

        def get() -> tuple[str | None, str]:
            try:
                resp = self._sm.get_secret_value(**args)
            except self._sm.exceptions.ResourceNotFoundException:
                return None, ""
            if "SecretString" not in resp:
                raise UsageError(f"{ref.name}: {self.label}: {sid} holds SecretBinary — keyturn manages "
                                 "SecretString secrets only")
            return str(resp["SecretString"]), str(resp["VersionId"])

        return self.call("GetSecretValue", ref.name, sid, get)

    def _field(self, ref: SecretRef, text: str, where: str) -> str:
        if not ref.key:
            return text
        try:
            value = jsonfield.get(text, ref.key)
        except (jsonfield.NotAnObject, TypeError) as exc:
            raise UsageError(f"{ref.name}: {self.label}: {where} is not a JSON object with a string field "
                             f"{ref.key!r} ({exc.__class__.__name__}) — fix `key:` or the secret") from None
        if value is None:
            raise UsageError(f"{ref.name}: {self.label}: {where} has no field {ref.key!r} — set `key:` on the "
                             "secret or the store to the field that holds the value")
        return value

    def _move(self, ref: SecretRef, stage: str, to: str | None, remove_from: str | None,
              secret_id: str | None = None) -> None:
        args: dict[str, str] = {"SecretId": secret_id or ref.path, "VersionStage": stage}
        if to:
            args["MoveToVersionId"] = to
        if remove_from:
            args["RemoveFromVersionId"] = remove_from
        self.call("UpdateSecretVersionStage", ref.name, args["SecretId"],
                  lambda: self._sm.update_secret_version_stage(**args))

    def _cas_move(self, ref: SecretRef, to: str, expect: str | None, conflict: str,
                  secret_id: str | None = None) -> None:
        """Move AWSCURRENT to ``to`` iff it is on ``expect`` (Secrets Manager checks
        ``RemoveFromVersionId``); adopt a move already done (a lost response)."""
        sid = secret_id or ref.path
        args: dict[str, str] = {"SecretId": sid, "VersionStage": CURRENT, "MoveToVersionId": to}
        if expect:
            args["RemoveFromVersionId"] = expect

        def move() -> bool:
            try:
                self._sm.update_secret_version_stage(**args)
            except self._sm.exceptions.InvalidParameterException:
                return False
            return True

        if self.call("UpdateSecretVersionStage", ref.name, sid, move):
            return
        info = self._describe(ref, secret_id)
        if CURRENT in (((info or {}).get("VersionIdsToStages") or {}).get(to) or []):
            return  # our move applied; its response was lost
        raise Conflict(conflict)

    # ------------------------------------------------------------------ protocol
    def preflight(self, ref: SecretRef) -> None:
        """Read-only: the name is valid, the role can describe the secret and its journal,
        no Secrets Manager rotation competes, and an existing secret holds the field."""
        self._check_name(ref)
        info = self._describe(ref)
        self._describe(ref, ref.path + ROTATION_SUFFIX)
        if info is None:
            return
        if info.get("RotationEnabled"):
            raise UsageError(f"{ref.name}: {self.label}: {ref.path} has Secrets Manager rotation enabled "
                             f"({info.get('RotationLambdaARN') or 'managed'}) — two rotators would fight; "
                             f"disable it (aws secretsmanager cancel-rotate-secret --secret-id {ref.path})")
        if info.get("OwningService"):
            raise UsageError(f"{ref.name}: {self.label}: {ref.path} is managed by {info['OwningService']} — "
                             "keyturn cannot rotate a secret another service owns")
        if _holder({k: v for k, v in (info.get("VersionIdsToStages") or {}).items()}, CURRENT):
            text, vid = self._text(ref, stage=CURRENT)
            if text is not None:
                self._field(ref, text, f"{ref.path} (version {vid})")

    def describe(self, ref: SecretRef) -> SecretState:
        info, stages = self._stages(ref)
        current = _holder(stages, CURRENT)
        if info is None or current is None:
            return SecretState(exists=False, head="")

        def versions() -> dict[str, Any]:
            resp: dict[str, Any] = self._sm.list_secret_version_ids(SecretId=ref.path, IncludeDeprecated=False)
            return resp

        listed = self.call("ListSecretVersionIds", ref.name, ref.path, versions)
        created: datetime | None = next((v.get("CreatedDate") for v in listed.get("Versions", [])
                                         if v.get("VersionId") == current), None) or info.get("CreatedDate")
        return SecretState(exists=True, current=VersionId(current), head=current, created_at=created)

    def read(self, ref: SecretRef, version: VersionId) -> SecretValue:
        text, _ = self._text(ref, version=version)
        if text is None:
            raise StoreUnavailable(f"version {version} of {ref.path} no longer exists (deleted by AWS or outside "
                                   "keyturn)", store=self.label, secret=ref.name)
        return SecretValue(self._field(ref, text, f"{ref.path} (version {version})"))

    def journal(self, ref: SecretRef) -> AwsJournal:
        return AwsJournal(self, ref)

    def create_pending(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue) -> SecretValue:
        self._check_name(ref)
        token = _token(rotation_id)
        info, stages = self._stages(ref)
        if info is None:
            return self._create_first(ref, rotation_id, token, value)
        holder = _holder(stages, PENDING)
        if holder is not None and holder != token:
            raise Conflict(
                f"{ref.name}: {self.label} {ref.path} already has an AWSPENDING version ({holder}) from another "
                "rotation or tool — keyturn never overwrites it; finish that rotation, or remove the label "
                f"(aws secretsmanager update-secret-version-stage --secret-id {ref.path} --version-stage "
                f"AWSPENDING --remove-from-version-id {holder})")
        mine, _ = self._text(ref, version=token)
        if mine is not None:  # a re-run: adopt, never make another
            if holder != token and CURRENT not in stages.get(token, []):
                self._move(ref, PENDING, token, None)
            return SecretValue(self._field(ref, mine, f"{ref.path} (version {token})"))
        current_text = None
        if ref.key and _holder(stages, CURRENT):  # one field of a JSON object: the others are kept
            current_text, vid = self._text(ref, stage=CURRENT)
            if current_text is not None:
                self._field(ref, current_text, f"{ref.path} (version {vid})")  # a JSON object with the field
        text = jsonfield.replace(current_text, ref.key, value.reveal()) if ref.key else value.reveal()
        self.call("PutSecretValue", ref.name, ref.path, lambda: self._sm.put_secret_value(
            SecretId=ref.path, SecretString=text, ClientRequestToken=token, VersionStages=[PENDING]))
        return value

    def _create_first(self, ref: SecretRef, rotation_id: RotationId, token: str, value: SecretValue) -> SecretValue:
        text = jsonfield.replace(None, ref.key, value.reveal()) if ref.key else value.reveal()
        args: dict[str, Any] = {"Name": ref.path, "SecretString": text, "ClientRequestToken": token,
                                "Description": f"managed by keyturn (secret {ref.name})",
                                "Tags": [{"Key": CREATED_TAG, "Value": token}]}
        if self.config.kms_key_id:
            args["KmsKeyId"] = self.config.kms_key_id
        for attempt in range(self.call.retries + 1):
            try:
                self.call("CreateSecret", ref.name, ref.path, lambda: self._sm.create_secret(**args))
                break
            except Conflict:
                mine, _ = self._text(ref, version=token)
                if mine is None:
                    raise
                break
            except ScheduledForDeletion:
                # A force-deleted secret (a failed first rotation) vanishes asynchronously.
                if attempt >= self.call.retries:
                    raise
                self.call.sleep(self.call.delay(attempt + 1))
        self._move(ref, PENDING, token, None)
        return self.create_pending(ref, rotation_id, value)

    def read_pending(self, ref: SecretRef, rotation_id: RotationId) -> SecretValue | None:
        token = _token(rotation_id)
        _, stages = self._stages(ref)
        labels = stages.get(token, [])
        if PENDING not in labels and CURRENT not in labels:  # promoted, not yet discarded: still ours
            return None
        text, _ = self._text(ref, version=token)
        return None if text is None else SecretValue(self._field(ref, text, f"{ref.path} (version {token})"))

    def discard_pending(self, ref: SecretRef, rotation_id: RotationId) -> None:
        token = _token(rotation_id)
        info, stages = self._stages(ref)
        labels = stages.get(token, [])
        if PENDING not in labels:
            return
        if CURRENT in labels and len(stages) == 1 and self._created_by(info, token):
            self._delete_secret(ref)  # a first rotation that never got past verify
            return
        self._move(ref, PENDING, None, token)

    def _created_by(self, info: dict[str, Any] | None, token: str) -> bool:
        return any(t.get("Key") == CREATED_TAG and t.get("Value") == token for t in (info or {}).get("Tags", []))

    def _delete_secret(self, ref: SecretRef) -> None:
        def delete() -> None:
            try:
                self._sm.delete_secret(SecretId=ref.path, ForceDeleteWithoutRecovery=True)
            except self._sm.exceptions.ResourceNotFoundException:
                pass

        self.call("DeleteSecret", ref.name, ref.path, delete)

    def promote(self, ref: SecretRef, rotation_id: RotationId, value: SecretValue, expect_head: str) -> VersionId:
        token = _token(rotation_id)
        _, stages = self._stages(ref)
        current = _holder(stages, CURRENT)
        if current != token:
            if current != (expect_head or None):
                raise Conflict(
                    f"{ref.name}: {self.label} {ref.path}: AWSCURRENT moved from {expect_head or 'none'} to "
                    f"{current or 'none'} outside this rotation — nothing promoted; `keyturn abort {ref.name} "
                    "--reason TEXT` abandons this rotation, then rotate again")
            if PENDING not in stages.get(token, []):
                raise Conflict(f"{ref.name}: {self.label} {ref.path}: the pending version {token} lost its "
                               "AWSPENDING label outside keyturn — nothing promoted; abort and rotate again")
            self._cas_move(ref, token, current, (
                f"{ref.name}: {self.label} {ref.path}: AWSCURRENT moved from {current} while promoting — nothing "
                f"promoted; `keyturn abort {ref.name} --reason TEXT` abandons this rotation"))
            self._move(ref, PENDING, None, token)  # checked above: AWSPENDING is on token
            return VersionId(token)
        if PENDING in stages.get(token, []):  # a re-run after the CURRENT move
            self._move(ref, PENDING, None, token)
        return VersionId(token)

    def restore(self, ref: SecretRef, version: VersionId, expect_current: VersionId | None) -> VersionId:
        _, stages = self._stages(ref)
        current = _holder(stages, CURRENT)
        if current == version:
            return version  # already restored
        if current != expect_current:
            raise Conflict(
                f"{ref.name}: cannot restore version {version}: AWSCURRENT of {ref.path} is on {current or 'none'}, "
                f"expected {expect_current or 'none'} (written outside keyturn) — inspect it, then "
                f"`keyturn abort {ref.name} --reason TEXT`")
        text, _ = self._text(ref, version=version)
        if text is None:
            raise StoreUnavailable(f"cannot restore version {version} of {ref.path}: it no longer exists",
                                   store=self.label, secret=ref.name)
        self._cas_move(ref, version, current, (
            f"{ref.name}: cannot restore version {version}: AWSCURRENT of {ref.path} moved from {current} "
            f"concurrently — inspect it, then `keyturn abort {ref.name} --reason TEXT`"))
        return version

    def retire(self, ref: SecretRef, versions: list[VersionId], *, allow_current: bool = False) -> list[VersionId]:
        info, stages = self._stages(ref)
        current = _holder(stages, CURRENT)
        wanted = list(dict.fromkeys(v for v in versions if v))
        for vid in wanted:
            labels = stages.get(vid, [])
            if vid == current:
                if allow_current and len(stages) == 1 and self._created_by(info, vid):
                    self._delete_secret(ref)
                    break
                continue  # never CURRENT (by default); AWS cannot drop AWSCURRENT anyway
            for label in labels:
                self._move(ref, label, None, vid)
        info, stages = self._stages(ref)  # read back
        return [v for v in wanted if info is None or not stages.get(v)]

    def live_versions(self, ref: SecretRef) -> list[VersionId]:
        _, stages = self._stages(ref)
        return [VersionId(v) for v in stages]


class AwsJournal:
    """The journal slot: sibling secret ``NAME.keyturn-rotation``; token = its AWSCURRENT
    version id; saves move AWSCURRENT with ``RemoveFromVersionId`` = token (CAS)."""

    def __init__(self, store: AwsStore, ref: SecretRef) -> None:
        self.store = store
        self.ref = ref
        self.secret_id = ref.path + ROTATION_SUFFIX

    def load(self) -> tuple[str | None, str]:
        text, vid = self.store._text(self.ref, stage=CURRENT, secret_id=self.secret_id)
        return text, (vid if text is not None else "")

    def save(self, text: str, token: str) -> str:
        store, ref, sid = self.store, self.ref, self.secret_id
        new = str(uuid.uuid4())
        if not token:
            args: dict[str, Any] = {"Name": sid, "SecretString": text, "ClientRequestToken": new,
                                    "Description": f"keyturn rotation journal of {ref.path} (no values)",
                                    "Tags": [{"Key": JOURNAL_TAG, "Value": ref.path}]}
            if store.config.kms_key_id:
                args["KmsKeyId"] = store.config.kms_key_id
            try:
                store.call("CreateSecret", ref.name, sid, lambda: store._sm.create_secret(**args))
            except Conflict:
                if self.load() != (text, new):  # a lost response to our own create is adopted
                    raise Conflict(f"{ref.name}: {store.label} journal {sid} was created concurrently — another "
                                   "operation is active; re-run when it has finished") from None
            return new
        info = store._describe(ref, sid)  # metadata only: the CAS compares version ids, not text
        if _holder((info or {}).get("VersionIdsToStages") or {}, CURRENT) != token:
            raise Conflict(f"{ref.name}: {store.label} journal {sid} changed concurrently (token "
                           f"{token} is stale) — another operation is active; re-run when it has finished")
        store.call("PutSecretValue", ref.name, sid, lambda: store._sm.put_secret_value(
            SecretId=sid, SecretString=text, ClientRequestToken=new, VersionStages=[JOURNAL_STAGE]))
        store._cas_move(ref, new, token, f"{ref.name}: {store.label} journal {sid} changed concurrently — another "
                        "operation is active; re-run when it has finished", secret_id=sid)
        return new
