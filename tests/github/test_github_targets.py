"""Every GitHub target kind receives the exact value; requests, confirmation, delete, resume checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keyturn.errors import ExitCode, TargetFailed, UsageError, exit_code_for
from keyturn.targets.base import Entry, Shape, Target, entries_for
from keyturn.targets.github import (
    GitHubOrgSecretTarget,
    GitHubRepoSecretTarget,
    validate_secret_name,
)
from keyturn.values import GITHUB_MAX_BYTES
from tests.github.conftest import entry, second_floor, secret

MULTILINE = "-----BEGIN KEY-----\nline two é ✓\n-----END KEY-----\n"


def test_repo_secret_exact_value_and_report(fake, session):
    since = second_floor()
    target = GitHubRepoSecretTarget(session, "acme/api")
    assert isinstance(target, Target)
    assert target.label == "github:acme/api"
    report = target.write([entry("DB_PASSWORD", MULTILINE)])
    assert fake.value("acme/api", "DB_PASSWORD") == MULTILINE
    # one public-key fetch, one PUT — nothing else: the 201/204 is the confirmation
    assert [(r.method, r.path) for r in fake.log] == [
        ("GET", "/repos/acme/api/actions/secrets/public-key"),
        ("PUT", "/repos/acme/api/actions/secrets/DB_PASSWORD"),
    ]
    assert report.requests == 2 and report.retries == 0
    assert report.confirmed_at is not None and report.confirmed_at >= since
    assert report.confirmed_at.tzinfo is not None
    assert report.details == {"created": "DB_PASSWORD", "updated": ""}
    assert target.write([entry("DB_PASSWORD", "second")]).details["updated"] == "DB_PASSWORD"
    assert fake.value("acme/api", "DB_PASSWORD") == "second"


def test_environment_and_dependabot_scopes(fake, session):
    prod = GitHubRepoSecretTarget(session, "acme/api", environment="production")
    staging = GitHubRepoSecretTarget(session, "acme/api", environment="staging")
    bot = GitHubRepoSecretTarget(session, "acme/worker", dependabot=True)
    assert prod.label == "github:acme/api@env:production"
    assert bot.label == "github:acme/worker@dependabot"
    prod.write([entry("API_KEY", "prod-value-1")])
    staging.write([entry("API_KEY", "staging-value-1")])
    bot.write([entry("NPM_TOKEN", "npm-value-1")])
    assert fake.value("acme/api", "API_KEY", environment="production") == "prod-value-1"
    assert fake.value("acme/api", "API_KEY", environment="staging") == "staging-value-1"
    assert fake.value("acme/api", "API_KEY") is None
    assert fake.value("acme/worker", "NPM_TOKEN", dependabot=True) == "npm-value-1"
    assert fake.value("acme/worker", "NPM_TOKEN") is None


@pytest.mark.parametrize("visibility", ["all", "private"])
def test_org_secret_visibility(fake, session, visibility):
    target = GitHubOrgSecretTarget(session, "acme", visibility=visibility)
    assert target.label == "github-org:acme"
    target.write([entry("ORG_TOKEN", "org-value-1")])
    stored = fake.secret("acme", "ORG_TOKEN")
    assert stored.value == "org-value-1" and stored.visibility == visibility


@pytest.mark.parametrize("dependabot", [False, True])
def test_org_secret_selected_repositories(fake, session, dependabot):
    target = GitHubOrgSecretTarget(
        session,
        "acme",
        visibility="selected",
        repositories=["acme/api", "acme/worker"],
        dependabot=dependabot,
    )
    report = target.write([entry("ORG_TOKEN", "org-selected-1")])
    stored = fake.secret("acme", "ORG_TOKEN", dependabot=dependabot)
    assert stored.value == "org-selected-1"
    assert stored.visibility == "selected"
    assert sorted(stored.selected_repository_ids) == sorted(
        fake.repos[r].id for r in ("acme/api", "acme/worker")
    )
    # key + 2 repo-id lookups + PUT; key and ids are kept for the rest of the run
    assert report.requests == 4
    assert target.write([entry("ORG_TOKEN", "org-selected-2")]).requests == 1


def test_public_key_fetched_once_per_scope(fake, session):
    targets = [GitHubRepoSecretTarget(session, "acme/api"), GitHubRepoSecretTarget(session, "acme/api")]
    for i, target in enumerate(targets * 2):
        target.write([entry("TOKEN", f"value-{i}")])
    assert len(fake.requests("GET", r"/public-key$")) == 1
    assert fake.value("acme/api", "TOKEN") == "value-3"


def test_versioned_shape_fetches_the_key_once(fake, session):
    target = GitHubRepoSecretTarget(session, "acme/api")
    plan = entries_for(Shape.VERSIONED, "PROV_SECRET", secret("gen-two-value"), 2, secret("gen-one-value"), 1)
    report = target.write(plan.write)
    assert fake.value("acme/api", "PROV_SECRET_V1") == "gen-one-value"
    assert fake.value("acme/api", "PROV_SECRET_V2") == "gen-two-value"
    assert fake.value("acme/api", "PROV_SECRET_ACTIVE_VERSION") == "2"
    assert report.requests == 1 + 3  # key, three PUTs
    assert [r.method for r in fake.log] == ["GET", "PUT", "PUT", "PUT"]


def test_is_current_reads_one_list_page_per_100_secrets(fake, session):
    since = second_floor()
    target = GitHubRepoSecretTarget(session, "acme/api")
    target.write([entry(f"FILL_{i:03d}", "x" * 8) for i in range(150)])
    entries = [entry("ZZ_A", "value-a"), entry("ZZ_B", "value-b")]
    target.write(entries)
    fake.clear_log()
    assert target.is_current(entries, since=since)
    assert [(r.method, r.path) for r in fake.log] == [("GET", "/repos/acme/api/actions/secrets")] * 2
    fake.clear_log()
    assert target.is_current(entries[:1], since=since)  # one entry: one GET of that secret
    assert [(r.method, r.path) for r in fake.log] == [("GET", "/repos/acme/api/actions/secrets/ZZ_A")]


def test_delete_is_idempotent(fake, session):
    target = GitHubRepoSecretTarget(session, "acme/api", environment="staging")
    target.write([entry("OLD_PREVIOUS", "old-value"), entry("KEEP", "keep-value")])
    report = target.delete(["OLD_PREVIOUS", "NEVER_EXISTED"])
    assert report.details == {"deleted": "OLD_PREVIOUS"}
    assert fake.value("acme/api", "OLD_PREVIOUS", environment="staging") is None
    assert fake.value("acme/api", "KEEP", environment="staging") == "keep-value"
    assert target.delete(["OLD_PREVIOUS"]).details == {"deleted": ""}


def test_is_current(fake, session):
    since = second_floor()
    target = GitHubRepoSecretTarget(session, "acme/api")
    entries = [entry("A_KEY", "value-a"), entry("B_KEY", "value-b")]
    assert target.is_current(entries, since=since) is False  # nothing there
    target.write(entries[:1])
    assert target.is_current(entries, since=since) is False  # B missing
    assert target.is_current(entries[:1], since=since) is True
    target.write(entries)
    assert target.is_current(entries, since=since) is True
    assert target.is_current(entries, since=since + timedelta(hours=1)) is False  # older than promotion
    missing = GitHubRepoSecretTarget(session, "acme/api", environment="nope")
    assert missing.is_current(entries, since=since) is False
    with pytest.raises(UsageError):
        target.is_current(entries, since=since.replace(tzinfo=None))


@pytest.mark.parametrize(
    "name", ["", "1ABC", "GITHUB_TOKEN", "github_x", "HAS-DASH", "HAS SPACE", "ÄRGER", "A.B"]
)
def test_invalid_names(name):
    with pytest.raises(UsageError) as info:
        validate_secret_name(name)
    assert exit_code_for(info.value) is ExitCode.USAGE


@pytest.mark.parametrize("name", ["A", "_A", "db_password", "X1_2", "MY_GITHUB_TOKEN"])
def test_valid_names(name):
    validate_secret_name(name)


def test_preflight_refuses_before_any_request(fake, session):
    targets = [GitHubRepoSecretTarget(session, "acme/api"), GitHubOrgSecretTarget(session, "acme")]
    too_big = entry("BIG", "x" * (GITHUB_MAX_BYTES + 1))
    for bad in (
        [entry("GITHUB_PAT", "some-value")],
        [too_big],
        [entry("A", "v1xxxxxx"), entry("a", "v2xxxxxx")],
    ):
        with pytest.raises(UsageError):
            for t in targets:
                t.preflight(bad)
        with pytest.raises(UsageError):
            targets[0].write(bad)  # write re-checks
    targets[0].preflight([entry("FITS", "x" * GITHUB_MAX_BYTES)])
    assert fake.log == []


def test_constructor_validation(session):
    with pytest.raises(UsageError):
        GitHubRepoSecretTarget(session, "no-slash")
    with pytest.raises(UsageError):
        GitHubRepoSecretTarget(session, "acme/api", environment="prod", dependabot=True)
    with pytest.raises(UsageError):
        GitHubOrgSecretTarget(session, "acme", visibility="selected")
    with pytest.raises(UsageError):
        GitHubOrgSecretTarget(session, "acme", visibility="private", repositories=["acme/api"])
    with pytest.raises(UsageError):
        GitHubOrgSecretTarget(session, "acme", visibility="public")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs,label",
    [
        ({"repo": "acme/missing"}, "github:acme/missing"),
        ({"repo": "acme/api", "environment": "qa"}, "github:acme/api@env:qa"),
    ],
)
def test_unknown_repo_or_environment_fails_naming_target(fake, session, kwargs, label):
    target = GitHubRepoSecretTarget(session, **kwargs)
    with pytest.raises(TargetFailed) as info:
        target.write([entry("TOKEN", "value-404")])
    assert info.value.target == label
    assert str(info.value).startswith(f"{label}: HTTP 404")
    assert exit_code_for(info.value) is ExitCode.SERVICE
    assert len(fake.log) == 1  # permanent: no retry


def test_entry_plain_string_value(fake, session):
    GitHubRepoSecretTarget(session, "acme/api").write([Entry("X_ACTIVE_VERSION", "7")])
    assert fake.value("acme/api", "X_ACTIVE_VERSION") == "7"


def test_org_is_current_notices_a_visibility_change(fake, session):
    since = second_floor()
    GitHubOrgSecretTarget(session, "acme", visibility="private").write([entry("ORG_TOKEN", "org-v-1")])
    entries = [entry("ORG_TOKEN", "org-v-1")]
    assert GitHubOrgSecretTarget(session, "acme", visibility="private").is_current(entries, since=since)
    assert not GitHubOrgSecretTarget(session, "acme", visibility="all").is_current(entries, since=since)


def test_write_nothing_sends_nothing(fake, session):
    assert GitHubRepoSecretTarget(session, "acme/api").write([]).skipped
    assert fake.log == []
