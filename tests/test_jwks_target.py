"""The ``format: jwks`` file target (keyturn.targets.jwks): only public keys reach the
file, ``kid`` is the RFC 7638 thumbprint, CURRENT comes first, PREVIOUS leaves on delete,
re-runs write the same bytes, and bad values or files are one-line errors naming the
target — never a value. Tokens are signed and verified with PyJWT, independently of
keyturn's own JWK code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa, x25519

from keyturn.errors import ManifestError, TargetFailed, UsageError
from keyturn.generators import generate
from keyturn.manifest import FileTargetConfig, parse_manifest
from keyturn.targets.base import Entry
from keyturn.targets.jwks import JwksTarget, public_jwk, thumbprint
from keyturn.targets.registry import TargetFactory
from keyturn.values import SecretValue

NOW = datetime.now(UTC)
KINDS = [("ed25519", {}, "EdDSA"), ("rsa", {"bits": 2048}, "RS256"), ("ec", {}, "ES256"),
         ("ec", {"curve": "P-384"}, "ES384"), ("ec", {"curve": "P-521"}, "ES512")]
KIND_IDS = ["ed25519", "rsa", "ec-P-256", "ec-P-384", "ec-P-521"]


def _key(kind: str = "ed25519", **params: Any) -> SecretValue:
    return generate(kind, **params)


def _target(tmp_path: Path, rel: str = "public/jwks.json") -> JwksTarget:
    return JwksTarget(rel, base_dir=tmp_path)


def _doc(target: JwksTarget) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(target.path.read_text())
    return data


def _kid_by_hand(pem: SecretValue) -> str:
    """RFC 7638 from PyJWT's JWK export: a second implementation, so keyturn's can be wrong."""
    key = serialization.load_pem_private_key(pem.reveal_bytes(), password=None)
    name = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) \
        else "EdDSA"
    full = json.loads(jwt.get_algorithm_by_name(name).to_jwk(key.public_key()))
    required = {"OKP": ["crv", "kty", "x"], "RSA": ["e", "kty", "n"], "EC": ["crv", "kty", "x", "y"]}[full["kty"]]
    text = "{" + ",".join(f'"{m}":"{full[m]}"' for m in required) + "}"
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def _token(pem: SecretValue, alg: str, kid: str) -> str:
    return jwt.encode({"sub": "svc", "aud": "api"}, pem.reveal(), algorithm=alg, headers={"kid": kid})


def _validates(token: str, target: JwksTarget) -> bool:
    """As a verifier would: the JWK Set from the file, the key the token's kid names."""
    keys = jwt.PyJWKSet.from_json(target.path.read_text())
    kid = jwt.get_unverified_header(token)["kid"]
    try:
        key = keys[kid]
    except KeyError:
        return False
    try:
        jwt.decode(token, key, algorithms=[key.algorithm_name], audience="api")
    except jwt.InvalidTokenError:
        return False
    return True


# -- RFC test vectors ----------------------------------------------------------------


