"""Tests for keyturn.generators: lengths, alphabets, class guarantees, key PEMs, errors."""

from __future__ import annotations

import base64
import re
import string

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from keyturn import generators
from keyturn.errors import ExitCode, UsageError
from keyturn.generators import generate, public_key_pem, value_warnings
from keyturn.values import GITHUB_MAX_BYTES, SecretValue

LOWER, UPPER, DIGITS = set(string.ascii_lowercase), set(string.ascii_uppercase), set(string.digits)


# -- tokens --------------------------------------------------------------------------


def test_hex_default_and_custom_length() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", generate("hex").reveal())
    assert re.fullmatch(r"[0-9a-f]{20}", generate("hex", bytes=10).reveal())


def test_base64_decodes_to_requested_bytes() -> None:
    for n in (4, 5, 6, 32):
        text = generate("base64", bytes=n).reveal()
        assert len(base64.b64decode(text, validate=True)) == n


def test_urlsafe_has_no_padding_and_safe_alphabet() -> None:
    for n in (6, 7, 8, 32):
        text = generate("urlsafe", bytes=n).reveal()
        assert re.fullmatch(r"[A-Za-z0-9_-]+", text)
        assert len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) == n


def test_values_are_secretvalues_and_differ() -> None:
    a, b = generate("hex"), generate("hex")
    assert isinstance(a, SecretValue)
    assert repr(a) == "SecretValue(***)"
    assert not a.same_as(b)


@pytest.mark.parametrize(("kind", "bytes_"), [("hex", 3), ("base64", 3), ("urlsafe", 5)])
def test_short_values_refused(kind: str, bytes_: int) -> None:
    with pytest.raises(UsageError) as err:
        generate(kind, bytes=bytes_)
    assert str(err.value).startswith(
        f"generator {kind}: values shorter than 8 characters cannot be masked in Actions logs"
    )
    assert err.value.exit_code is ExitCode.USAGE


def test_minimum_lengths_accepted() -> None:
    assert len(generate("hex", bytes=4)) == 8
    assert len(generate("base64", bytes=4)) == 8
    assert len(generate("urlsafe", bytes=6)) == 8


