"""Keyless Vault/OpenBao login from a simulated Actions job, against the real OpenBao dev
server: JWT auth with GitHub OIDC tokens (test-signed, served as JWKS on loopback, fetched
from a fake ACTIONS_ID_TOKEN_REQUEST_URL), AppRole, and the errors that name the fix."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import pytest

from keyturn import gha
from keyturn._internal.oidc import github_oidc_token
from keyturn.errors import ServiceError, StoreUnavailable, UsageError
from keyturn.manifest import VaultStoreConfig
from keyturn.stores.base import SecretRef
from keyturn.stores.vault import VaultAppRoleAuth, VaultJwtAuth, VaultStore
from keyturn.stores.vault_auth import VaultLogin
from keyturn.targets.file import FileTarget
from tests.fakes.github_oidc import ISSUER, FakeGitHubOIDC

FIX_PERMISSION = "add `permissions: id-token: write` to this job (a pull request from a fork cannot get an OIDC token)"
SUBJECT = "repo:acme/api:environment:production"


@dataclass
class Auth:
    url: str
    root: str
    uid: str
    jwt_mount: str
    approle_mount: str
    role_id: str
    secret_id: str
    oidc: FakeGitHubOIDC


@pytest.fixture(scope="module")
def auth(openbao) -> Iterator[Auth]:  # type: ignore[no-untyped-def]
    """JWT and AppRole auth on unique mounts, both granting a policy limited to keyless-UID/*."""
    uid = uuid.uuid4().hex[:8]
    c = hvac.Client(url=openbao.url, token=openbao.token)
    policy = f"""
path "secret/data/keyless-{uid}/*"     {{ capabilities = ["create", "read", "update"] }}
path "secret/metadata/keyless-{uid}/*" {{ capabilities = ["read", "update", "delete"] }}
path "secret/delete/keyless-{uid}/*"   {{ capabilities = ["update"] }}
"""
    c.sys.create_or_update_policy(f"keyturn-{uid}", policy)
    with FakeGitHubOIDC() as oidc:
        jwt_mount, approle_mount = f"jwt-{uid}", f"approle-{uid}"
        c.sys.enable_auth_method("jwt", path=jwt_mount)
        c.auth.jwt.configure(jwks_url=f"{oidc.url}/jwks", bound_issuer=ISSUER, path=jwt_mount)
        c.auth.jwt.create_role(
            "keyturn-rotate", role_type="jwt", user_claim="sub", bound_audiences=["vault-test"],
            bound_subject=SUBJECT, bound_claims={"repository": "acme/api", "ref": "refs/heads/main"},
            claim_mappings={"repository": "repository", "job_workflow_ref": "job_workflow_ref"},
            token_policies=[f"keyturn-{uid}"], token_ttl="10m", allowed_redirect_uris=[], path=jwt_mount)
        c.sys.enable_auth_method("approle", path=approle_mount)
        c.auth.approle.create_or_update_approle("keyturn", token_policies=[f"keyturn-{uid}"],
                                                token_ttl="10m", mount_point=approle_mount)
        role_id = c.auth.approle.read_role_id("keyturn", mount_point=approle_mount)["data"]["role_id"]
        secret_id = c.auth.approle.generate_secret_id("keyturn", mount_point=approle_mount)["data"]["secret_id"]
        yield Auth(openbao.url, openbao.token, uid, jwt_mount, approle_mount, role_id, secret_id, oidc)


def _store(auth: Auth, method: VaultJwtAuth | VaultAppRoleAuth, env: dict[str, str]) -> VaultStore:
    return VaultStore("bao", VaultStoreConfig(type="openbao", auth=method), {"VAULT_ADDR": auth.url, **env})


def _jwt(auth: Auth, **kw: str) -> VaultJwtAuth:
    return VaultJwtAuth(method="jwt", role=kw.get("role", "keyturn-rotate"),
                        audience=kw.get("audience", "vault-test"), mount=auth.jwt_mount)


def _ref(auth: Auth) -> SecretRef:
    return SecretRef("S", f"keyless-{auth.uid}/{uuid.uuid4().hex[:8]}", "value")


# ------------------------------------------------------------------ the OIDC fetcher
def test_fetcher_asks_for_the_audience_with_the_bearer_and_masks_the_token(
        auth: Auth, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    gha.reset_masks()
    token = github_oidc_token("sts.example", auth.oidc.actions_env())
    assert auth.oidc.requests[-1] == "sts.example"
    assert repr(token) == "SecretValue(***)" and token.reveal().count(".") == 2
    assert f"::add-mask::{token.reveal()}" in capsys.readouterr().err


def test_fetcher_without_id_token_permission_says_so() -> None:
    with pytest.raises(UsageError) as err:
        github_oidc_token("vault", {"ACTIONS_ID_TOKEN_REQUEST_URL": "http://127.0.0.1:1/x"})
    assert FIX_PERMISSION in str(err.value) and err.value.exit_code == 2


def test_fetcher_rejected_bearer_is_a_service_error_without_the_bearer(auth: Auth) -> None:
    env = {**auth.oidc.actions_env(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong-bearer-123456"}
    with pytest.raises(ServiceError, match="HTTP 401") as err:
        github_oidc_token("vault", env)
    assert "wrong-bearer" not in str(err.value) and err.value.exit_code == 4


def test_fetcher_unreachable_service_after_retries(dead_url: str) -> None:
    env = {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{dead_url}/t?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "b"}
    with pytest.raises(ServiceError, match="unreachable after 2 attempts"):
        github_oidc_token("vault", env, retries=1, backoff=0.01)


# ------------------------------------------------------------------ store login
def test_jwt_login_uses_the_role_policy(auth: Auth) -> None:
    store = _store(auth, _jwt(auth), auth.oidc.actions_env())
    ref = _ref(auth)
    store.preflight(ref)
    assert not store.describe(ref).exists
    assert store._client.token and store._client.token != auth.root
    looked = store._client.auth.token.lookup_self()["data"]
    assert looked["policies"] == ["default", f"keyturn-{auth.uid}"]
    assert looked["meta"]["repository"] == "acme/api" and looked["meta"]["role"] == "keyturn-rotate"
    with pytest.raises(StoreUnavailable, match="permission denied"):  # the policy is what limits it
        store.describe(SecretRef("S", "elsewhere/x", "value"))


def test_jwt_refused_request_token_is_the_same_setup_error_as_for_every_store(auth: Auth) -> None:
    """One OIDC error mapping (``oidc.token_for``) for Vault, AWS and Azure: a refused
    request token names the store and the permission, exit 2 (Vault let the fetcher's
    bare ServiceError through: no store, exit 4)."""
    env = {**auth.oidc.actions_env(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "wrong-bearer-123456"}
    store = _store(auth, _jwt(auth), env)
    with pytest.raises(UsageError) as err:
        store.preflight(_ref(auth))
    assert str(err.value) == ("vault:bao: jwt auth: the GitHub OIDC token request was refused (HTTP 401) — "
                              f"{FIX_PERMISSION}")
    assert err.value.exit_code == 2 and "wrong-bearer" not in str(err.value)


def test_jwt_logs_in_again_when_two_thirds_of_the_lease_passed(auth: Auth) -> None:
    now = [1000.0]
    login = VaultLogin("bao", _jwt(auth), auth.oidc.actions_env(), clock=lambda: now[0])
    client = hvac.Client(url=auth.url, token="")
    before = len(auth.oidc.requests)
    login.ensure(client)
    first = client.token
    now[0] += 399  # token_ttl 10m: renewal due at 400 s
    login.ensure(client)
    assert len(auth.oidc.requests) == before + 1 and client.token == first
    now[0] += 2
    login.ensure(client)
    assert len(auth.oidc.requests) == before + 2 and client.token != first


def test_jwt_missing_permission_is_a_usage_error_before_any_request(auth: Auth) -> None:
    with pytest.raises(UsageError) as err:
        _store(auth, _jwt(auth), {})
    assert str(err.value) == ("vault:bao: jwt auth: no GitHub OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set "
                              f"— not an Actions job with an OIDC token?) — {FIX_PERMISSION}")


@pytest.mark.parametrize(("kw", "oidc_env", "expect"), [
    ({"role": "nope"}, "production", "role 'nope' not found at auth/jwt-"),
    ({"audience": "other"}, "production", "audience 'other' is not in the bound_audiences of role 'keyturn-rotate'"),
    ({}, "staging", "subject 'repo:acme/api:environment:staging' does not match the bound_subject"),
])
def test_jwt_refusals_name_the_fix(auth: Auth, kw: dict[str, str], oidc_env: str, expect: str) -> None:
    saved = dict(auth.oidc.claims)
    auth.oidc.claims.update(sub=f"repo:acme/api:environment:{oidc_env}", environment=oidc_env)
    try:
        store = _store(auth, _jwt(auth, **kw), auth.oidc.actions_env())
        with pytest.raises(StoreUnavailable) as err:
            store.describe(_ref(auth))
    finally:
        auth.oidc.claims.clear()
        auth.oidc.claims.update(saved)
    assert expect in str(err.value) and err.value.exit_code == 4


def test_jwt_bound_claim_mismatch_names_the_claim(auth: Auth) -> None:
    auth.oidc.claims["ref"] = "refs/heads/feature"
    try:
        with pytest.raises(StoreUnavailable, match="claim 'ref' .'refs/heads/feature'. does not match the bound_claims"):
            _store(auth, _jwt(auth), auth.oidc.actions_env()).describe(_ref(auth))
    finally:
        auth.oidc.claims["ref"] = "refs/heads/main"


def test_jwt_wrong_mount_names_the_setting(auth: Auth) -> None:
    method = VaultJwtAuth(method="jwt", role="keyturn-rotate", audience="vault-test", mount="no-such-jwt")
    with pytest.raises(StoreUnavailable, match="is jwt auth enabled at 'no-such-jwt'.*auth.mount"):
        _store(auth, method, auth.oidc.actions_env()).describe(_ref(auth))


def test_approle_login_and_wrong_secret_id(auth: Auth) -> None:
    method = VaultAppRoleAuth(method="approle", mount=auth.approle_mount)
    store = _store(auth, method, {"VAULT_ROLE_ID": auth.role_id, "VAULT_SECRET_ID": auth.secret_id})
    ref = _ref(auth)
    store.preflight(ref)
    assert store._client.auth.token.lookup_self()["data"]["policies"] == ["default", f"keyturn-{auth.uid}"]
    bad = _store(auth, method, {"VAULT_ROLE_ID": auth.role_id, "VAULT_SECRET_ID": str(uuid.uuid4())})
    with pytest.raises(StoreUnavailable) as err:
        bad.describe(ref)
    assert "invalid role id or secret id — check VAULT_ROLE_ID and VAULT_SECRET_ID" in str(err.value)
    assert auth.secret_id not in str(err.value)


def test_approle_missing_variables_are_usage_errors(auth: Auth) -> None:
    method = VaultAppRoleAuth(method="approle", role_id_env="MY_ROLE", secret_id_env="MY_SID")
    with pytest.raises(UsageError, match="no AppRole role id — set MY_ROLE"):
        _store(auth, method, {"MY_SID": "x"})
    with pytest.raises(UsageError, match="MY_SID contains whitespace"):
        _store(auth, method, {"MY_ROLE": "r", "MY_SID": "s\n"})


# ------------------------------------------------------------------ end to end through the CLI
def _manifest(ws: Path, auth: Auth, auth_block: str) -> str:
    path = f"keyless-{auth.uid}/{uuid.uuid4().hex[:8]}"
    (ws / "keyturn.yml").write_text(f"""\
version: 1
audit: {{log: logs/audit.jsonl}}
stores:
  bao:
    type: openbao
    auth: {auth_block}
secrets:
  APP_TOKEN:
    store: bao
    path: {path}
    generator: {{type: urlsafe, bytes: 24}}
    targets:
      - file: out/app.env
""")
    return path


@pytest.fixture
def actions_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, auth: Auth) -> Path:
    """A simulated Actions job: runner variables, no VAULT_TOKEN, step files on disk."""
    monkeypatch.setenv("VAULT_ADDR", auth.url)
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.setenv("KEYTURN_AUDIT_KEY_V1", "e" * 32)
    for k in ("ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "VAULT_NAMESPACE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary"))
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/api")
    gha.reset_masks()
    return tmp_path


def _lines(err: str) -> list[str]:
    """stderr without the runner's mask commands (which the runner never shows)."""
    return [line for line in err.strip().splitlines() if not line.startswith("::add-mask::")]


def _stored(auth: Auth, path: str) -> str | None:
    kv = hvac.Client(url=auth.url, token=auth.root).secrets.kv.v2
    try:
        return str(kv.read_secret_version(path=path, mount_point="secret",
                                          raise_on_deleted_version=False)["data"]["data"]["value"])
    except hvac.exceptions.InvalidPath:
        return None


def test_cli_rotates_with_jwt_from_the_job_oidc_token(actions_job: Path, auth: Auth, run_cli,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in auth.oidc.actions_env().items():
        monkeypatch.setenv(k, v)
    path = _manifest(actions_job, auth, f"{{method: jwt, role: keyturn-rotate, audience: vault-test, "
                                        f"mount: {auth.jwt_mount}}}")
    before = len(auth.oidc.requests)
    r = run_cli("rotate", "APP_TOKEN", cwd=actions_job)
    assert r.code == 0, r.err
    assert auth.oidc.requests[before:] == ["vault-test"]  # one token, one login for the whole run
    value = FileTarget(actions_job / "out/app.env").read()["APP_TOKEN"].reveal()
    assert _stored(auth, path) == value
    unmasked = "\n".join(line for line in (r.out + r.err).splitlines() if not line.startswith("::add-mask::"))
    assert value not in unmasked and auth.oidc.bearer not in unmasked and "eyJ" not in unmasked


def test_cli_rotates_with_approle(actions_job: Path, auth: Auth, run_cli,  # type: ignore[no-untyped-def]
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAO_ROLE_ID", auth.role_id)
    monkeypatch.setenv("BAO_SECRET_ID", auth.secret_id)
    path = _manifest(actions_job, auth, f"{{method: approle, role_id_env: BAO_ROLE_ID, "
                                        f"secret_id_env: BAO_SECRET_ID, mount: {auth.approle_mount}}}")
    r = run_cli("rotate", "APP_TOKEN", cwd=actions_job)
    assert r.code == 0, r.err
    assert _stored(auth, path) == FileTarget(actions_job / "out/app.env").read()["APP_TOKEN"].reveal()
    assert auth.secret_id not in r.out + r.err


def test_cli_missing_id_token_permission_exits_2_in_one_line(actions_job: Path, auth: Auth, run_cli) -> None:  # type: ignore[no-untyped-def]
    path = _manifest(actions_job, auth, f"{{method: jwt, role: keyturn-rotate, audience: vault-test, "
                                        f"mount: {auth.jwt_mount}}}")
    r = run_cli("rotate", "APP_TOKEN", cwd=actions_job)
    assert r.code == 2 and FIX_PERMISSION in r.err and len(_lines(r.err)) == 1, r.err
    assert _stored(auth, path) is None and not (actions_job / "out").exists()


def test_cli_wrong_audience_exits_4_in_one_line(actions_job: Path, auth: Auth, run_cli,  # type: ignore[no-untyped-def]
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in auth.oidc.actions_env().items():
        monkeypatch.setenv(k, v)
    path = _manifest(actions_job, auth, f"{{method: jwt, role: keyturn-rotate, audience: wrong-aud, "
                                        f"mount: {auth.jwt_mount}}}")
    r = run_cli("rotate", "APP_TOKEN", cwd=actions_job)
    assert r.code == 4 and len(_lines(r.err)) == 1, r.err
    assert "audience 'wrong-aud' is not in the bound_audiences of role 'keyturn-rotate'" in r.err
    assert _stored(auth, path) is None and not (actions_job / "out").exists()


def test_cli_wrong_secret_id_exits_4_in_one_line(actions_job: Path, auth: Auth, run_cli,  # type: ignore[no-untyped-def]
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULT_ROLE_ID", auth.role_id)
    monkeypatch.setenv("VAULT_SECRET_ID", "0" * 8 + "-dead-beef-0000-" + "0" * 12)
    path = _manifest(actions_job, auth, f"{{method: approle, mount: {auth.approle_mount}}}")
    r = run_cli("rotate", "APP_TOKEN", cwd=actions_job)
    assert r.code == 4 and len(_lines(r.err)) == 1, r.err
    assert "invalid role id or secret id — check VAULT_ROLE_ID and VAULT_SECRET_ID" in r.err
    assert _stored(auth, path) is None


def test_manifest_jwt_auth_without_role_is_a_manifest_error(actions_job: Path, auth: Auth, run_cli) -> None:  # type: ignore[no-untyped-def]
    _manifest(actions_job, auth, "{method: jwt, audience: vault-test}")
    r = run_cli("rotate", "APP_TOKEN", "--dry-run", cwd=actions_job)
    assert r.code == 2 and "keyturn.yml:" in r.err and "role" in r.err, r.err


def test_vault_s_own_error_text_is_masked_one_line_and_short() -> None:
    """A refused login quotes Vault's words only after the credentials sent are masked (as
    written or encoded) and control characters blanked (no second line for the runner)."""
    import base64

    from keyturn.stores.vault_auth import _vault_text
    from keyturn.values import SecretValue

    secret_id = "c0ffee00-1234-5678-9abc-def012345678"
    text = (f"secret id {secret_id} (b64 {base64.b64encode(secret_id.encode()).decode()}) rejected\n"
            f"::add-mask::x, on post http://127.0.0.1:8200/v1/auth/approle/login")
    out = _vault_text(text, SecretValue(secret_id, mask=False))
    assert out == "secret id *** (b64 ***) rejected ::add-mask::x", out
    long = _vault_text("z" * 500 + f" {secret_id}", SecretValue(secret_id, mask=False))
    assert len(long) <= 200 and long.endswith("z ***")