def test_thumbprint_matches_rfc_7638_example() -> None:
    key = {  # RFC 7638 §3.1
        "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjB"
             "ZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
             "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_"
             "xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_ed25519_jwk_matches_rfc_8037_example() -> None:
    # RFC 8037 Appendix A.1 (private key), A.2 (public JWK), A.3 (thumbprint)
    d = base64.urlsafe_b64decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=")
    from cryptography.hazmat.primitives.asymmetric import ed25519

    pem = ed25519.Ed25519PrivateKey.from_private_bytes(d).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    jwk = public_jwk(pem)
    assert jwk == {"kty": "OKP", "use": "sig", "alg": "EdDSA", "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
                   "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}


# -- per key type --------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "params", "alg"), KINDS, ids=KIND_IDS)
def test_each_key_type_publishes_a_verifying_public_jwk(tmp_path: Path, kind: str, params: dict[str, Any],
                                                        alg: str) -> None:
    pem = _key(kind, **params)
    target = _target(tmp_path)
    target.write([Entry("SIGNING_KEY", pem)])
    [key] = _doc(target)["keys"]
    assert key["alg"] == alg and key["use"] == "sig"
    assert key["kid"] == _kid_by_hand(pem), "kid must be the RFC 7638 thumbprint"
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key), "private members in a published key"
    assert _validates(_token(pem, alg, key["kid"]), target)
    text = target.path.read_text()
    body = "".join(pem.reveal().splitlines()[1:-1])
    assert pem.reveal() not in text and body[:40] not in text and body[-40:] not in text


def test_dual_grace_holds_both_keys_current_first_then_only_current(tmp_path: Path) -> None:
    old, new = _key(), _key()
    target = _target(tmp_path)
    target.write([Entry("K", old)])
    t_old = _token(old, "EdDSA", _kid_by_hand(old))
    target.write([Entry("K", new), Entry("K_PREVIOUS", old)])  # what the engine writes in grace
    t_new = _token(new, "EdDSA", _kid_by_hand(new))
    assert [k["kid"] for k in _doc(target)["keys"]] == [_kid_by_hand(new), _kid_by_hand(old)]
    assert _validates(t_old, target) and _validates(t_new, target)
    assert target.is_current([Entry("K", new), Entry("K_PREVIOUS", old)], since=NOW)
    target.delete(["K_PREVIOUS"])  # finalize
    assert [k["kid"] for k in _doc(target)["keys"]] == [_kid_by_hand(new)]
    assert _validates(t_new, target) and not _validates(t_old, target)
    assert target.entries() == {"K": _kid_by_hand(new)}


def test_rewriting_the_same_keys_changes_nothing(tmp_path: Path) -> None:
    a, b = _key("ec"), _key("ec")
    target = _target(tmp_path)
    first = target.write([Entry("K", a), Entry("K_PREVIOUS", b)])
    data = target.path.read_bytes()
    mtime = target.path.stat().st_mtime_ns
    again = target.write([Entry("K", a), Entry("K_PREVIOUS", b)])
    assert not first.skipped and again.skipped and again.requests == 0
    assert target.path.read_bytes() == data and target.path.stat().st_mtime_ns == mtime
    (tmp_path / "elsewhere").mkdir()
    other = _target(tmp_path / "elsewhere")
    other.write([Entry("K", a), Entry("K_PREVIOUS", b)])
    assert other.path.read_bytes() == data, "the document depends on the keys only"


def test_is_current_is_false_for_missing_other_or_reordered_keys(tmp_path: Path) -> None:
    a, b = _key(), _key()
    target = _target(tmp_path)
    assert not target.is_current([Entry("K", a)], since=NOW)
    target.write([Entry("K", a), Entry("K_PREVIOUS", b)])
    assert target.is_current([Entry("K", a), Entry("K_PREVIOUS", b)], since=NOW)
    assert not target.is_current([Entry("K", b), Entry("K_PREVIOUS", a)], since=NOW)
    assert not target.is_current([Entry("K_PREVIOUS", b), Entry("K", a)], since=NOW), "CURRENT must come first"
    assert not target.is_current([Entry("K", _key())], since=NOW)


def test_one_file_publishes_several_secrets_keys_in_place(tmp_path: Path) -> None:
    a1, a2, b1, b2 = _key(), _key(), _key("rsa", bits=2048), _key("rsa", bits=2048)
    target = _target(tmp_path)
    target.write([Entry("A", a1)])
    target.write([Entry("B", b1)])
    target.write([Entry("A", a2), Entry("A_PREVIOUS", a1)])
    target.write([Entry("B", b2), Entry("B_PREVIOUS", b1)])
    assert list(target.entries()) == ["A", "A_PREVIOUS", "B", "B_PREVIOUS"]
    target.delete(["A_PREVIOUS"])
    assert target.entries() == {"A": _kid_by_hand(a2), "B": _kid_by_hand(b2), "B_PREVIOUS": _kid_by_hand(b1)}
    assert len(_doc(target)["keys"]) == 3


def test_a_key_held_by_two_entries_is_listed_once_and_stays_while_one_holds_it(tmp_path: Path) -> None:
    a = _key()
    target = _target(tmp_path)
    target.write([Entry("K", a), Entry("K_PREVIOUS", a)])
    assert len(_doc(target)["keys"]) == 1
    target.delete(["K_PREVIOUS"])
    assert [k["kid"] for k in _doc(target)["keys"]] == [_kid_by_hand(a)]


def test_keys_keyturn_did_not_write_are_kept_after_its_own(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.path.parent.mkdir()
    other = public_jwk(_key("ec").reveal_bytes()) | {"kid": "partner-2026"}
    target.path.write_text(json.dumps({"keys": [other], "note": "hand-made"}))
    a = _key()
    target.write([Entry("K", a)])
    doc = _doc(target)
    assert [k["kid"] for k in doc["keys"]] == [_kid_by_hand(a), "partner-2026"]
    assert doc["note"] == "hand-made"
    target.delete(["K"])
    assert [k["kid"] for k in _doc(target)["keys"]] == ["partner-2026"]
    assert "keyturn" not in _doc(target)


def test_file_mode_0644_and_directories_0755(tmp_path: Path) -> None:
    target = _target(tmp_path, "site/.well-known/jwks.json")
    target.write([Entry("K", _key())])
    assert stat.S_IMODE(target.path.stat().st_mode) == 0o644
    assert stat.S_IMODE(target.path.parent.stat().st_mode) == 0o755
    os.chmod(target.path, 0o600)
    assert not target.write([Entry("K", _key())]).skipped
    assert stat.S_IMODE(target.path.stat().st_mode) == 0o644


def test_a_symlinked_file_is_refused_not_followed(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text('{"keys": []}')
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "jwks.json").symlink_to(real)
    with pytest.raises(TargetFailed, match="symlink"):
        _target(tmp_path).write([Entry("K", _key())])
    assert real.read_text() == '{"keys": []}'


# -- values that are not signing keys --------------------------------------------------


def _pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _non_keys() -> list[tuple[str, SecretValue | str, str]]:
    canary = "jwks-canary-" + "7" * 20
    encrypted = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass-canary-123")).decode()
    public = serialization.load_pem_private_key(_key().reveal_bytes(), password=None).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return [
        ("random string", SecretValue(canary, mask=False), "is not an unencrypted PEM private key"),
        ("public key", SecretValue(public, mask=False), "is not an unencrypted PEM private key"),
        ("encrypted", SecretValue(encrypted, mask=False), "is not an unencrypted PEM private key"),
        ("plain str", "7", "is not an unencrypted PEM private key"),
        ("rsa-1024", SecretValue(_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), mask=False),
         "is a 1024-bit RSA key"),
        ("x25519", SecretValue(_pem(x25519.X25519PrivateKey.generate()), mask=False),
         "is a private key of type X25519, which format: jwks does not publish"),
        ("secp256k1", SecretValue(_pem(ec.generate_private_key(ec.SECP256K1())), mask=False),
         "is a private key of type EC secp256k1"),
        ("dsa", SecretValue(_pem(dsa.generate_private_key(key_size=2048)), mask=False), "is a private key of type DSA"),
    ]


@pytest.mark.parametrize("case", range(8), ids=["random", "public", "encrypted", "plain-str", "rsa-1024",
                                                  "x25519", "secp256k1", "dsa"])
def test_a_value_that_is_no_signing_key_is_a_one_line_error_naming_the_target(tmp_path: Path, case: int) -> None:
    _, value, why = _non_keys()[case]
    target = _target(tmp_path)
    for call in (target.preflight, target.write):
        with pytest.raises(TargetFailed) as err:
            call([Entry("SIGNING_KEY", value)])
        message = str(err.value)
        assert why in message and "file:public/jwks.json" in message and "entry SIGNING_KEY" in message
        assert "\n" not in message
        shown = value.reveal() if isinstance(value, SecretValue) else value
        if len(shown) > 1:
            assert shown not in message and "canary" not in message
        assert err.value.__cause__ is None
    assert not target.path.exists(), "nothing is written for a refused value"


# -- files that are not keyturn's JWK Set ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("SIGNING_KEY=abc\n", "public/jwks.json:1: not JSON"),
        ('{"keys": {}}', 'not a JWK Set (expected an object with a "keys" list)'),
        ('["x"]', "not a JWK Set"),
        ('{"keys": ["x"]}', "keys[0] is not a JWK"),
        ('{"keys": [{"kty": "oct", "k": "c2VjcmV0LWNhbmFyeQ"}]}', "keys[0] holds private or symmetric key material (k)"),
        ('{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "c2VjcmV0"}]}', "(d)"),
        ('{"keys": [], "keyturn": "mine"}', 'the "keyturn" member is not keyturn\'s'),
    ],
    ids=["dotenv", "keys-not-list", "array", "key-not-object", "symmetric", "private-member", "foreign-keyturn"],
)
def test_a_file_that_is_not_a_public_jwk_set_is_refused_before_writing(tmp_path: Path, text: str, why: str) -> None:
    target = _target(tmp_path)
    target.path.parent.mkdir()
    target.path.write_text(text)
    with pytest.raises(UsageError) as err:
        target.check_access()
    assert why in str(err.value) and "file:public/jwks.json" in str(err.value)
    assert "c2VjcmV0" not in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(TargetFailed):
        target.write([Entry("K", _key())])
    assert target.path.read_text() == text


