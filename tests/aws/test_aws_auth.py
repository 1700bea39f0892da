"""Keyless AWS authentication against moto's STS: the web-identity environment that
configure-aws-credentials leaves behind, a direct AssumeRoleWithWebIdentity with the
job's GitHub OIDC token (the token endpoint served on loopback), profiles, and the
errors that name the fix (a missing ``id-token: write`` is reported as exactly that)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from keyturn.errors import UsageError
from keyturn.stores.aws import AwsGithubOidcAuth, AwsProfileAuth, AwsStore, AwsStoreConfig
from keyturn.stores.aws_auth import make_session
from keyturn.stores.base import RotationId, SecretRef
from keyturn.values import SecretValue

ROLE = "arn:aws:iam::123456789012:role/keyturn-rotator"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvYXBpOnJlZjpyZWZzL2hlYWRzL21haW4ifQ.c2lnbmF0dXJl"


class _OidcHandler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    seen: list[dict[str, Any]] = []
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        type(self).seen.append({"auth": self.headers.get("Authorization"), "query": query})
        scheme, _, credential = (self.headers.get("Authorization") or "").partition(" ")
        # the auth scheme is case-insensitive (RFC 9110 §11.1), the credential is not
        ok = scheme.lower() == "bearer" and credential == "request-token-123" and type(self).status == 200
        body = json.dumps({"value": JWT} if ok else {"message": "no"}).encode()
        self.send_response(200 if ok else 403)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def oidc() -> Iterator[type[_OidcHandler]]:
    handler = type("H", (_OidcHandler,), {"seen": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/_apis/token?api-version=2.0"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


def _keyless(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}


def _identity(session: Any, env: dict[str, str]) -> str:
    sts = session.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"])
    return str(sts.get_caller_identity()["Arn"])


def _roundtrip(store: AwsStore) -> None:
    ref = SecretRef("S", "auth/check", "")
    rid = RotationId("20260101T000000Z-" + "a" * 24)
    value = SecretValue("auth-check-value-0001", mask=False)
    store.create_pending(ref, rid, value)
    assert store.read_pending(ref, rid) is not None


def test_web_identity_environment_from_configure_aws_credentials(env: dict[str, str], tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(JWT + "\n")
    wi = {**_keyless(env), "AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
          "AWS_ROLE_SESSION_NAME": "gha-42"}
    session = make_session("aws:main", AwsStoreConfig(type="aws").auth, wi, env["AWS_REGION"])
    assert _identity(session, env) == "arn:aws:sts::123456789012:assumed-role/keyturn-rotator/gha-42"
    _roundtrip(AwsStore("main", AwsStoreConfig(type="aws"), wi))


def test_unreadable_web_identity_token_file_is_a_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    wi = {**_keyless(env), "AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "missing")}
    with pytest.raises(UsageError, match="AWS_WEB_IDENTITY_TOKEN_FILE cannot be read"):
        AwsStore("main", AwsStoreConfig(type="aws"), wi)


def test_github_oidc_assumes_the_role_without_any_action(env: dict[str, str], oidc: Any) -> None:
    gha = {**_keyless(env), "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.url,
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-123", "GITHUB_RUN_ID": "777"}
    auth = AwsGithubOidcAuth(method="github-oidc", role_arn=ROLE)
    session = make_session("aws:main", auth, gha, env["AWS_REGION"])
    assert _identity(session, env) == "arn:aws:sts::123456789012:assumed-role/keyturn-rotator/keyturn-777"
    scheme, _, credential = oidc.seen[0]["auth"].partition(" ")  # the scheme is case-insensitive (RFC 9110)
    assert scheme.lower() == "bearer" and credential == "request-token-123"
    assert oidc.seen[0]["query"]["audience"] == ["sts.amazonaws.com"]
    assert oidc.seen[0]["query"]["api-version"] == ["2.0"]  # the runner's own query is kept
    _roundtrip(AwsStore("main", AwsStoreConfig(type="aws", auth=auth), gha))


def test_assumed_role_credentials_are_refreshed_before_they_expire(env: dict[str, str], oidc: Any) -> None:
    """A run may outlast the session (a paced fan-out to thousands of targets): the
    credentials are refreshable — botocore asks again, with a fresh OIDC token, once
    they are within 15 minutes of expiring. A 900 s session is always within that
    window, so each call refreshes; a 1 h session does not, until 45 min have passed."""
    from datetime import timedelta

    gha = {**_keyless(env), "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.url,
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-123"}
    short = AwsGithubOidcAuth(method="github-oidc", role_arn=ROLE, duration=timedelta(seconds=900))
    session = make_session("aws:main", short, gha, env["AWS_REGION"])
    assert len(oidc.seen) == 1
    for _ in range(2):
        assert _identity(session, env).endswith("/keyturn-rotator/keyturn")
    assert len(oidc.seen) == 3, "each call near expiry refreshes with a new OIDC token"
    oidc.seen.clear()
    hour = make_session("aws:main", AwsGithubOidcAuth(method="github-oidc", role_arn=ROLE), gha, env["AWS_REGION"])
    for _ in range(2):
        _identity(hour, env)
    assert len(oidc.seen) == 1, "far from expiry: no refresh"


def test_github_oidc_role_from_aws_role_arn_and_custom_audience(env: dict[str, str], oidc: Any) -> None:
    gha = {**_keyless(env), "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.url,
           "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token-123", "AWS_ROLE_ARN": ROLE}
    auth = AwsGithubOidcAuth(method="github-oidc", audience="my-aud", session_name="rot")
    assert _identity(make_session("aws:main", auth, gha, env["AWS_REGION"]), env).endswith("/keyturn-rotator/rot")
    assert oidc.seen[0]["query"]["audience"] == ["my-aud"]


@pytest.mark.parametrize("missing", ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"])
def test_missing_id_token_permission_is_reported_as_exactly_that(env: dict[str, str], oidc: Any,
                                                                 missing: str) -> None:
    gha = {**_keyless(env), "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}
    del gha[missing]
    auth = AwsGithubOidcAuth(method="github-oidc", role_arn=ROLE)
    with pytest.raises(UsageError) as err:
        AwsStore("main", AwsStoreConfig(type="aws", auth=auth), gha)
    assert "add `permissions: id-token: write` to this job" in str(err.value) and missing in str(err.value)
    assert err.value.exit_code == 2 and oidc.seen == []


def test_refused_oidc_request_names_the_permission(env: dict[str, str], oidc: Any) -> None:
    """A refused request token is a setup problem, exit 2 — as for every store (one mapping)."""
    oidc.status = 403
    gha = {**_keyless(env), "ACTIONS_ID_TOKEN_REQUEST_URL": oidc.url, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x"}
    auth = AwsGithubOidcAuth(method="github-oidc", role_arn=ROLE)
    with pytest.raises(UsageError, match=r"^aws:main: the GitHub OIDC token request was refused \(HTTP 403\) — add "
                                         r"`permissions: id-token: write`") as err:
        AwsStore("main", AwsStoreConfig(type="aws", auth=auth), gha)
    assert err.value.exit_code == 2


def test_github_oidc_without_a_role_is_a_usage_error(env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="needs auth.role_arn"):
        AwsStore("main", AwsStoreConfig(type="aws", auth=AwsGithubOidcAuth(method="github-oidc")), _keyless(env))


def test_profiles_from_the_aws_config_files(env: dict[str, str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "credentials"
    creds.write_text("[rotator]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = profile-secret\n")
    config = tmp_path / "config"
    config.write_text(f"[profile rotator]\nregion = {env['AWS_REGION']}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    base = {"AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"]}  # no region, no keys: all from the profile
    store = AwsStore("main", AwsStoreConfig(type="aws", auth=AwsProfileAuth(method="profile", profile="rotator")),
                     base)
    assert store.region == env["AWS_REGION"]
    _roundtrip(store)
    _roundtrip(AwsStore("main", AwsStoreConfig(type="aws"), {**base, "AWS_PROFILE": "rotator"}))
    with pytest.raises(UsageError, match="profile 'nope' not found"):
        AwsStore("main", AwsStoreConfig(type="aws", auth=AwsProfileAuth(method="profile", profile="nope")), base)


def test_no_credentials_and_no_region_name_the_fix(env: dict[str, str]) -> None:
    store = AwsStore("main", AwsStoreConfig(type="aws"), {"AWS_REGION": "us-east-1",
                                                          "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"]}, retries=0)
    with pytest.raises(UsageError, match="no AWS credentials — in Actions use aws-actions/configure-aws-credentials"):
        store.describe(SecretRef("S", "x", ""))
    with pytest.raises(UsageError, match="no AWS region — set AWS_REGION"):
        AwsStore("main", AwsStoreConfig(type="aws"), {"AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"]})
