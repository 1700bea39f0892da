"""Print synthetic, checksum-valid tokens (and wrong-checksum twins) for scanner fixtures.

The values are random from a seeded RNG: the right shape and a correct format checksum
(GitHub/npm CRC32 in base62, PyPI macaroon V2 structure, age Bech32), but never issued by
anyone, so they authenticate nowhere. Used to write ``tests/scan/fixtures/`` and rule
``examples``; the checksums are computed here independently of ``keyturn.scan``.

    python3 scripts/synthetic_tokens.py [--seed N]
"""

from __future__ import annotations

import argparse
import base64
import random
import string
import uuid
import zlib

ALNUM = string.ascii_letters + string.digits
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def b62(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = B62[r] + out
    return out.rjust(6, "0")


def crc_token(r: random.Random, prefix: str) -> str:
    body = "".join(r.choice(ALNUM) for _ in range(30))
    return prefix + body + b62(zlib.crc32(body.encode()))


def broken(token: str) -> str:
    """Same shape, last checksum character changed: the checksum no longer holds."""
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


def _field(kind: int, data: bytes) -> bytes:
    assert len(data) < 128
    return bytes([kind, len(data)]) + data


def pypi_token(r: random.Random, location: bytes = b"pypi.org") -> str:
    ident = str(uuid.UUID(int=r.getrandbits(128), version=4)).encode()
    caveat = b'{"version": 1, "permissions": "user"}'
    raw = (
        b"\x02" + _field(1, location) + _field(2, ident) + b"\x00"
        + _field(2, caveat) + b"\x00" + b"\x00"
        + _field(6, r.randbytes(32))
    )
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=12)
    r = random.Random(ap.parse_args().seed)
    for prefix in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "npm_"):
        t = crc_token(r, prefix)
        print(f"{prefix:14} valid {t}  broken {broken(t)}")
    p = pypi_token(r)
    print(f"{'pypi-':14} valid {p}")
    print(f"{'pypi- (test)':14} valid {pypi_token(r, b'test.pypi.org')}")
    print(f"{'pypi- broken':14} {p[:-44] + 'A' * 44}  (signature field cut: structure fails)")


if __name__ == "__main__":
    main()
