"""GitHubSession.from_env: credentials (token, GitHub App), API root, errors."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from keyturn._internal.github_client import NO_CREDENTIALS, GitHubSession
from keyturn.errors import ExitCode, ServiceError, TargetFailed, UsageError, exit_code_for
from keyturn.targets.github import GitHubRepoSecretTarget
from tests.github.conftest import entry


def test_missing_credentials_is_a_usage_error():
    with pytest.raises(UsageError) as info:
        GitHubSession.from_env({"GITHUB_API_URL": "http://127.0.0.1:9"})
    assert str(info.value) == (
        "github: no credentials — set GITHUB_TOKEN or KEYTURN_GITHUB_APP_ID/KEYTURN_GITHUB_APP_PRIVATE_KEY"
    )
    assert str(info.value) == NO_CREDENTIALS
    assert exit_code_for(info.value) is ExitCode.USAGE


def test_default_api_root_and_override():
    assert GitHubSession.from_env({"GITHUB_TOKEN": "t"}).github.requester.kwargs["base_url"] == (
        "https://api.github.com"
    )
    ghes = GitHubSession.from_env({"GITHUB_TOKEN": "t", "GITHUB_API_URL": "https://ghe.example/api/v3/"})
    assert ghes.api_url == "https://ghe.example/api/v3"


def test_bad_token_fails_naming_target(fake, vclock):
    session = GitHubSession.from_env(
        {"GITHUB_TOKEN": "wrong", "GITHUB_API_URL": fake.url}, sleep=vclock.sleep
    )
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "unused-value")])
    assert str(info.value).startswith("github:acme/api: HTTP 401") and "bad credentials" in str(info.value)


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.mark.parametrize("how", ["installation-id", "repository-lookup", "escaped-newlines"])
def test_github_app_installation_token(fake, vclock, app_key, how):
    private, public = app_key
    fake.add_app("4242", public, {77: ["acme/api"]})
    env = {
        "GITHUB_API_URL": fake.url,
        "KEYTURN_GITHUB_APP_ID": "4242",
        "KEYTURN_GITHUB_APP_PRIVATE_KEY": private,
    }
    if how == "installation-id":
        env["KEYTURN_GITHUB_APP_INSTALLATION_ID"] = "77"
    elif how == "repository-lookup":
        env["GITHUB_REPOSITORY"] = "acme/api"
    else:  # a key pasted into a single-line variable
        env["KEYTURN_GITHUB_APP_PRIVATE_KEY"] = private.replace("\n", "\\n")
        env["KEYTURN_GITHUB_APP_INSTALLATION_ID"] = "77"
    session = GitHubSession.from_env(env, sleep=vclock.sleep, clock=vclock.clock, wall=vclock.wall)
    GitHubRepoSecretTarget(session, "acme/api").write([entry("APP_WRITTEN", "via-app-token")])
    assert fake.value("acme/api", "APP_WRITTEN") == "via-app-token"
    assert len(fake.requests("POST", r"^/app/installations/77/access_tokens$")) == 1


def test_github_app_needs_an_installation(fake, app_key):
    private, public = app_key
    fake.add_app("4242", public, {77: ["acme/api"]})
    base = {
        "GITHUB_API_URL": fake.url,
        "KEYTURN_GITHUB_APP_ID": "4242",
        "KEYTURN_GITHUB_APP_PRIVATE_KEY": private,
    }
    with pytest.raises(UsageError):
        GitHubSession.from_env(base)
    with pytest.raises(UsageError):
        GitHubSession.from_env({**base, "KEYTURN_GITHUB_APP_INSTALLATION_ID": "seventy"})
    with pytest.raises(ServiceError) as info:
        GitHubSession.from_env({**base, "GITHUB_REPOSITORY": "acme/elsewhere"})
    assert "no installation of App 4242 on acme/elsewhere" in str(info.value)


def test_github_app_token_mint_failure_fails_naming_target(fake, vclock, app_key):
    private, public = app_key
    fake.add_app("4242", public, {77: ["acme/api"]})
    env = {
        "GITHUB_API_URL": fake.url,
        "KEYTURN_GITHUB_APP_ID": "4242",
        "KEYTURN_GITHUB_APP_PRIVATE_KEY": private,
        "KEYTURN_GITHUB_APP_INSTALLATION_ID": "78",  # not installed there
    }
    session = GitHubSession.from_env(env, sleep=vclock.sleep, clock=vclock.clock, wall=vclock.wall)
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("APP_WRITTEN", "never-sent")])
    assert str(info.value).startswith("github:acme/api: HTTP 404")
    assert "GitHub App installation token" in str(info.value)