def test_check_access_accepts_a_missing_file_and_refuses_a_directory(tmp_path: Path) -> None:
    target = _target(tmp_path)
    target.check_access()
    target.path.mkdir(parents=True)
    with pytest.raises(UsageError, match="is a directory, not a JWK Set file"):
        target.check_access()


# -- manifest and registry -----------------------------------------------------------------

HEAD = """\
version: 1
stores:
  vault:
    type: vault
secrets:
"""


def _manifest(generator: str, targets: str, extra: str = "") -> str:
    return HEAD + f"""\
  SIGNING_KEY:
    store: vault
    path: app/signing
    generator: {generator}
    targets: {targets}
""" + extra


def _refused(text: str) -> str:
    with pytest.raises(ManifestError) as err:
        parse_manifest(text, Path("m.yml"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("m.yml:"), message
    return message


@pytest.mark.parametrize(
    ("generator", "targets", "path", "why"),
    [
        ("{type: hex, bytes: 32}", "[{file: jwks.json, format: jwks}]", "targets[0].format", "generator hex makes"),
        ("{type: password}", "[{file: jwks.json, format: jwks}]", "targets[0].format", "generator password"),
        ("{type: vault-database-static-role, role: app, store: vault, verify: false}", "[{file: jwks.json, format: jwks}]",
         "targets[0].format", "generator vault-database-static-role makes no signing key"),
        ("{type: ed25519}", "[{file: jwks.json, format: jwks, shape: versioned}]", "targets[0].shape",
         "use shape: dual"),
        ("{type: ed25519}", "[{file: keys.json, format: dotenv, name: PEM}, {file: ./keys.json, format: jwks}]",
         "targets[1].format", "a JWK Set and a dotenv file cannot share a file"),
    ],
    ids=["hex", "password", "issuer-password", "versioned", "shared-with-dotenv"],
)
def test_manifest_refuses_jwks_targets_that_cannot_work(generator: str, targets: str, path: str, why: str) -> None:
    message = _refused(_manifest(generator, targets))
    assert f"secrets.SIGNING_KEY.{path}" in message and why in message


def test_manifest_refuses_a_jwks_file_another_secret_writes_as_dotenv() -> None:
    other = """\
  DB:
    store: vault
    path: app/db
    generator: {type: hex}
    targets: [{file: keys.json}]
"""
    message = _refused(_manifest("{type: ec}", "[{file: keys.json, format: jwks}]", other))
    assert "secrets.DB.targets[0]" in message and "secrets.SIGNING_KEY.targets[0] with format jwks" in message


@pytest.mark.parametrize("generator", ["{type: ed25519}", "{type: rsa, bits: 2048}", "{type: ec, curve: P-384}",
                                       "{type: manual}"])
def test_manifest_accepts_key_generators_and_builds_a_jwks_target(tmp_path: Path, generator: str) -> None:
    text = _manifest(generator, "[{file: deploy/signer.env, format: dotenv}, "
                                "{file: public/jwks.json, format: jwks, shape: dual}]")
    model = parse_manifest(text, Path("m.yml")).model
    config = model.secrets["SIGNING_KEY"].targets[1]
    assert isinstance(config, FileTargetConfig) and config.format == "jwks"
    [bound] = TargetFactory(tmp_path, {}).build("SIGNING_KEY", config)
    assert isinstance(bound.target, JwksTarget) and bound.label == "file:public/jwks.json"
    assert bound.target.path == tmp_path / "public" / "jwks.json"
    [dotenv] = TargetFactory(tmp_path, {}).build("SIGNING_KEY", model.secrets["SIGNING_KEY"].targets[0])
    assert not isinstance(dotenv.target, JwksTarget)


def test_manifest_keeps_jwks_targets_inside_the_manifest_directory() -> None:
    message = _refused(_manifest("{type: ed25519}", "[{file: /srv/www/jwks.json, format: jwks}]"))
    assert "allow_outside: true" in message
