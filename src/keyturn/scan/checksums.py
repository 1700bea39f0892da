"""Format checksums: a token's own, documented structure, verified offline.

A checksum here is anything the provider documents that lets a scanner tell a real token
from a string of the right shape without asking the provider: a CRC32 in the last
characters (GitHub, npm), a Bech32 checksum (age), or a binary structure that must parse
(PyPI's macaroons). Each function takes the token's *body* — what follows the fixed prefix
(``ghp_``, ``npm_``, ``pypi-``, ``AGE-SECRET-KEY-1``) — and returns whether it satisfies
the format. :data:`CHECKSUMS` names them for rule files (``checksum = "github-crc32"``).
:func:`fails_format_checksum` is the one place that decides a candidate fails its format's
checksum, for every detector; a failed check drops the candidate: a token whose checksum
does not hold was never issued by the provider.

Imports only the stdlib; never stores, targets or SDKs.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from collections.abc import Callable

__all__ = [
    "CHECKSUMS",
    "age_bech32",
    "base62",
    "crc32_base62",
    "fails_format_checksum",
    "github_crc32",
    "npm_crc32",
    "pypi_macaroon",
]

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62(n: int, width: int) -> str:
    """``n`` in base62 (digits, then upper case, then lower case), left-padded with ``0``."""
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(width, "0")


def crc32_base62(body: str) -> bool:
    """The last 6 characters are base62(CRC32(the characters before them)), zero-padded.

    The scheme GitHub introduced for its tokens and npm adopted; see :func:`github_crc32`
    and :func:`npm_crc32` for the documented token formats that use it.
    """
    if len(body) < 8:
        return False
    payload, check = body[:-6], body[-6:]
    return base62(zlib.crc32(payload.encode("ascii", "replace")), 6) == check


def github_crc32(body: str) -> bool:
    """GitHub classic tokens ``ghp_`` / ``gho_`` / ``ghu_`` / ``ghs_`` / ``ghr_``.

    Documented format: the type prefix, 30 random base62 characters, then "the last six
    characters are a CRC32 checksum" of those 30 characters, base62-encoded with leading
    zeros (https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/;
    prefixes and 40-character length:
    https://github.blog/changelog/2021-03-31-authentication-token-format-updates-are-generally-available).
    ``body`` is the 36 characters after the prefix; the prefix is not hashed.

    Fine-grained tokens (``github_pat_``) and the stateless installation tokens
    (``ghs_APPID_JWT``, rolled out from April 2026) have no documented checksum and are
    not checked with this function.
    """
    return len(body) == 36 and body.isascii() and body.isalnum() and crc32_base62(body)


def npm_crc32(body: str) -> bool:
    """npm access tokens ``npm_``: 30 random base62 characters and a 6-character checksum.

    Documented format: "The last six characters of the tokens consist of CRC32 checksum,
    which is encoded in our Base62 implementation", the same scheme as GitHub's tokens
    (https://github.blog/2021-09-23-announcing-npms-new-access-token-format/).
    ``body`` is the 36 characters after ``npm_``.
    """
    return len(body) == 36 and body.isascii() and body.isalnum() and crc32_base62(body)


def _uvarint(raw: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if i >= len(raw) or shift > 28:
            raise ValueError("truncated varint")
        b = raw[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def _section(raw: bytes, i: int) -> tuple[dict[int, bytes], int]:
    """One macaroon V2 section: fields (type, length, data) up to the end-of-section 0."""
    fields: dict[int, bytes] = {}
    last = 0
    while True:
        kind, i = _uvarint(raw, i)
        if kind == 0:
            return fields, i
        if kind <= last or kind not in (1, 2, 4):  # location, identifier, verification id; in order
            raise ValueError("bad field")
        size, i = _uvarint(raw, i)
        if i + size > len(raw):
            raise ValueError("truncated field")
        fields[kind], i, last = raw[i : i + size], i + size, kind


_PYPI_LOCATIONS = (b"pypi.org", b"test.pypi.org")


def pypi_macaroon(body: str) -> bool:
    """PyPI API tokens ``pypi-``: a base64url-encoded version-2 macaroon issued by PyPI.

    PyPI documents that its API tokens start with ``pypi-`` (https://pypi.org/help/#apitoken)
    and are macaroons; PyPI's own implementation (Warehouse,
    ``warehouse/macaroons/services.py``) issues ``"pypi-" + macaroon.serialize()`` for a
    ``MACAROON_V2`` macaroon whose location is the index's domain and whose identifier is
    the token's database id. The V2 binary format (libmacaroons ``format.txt``): version
    byte 2; a header section (location field 1, identifier field 2, end 0); caveat
    sections; an end 0; the signature field 6 of 32 bytes. This check decodes ``body``
    (the text after ``pypi-``) and requires exactly that structure, with location
    ``pypi.org`` or ``test.pypi.org`` and a non-empty identifier, and nothing after the
    signature. It proves structure, not validity: the signature needs PyPI's key.
    """
    if len(body) % 4 == 1:
        return False
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        if not raw or raw[0] != 2:
            return False
        header, i = _section(raw, 1)
        if header.get(1) not in _PYPI_LOCATIONS or not header.get(2):
            return False
        while True:
            if i >= len(raw):
                return False
            if raw[i] == 0:  # end of caveats
                i += 1
                break
            caveat, i = _section(raw, i)
            if not caveat.get(2):
                return False
        kind, i = _uvarint(raw, i)
        size, i = _uvarint(raw, i)
    except (binascii.Error, ValueError):
        return False
    return kind == 6 and size == 32 and i + size == len(raw)


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _bech32_polymod(values: list[int]) -> int:
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def age_bech32(body: str) -> bool:
    """age identities: Bech32 (BIP-173) with the human-readable part ``age-secret-key-``.

    Documented at https://github.com/C2SP/C2SP/blob/main/age.md (an X25519 identity is
    Bech32-encoded with the HRP ``AGE-SECRET-KEY-``); ``body`` is the data part after the
    separator ``1``, whose last six characters are the Bech32 checksum.
    """
    hrp, data = "age-secret-key-", body.lower()
    if not data or any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32.index(c) for c in data]
    return _bech32_polymod(values) == 1


CHECKSUMS: dict[str, Callable[[str], bool]] = {
    "crc32-base62": crc32_base62,
    "github-crc32": github_crc32,
    "npm-crc32": npm_crc32,
    "pypi-macaroon": pypi_macaroon,
    "age-bech32": age_bech32,
}


#: The token formats that carry a checksum: (the check's name in :data:`CHECKSUMS`, the
#: fixed prefix, the body the check reads). Adding a checksummed format here is all it takes
#: for every detector to drop a candidate that fails it.
_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("github-crc32", "gh[pousr]_", "[A-Za-z0-9]{36}"),
    ("npm-crc32", "npm_", "[A-Za-z0-9]{36}"),
    ("pypi-macaroon", "pypi-", r"Ag[A-Za-z0-9_\-]{60,}"),
    ("age-bech32", "AGE-SECRET-KEY-1", "[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
)
#: all of them in one regex, the body of format ``i`` in group ``f<i>``: one match per candidate
_CHECKSUMMED = re.compile("|".join(f"{prefix}(?P<f{i}>{body})" for i, (_, prefix, body) in enumerate(_FORMATS)))


def fails_format_checksum(value: str, *, checksum: str | None = None, body: str | None = None) -> bool:
    """``value`` is a token whose format's checksum does not hold: it was never issued.

    The one place that decides it, for every detector. Without ``checksum``, ``value`` is
    judged only if it is, whole, a token in one of the checksummed formats (a made-up
    ``ghp_…`` in a test, a truncated or edited token); any other value does not fail.
    With ``checksum`` (a rule file's ``checksum = "…"``, a name in :data:`CHECKSUMS`),
    ``body`` — the value without its fixed prefix, ``value`` if not given — must pass that
    check.
    """
    if checksum is not None:
        return not CHECKSUMS[checksum](value if body is None else body)
    m = _CHECKSUMMED.fullmatch(value)
    if m is None or m.lastgroup is None:
        return False
    return not CHECKSUMS[_FORMATS[int(m.lastgroup[1:])][0]](m.group(m.lastgroup))