def test_oversized_values_refused() -> None:
    assert len(generate("hex", bytes=GITHUB_MAX_BYTES // 2)) == GITHUB_MAX_BYTES
    with pytest.raises(UsageError, match="48 KB"):
        generate("hex", bytes=GITHUB_MAX_BYTES // 2 + 1)
    with pytest.raises(UsageError, match="48 KB"):
        generate("password", length=GITHUB_MAX_BYTES + 1)


@pytest.mark.parametrize("bad", [0, -1, "32", 3.5, True])
def test_bytes_must_be_positive_int(bad: object) -> None:
    with pytest.raises(UsageError, match="bytes"):
        generate("hex", bytes=bad)


# -- passwords -----------------------------------------------------------------------


def test_password_default_classes_over_many_draws() -> None:
    symbols = set(generators.DEFAULT_SYMBOLS)
    allowed = LOWER | UPPER | DIGITS | symbols
    for _ in range(300):
        pw = generate("password").reveal()
        assert len(pw) == 32
        chars = set(pw)
        assert chars <= allowed
        for cls in (LOWER, UPPER, DIGITS, symbols):
            assert chars & cls


def test_password_min_each_guaranteed_over_many_draws() -> None:
    # length 8 with min_each 2 over 4 classes leaves no random filler at all.
    for _ in range(300):
        pw = generate("password", length=8, min_each=2).reveal()
        assert sum(c in LOWER for c in pw) == 2
        assert sum(c in UPPER for c in pw) == 2
        assert sum(c in DIGITS for c in pw) == 2
        assert sum(c in generators.DEFAULT_SYMBOLS for c in pw) == 2


def test_password_is_shuffled_not_class_ordered() -> None:
    firsts = {generate("password", length=8, min_each=2).reveal()[0] for _ in range(200)}
    assert firsts & LOWER and firsts & UPPER and firsts & DIGITS


def test_password_disabled_classes_and_custom_symbols() -> None:
    for _ in range(100):
        pw = generate("password", length=20, upper=False, symbols=True, symbol_set="*$").reveal()
        assert not set(pw) & UPPER
        assert set(pw) <= LOWER | DIGITS | {"*", "$"}
        assert set(pw) & {"*", "$"}
    pw = generate("password", length=16, lower=False, upper=False, symbols=False).reveal()
    assert pw.isdigit()


def test_password_exclusions_honoured() -> None:
    exclude = "0O1lI|oS5"
    for _ in range(200):
        pw = generate("password", length=40, exclude=exclude).reveal()
        assert not set(pw) & set(exclude)


def test_password_uses_whole_alphabet() -> None:
    seen = set("".join(generate("password", length=64, min_each=0).reveal() for _ in range(100)))
    assert seen == LOWER | UPPER | DIGITS | set(generators.DEFAULT_SYMBOLS)


def test_password_min_each_zero_allowed() -> None:
    assert len(generate("password", length=8, min_each=0)) == 8


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({"lower": False, "upper": False, "digits": False, "symbols": False}, "lower, upper"),
        ({"length": 10, "min_each": 3}, "min_each=3"),
        ({"digits": True, "exclude": string.digits}, "exclude"),
        ({"symbol_set": ""}, "symbol_set"),
        ({"symbol_set": "a b"}, "symbol_set"),
        ({"length": 7}, "length=7"),
        ({"length": 0}, "length"),
        ({"min_each": -1}, "min_each"),
        ({"upper": "yes"}, "upper"),
    ],
)
def test_password_impossible_configs_name_the_parameter(params: dict[str, object], names: str) -> None:
    with pytest.raises(UsageError) as err:
        generate("password", **params)
    assert names in str(err.value)
    assert str(err.value).startswith("generator password:")


# -- key pairs -----------------------------------------------------------------------


def test_ed25519_pem_loads_and_public_key_matches() -> None:
    value = generate("ed25519")
    pem = value.reveal()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    pub = serialization.load_pem_public_key(public_key_pem(value).encode())
    assert isinstance(pub, ed25519.Ed25519PublicKey)
    signature = key.sign(b"keyturn")
    pub.verify(signature, b"keyturn")  # raises if the pair does not match


def test_rsa_pem_loads_with_requested_size() -> None:
    value = generate("rsa", bits=2048)
    assert value.reveal().startswith("-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(value.reveal_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    public = public_key_pem(value)
    assert public.startswith("-----BEGIN PUBLIC KEY-----")
    pub = serialization.load_pem_public_key(public.encode())
    assert isinstance(pub, rsa.RSAPublicKey)
    assert pub.public_numbers() == key.public_key().public_numbers()


@pytest.mark.parametrize("bits", [1024, 2047, 2100, 16384, "3072"])
def test_rsa_bad_bits_refused(bits: object) -> None:
    with pytest.raises(UsageError, match="generator rsa: bits"):
        generate("rsa", bits=bits)


@pytest.mark.parametrize(
    ("params", "curve", "size"),
    [({}, ec.SECP256R1, 256), ({"curve": "P-256"}, ec.SECP256R1, 256), ({"curve": "P-384"}, ec.SECP384R1, 384),
     ({"curve": "P-521"}, ec.SECP521R1, 521)],
    ids=["default", "P-256", "P-384", "P-521"],
)
def test_ec_pem_loads_on_the_requested_curve(params: dict[str, str], curve: type, size: int) -> None:
    value = generate("ec", **params)
    assert value.reveal().startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8, unencrypted
    key = serialization.load_pem_private_key(value.reveal_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(key.curve, curve) and key.curve.key_size == size
    pub = serialization.load_pem_public_key(public_key_pem(value).encode())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    signature = key.sign(b"keyturn", ec.ECDSA(hashes.SHA256()))
    pub.verify(signature, b"keyturn", ec.ECDSA(hashes.SHA256()))  # raises if the pair does not match
    assert generate("ec", **params).reveal() != value.reveal()


@pytest.mark.parametrize("curve", ["P-224", "secp256k1", "p-256", 256])
def test_ec_bad_curve_refused(curve: object) -> None:
    with pytest.raises(UsageError, match="generator ec: curve must be one of P-256, P-384, P-521"):
        generate("ec", curve=curve)


def test_ec_unknown_parameter_names_the_valid_one() -> None:
    with pytest.raises(UsageError, match=r"generator ec: unknown parameter\(s\) bits; valid parameters: curve"):
        generate("ec", bits=256)


def test_public_key_pem_rejects_non_key_without_echoing_it() -> None:
    canary = "not-a-key-canary-1234567890"
    with pytest.raises(UsageError) as err:
        public_key_pem(SecretValue(canary, mask=False))
    assert canary not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


# -- dispatch and warnings -----------------------------------------------------------


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(UsageError) as err:
        generate("uuid")
    for kind in ("base64", "ec", "ed25519", "hex", "password", "rsa", "urlsafe"):
        assert kind in str(err.value)


def test_unknown_parameter_is_usage_error() -> None:
    with pytest.raises(UsageError, match=r"unknown parameter\(s\) length; valid parameters: bytes"):
        generate("hex", length=10)


def test_value_warnings_multiline_and_json_without_value() -> None:
    pem = generate("ed25519")
    warnings = value_warnings(pem)
    assert warnings == [
        "multi-line value: GitHub Actions masks each line separately; prefer base64 for transport"
    ]
    secret_json = SecretValue('{"user": "svc", "password": "hunter2-canary-xyz"}', mask=False)
    warnings = value_warnings(secret_json)
    assert len(warnings) == 1 and warnings[0].startswith("JSON value:")
    joined = " ".join(value_warnings(SecretValue('{\n "k": "hunter2-canary-xyz"\n}', mask=False)))
    assert "multi-line" in joined and "JSON" in joined
    assert "hunter2" not in joined and "svc" not in joined


def test_value_warnings_size_and_clean_values() -> None:
    assert value_warnings(generate("hex")) == []
    assert value_warnings(generate("password")) == []
    assert value_warnings(SecretValue("abc", mask=False))[0].startswith("short value")
    big = SecretValue("x" * (GITHUB_MAX_BYTES + 1), mask=False)
    assert any(w.startswith("large value") for w in value_warnings(big))
