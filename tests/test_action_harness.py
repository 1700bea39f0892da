"""Composite actions run step by step as the runner would (tests/actions_harness.py) against
the local services: rotate on OpenBao, changelog-pr and update-secrets against the GitHub
fake. Asserts outputs, the step summary, that every value was masked before it could be
printed, and that no value (nor its base64/URL forms) is visible anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keyturn.values import derived_forms
from tests.actions_harness import ActionRun, run_action
from tests.fakes.github_repo import FakeGitHubRepos
from tests.invariants_support import Workspace


@pytest.fixture
def gh() -> Iterator[FakeGitHubRepos]:
    with FakeGitHubRepos() as fake:
        fake.seed("acme/app", {"README.md": b"# app\n"})
        fake.add_repo("acme/api", environments=["production"])
        fake.add_org("acme")
        yield fake


def assert_no_value(run: ActionRun, values: set[str]) -> None:
    assert values
    for value in values:
        for form in derived_forms(value):
            for text in run.visible():
                assert form not in text


def test_rotate_then_changelog_pr_actions(tmp_path: Path, openbao, gh: FakeGitHubRepos) -> None:  # type: ignore[no-untyped-def]
    ws = Workspace(tmp_path / "ws", openbao)
    env = {k: ws.env[k] for k in ("VAULT_ADDR", "VAULT_TOKEN", "KEYTURN_AUDIT_KEY_V1")}
    github = {"GITHUB_REPOSITORY": "acme/app", "GITHUB_API_URL": gh.url, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0"}

    fetch = run_action("changelog-pr", {"fetch-log": "true"}, workspace=ws.root, env={**env, **github},
                       token=gh.token)
    assert fetch.returncode == 0, fetch.log
    assert fetch.outputs["audit-head"] == "0" * 64  # an empty repository: the chain starts at genesis

    rotated = run_action("rotate", {"secrets": ws.name, "reason": "quarterly"}, workspace=ws.root, env=env)
    assert rotated.returncode == 0, rotated.log
    assert rotated.outputs["status"] == "completed" and rotated.outputs["rotation-ids"]
    assert "### keyturn rotate" in rotated.summary and ws.name in rotated.summary
    values = set(ws.target_values())
    assert values <= set(rotated.masks)  # masked before anything printed
    assert_no_value(rotated, values)

    pr = run_action("changelog-pr", {}, workspace=ws.root, env={**env, **github}, token=gh.token)
    assert pr.returncode == 0, pr.log
    assert pr.outputs["operation"] == "created" and pr.outputs["pull-request-number"] == "1"
    assert pr.outputs["pull-request-url"].endswith("/acme/app/pull/1")
    assert "### keyturn changelog-pr" in pr.summary and "| Operation | created |" in pr.summary
    assert_no_value(pr, values)
    again = run_action("changelog-pr", {}, workspace=ws.root, env={**env, **github}, token=gh.token)
    assert again.outputs["operation"] == "none"

    bad = run_action("changelog-pr", {"dry-run": "maybe"}, workspace=ws.root, env=env, token=gh.token)
    assert bad.returncode == 2 and "input 'dry-run' must be true or false" in bad.log


def test_update_secrets_action_fans_out_values_from_env_and_files(tmp_path: Path, gh: FakeGitHubRepos) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    api_key = "sk_live_harness_0123456789abcdefghij"
    (ws / "cert.pem").write_text("-----BEGIN KEY-----\nline-one-secret-material\n-----END KEY-----\n")
    run = run_action(
        "update-secrets",
        {"secrets": "API_KEY=UPSTREAM_API_KEY\nTLS_KEY=@cert.pem\n",
         "targets": "repo:acme/api env:acme/api:production dependabot:acme/api org:acme:selected:acme/api",
         "token": gh.token},
        workspace=ws, env={"GITHUB_API_URL": gh.url, "UPSTREAM_API_KEY": api_key,
                           "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "0"})
    assert run.returncode == 0, run.log
    assert run.outputs["written"] == "8"
    assert run.outputs["targets"].split() == ["github:acme/api", "github:acme/api@env:production",
                                              "github:acme/api@dependabot", "github-org:acme"]
    pem = (ws / "cert.pem").read_text().removesuffix("\n")
    assert gh.value("acme/api", "API_KEY") == api_key
    assert gh.value("acme/api", "TLS_KEY", environment="production") == pem
    assert gh.value("acme/api", "API_KEY", dependabot=True) == api_key
    assert gh.value("acme", "TLS_KEY") == pem
    assert {api_key, "line-one-secret-material"} <= set(run.masks)
    assert "| API_KEY | github:acme/api | created |" in run.summary
    assert_no_value(run, {api_key, pem})


@pytest.mark.parametrize(("secrets", "needle"), [
    ("API_KEY=sk_live_not_an_env_var_name!", "is not an environment variable name"),
    ("API_KEY=MISSING_VAR", "MISSING_VAR is empty or unset"),
    ("not a mapping", "expected NAME=ENV_VAR"),
])
def test_update_secrets_refuses_values_in_inputs(tmp_path: Path, gh: FakeGitHubRepos, secrets: str,
                                                 needle: str) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    run = run_action("update-secrets", {"secrets": secrets, "targets": "repo:acme/api", "token": gh.token},
                     workspace=ws, env={"GITHUB_API_URL": gh.url})
    assert run.returncode == 2 and needle in run.log
    assert "sk_live_not" not in run.log
    assert gh.writes == 0


def test_validate_action_runs_the_vault_token_check(tmp_path: Path, openbao, unique: str) -> None:  # type: ignore[no-untyped-def]
    import hvac

    root = hvac.Client(url=openbao.url, token=openbao.token)
    root.sys.create_or_update_policy(f"app-{unique}", 'path "secret/data/app/*" { capabilities = ["read"] }')
    token = root.auth.token.create(policies=[f"app-{unique}"], ttl="1h")["auth"]["client_token"]
    root.secrets.kv.v2.create_or_update_secret(path=f"vt/{unique}", secret={"value": token}, mount_point="secret")
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "keyturn.yml").write_text(
        "version: 1\nstores: {bao: {type: openbao, mount: secret}}\nsecrets:\n  SERVICE_TOKEN:\n"
        f"    store: bao\n    path: vt/{unique}\n    generator: {{type: hex}}\n"
        f"    smoke:\n      - vault-token: {{expect_policies: [app-{unique}]}}\n", encoding="utf-8")
    env = {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token}
    ok = run_action("validate", {"secret": "SERVICE_TOKEN"}, workspace=ws, env=env)
    assert ok.returncode == 0, ok.log
    assert f"ok   vault-token lookup-self (policies app-{unique})" in ok.log
    assert token in ok.masks
    assert_no_value(ok, {token})
    root.auth.token.revoke(token)
    failed = run_action("validate", {"secret": "SERVICE_TOKEN"}, workspace=ws, env=env)
    assert failed.returncode == 1 and "FAIL vault-token" in failed.log and "HTTP 403" in failed.log
    assert_no_value(failed, {token})


def test_scan_action_fails_on_findings_with_redacted_sarif(tmp_path: Path) -> None:
    import json
    import subprocess

    ws = tmp_path / "ws"
    ws.mkdir()
    token = "ghp_" + "6oScBVX4ANCc9vIFShP88xbjV0fhZ746ydeV"  # split: the repo's own scan stays clean
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "config.py").write_text(f'GITHUB_TOKEN = "{token}"\n', encoding="utf-8")
    (ws / ".keyturn-action").mkdir()
    (ws / ".keyturn-action" / "leak.py").write_text(f'T = "{token}"\n', encoding="utf-8")
    run = run_action("scan", {"exclude": ".keyturn-action/"}, workspace=ws)
    assert run.returncode == 1, run.log  # findings fail the gate
    assert run.outputs == {"sarif-file": "keyturn.sarif", "findings": "1"}  # the excluded checkout is skipped
    sarif = (ws / "keyturn.sarif").read_text(encoding="utf-8")
    result = json.loads(sarif)["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "config.py"
    assert token not in sarif and token not in run.log and token not in run.summary
