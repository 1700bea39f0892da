"""New secret values: random tokens, passwords and key pairs, each a ``SecretValue``.

Every value comes from the :mod:`secrets` module (or, for key pairs, from
``cryptography``, imported lazily so the token generators work without it) and is
boxed in a :class:`~keyturn.values.SecretValue` before anything else sees it.
Generators refuse values that GitHub Actions could not mask (shorter than 8 characters)
or store (over 48 KB); :func:`value_warnings` flags values that mask badly. Messages
name the generator and parameter, never the value. This module imports only the
standard library, :mod:`keyturn.values`, :mod:`keyturn.errors` and (lazily)
``cryptography``; it must never import a store, target, validator or SDK.
"""

from __future__ import annotations

import base64 as _b64
import inspect
import secrets
import string
from collections.abc import Callable
from typing import Any

from keyturn.errors import UsageError
from keyturn.values import GITHUB_MAX_BYTES, SecretValue

MIN_LENGTH = 8
DEFAULT_SYMBOLS = "!%+-.:=@^_"  # every one reads back bare from docker --env-file, bash and systemd
#: RSA sizes ``rsa`` makes (and the least ``format: jwks`` publishes)
RSA_MIN_BITS, _RSA_MAX_BITS = 2048, 8192
#: The NIST curves ``ec`` makes keys on: JOSE name (RFC 7518 §6.2.1.1) → (the curve's
#: name in ``cryptography``, its JWS algorithm). ``format: jwks`` publishes these.
EC_CURVES: dict[str, tuple[str, str]] = {"P-256": ("secp256r1", "ES256"), "P-384": ("secp384r1", "ES384"),
                                         "P-521": ("secp521r1", "ES512")}

__all__ = [
    "DEFAULT_SYMBOLS",
    "MIN_LENGTH",
    "EC_CURVES",
    "RSA_MIN_BITS",
    "base64_secret",
    "ec_private_key",
    "ed25519_private_key",
    "generate",
    "hex_secret",
    "kinds",
    "password_secret",
    "public_key_pem",
    "rsa_private_key",
    "urlsafe_secret",
    "value_warnings",
]


# -- shared checks -----------------------------------------------------------------


def _int_param(kind: str, name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"generator {kind}: {name} must be an integer")
    if value < minimum:
        raise UsageError(f"generator {kind}: {name} must be at least {minimum}")
    return value


def _check_size(kind: str, chars: int, nbytes: int, hint: str) -> None:
    """Refuse sizes GitHub cannot mask or store, before generating anything."""
    if chars < MIN_LENGTH:
        raise UsageError(
            f"generator {kind}: values shorter than {MIN_LENGTH} characters cannot be masked "
            f"in Actions logs ({hint} gives {chars}; raise it)"
        )
    if nbytes > GITHUB_MAX_BYTES:
        raise UsageError(
            f"generator {kind}: values over {GITHUB_MAX_BYTES // 1024} KB are refused by GitHub "
            f"({hint} gives {nbytes} bytes; lower it)"
        )


def _box(kind: str, text: str) -> SecretValue:
    """Last-line check on the produced text, then the box (which registers masks)."""
    _check_size(kind, len(text), len(text.encode("utf-8")), "this configuration")
    return SecretValue(text)


# -- random tokens -----------------------------------------------------------------


def hex_secret(bytes: int = 32) -> SecretValue:
    """``bytes`` random bytes as lowercase hex (2 characters per byte)."""
    n = _int_param("hex", "bytes", bytes, minimum=1)
    _check_size("hex", 2 * n, 2 * n, f"bytes={n}")
    return _box("hex", secrets.token_hex(n))


