"""Format checksums (keyturn.scan.checksums) and their enforcement by the detectors.

Tokens are built here at test time, with the checksum computed independently of the code
under test (tests.scan._support.crc32_b62, a hand-built macaroon), so a wrong algorithm in
keyturn fails these tests instead of agreeing with itself. None was ever issued.
"""

from __future__ import annotations

import base64
import uuid

import pytest

from keyturn.scan.checksums import (
    CHECKSUMS,
    fails_format_checksum,
    github_crc32,
    npm_crc32,
    pypi_macaroon,
)
from keyturn.scan.engine import Engine
from tests.scan._support import Fakes, crc32_b62

CLASSIC = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(b"test-key")


def _broken(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _field(kind: int, data: bytes) -> bytes:
    return bytes([kind, len(data)]) + data


def macaroon(
    location: bytes = b"pypi.org",
    *,
    version: int = 2,
    ident: bytes | None = None,
    caveats: tuple[bytes, ...] = (b'{"version": 1, "permissions": "user"}',),
    signature: bytes = bytes(range(32)),
    trailer: bytes = b"",
) -> str:
    """The body of a PyPI token: base64url (unpadded) of a V2 binary macaroon."""
    ident = str(uuid.UUID(int=7, version=4)).encode() if ident is None else ident
    raw = bytes([version]) + _field(1, location) + _field(2, ident) + b"\x00"
    raw += b"".join(_field(2, c) + b"\x00" for c in caveats) + b"\x00"
    raw += _field(6, signature) + trailer
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_every_checksum_has_a_documented_docstring() -> None:
    for name, fn in CHECKSUMS.items():
        assert fn.__doc__ and ("http" in fn.__doc__ or name == "crc32-base62"), name


@pytest.mark.parametrize("prefix", CLASSIC)
def test_github_crc32_is_over_the_30_characters_after_the_prefix(prefix: str) -> None:
    token = Fakes(len(prefix)).github(prefix)
    body = token[len(prefix) :]
    assert len(token) == 40 and github_crc32(body)
    # any single changed character breaks it (CRC32 catches every one-character error)
    for i in range(36):
        changed = body[:i] + ("a" if body[i] != "a" else "b") + body[i + 1 :]
        assert not github_crc32(changed), i
    # the prefix is not part of the hashed text
    with_prefix = body[:30] + crc32_b62(prefix + body[:30])
    assert with_prefix == body or not github_crc32(with_prefix)


def test_github_crc32_needs_the_documented_shape() -> None:
    body = Fakes().github()[4:]
    assert not github_crc32(body[:-1])  # 35 characters
    assert not github_crc32(body + "0")  # 37
    assert not github_crc32(body[:29] + "-" + body[30:])  # not base62


def test_npm_crc32() -> None:
    token = Fakes(5).npm()
    assert len(token) == 40 and npm_crc32(token[4:])
    assert not npm_crc32(_broken(token)[4:])
    assert not npm_crc32(token[4:-1])


def test_pypi_macaroon_structure() -> None:
    assert pypi_macaroon(macaroon())
    assert pypi_macaroon(macaroon(b"test.pypi.org"))
    assert pypi_macaroon(macaroon(caveats=()))  # no caveats is still a well-formed macaroon
    assert pypi_macaroon(macaroon(caveats=(b"a", b"b", b"c")))
    assert not pypi_macaroon(macaroon(b"pypi.com"))  # not issued by PyPI
    assert not pypi_macaroon(macaroon(version=1))
    assert not pypi_macaroon(macaroon(ident=b""))
    assert not pypi_macaroon(macaroon(signature=bytes(31)))
    assert not pypi_macaroon(macaroon(trailer=b"\x00"))  # bytes after the signature
    good = macaroon()
    assert not pypi_macaroon(good[:-8])  # cut short
    assert not pypi_macaroon(good[:-1])  # length that is no base64
    # the pre-check shape: the documented prefix bytes, then noise
    assert not pypi_macaroon("AgEIcHlwaS5vcmc" + Fakes(3).s(150))


def test_fails_format_checksum() -> None:
    f = Fakes(9)
    gh, npm = f.github(), f.npm()
    assert not fails_format_checksum(gh) and fails_format_checksum(_broken(gh))
    assert not fails_format_checksum(npm) and fails_format_checksum(_broken(npm))
    assert not fails_format_checksum("pypi-" + macaroon())
    assert fails_format_checksum("pypi-AgEIcHlwaS5vcmc" + f.s(120))
    # formats without a checksum are never judged by it
    assert not fails_format_checksum("github_pat_" + f.s(22) + "_" + f.s(59))
    assert not fails_format_checksum("xoxb-" + f.s(40))
    assert not fails_format_checksum(f.s(40))


def test_fails_format_checksum_is_the_one_decision_for_every_checksummed_format() -> None:
    """Every checksummed format (age identities too, checked by a rule file) is judged by
    fails_format_checksum; a rule's declared ``checksum`` goes through it as well."""
    from keyturn.scan.checksums import _FORMATS

    assert {name for name, _, _ in _FORMATS} <= set(CHECKSUMS)
    age = "AGE-SECRET-KEY-1RC4KLS5NUR0QWGVV4QT3QJM8H84KN230344K5UL0XZNUWZS8ZEXKHJ0GLY"  # a rule example
    assert not fails_format_checksum(age)
    assert fails_format_checksum(age[:-1] + "Q")
    assert not fails_format_checksum(age[:-1])  # not the format: not judged by it
    body = Fakes(11).github()[4:]
    assert not fails_format_checksum("xyz_" + body, checksum="crc32-base62", body=body)
    assert fails_format_checksum("xyz_" + _broken(body), checksum="crc32-base62", body=_broken(body))
    assert fails_format_checksum(age[:-1] + "Q", checksum="age-bech32", body=age[16:-1] + "Q")


def test_rule_pack_rules_apply_the_format_checksum_too(engine: Engine) -> None:
    """A rule without a checksum of its own whose regex also takes a ghp_/npm_ value
    (cloudflare-api-token: 40 characters next to the word cloudflare) drops one whose
    checksum fails, as every other detector does (it reported it before)."""
    f = Fakes(5)
    for good in (f.github(), f.npm()):
        for template in ('CLOUDFLARE_API_TOKEN="{}"\n', "cloudflare token: {}\n"):
            assert engine.scan_text("a.txt", template.format(good)) != []
            assert engine.scan_text("a.txt", template.format(_broken(good))) == []


@pytest.mark.parametrize("prefix", CLASSIC)
def test_engine_reports_only_checksum_valid_github_tokens(engine: Engine, prefix: str) -> None:
    good = Fakes(17).github(prefix)
    bad = _broken(good)
    for template in ('token = "{}"\n', "DEBUG sending request with {} (attempt 1)\n", '{{"value": "{}"}}\n'):
        assert [f.detector for f in engine.scan_text("a.py", template.format(good))] == ["github-token"]
        # wrong checksum: not a GitHub token, and not a generic secret either
        assert engine.scan_text("a.py", template.format(bad)) == []


def test_engine_npm_and_pypi(engine: Engine) -> None:
    f = Fakes(23)
    npm = f.npm()
    assert [x.detector for x in engine.scan_text(".npmrc", f"//r/:_authToken={npm}\n")] == ["npm-token"]
    assert engine.scan_text(".npmrc", f"//r/:_authToken={_broken(npm)}\n") == []
    assert engine.scan_text(".env", f"NPM_TOKEN={_broken(npm)}\n") == []
    # a broken ghp_ is reported neither as the .npmrc context token nor inside a URL
    gh = _broken(f.github())
    assert engine.scan_text(".npmrc", f"//npm.pkg.github.com/:_authToken={gh}\n") == []
    assert engine.scan_text("a.sh", f"git clone https://x-access-token:{gh}@github.com/o/r.git\n") == []
    good = f.github()
    url = f"git clone https://x-access-token:{good}@github.com/o/r.git\n"
    assert "github-token" in {x.detector for x in engine.scan_text("a.sh", url)}
    pypi = "pypi-" + macaroon()
    assert [x.detector for x in engine.scan_text(".pypirc", f"password = {pypi}\n")] == ["pypi-token"]
    noise = "pypi-AgEIcHlwaS5vcmc" + f.s(150)
    assert engine.scan_text(".pypirc", f"password = {noise}\n") == []


def test_formats_without_a_documented_checksum_are_unchanged(engine: Engine) -> None:
    """github_pat_ and Slack tokens have no documented checksum: shape and entropy only."""
    f = Fakes(31)
    pat = "github_pat_" + f.s(22) + "_" + f.s(59)
    assert [x.detector for x in engine.scan_text("a.txt", f"DEBUG {pat} x\n")] == ["github-token"]
    slack = "xoxb-" + f.s(12, "0123456789") + "-" + f.s(13, "0123456789") + "-" + f.s(24)
    assert [x.detector for x in engine.scan_text("a.txt", f"DEBUG {slack} x\n")] == ["slack-token"]
