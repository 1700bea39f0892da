"""A JWT signing-key rotation end to end: the private key (ed25519, rsa or ec) goes to the
store and a dotenv file, its public half to ``public/jwks.json`` (``format: jwks, shape:
dual``). A token signed by the old key and one signed by the new key both validate
against the published set during grace; after ``finalize --force`` only the new one does.
Killed at stage boundaries and re-run, the set converges. The private key appears in no
output, audit line, evidence record, journal or the JWK Set. Real OpenBao, real
``python -m keyturn`` processes, PyJWT as the signer and verifier."""

from __future__ import annotations

import base64
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.invariants_support import OPENBAO_HEAD, Workspace

KILLED = -signal.SIGKILL
NAME = "SIGNING_KEY"
# The JWK Set is listed first: targets are written in order, so verifiers can know the
# new public key before any signer holds the new private key.
MANIFEST = OPENBAO_HEAD + """\
  SIGNING_KEY:
    store: bao
    path: {path}
    generator: {generator}
    policy: {{max_age: 90d, grace: 24h}}
    targets:
      - file: public/jwks.json
        format: jwks
        shape: dual
      - file: deploy/signer.env
        format: dotenv
"""
GENERATORS = {"ed25519": "{type: ed25519}", "rsa": "{type: rsa, bits: 2048}", "ec": "{type: ec, curve: P-384}"}


