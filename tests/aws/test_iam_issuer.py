"""The AWS IAM access key issuer (``generator: {type: aws-iam-access-key}``) on the moto
server: rotated end to end through real ``keyturn`` processes (store: moto's Secrets
Manager; targets: dotenv files mapped with ``fields:``), killed at every boundary and
resumed, rolled back, refused when the user already holds two keys — and the issuer's
own calls (preflight, issue on resume, verify, revoke) read back from IAM directly.

moto fidelity: its STS answers GetCallerIdentity for a known access key id without
checking the secret (or the key's status), and answers ``user/moto`` for an unknown one;
so verify is proven here to reject a key that does not exist (wrong Arn), not a wrong
secret. ``test_verify_rejects_a_wrong_secret_when_moto_checks_signatures`` turns on moto's
request authentication to show the signature path too.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from keyturn.errors import StoreUnavailable, UsageError
from keyturn.issuers.aws_iam import AwsIamKeyGen, AwsIamKeyIssuer
from keyturn.issuers.base import IssueRequest, Issued, structured_value
from tests.aws.iam_workspace import IamWorkspace
from tests.aws.moto_server import aws_env


def _ok(r: Any) -> None:
    assert r.returncode == 0, r.stdout + r.stderr


def _ws(tmp_path: Path, moto: Any, *, seed: bool = True, **kw: Any) -> tuple[IamWorkspace, dict[str, str] | None]:
    ws = IamWorkspace(tmp_path / "ws", moto, **kw)
    ws.create_user()
    if not seed:
        return ws, None
    old = ws.create_key()
    ws.seed_store(old)
    return ws, old


def _assert_converged(ws: IamWorkspace, old: str) -> None:
    """Exactly one new key beside the old one; store and files hold the new pair."""
    current = ws.pair()
    assert current is not None
    keys = ws.keys()
    assert set(keys) == {old, current["access_key_id"]}, keys
    assert current["access_key_id"] != old
    assert ws.file_pair() == current
    assert ws.file_pair("deploy/dual.env") == current
    assert ws.file_pair("deploy/dual.env", "_PREVIOUS")["access_key_id"] == old


# ------------------------------------------------------------------------ end to end
def test_rotate_twice_and_finalize_deletes_the_old_keys_at_iam(tmp_path: Path, moto: Any) -> None:
    ws, old = _ws(tmp_path, moto)
    assert old is not None
    runs = [ws.run("manifest", "check")]
    runs.append(ws.rotate())
    _ok(runs[-1])
    assert "JSON value" not in runs[-1].stderr, "a structured value is masked and stored field by field"
    _assert_converged(ws, old["access_key_id"])  # the key in use before keyturn was adopted as PREVIOUS
    first = ws.current_key()
    runs.append(ws.rotate())
    _ok(runs[-1])
    second = ws.pair()
    assert second is not None and second["access_key_id"] not in (first, old["access_key_id"])
    assert set(ws.keys()) == {first, second["access_key_id"]}, "the superseded key made room for the new one"
    runs.append(ws.run("finalize", "--force"))
    _ok(runs[-1])
    assert ws.keys() == {second["access_key_id"]: "Active"}, "finalize deleted the old key at IAM"
    assert ws.file_pair() == second and ws.file_pair("deploy/dual.env") == second
    assert "AWS_ACCESS_KEY_ID_PREVIOUS" not in ws.dotenv("deploy/dual.env")
    events = [e for e in ws.audit_events() if e["event"] in ("rotation.issue", "rotation.revoke")]
    assert [e["details"]["credential"] for e in events if e["event"] == "rotation.revoke"] == [
        old["access_key_id"], first]
    assert ws.run("audit", "verify").returncode == 0
    secrets = ws.seen_secrets() | {old["secret_access_key"]}
    assert second["secret_access_key"] in secrets and len(secrets) == 3
    texts = [r.stdout + r.stderr for r in runs] + [ws.written()]
    for secret in secrets:
        assert not any(secret in t for t in texts), "a secret access key reached an output"


def test_first_rotation_of_a_user_without_keys(tmp_path: Path, moto: Any) -> None:
    ws, _ = _ws(tmp_path, moto, seed=False)
    _ok(ws.rotate())
    assert list(ws.keys()) == [ws.current_key()]
    assert ws.file_pair() == ws.pair()


@pytest.mark.parametrize("point", ["issued", "created", "verified", "promote-write", "promoted", "distribute-1",
                                   "distributed", "smoked", "completed"])
def test_killed_rotation_resumes_with_exactly_one_new_key(tmp_path: Path, moto: Any, point: str) -> None:
    ws, old = _ws(tmp_path, moto)
    assert old is not None
    killed = ws.rotate(fault=point)
    assert killed.returncode < 0, (point, killed.stderr)
    again = ws.rotate()
    _ok(again)
    _assert_converged(ws, old["access_key_id"])
    _ok(ws.run("finalize", "--force"))
    assert list(ws.keys()) == [ws.current_key()]
    for secret in ws.seen_secrets():
        assert secret not in killed.stderr + killed.stdout + again.stdout + again.stderr + ws.written()


@pytest.mark.parametrize("point", ["retire-targets", "retire-issuer", "retire-store"])
def test_killed_finalize_resumes_and_deletes_the_old_key(tmp_path: Path, moto: Any, point: str) -> None:
    ws, old = _ws(tmp_path, moto)
    assert old is not None
    _ok(ws.rotate())
    killed = ws.run("finalize", "--force", fault=point)
    assert killed.returncode < 0, (point, killed.stderr)
    _ok(ws.run("finalize", "--force"))
    assert list(ws.keys()) == [ws.current_key()]
    assert ws.file_pair() == ws.pair()


@pytest.mark.parametrize("point", ["retire-issuer", "retire-store"])
def test_grace_zero_rotation_killed_while_retiring(tmp_path: Path, moto: Any, point: str) -> None:
    ws, old = _ws(tmp_path, moto, grace="0s")
    assert old is not None
    killed = ws.rotate(fault=point)
    assert killed.returncode < 0, (point, killed.stderr)
    _ok(ws.rotate())  # resumes the same rotation
    _ok(ws.run("finalize"))
    assert list(ws.keys()) == [ws.current_key()]
    assert ws.file_pair() == ws.pair()


def test_a_user_with_two_keys_is_refused_naming_the_older_key(tmp_path: Path, moto: Any) -> None:
    ws, old = _ws(tmp_path, moto)
    assert old is not None
    newer = ws.create_key()
    before = ws.keys()
    r = ws.rotate()
    assert r.returncode == 2, r.stdout + r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "internal error" not in line, line
    assert old["access_key_id"] in line and "two access keys" in line and "delete-access-key" in line, line
    assert line.index(old["access_key_id"]) < line.index(newer["access_key_id"])  # the older one is the fix
    assert ws.keys() == before, "nothing was deleted or created at IAM"
    assert ws.journal() == {} and ws.pair() == old, "nothing was written"
    assert newer["secret_access_key"] not in r.stderr + r.stdout


def test_a_missing_user_is_a_one_line_usage_error(tmp_path: Path, moto: Any) -> None:
    ws = IamWorkspace(tmp_path / "ws", moto, user="nobody")
    r = ws.rotate()
    assert r.returncode == 2, r.stderr
    assert "IAM user 'nobody' does not exist" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert ws.journal() == {} and ws.pair() is None


def test_a_failed_smoke_check_rolls_back_and_deletes_the_new_key(tmp_path: Path, moto: Any) -> None:
    ws, old = _ws(tmp_path, moto)
    assert old is not None
    (ws.root / "fail-smoke").touch()
    r = ws.rotate()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "rolled back" in r.stderr
    assert ws.keys() == {old["access_key_id"]: "Active"}, "the rolled-back key was deleted at IAM"
    assert ws.pair() == old and ws.file_pair() == old
    (new_secret,) = ws.seen_secrets()
    assert new_secret not in r.stdout + r.stderr + ws.written()


def test_a_failed_verify_check_deletes_the_new_key_and_changes_nothing(tmp_path: Path, moto: Any) -> None:
    ws, old = _ws(tmp_path, moto)
    (ws.root / "fail-verify").touch()
    r = ws.rotate()
    assert r.returncode == 1, r.stdout + r.stderr
    assert old is not None and ws.keys() == {old["access_key_id"]: "Active"}
    assert ws.pair() == old and not (ws.root / "deploy" / "app.env").exists()


def test_manifest_check_refuses_a_target_without_fields(tmp_path: Path, moto: Any) -> None:
    ws = IamWorkspace(tmp_path / "ws", moto)
    text = (ws.root / "keyturn.yml").read_text()
    (ws.root / "keyturn.yml").write_text(text.replace(
        "      - file: deploy/app.env\n        fields: {AWS_ACCESS_KEY_ID: access_key_id, "
        "AWS_SECRET_ACCESS_KEY: secret_access_key}\n", "      - file: deploy/app.env\n"))
    r = ws.run("manifest", "check")
    assert r.returncode == 2 and "access_key_id, secret_access_key" in r.stderr, r.stderr


# ------------------------------------------------------------------------ the issuer's own calls
def _issuer(moto: Any, user: str = "deployer", **config: Any) -> AwsIamKeyIssuer:
    gen = AwsIamKeyGen(type="aws-iam-access-key", user=user, **config)
    return AwsIamKeyIssuer("DEPLOY_KEY", gen, aws_env(moto), sleep=lambda s: None)


@pytest.fixture
def iam(moto: Any) -> Any:
    import boto3

    env = aws_env(moto)
    client = boto3.client("iam", region_name=env["AWS_REGION"], endpoint_url=env["AWS_ENDPOINT_URL"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_user(UserName="deployer")
    return client


def _ids(iam: Any) -> set[str]:
    return {k["AccessKeyId"] for k in iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"]}


def test_issue_and_verify_then_revoke_reads_back(iam: Any, moto: Any) -> None:
    issuer = _issuer(moto)
    issuer.preflight("")
    assert issuer.current_credential() == ""
    issued = issuer.issue(IssueRequest("DEPLOY_KEY", "r1", datetime.now(timezone.utc)))
    assert _ids(iam) == {issued.credential_id}
    assert json.loads(issued.value.reveal())["access_key_id"] == issued.credential_id
    assert issued.credential_id in repr(issued) and "secret" not in repr(issued).lower().replace("issued(", "")
    assert issuer.verify(issued) is None
    assert issuer.revoke(issued.credential_id) is True
    assert _ids(iam) == set()
    assert issuer.revoke(issued.credential_id) is True, "already gone counts as revoked"


def test_verify_rejects_a_key_that_does_not_exist(iam: Any, moto: Any) -> None:
    issuer = _issuer(moto)
    issued = issuer.issue(IssueRequest("DEPLOY_KEY", "r1", datetime.now(timezone.utc)))
    secret = json.loads(issued.value.reveal())["secret_access_key"]
    iam.delete_access_key(UserName="deployer", AccessKeyId=issued.credential_id)
    why = issuer.verify(issued)
    assert why is not None and "not IAM user deployer" in why and secret not in why


def test_verify_rejects_another_users_key(iam: Any, moto: Any) -> None:
    iam.create_user(UserName="someone-else")
    made = iam.create_access_key(UserName="someone-else")["AccessKey"]
    value = structured_value("aws-iam-access-key", {"access_key_id": made["AccessKeyId"],
                                                    "secret_access_key": made["SecretAccessKey"]})
    why = _issuer(moto).verify(Issued(value, made["AccessKeyId"]))
    assert why is not None and "user/someone-else" in why and made["SecretAccessKey"] not in why


def test_verify_rejects_a_wrong_secret_when_moto_checks_signatures(iam: Any, moto: Any) -> None:
    """With moto's request authentication on, a signature made with the wrong secret is
    refused (SignatureDoesNotMatch); verify retries until verify_timeout, then says so."""
    admin = iam.create_user(UserName="keyturn-admin")["User"]["UserName"]
    iam.put_user_policy(UserName=admin, PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    creds = iam.create_access_key(UserName=admin)["AccessKey"]
    env = dict(aws_env(moto), AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"])
    gen = AwsIamKeyGen(type="aws-iam-access-key", user="deployer", verify_timeout=timedelta(seconds=1))
    issuer = AwsIamKeyIssuer("DEPLOY_KEY", gen, env, sleep=lambda s: None)
    _auth(moto, "0")
    try:
        issued = issuer.issue(IssueRequest("DEPLOY_KEY", "r1", datetime.now(timezone.utc)))
        assert issuer.verify(issued) is None
        wrong = structured_value("aws-iam-access-key", {"access_key_id": issued.credential_id,
                                                        "secret_access_key": "x" * 40})
        why = issuer.verify(Issued(wrong, issued.credential_id))
        assert why is not None and "SignatureDoesNotMatch" in why and "x" * 40 not in why
    finally:
        _auth(moto, "inf")


def _auth(moto: Any, count: str) -> None:
    req = urllib.request.Request(moto.url + "/moto-api/reset-auth", method="POST", data=count.encode(),
                                 headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        resp.read()


def test_two_keys_current_credential_names_the_older(iam: Any, moto: Any) -> None:
    first = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    second = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    issuer = _issuer(moto)
    issuer.preflight("")  # cannot tell an unfinished rotation's key from a foreign one: current_credential does
    with pytest.raises(UsageError) as err:
        issuer.current_credential()
    msg = str(err.value)
    assert first in msg and msg.index(first) < msg.index(second) and "adopts" in msg
    with pytest.raises(UsageError):
        issuer.preflight("AKIAUNKNOWNUNKNOWN00")  # neither is the one keyturn tracks
    assert _ids(iam) == {first, second}


def test_resumed_issue_deletes_keys_whose_secret_was_lost(iam: Any, moto: Any) -> None:
    old = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    lost = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]  # an earlier attempt's
    issued = _issuer(moto).issue(IssueRequest("DEPLOY_KEY", "r1", started, resumed=True, known=frozenset({old}),
                                              current=old))
    assert _ids(iam) == {old, issued.credential_id} and lost != issued.credential_id


def test_resumed_issue_deletes_the_recorded_lost_key(iam: Any, moto: Any) -> None:
    lost = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    later = datetime.now(timezone.utc) + timedelta(hours=1)  # not "created after started": only its id says so
    issued = _issuer(moto).issue(IssueRequest("DEPLOY_KEY", "r1", later, resumed=True, lost=lost))
    assert _ids(iam) == {issued.credential_id}


def test_a_fresh_issue_never_deletes_an_untracked_key(iam: Any, moto: Any) -> None:
    a = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    b = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    with pytest.raises(UsageError) as err:
        _issuer(moto).issue(IssueRequest("DEPLOY_KEY", "r1", datetime.now(timezone.utc), known=frozenset({b}),
                                         current=b))
    assert a in str(err.value)
    assert _ids(iam) == {a, b}


def test_issue_replaces_a_tracked_previous_key_to_make_room(iam: Any, moto: Any) -> None:
    previous = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    current = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    issued = _issuer(moto).issue(IssueRequest("DEPLOY_KEY", "r1", datetime.now(timezone.utc),
                                              known=frozenset({previous, current}), current=current))
    assert _ids(iam) == {current, issued.credential_id}


def test_delete_old_false_only_deactivates(iam: Any, moto: Any) -> None:
    key = iam.create_access_key(UserName="deployer")["AccessKey"]["AccessKeyId"]
    assert _issuer(moto, delete_old=False).revoke(key) is True
    meta = iam.list_access_keys(UserName="deployer")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in meta] == [(key, "Inactive")]


def test_revoke_for_a_deleted_user_is_revoked(moto: Any) -> None:
    assert _issuer(moto, user="gone").revoke("AKIAGONEGONEGONE0000") is True


def test_missing_user_and_denied_calls_are_one_line_errors(iam: Any, moto: Any) -> None:
    with pytest.raises(UsageError) as err:
        _issuer(moto, user="nobody").preflight("")
    assert "'nobody' does not exist" in str(err.value)
    limited = iam.create_user(UserName="limited")["User"]["UserName"]
    creds = iam.create_access_key(UserName=limited)["AccessKey"]
    env = dict(aws_env(moto), AWS_ACCESS_KEY_ID=creds["AccessKeyId"], AWS_SECRET_ACCESS_KEY=creds["SecretAccessKey"])
    issuer = AwsIamKeyIssuer("DEPLOY_KEY", AwsIamKeyGen(type="aws-iam-access-key", user="deployer"), env,
                             sleep=lambda s: None)
    _auth(moto, "0")
    try:
        with pytest.raises(StoreUnavailable) as denied:
            issuer.preflight("")
    finally:
        _auth(moto, "inf")
    assert "iam:ListAccessKeys on arn:aws:iam::*:user/deployer" in str(denied.value), str(denied.value)


def test_the_documented_manifest_checks(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    from tests.conftest import REPO, subprocess_env

    doc = (REPO / "docs" / "issuers.md").read_text()
    section = doc[doc.index("## AWS IAM access keys"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    (tmp_path / "keyturn.yml").write_text("version: 1\n" + block.group(1))
    r = subprocess.run([sys.executable, "-m", "keyturn", "manifest", "check"], cwd=tmp_path,
                       env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "boto3" not in r.stderr


def test_canary_no_secret_access_key_reaches_any_output_in_actions(tmp_path: Path, moto: Any) -> None:
    """I5 for the IAM issuer, inside GitHub Actions: every secret access key keyturn issued
    (and the adopted one) is masked, and neither it nor a derived form (base64, URL, hex,
    JSON-escaped) is in stdout, stderr, the step summary, step outputs, audit or evidence."""
    import base64

    from keyturn.values import derived_forms

    ws, old = _ws(tmp_path, moto)
    assert old is not None
    gh_out, gh_sum = tmp_path / "gh-output", tmp_path / "gh-summary"
    ws.env.update({"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(gh_out), "GITHUB_STEP_SUMMARY": str(gh_sum)})
    outputs: list[tuple[str, str]] = []

    def run(*args: str, expect: int | None = 0, fault: str | None = None) -> None:
        r = ws.run(*args, fault=fault)
        outputs.extend([(f"stdout of {args}", r.stdout), (f"stderr of {args}", r.stderr)])
        if expect is not None:
            assert r.returncode == expect, (args, r.returncode, r.stderr[-2000:])

    run("rotate", ws.name)
    run("rotate", ws.name, "--dry-run")
    run("status", "--format", "json")
    (ws.root / "fail-verify").touch()
    run("rotate", ws.name, expect=1)
    (ws.root / "fail-verify").unlink()
    (ws.root / "fail-smoke").touch()
    run("--debug", "rotate", ws.name, expect=1)
    (ws.root / "fail-smoke").unlink()
    run("rotate", ws.name, fault="issued", expect=None)
    run("rotate", ws.name)
    run("finalize", "--force")
    run("rotate", ws.name, "--mode", "emergency", "--reason", "canary leak drill")
    run("audit", "verify")
    assert list(ws.keys()) == [ws.current_key()], "emergency left only the new key alive"
    secrets = ws.seen_secrets()
    assert len(secrets) >= 5, "the canary must have seen several issued keys"
    secrets.add(old["secret_access_key"])
    for f in [gh_out, gh_sum, *sorted((ws.root / "logs").rglob("*"))]:
        if f.is_file():
            outputs.append((str(f), f.read_text(errors="replace")))
    outputs.append(("journal", json.dumps(ws.journal())))
    masked = "\n".join(t for _, t in outputs)
    for secret in secrets - {old["secret_access_key"]}:
        assert f"::add-mask::{secret}" in masked, "every issued secret is masked in Actions"
    for label, text in outputs:
        text = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
        for secret in secrets:
            for form in derived_forms(secret):
                if len(form) >= 8:
                    assert form not in text, f"a secret access key form leaked into {label}"
            assert base64.b64encode(secret.encode()).decode()[:40] not in text, label
