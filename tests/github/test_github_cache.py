"""Floor request counts and the public-key cache across runs (counted in the fake's own log).

A fresh run costs one public-key GET per scope plus one PUT per entry; a run seeded with
the previous run's cache (through its JSON form, as the journal would carry it) costs the
PUTs only; a key GitHub rotated meanwhile costs one 422, one key GET and the PUT again.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyturn.errors import TargetFailed
from keyturn.manifest import GitHubOrgTargetConfig, GitHubTargetConfig
from keyturn.targets.github import GitHubOrgSecretTarget, GitHubRepoSecretTarget
from keyturn.targets.github_cache import JsonKeyCache, KeyCache, MemoryKeyCache, PublicKeyEntry
from keyturn.targets.registry import TargetFactory
from tests.github.conftest import entry, make_session


def _targets(session, fake, n: int = 6) -> list:
    for i in range(n):
        fake.add_repo(f"acme/svc{i}", environments=["staging", "production"])
    out = [GitHubRepoSecretTarget(session, f"acme/svc{i}") for i in range(n)]
    out += [GitHubRepoSecretTarget(session, f"acme/svc{i}", environment="production") for i in range(n)]
    out.append(
        GitHubOrgSecretTarget(session, "acme", visibility="selected", repositories=["acme/svc0", "acme/svc1"])
    )
    return out


def _carry(cache: JsonKeyCache, api_url: str) -> JsonKeyCache:
    """What a journal does: JSON out, text, JSON in."""
    return JsonKeyCache.from_json(json.loads(json.dumps(cache.to_json())), api_url)


def test_second_run_with_the_cache_sends_only_the_puts(fake, vclock):
    cache = JsonKeyCache(fake.url)
    session = make_session(fake, vclock)
    session.cache = cache
    targets = _targets(session, fake)
    for t in targets:
        t.write([entry("TOKEN", "run-one-value")])
    repo_scopes = len(targets) - 1
    # fresh: key + PUT per scope; the org target adds one GET /repos/{r} per selected repository
    assert len(fake.log) == 2 * repo_scopes + (1 + 2 + 1)
    assert len(fake.requests("GET", r"^/repos/[^/]+/[^/]+$")) == 2
    assert cache.changed

    fake.clear_log()
    second = make_session(fake, vclock, KEYTURN_GITHUB_MIN_WRITE_INTERVAL="0")
    second.cache = _carry(cache, fake.url)
    for t in _targets(second, fake):
        t.write([entry("TOKEN", "run-two-value")])
    assert [r.method for r in fake.log] == ["PUT"] * len(targets)  # 1.0 request per target
    assert fake.value("acme/svc3", "TOKEN", environment="production") == "run-two-value"
    org = fake.secret("acme", "TOKEN")
    assert org is not None and org.value == "run-two-value"
    assert sorted(org.selected_repository_ids) == sorted(fake.repos[f"acme/svc{i}"].id for i in (0, 1))


def test_a_key_github_rotated_is_refetched_once(fake, vclock):
    session = make_session(fake, vclock)
    target = GitHubRepoSecretTarget(session, "acme/api")
    target.write([entry("TOKEN", "first-value")])
    old = session.cache.get_key("/repos/acme/api/actions")
    assert old is not None
    fake.rotate_key("/repos/acme/api/actions")
    fake.clear_log()

    later = make_session(fake, vclock)
    later.cache = session.cache  # the next run, seeded with the stale key
    report = GitHubRepoSecretTarget(later, "acme/api").write([entry("TOKEN", "after-rotation")])
    assert [(r.method, r.status) for r in fake.log] == [("PUT", 422), ("GET", 200), ("PUT", 204)]
    assert report.requests == 3 and report.retries == 1
    assert fake.value("acme/api", "TOKEN") == "after-rotation"
    fresh = later.cache.get_key("/repos/acme/api/actions")
    assert fresh is not None and fresh.key_id != old.key_id  # the cache now holds the new key


def test_a_422_with_a_key_fetched_this_run_is_not_retried(fake, session):
    fake.inject(r"/secrets/TOKEN$", 422, times=None, method="PUT", body={"message": "Bad key_id"})
    with pytest.raises(TargetFailed) as info:
        GitHubRepoSecretTarget(session, "acme/api").write([entry("TOKEN", "refused-value")])
    assert "HTTP 422" in str(info.value)
    assert [r.method for r in fake.log] == ["GET", "PUT"]  # no refetch loop


def test_a_recreated_selected_repository_is_looked_up_again(fake, vclock):
    cache = JsonKeyCache(fake.url)
    cache.put_repo_id("acme/api", 999_999)  # an id GitHub no longer knows
    session = make_session(fake, vclock)
    session.cache = cache
    target = GitHubOrgSecretTarget(session, "acme", visibility="selected", repositories=["acme/api"])
    target.write([entry("ORG_TOKEN", "selected-value")])
    assert [(r.method, r.path, r.status) for r in fake.log] == [
        ("GET", "/orgs/acme/actions/secrets/public-key", 200),
        ("PUT", "/orgs/acme/actions/secrets/ORG_TOKEN", 422),
        ("GET", "/repos/acme/api", 200),
        ("PUT", "/orgs/acme/actions/secrets/ORG_TOKEN", 201),
    ]
    assert cache.get_repo_id("acme/api") == fake.repos["acme/api"].id


def test_json_form_is_bound_to_its_api_root_and_tolerant(fake):
    cache = JsonKeyCache("https://api.github.com/")
    good = PublicKeyEntry("568250167242549743", "u2Lr3Z8U7Yl8Ez6WsbRo5Q2+3MDmJj1G3k8RmfOe5kU=")
    assert good.valid()
    cache.put_key("/repos/Acme/API/actions", good)
    cache.put_repo_id("Acme/API", 42)
    data = cache.to_json()
    assert data == {
        "v": 1,
        "api": "https://api.github.com",
        "keys": {"/repos/acme/api/actions": [good.key_id, good.key]},
        "repo_ids": {"acme/api": 42},
    }
    assert JsonKeyCache.from_json(data, "https://api.github.com").get_key("/repos/acme/api/actions") == good
    assert JsonKeyCache.from_json(data, "https://ghe.example/api/v3").get_key("/repos/acme/api/actions") is None
    assert cache.to_json(scopes=["/repos/other/x/actions"], repos=[])["keys"] == {}
    broken = {"v": 1, "api": "https://api.github.com", "keys": {"/a": ["id", "not-base64!"], "/b": "x"},
              "repo_ids": {"a/b": "12", "c/d": True, "e/f": 7}}
    loaded = JsonKeyCache.from_json(broken, "https://api.github.com")
    assert loaded.get_key("/a") is None and loaded.get_key("/b") is None
    assert (loaded.get_repo_id("a/b"), loaded.get_repo_id("c/d"), loaded.get_repo_id("e/f")) == (None, None, 7)
    assert not loaded.changed
    for junk in (None, [], {"v": 2}, {"v": 1, "api": "https://api.github.com", "keys": []}):
        JsonKeyCache.from_json(junk, "https://api.github.com")  # type: ignore[arg-type]
    assert isinstance(MemoryKeyCache(), KeyCache) and isinstance(cache, KeyCache)


def test_target_factory_round_trip(fake, tmp_path: Path):
    fake.add_repo("acme/worker")
    env = {"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0"}
    configs = [
        GitHubTargetConfig(github="acme/api", environments=["staging", "production"]),
        GitHubOrgTargetConfig.model_validate(
            {"github-org": "acme", "visibility": "selected", "repositories": ["acme/worker"]}
        ),
    ]
    factory = TargetFactory(tmp_path, env)
    bound = [b for c in configs for b in factory.build("DEPLOY_KEY", c)]
    assert factory.target_cache(bound) == {"github": {"v": 1, "api": fake.url, "keys": {}, "repo_ids": {}}}
    for b in bound:
        b.target.write([entry(b.entry_name, "factory-value")])
    state = json.loads(json.dumps(factory.target_cache(bound)))
    assert sorted(state["github"]["keys"]) == [
        "/orgs/acme/actions",
        "/repos/acme/api/environments/production",
        "/repos/acme/api/environments/staging",
    ]
    assert state["github"]["repo_ids"] == {"acme/worker": fake.repos["acme/worker"].id}
    assert len(json.dumps(state)) < 200 * len(bound)  # public data, ~100 bytes a scope

    fake.clear_log()
    later = TargetFactory(tmp_path, env)
    later.load_target_cache(state)
    for b in [b for c in configs for b in later.build("DEPLOY_KEY", c)]:
        b.target.write([entry(b.entry_name, "factory-value-2")])
    assert [r.method for r in fake.log] == ["PUT"] * 3
    assert TargetFactory(tmp_path, env).target_cache([]) == {}