class SigningWorkspace(Workspace):
    def __init__(self, root: Path, server: Any, kind: str) -> None:
        super().__init__(root, server, name=NAME)
        (root / "keyturn.yml").write_text(MANIFEST.format(path=self.path, generator=GENERATORS[kind]))
        self.outputs: list[str] = []

    def run(self, *args: str, fault: str | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        r = super().run(*args, fault=fault, timeout=timeout, env=env)
        self.outputs += [r.stdout, r.stderr]
        return r

    @property
    def jwks_path(self) -> Path:
        return self.root / "public" / "jwks.json"

    def kids(self) -> list[str]:
        return [k["kid"] for k in json.loads(self.jwks_path.read_text())["keys"]]

    def signer_key(self) -> str:
        return self.dotenv("deploy/signer.env")[NAME]

    def everything_written(self) -> str:
        """Every file keyturn wrote (but the signer's own dotenv), its output and its journal."""
        texts = [p.read_text(errors="replace") for p in self.root.rglob("*")
                 if p.is_file() and p.name != "signer.env"]
        return "\n".join([*texts, *self.outputs, json.dumps(self.journal())])


def _alg(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {256: "ES256", 384: "ES384", 521: "ES512"}[key.curve.key_size]
    return "EdDSA"


def kid(pem: str) -> str:
    """RFC 7638 thumbprint computed here (from PyJWT's JWK export), not by keyturn."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    full = json.loads(jwt.get_algorithm_by_name(_alg(key)).to_jwk(key.public_key()))
    required = {"OKP": ["crv", "kty", "x"], "RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"]}[full["kty"]]
    text = "{" + ",".join(f'"{m}":"{full[m]}"' for m in required) + "}"
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def sign(pem: str) -> str:
    """What the service holding the private key does: sign with the key's kid."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    return jwt.encode({"sub": "svc", "aud": "api"}, pem, algorithm=_alg(key), headers={"kid": kid(pem)})


def validates(token: str, jwks: Path) -> bool:
    """What a verifier does: look the token's kid up in the published set and verify."""
    keys = jwt.PyJWKSet.from_json(jwks.read_text())
    try:
        key = keys[jwt.get_unverified_header(token)["kid"]]
    except KeyError:
        return False
    try:
        jwt.decode(token, key, algorithms=[key.algorithm_name], audience="api")
    except jwt.InvalidTokenError:
        return False
    return True


def verifies_with_any_key(token: str, jwks: Path) -> bool:
    """Ignoring kid: does any key of the set verify the token?"""
    for key in jwt.PyJWKSet.from_json(jwks.read_text()).keys:
        try:
            jwt.decode(token, key, algorithms=[key.algorithm_name], audience="api")
            return True
        except jwt.InvalidTokenError:
            continue
    return False


def _private_scalar(pem: str) -> str:
    """The private key's secret number as a JWK's ``d`` would spell it (base64url)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers().d
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
    else:
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_private_keys_nowhere(ws: SigningWorkspace, *pems: str) -> None:
    published = json.loads(ws.jwks_path.read_text())["keys"]
    assert all(not {"d", "p", "q", "dp", "dq", "qi", "oth", "k"} & set(key) for key in published)
    written = ws.everything_written()
    for pem in pems:
        body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        assert pem not in written
        for line in body:
            assert line not in written, "a line of a private key reached an output, log, journal or the JWK Set"
        assert _private_scalar(pem)[:24] not in written, "the private key's d reached an output or the JWK Set"


@pytest.fixture(params=sorted(GENERATORS))
def ws(request: pytest.FixtureRequest, tmp_path: Path, openbao: Any) -> SigningWorkspace:
    return SigningWorkspace(tmp_path / "ws", openbao, request.param)


def test_tokens_of_both_keys_validate_during_grace_and_only_the_new_after_finalize(ws: SigningWorkspace) -> None:
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    old = ws.reader()
    assert old is not None and old.startswith("-----BEGIN PRIVATE KEY-----")
    assert ws.signer_key() == old and ws.kids() == [kid(old)]
    old_token = sign(ws.signer_key())
    assert validates(old_token, ws.jwks_path)

    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    new = ws.reader()
    assert new not in (None, old) and ws.previous_value() == old
    assert new is not None and ws.signer_key() == new
    assert ws.kids() == [kid(new), kid(old)], "CURRENT first, PREVIOUS during grace"
    new_token = sign(ws.signer_key())
    assert validates(old_token, ws.jwks_path), "a token signed before the rotation must still validate in grace"
    assert validates(new_token, ws.jwks_path)

    r = ws.run("finalize", "--force")
    assert r.returncode == 0, r.stderr
    assert ws.kids() == [kid(new)]
    assert validates(new_token, ws.jwks_path)
    assert not validates(old_token, ws.jwks_path), "the retired key's tokens must be refused"
    assert not verifies_with_any_key(old_token, ws.jwks_path)
    assert ws.live_versions() == [ws.current_version()]
    assert ws.run("audit", "verify").returncode == 0
    assert_private_keys_nowhere(ws, old, new)


@pytest.mark.parametrize("point", ["distribute-1", "distribute-2", "distributed", "completed"])
def test_killed_rotation_rerun_converges_on_current_and_previous(tmp_path: Path, openbao: Any, point: str) -> None:
    ws = SigningWorkspace(tmp_path / "ws", openbao, "ed25519")
    assert ws.rotate().returncode == 0
    old = ws.reader()
    assert old is not None
    old_token = sign(old)
    before = ws.current_version()
    r = ws.rotate(fault=point)
    assert r.returncode == KILLED, (point, r.returncode, r.stderr)
    # Killed mid-way: the set holds nothing but CURRENT and PREVIOUS (the old CURRENT).
    assert set(ws.kids()) <= {kid(old), kid(ws.reader() or "")}
    assert validates(old_token, ws.jwks_path)
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    new = ws.reader()
    assert new is not None and new != old
    assert ws.current_version() == before + 1, "the re-run made an extra version"
    assert ws.kids() == [kid(new), kid(old)]
    assert ws.signer_key() == new
    assert validates(old_token, ws.jwks_path) and validates(sign(new), ws.jwks_path)
    doctor = ws.run("doctor", "--format", "json")
    drift = [f for f in json.loads(doctor.stdout)["findings"] if f["kind"] in ("drift", "unchecked")]
    assert drift == [], "doctor compares the JWK Set by thumbprint and finds it current"
    assert_private_keys_nowhere(ws, old, new)


@pytest.mark.parametrize("point", ["finalize-begun", "retire-targets"])
def test_killed_finalize_rerun_leaves_only_current(tmp_path: Path, openbao: Any, point: str) -> None:
    ws = SigningWorkspace(tmp_path / "ws", openbao, "ec")
    assert ws.rotate().returncode == 0
    old = ws.reader()
    assert ws.rotate().returncode == 0
    new = ws.reader()
    assert old is not None and new is not None
    r = ws.run("finalize", "--force", fault=point)
    assert r.returncode == KILLED, (point, r.returncode, r.stderr)
    r = ws.run("finalize", "--force")
    assert r.returncode == 0, r.stderr
    assert ws.kids() == [kid(new)]
    assert not validates(sign(old), ws.jwks_path) and validates(sign(new), ws.jwks_path)
    assert ws.live_versions() == [ws.current_version()]
    assert_private_keys_nowhere(ws, old, new)


def test_a_value_that_is_no_key_is_refused_before_promotion(tmp_path: Path, openbao: Any) -> None:
    ws = SigningWorkspace(tmp_path / "ws", openbao, "ed25519")
    assert ws.rotate().returncode == 0
    old = ws.reader()
    published = ws.jwks_path.read_bytes()
    canary = "not-a-key-canary-" + "5" * 24
    r = subprocess.run([sys.executable, "-m", "keyturn", "rotate", NAME, "--value-from-stdin"], cwd=ws.root, env=ws.env,
                       input=canary + "\n", capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    error = [ln for ln in lines if "error" in ln]
    assert error and "file:public/jwks.json" in error[-1] and "entry SIGNING_KEY" in error[-1], r.stderr
    assert "not an unencrypted PEM private key" in error[-1]
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert canary not in r.stdout + r.stderr
    assert ws.reader() == old, "nothing was promoted"
    assert ws.jwks_path.read_bytes() == published
    assert ws.signer_key() == old
    # The refused value stays pending (a re-run would refuse it again): abort discards it.
    assert ws.run("abort", NAME, "--reason", "not a key").returncode == 0
    r = ws.rotate()
    assert r.returncode == 0, r.stderr
    assert ws.kids() == [kid(ws.reader() or ""), kid(old or "")]
