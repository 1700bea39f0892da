"""AWS credentials for the Secrets Manager store, from the standard environment or the
job's GitHub OIDC token — never a long-lived secret in the manifest.

``auth.method``:

* ``default`` — what ``aws-actions/configure-aws-credentials`` leaves behind and what the
  AWS CLI reads: access keys (``AWS_ACCESS_KEY_ID`` …, incl. a session token), else the
  web-identity pair ``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE`` (exchanged here with
  ``AssumeRoleWithWebIdentity``), else ``AWS_PROFILE`` / botocore's own chain.
* ``profile`` — a named profile from the AWS config files.
* ``github-oidc`` — no action ran: request the job's OIDC token from
  ``ACTIONS_ID_TOKEN_REQUEST_URL`` (bearer ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``, audience
  ``sts.amazonaws.com`` by default) and call ``AssumeRoleWithWebIdentity`` for the role.
  Missing request variables mean the job lacks ``permissions: id-token: write``, and the
  error says exactly that.

Everything is read from the ``environ`` mapping the store was built with. Tokens and
temporary keys are wrapped in :class:`SecretValue` (masked in Actions) and never printed.
Imports boto3 lazily; never imports the engine or a target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from keyturn.errors import StoreUnavailable, UsageError
from keyturn.values import SecretValue


def _endpoint(environ: Mapping[str, str], service_env: str) -> str | None:
    return environ.get(service_env) or environ.get("AWS_ENDPOINT_URL") or None


def assume_web_identity(label: str, environ: Mapping[str, str], region: str, role_arn: str,
                        token: Callable[[], SecretValue], session_name: str, duration: int, source: str) -> Any:
    """A boto3 Session holding the role's temporary credentials, refreshed before they
    expire (botocore asks again 15 min before the end, with a fresh ``token()``: the
    job's OIDC token is re-requested, the token file re-read), so a run longer than the
    session duration — a paced fan-out to thousands of targets — keeps working."""
    import boto3
    import botocore.session
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.credentials import CredentialProvider, RefreshableCredentials
    from botocore.exceptions import BotoCoreError, ClientError

    from keyturn.stores.aws_errors import error_code

    sts = boto3.session.Session(region_name=region).client(
        "sts", region_name=region, endpoint_url=_endpoint(environ, "AWS_ENDPOINT_URL_STS"),
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 3, "mode": "standard"}))

    def fetch() -> dict[str, str]:
        try:
            resp = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName=session_name,
                                                     WebIdentityToken=token().reveal(), DurationSeconds=duration)
        except ClientError as exc:
            code = error_code(exc)
            if code in ("AccessDenied", "AccessDeniedException", "InvalidIdentityToken", "IDPRejectedClaim",
                        "ExpiredTokenException"):
                raise UsageError(
                    f"{label}: AssumeRoleWithWebIdentity for {role_arn} refused ({code}, token from {source}) — "
                    "the role's trust policy must allow token.actions.githubusercontent.com with aud "
                    "sts.amazonaws.com and this repository's sub; and sts:AssumeRoleWithWebIdentity") from None
            raise StoreUnavailable(f"AssumeRoleWithWebIdentity for {role_arn} failed ({code})", store=label) from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"AssumeRoleWithWebIdentity for {role_arn} failed ({exc.__class__.__name__})",
                                   store=label) from None
        creds = resp["Credentials"]
        SecretValue(creds["SecretAccessKey"])  # masks in Actions
        SecretValue(creds["SessionToken"])
        expiry = creds["Expiration"]
        return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry)}

    credentials = RefreshableCredentials.create_from_metadata(
        metadata=fetch(), refresh_using=fetch, method="assume-role-with-web-identity")

    class _Assumed(CredentialProvider):  # type: ignore[misc]
        METHOD = CANONICAL_NAME = "keyturn-web-identity"

        def load(self) -> RefreshableCredentials:
            return credentials

    core = botocore.session.Session()
    core.get_component("credential_provider").insert_before("env", _Assumed())
    return boto3.session.Session(botocore_session=core, region_name=region)


def session_name(environ: Mapping[str, str], configured: str | None) -> str:
    if configured:
        return configured
    name = environ.get("AWS_ROLE_SESSION_NAME")
    if name:
        return name
    run = environ.get("GITHUB_RUN_ID")
    return f"keyturn-{run}" if run else "keyturn"


def make_session(label: str, auth: Any, environ: Mapping[str, str], region: str | None) -> Any:
    """A boto3 Session for ``auth`` (one of the ``Aws*Auth`` models of stores/aws.py)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    method = auth.method
    if method == "profile":
        try:
            session = boto3.session.Session(profile_name=auth.profile, region_name=region)
        except ProfileNotFound:
            raise UsageError(f"{label}: AWS profile {auth.profile!r} not found in the AWS config files") from None
        return session
    def need_region() -> str:
        if not region:
            raise UsageError(f"{label}: no AWS region — set AWS_REGION or the store's region:")
        return region

    if method == "github-oidc":
        need_region()
        role = auth.role_arn or environ.get("AWS_ROLE_ARN")
        if not role:
            raise UsageError(f"{label}: auth.method github-oidc needs auth.role_arn (or AWS_ROLE_ARN)")
        from keyturn._internal.oidc import token_for

        audience = auth.audience
        return assume_web_identity(label, environ, need_region(), role,
                                   lambda: token_for(label, audience, environ, timeout=30),
                                   session_name(environ, auth.session_name),
                                   int(auth.duration.total_seconds()), "ACTIONS_ID_TOKEN_REQUEST_URL")
    key_id = environ.get("AWS_ACCESS_KEY_ID")
    secret = environ.get("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                     aws_session_token=environ.get("AWS_SESSION_TOKEN") or None, region_name=region)
    role = environ.get("AWS_ROLE_ARN")
    token_file = environ.get("AWS_WEB_IDENTITY_TOKEN_FILE")
    if role and token_file:
        def read_token() -> SecretValue:  # re-read at each refresh: the action may have written a new one
            try:
                with open(token_file, encoding="utf-8") as fh:
                    return SecretValue(fh.read().strip())
            except OSError as exc:
                raise UsageError(f"{label}: AWS_WEB_IDENTITY_TOKEN_FILE cannot be read ({exc.strerror})") from None

        return assume_web_identity(label, environ, need_region(), role, read_token, session_name(environ, None),
                                   3600, "AWS_WEB_IDENTITY_TOKEN_FILE")
    if role and environ.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
        raise UsageError(f"{label}: AWS_ROLE_ARN is set but no token file — run "
                         "aws-actions/configure-aws-credentials first, or set auth.method: github-oidc")
    profile = environ.get("AWS_PROFILE") or None
    try:
        return boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise UsageError(f"{label}: AWS_PROFILE {profile!r} not found in the AWS config files") from None