def base64_secret(bytes: int = 32) -> SecretValue:
    """``bytes`` random bytes, standard base64 with padding."""
    n = _int_param("base64", "bytes", bytes, minimum=1)
    size = 4 * ((n + 2) // 3)
    _check_size("base64", size, size, f"bytes={n}")
    return _box("base64", _b64.b64encode(secrets.token_bytes(n)).decode("ascii"))


def urlsafe_secret(bytes: int = 32) -> SecretValue:
    """``bytes`` random bytes, URL-safe base64 without ``=`` padding."""
    n = _int_param("urlsafe", "bytes", bytes, minimum=1)
    size = (4 * n + 2) // 3
    _check_size("urlsafe", size, size, f"bytes={n}")
    return _box("urlsafe", secrets.token_urlsafe(n))


def _unique(chars: str) -> str:
    return "".join(dict.fromkeys(chars))


def password_secret(
    length: int = 32,
    lower: bool = True,
    upper: bool = True,
    digits: bool = True,
    symbols: bool = True,
    symbol_set: str = DEFAULT_SYMBOLS,
    exclude: str = "",
    min_each: int = 1,
) -> SecretValue:
    """A password with at least ``min_each`` characters of every enabled class; the
    rest drawn uniformly from the union of the enabled classes, then shuffled."""
    classes, alphabet, length, min_each = _password_plan(length, lower, upper, digits, symbols, symbol_set,
                                                         exclude, min_each)
    chars = [secrets.choice(pool) for pool in classes for _ in range(min_each)]
    chars.extend(secrets.choice(alphabet) for _ in range(length - len(chars)))
    secrets.SystemRandom().shuffle(chars)
    return _box("password", "".join(chars))


def _password_plan(length: int, lower: bool, upper: bool, digits: bool, symbols: bool, symbol_set: str,
                   exclude: str, min_each: int) -> tuple[list[str], str, int, int]:
    """Validate password parameters (raises UsageError) without drawing anything."""
    kind = "password"
    length = _int_param(kind, "length", length, minimum=1)
    min_each = _int_param(kind, "min_each", min_each, minimum=0)
    if not isinstance(symbol_set, str) or not isinstance(exclude, str):
        raise UsageError(f"generator {kind}: symbol_set and exclude must be strings")
    if any(c.isspace() or not c.isprintable() for c in symbol_set):
        raise UsageError(f"generator {kind}: symbol_set must not contain whitespace or control characters")
    flags = {"lower": lower, "upper": upper, "digits": digits, "symbols": symbols}
    for flag, on in flags.items():
        if not isinstance(on, bool):
            raise UsageError(f"generator {kind}: {flag} must be true or false")
    pools = {
        "lower": string.ascii_lowercase,
        "upper": string.ascii_uppercase,
        "digits": string.digits,
        "symbols": symbol_set,
    }
    classes: list[str] = []
    for name, pool in pools.items():
        if not flags[name]:
            continue
        if not pool:
            raise UsageError(f"generator {kind}: symbol_set is empty but symbols is enabled")
        allowed = _unique("".join(c for c in pool if c not in exclude))
        if not allowed:
            raise UsageError(f"generator {kind}: exclude removes every character of class {name}")
        classes.append(allowed)
    if not classes:
        raise UsageError(f"generator {kind}: enable at least one of lower, upper, digits, symbols")
    if min_each * len(classes) > length:
        raise UsageError(
            f"generator {kind}: min_each={min_each} for {len(classes)} classes needs length >= "
            f"{min_each * len(classes)} (length={length})"
        )
    alphabet = _unique("".join(classes))
    nbytes = length * max(len(c.encode("utf-8")) for c in alphabet)
    _check_size(kind, length, nbytes, f"length={length}")
    return classes, alphabet, length, min_each


# -- key pairs ---------------------------------------------------------------------


def _crypto(kind: str) -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError:  # pragma: no cover - cryptography is installed in CI
        raise UsageError(
            f"generator {kind}: needs the 'cryptography' package (pip install cryptography)"
        ) from None
    return serialization


def _private_pem(kind: str, key: Any) -> SecretValue:
    ser = _crypto(kind)
    pem = key.private_bytes(
        encoding=ser.Encoding.PEM,
        format=ser.PrivateFormat.PKCS8,
        encryption_algorithm=ser.NoEncryption(),
    )
    return _box(kind, pem.decode("ascii"))


def ed25519_private_key() -> SecretValue:
    """A new Ed25519 private key as unencrypted PKCS#8 PEM."""
    _crypto("ed25519")
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return _private_pem("ed25519", ed25519.Ed25519PrivateKey.generate())


def rsa_private_key(bits: int = 3072) -> SecretValue:
    """A new RSA private key (public exponent 65537) as unencrypted PKCS#8 PEM."""
    n = _int_param("rsa", "bits", bits, minimum=RSA_MIN_BITS)
    if n > _RSA_MAX_BITS or n % 256:
        raise UsageError(
            f"generator rsa: bits must be a multiple of 256 between {RSA_MIN_BITS} and {_RSA_MAX_BITS}"
        )
    _crypto("rsa")
    from cryptography.hazmat.primitives.asymmetric import rsa

    return _private_pem("rsa", rsa.generate_private_key(public_exponent=65537, key_size=n))


def ec_private_key(curve: str = "P-256") -> SecretValue:
    """A new elliptic-curve private key on ``curve`` (P-256, P-384 or P-521) as
    unencrypted PKCS#8 PEM."""
    if curve not in EC_CURVES:
        raise UsageError(f"generator ec: curve must be one of {', '.join(EC_CURVES)}")
    _crypto("ec")
    from cryptography.hazmat.primitives.asymmetric import ec

    named: ec.EllipticCurve = getattr(ec, EC_CURVES[curve][0].upper())()  # ec.SECP256R1() …
    return _private_pem("ec", ec.generate_private_key(named))


def public_key_pem(private: SecretValue) -> str:
    """The SubjectPublicKeyInfo PEM for a private key PEM made by :func:`generate`.

    The public key is not secret: it is returned as a plain ``str``."""
    ser = _crypto("public_key_pem")
    try:
        key = ser.load_pem_private_key(private.reveal_bytes(), password=None)
    except (ValueError, TypeError):
        # The library's message is not shown: it is about the value's content.
        raise UsageError("public_key_pem: not an unencrypted PEM private key") from None
    pem: bytes = key.public_key().public_bytes(
        encoding=ser.Encoding.PEM, format=ser.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


# -- dispatch ----------------------------------------------------------------------

_GENERATORS: dict[str, Callable[..., SecretValue]] = {
    "hex": hex_secret,
    "base64": base64_secret,
    "urlsafe": urlsafe_secret,
    "password": password_secret,
    "ed25519": ed25519_private_key,
    "rsa": rsa_private_key,
    "ec": ec_private_key,
}


def kinds() -> list[str]:
    """The generator kinds :func:`generate` accepts."""
    return sorted(_GENERATORS)


def _generator(kind: str, params: dict[str, Any]) -> tuple[Any, Any]:
    """The generator function of ``kind`` and its parameters; refuses unknown ones."""
    func = _GENERATORS.get(kind)
    if func is None:
        raise UsageError(f"unknown generator {kind!r}; valid kinds: {', '.join(kinds())}")
    accepted = inspect.signature(func).parameters
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise UsageError(
            f"generator {kind}: unknown parameter(s) {', '.join(unknown)}; "
            f"valid parameters: {', '.join(accepted) or 'none'}"
        )
    return func, accepted


def generate(kind: str, **params: Any) -> SecretValue:
    """Make a new value of ``kind`` (see :func:`kinds`) with the kind's parameters."""
    func, _ = _generator(kind, params)
    value: SecretValue = func(**params)
    return value


def check_params(kind: str, **params: Any) -> None:
    """Refuse what :func:`generate` would refuse, without making a value (so manifest
    checks never create, mask or log anything)."""
    _, accepted = _generator(kind, params)
    if kind == "password":
        defaults = {n: p.default for n, p in accepted.items()}
        merged = {**defaults, **params}
        _password_plan(**merged)


# -- warnings for any value (generated or imported) ---------------------------------


def value_warnings(value: SecretValue) -> list[str]:
    """Why ``value`` may mask or transport badly. Never includes the value."""
    out: list[str] = []
    if len(value) < MIN_LENGTH:
        out.append(f"short value: values under {MIN_LENGTH} characters are not masked in Actions logs")
    if value.byte_length > GITHUB_MAX_BYTES:
        out.append(f"large value: GitHub refuses secrets over {GITHUB_MAX_BYTES // 1024} KB")
    if value.is_multiline:
        out.append("multi-line value: GitHub Actions masks each line separately; prefer base64 for transport")
    if value.is_json:
        out.append(
            "JSON value: GitHub Actions masks the whole value and each string leaf, not fields built "
            "from it; prefer one secret per field"
        )
    return out
