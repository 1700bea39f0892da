"""The post-rotation checks that prove consumers got the value: github-workflow (against the
GitHub fake: success, failure, timeout, a run GitHub does not name, a 403), aws-sts
(GetCallerIdentity on a moto server with authentication switched on) and vault-token
(lookup-self on OpenBao). Checks never raise and never put the value in their detail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from keyturn._internal.devserver import Server, _die_with_parent, _wait_ready, free_port
from keyturn.manifest import parse_manifest
from keyturn.validators.aws_sts import AwsStsCheck
from keyturn.validators.github_workflow import GitHubWorkflowCheck
from keyturn.validators.registry import build_check
from keyturn.validators.vault_token import VaultTokenCheck
from keyturn.values import SecretValue
from tests.fakes.github_repo import FakeGitHubRepos, Workflow

VALUE = SecretValue("not-sent-to-the-consumer-0123456789", mask=False)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def gh() -> Iterator[FakeGitHubRepos]:
    with FakeGitHubRepos() as fake:
        fake.seed("acme/web")
        yield fake


def workflow_check(gh: FakeGitHubRepos, clock: FakeClock, **kw: object) -> GitHubWorkflowCheck:
    env = {"GITHUB_TOKEN": gh.token, "GITHUB_API_URL": gh.url, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0"}
    return GitHubWorkflowCheck("acme/web", "smoke.yml", ref="main", inputs={"reason": "rotation"},
                               environ=env, sleep=clock.sleep, clock=clock, **kw)  # type: ignore[arg-type]


def test_github_workflow_success_waits_for_that_run(gh: FakeGitHubRepos) -> None:
    gh.add_workflow("acme/web", "smoke.yml", Workflow(outcomes=["success"], polls_until_done=3))
    clock = FakeClock()
    result = workflow_check(gh, clock, timeout=600, poll_interval=5).run("API_KEY", VALUE)
    assert result.ok, result.detail
    (run,) = gh.runs.values()
    assert result.detail == f"run {run.id} (https://github.example/runs/{run.id}): success"
    assert run.inputs == {"reason": "rotation"} and run.ref == "main"
    assert clock.sleeps == [5, 5]  # polled until the third read said completed
    assert VALUE.reveal() not in json.dumps(run.inputs)


def test_github_workflow_failure_fails_the_check(gh: FakeGitHubRepos) -> None:
    gh.add_workflow("acme/web", "smoke.yml", Workflow(outcomes=["failure"]))
    result = workflow_check(gh, FakeClock()).run("API_KEY", VALUE)
    assert not result.ok and result.detail.endswith(": failure")


def test_github_workflow_timeout(gh: FakeGitHubRepos) -> None:
    gh.add_workflow("acme/web", "smoke.yml", Workflow(outcomes=[None]))  # never completes
    clock = FakeClock()
    result = workflow_check(gh, clock, timeout=60, poll_interval=25).run("API_KEY", VALUE)
    assert not result.ok
    assert "timed out after 60s" in result.detail and "in_progress" in result.detail
    assert sum(clock.sleeps) == 60 and clock.sleeps[-1] == 10  # the last wait is cut to the deadline


def test_github_workflow_finds_the_new_run_without_run_details(gh: FakeGitHubRepos) -> None:
    gh.add_workflow("acme/web", "smoke.yml", Workflow(outcomes=["success", "failure"], return_run_details=False))
    check = workflow_check(gh, FakeClock())
    assert check.run("API_KEY", VALUE).ok  # first dispatch: success
    second = check.run("API_KEY", VALUE)  # an older successful run exists: it must not be taken
    assert not second.ok and second.detail.endswith(": failure")


def test_github_workflow_403_names_the_permission(gh: FakeGitHubRepos) -> None:
    gh.add_workflow("acme/web", "smoke.yml", Workflow())
    gh.inject(r"/dispatches$", 403, method="POST", body={"message": "Resource not accessible by integration"})
    result = workflow_check(gh, FakeClock()).run("API_KEY", VALUE)
    assert not result.ok and "Actions: write" in result.detail and "actions: write" in result.detail


def test_github_workflow_token_env(gh: FakeGitHubRepos) -> None:
    gh.add_workflow("acme/web", "smoke.yml", Workflow(outcomes=["success"]))
    env = {"GITHUB_TOKEN": "wrong-token", "SMOKE_TOKEN": gh.token, "GITHUB_API_URL": gh.url}
    clock = FakeClock()
    check = GitHubWorkflowCheck("acme/web", "smoke.yml", token_env="SMOKE_TOKEN", environ=env,
                                sleep=clock.sleep, clock=clock)
    assert check.run("API_KEY", VALUE).ok
    wrong = GitHubWorkflowCheck("acme/web", "smoke.yml", environ=env, sleep=clock.sleep, clock=clock)
    bad = wrong.run("API_KEY", VALUE)
    assert not bad.ok and "bad credentials" in bad.detail
    unset = GitHubWorkflowCheck("acme/web", "smoke.yml", token_env="NOPE", environ=env).run("API_KEY", VALUE)
    assert not unset.ok and "NOPE is empty" in unset.detail


def test_github_workflow_from_the_manifest(tmp_path: Path) -> None:
    m = parse_manifest(
        "version: 1\nstores: {v: {type: vault}}\nsecrets:\n  A:\n    store: v\n    path: a\n"
        "    generator: {type: hex}\n    smoke:\n      - github-workflow: {repository: acme/web, workflow: smoke.yml,"
        " timeout: 5m, poll_interval: 15s}\n      - aws-sts: {expect_account: '123456789012'}\n"
        "      - vault-token: {expect_policies: [app]}\n", tmp_path / "keyturn.yml")
    checks = [build_check(c, tmp_path, {}) for c in m.model.secrets["A"].smoke]
    assert [c.label for c in checks] == ["github-workflow acme/web/smoke.yml@main",
                                         "aws-sts GetCallerIdentity (account 123456789012)",
                                         "vault-token lookup-self (policies app)"]
    assert isinstance(checks[0], GitHubWorkflowCheck) and checks[0].timeout == 300
    with pytest.raises(Exception, match="must not contain a template"):
        parse_manifest("version: 1\nstores: {v: {type: vault}}\nsecrets:\n  A:\n    store: v\n    path: a\n"
                       "    generator: {type: hex}\n    smoke:\n      - github-workflow: {repository: a/b, "
                       "workflow: s.yml, inputs: {x: '{{ value }}'}}\n", tmp_path / "keyturn.yml")


# --------------------------------------------------------------------------- aws-sts on moto


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("moto")
    port = free_port()
    log = work / "moto.log"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work)}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p",
                                 str(port)], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=_die_with_parent)
    server = Server("moto", f"http://127.0.0.1:{port}", proc, log)
    _wait_ready(server, "/moto-api/", 20)
    try:
        yield server
    finally:
        server.stop()


def _iam_key(moto: Server) -> dict[str, str]:
    import boto3

    urllib.request.urlopen(urllib.request.Request(moto.url + "/moto-api/reset", method="POST"))  # noqa: S310
    iam = boto3.client("iam", endpoint_url=moto.url, region_name="us-east-1",
                       aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
    iam.create_user(UserName="deployer")
    iam.put_user_policy(UserName="deployer", PolicyName="any", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    # From now on moto checks every request's signature against its IAM keys.
    urllib.request.urlopen(urllib.request.Request(moto.url + "/moto-api/reset-auth", data=b"0",  # noqa: S310
                                                  method="POST", headers={"Content-Type": "text/plain"}))
    return {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}


def test_aws_sts_accepts_the_live_key_pair_and_refuses_others(moto: Server) -> None:
    keys = _iam_key(moto)
    try:
        check = AwsStsCheck(endpoint_url=moto.url, region="us-east-1", expect_account="123456789012", environ={})
        good = check.run("DEPLOY_KEY", SecretValue(json.dumps(keys), mask=False))
        assert good.ok, good.detail
        assert good.detail == "caller arn:aws:iam::123456789012:user/deployer"
        wrong_secret = SecretValue(json.dumps({**keys, "SecretAccessKey": "x" * 40}), mask=False)
        bad = check.run("DEPLOY_KEY", wrong_secret)
        assert not bad.ok and bad.detail.startswith("STS refused the key pair: ")
        unknown = check.run("DEPLOY_KEY", SecretValue(json.dumps(
            {"AccessKeyId": "AKIAUNKNOWNKEY000000", "SecretAccessKey": "y" * 40}), mask=False))
        assert not unknown.ok and "InvalidClientTokenId" in unknown.detail
        other = AwsStsCheck(endpoint_url=moto.url, expect_account="210987654321", environ={})
        mismatch = other.run("DEPLOY_KEY", SecretValue(json.dumps(keys), mask=False))
        assert not mismatch.ok and "expected 210987654321" in mismatch.detail
        not_json = check.run("DEPLOY_KEY", SecretValue("plain-secret-not-json-123", mask=False))
        assert not not_json.ok and "not a JSON object" in not_json.detail
        assert "AccessKeyId and SecretAccessKey (or access_key_id and secret_access_key)" in not_json.detail
        # what the aws-iam issuer stores passes with the defaults too
        issued = SecretValue(json.dumps({"access_key_id": keys["AccessKeyId"],
                                         "secret_access_key": keys["SecretAccessKey"]}), mask=False)
        assert check.run("DEPLOY_KEY", issued).ok
        # a configured pair is the only one tried
        named = AwsStsCheck(endpoint_url=moto.url, region="us-east-1", access_key_id_field="id",
                            secret_access_key_field="key", environ={})
        assert named.run("DEPLOY_KEY", SecretValue(json.dumps({"id": keys["AccessKeyId"],
                                                              "key": keys["SecretAccessKey"]}), mask=False)).ok
        assert not named.run("DEPLOY_KEY", SecretValue(json.dumps(keys), mask=False)).ok
        for result in (good, bad, unknown, mismatch, not_json):
            assert keys["SecretAccessKey"] not in result.detail and "plain-secret" not in result.detail
    finally:
        urllib.request.urlopen(urllib.request.Request(moto.url + "/moto-api/reset-auth",  # noqa: S310
                                                      data=b"1000000000", method="POST",
                                                      headers={"Content-Type": "text/plain"}))


# --------------------------------------------------------------------------- vault-token on OpenBao


def test_vault_token_lookup_self(openbao: Server) -> None:
    root = hvac.Client(url=openbao.url, token=openbao.token)
    root.sys.create_or_update_policy("app-read", 'path "secret/data/app/*" { capabilities = ["read"] }')
    token = root.auth.token.create(policies=["app-read"], ttl="1h")["auth"]["client_token"]
    value = SecretValue(token, mask=False)
    ok = VaultTokenCheck(address=openbao.url, expect_policies=["app-read"], environ={}).run("T", value)
    assert ok.ok, ok.detail
    assert "app-read" in ok.detail and token not in ok.detail
    lacking = VaultTokenCheck(address=openbao.url, expect_policies=["admin"], environ={}).run("T", value)
    assert not lacking.ok and "lacks policies admin" in lacking.detail
    root.auth.token.revoke(token)
    revoked = VaultTokenCheck(environ={"VAULT_ADDR": openbao.url}).run("T", value)
    assert not revoked.ok and revoked.detail.startswith("HTTP 403")
    assert not VaultTokenCheck(environ={}).run("T", value).ok  # no address anywhere
