"""Finders for detectors that need more than one regex: PEM keys, URLs, AWS, npm, JWTs.

A finder takes ``(line, whole text, offset of the line in text, path)`` and yields hits
``(start, end, value, extra_lines)`` within the line. Values stay inside the scanner:
the engine turns them into keyed fingerprints at once. Imports only the stdlib,
:mod:`keyturn.scan.filters` and :mod:`keyturn.scan.checksums`; never stores, targets or cloud SDKs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator

from keyturn.scan import filters
from keyturn.scan.checksums import fails_format_checksum

#: (start, end, value) of a secret inside a line, plus how many lines it spans after it.
Hit = tuple[int, int, str, int]
Finder = Callable[[str, str, int, str], Iterator[Hit]]


def not_hex_only(value: str, line: str) -> bool:
    return not re.fullmatch(r"[0-9a-fA-F]+", value) and filters.shannon_entropy(value) >= 3.5


def _b64json(part: str) -> object:
    raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    return json.loads(raw.decode("utf-8"))


def valid_jwt(value: str, line: str) -> bool:
    parts = value.split(".")
    if any(p in filters.KNOWN_EXAMPLES for p in parts):
        return False  # the jwt.io example token
    try:
        header = _b64json(parts[0])
        payload = _b64json(parts[1])
    except (binascii.Error, ValueError, UnicodeDecodeError, IndexError):
        return False
    if not (isinstance(header, dict) and isinstance(payload, dict) and ("alg" in header or "typ" in header)):
        return False
    # A one-claim toy payload ({"some": "payload"}) is documentation, not a credential.
    return len(payload) >= 2 or bool(_JWT_CLAIMS & set(payload))


_JWT_CLAIMS = frozenset(
    {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope", "scp", "azp", "oid", "tid"}
)


# -- private keys (multi-line) ------------------------------------------------------
_PEM_BEGIN = re.compile(
    r"-----BEGIN ((?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP |SSH2 ENCRYPTED )?PRIVATE KEY(?: BLOCK)?)-----"
)
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=]{16,}")
_PUTTY = re.compile(r"PuTTY-User-Key-File-\d: ")


def _pem_body_ok(chunk: str, body: str) -> bool:
    """DER/OpenSSH bodies legitimately hold runs of ``A``: check entropy and placeholders only."""
    low = chunk.lower()
    if "..." in chunk or "xxxx" in low or "example" in low or "<" in chunk:
        return False
    return filters.shannon_entropy(body) >= 4.0


def find_private_key(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
    for m in _PEM_BEGIN.finditer(line):
        start = offset + m.end()
        end_marker = text.find(f"-----END {m.group(1)}-----", start, start + 65536)
        stop = end_marker if end_marker >= 0 else min(len(text), start + 8192)
        chunk = text[start:stop]
        body = "".join(_PEM_BODY.findall(chunk.replace("\\n", "\n").replace("\\r", "")))
        if len(body) < 64 or not _pem_body_ok(chunk, body):
            continue  # a marker in docs or code, or a "..." / "xxxx" placeholder body
        span_lines = chunk.count("\n")
        yield m.start(), m.end(), body, span_lines
    for m in _PUTTY.finditer(line):
        body = text[offset + m.end() : offset + m.end() + 4096]
        if "Private-Lines" in body:
            yield m.start(), m.end(), body.split("Private-MAC", 1)[0], 0


# -- credentials in URLs and connection strings --------------------------------------
_URL_CRED = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,30}://(?P<user>[^\s:/?#@'\"`<>\[\]]{0,128}):"
    r"(?P<pw>[^\s/?#@'\"`<>\[\]]{3,256})@(?P<host>[A-Za-z0-9.\-_\[\]%]+)"
)
_URL_PARAM = re.compile(r"(?i)://[^\s'\"`]*?[?&;](?:password|passwd|pwd|pass)=(?P<pw>[^&\s'\"`;#]{3,256})")
_CONN_STR = re.compile(r"(?i)(?:^|;|\"|')\s*(?:password|pwd)\s*=\s*(?P<pw>[^;'\"\s]{3,256})\s*(?:;|$|'|\")")
_CONN_HINT = re.compile(r"(?i)(?:server|data source|host|hostname|uid|user id|initial catalog|database)\s*=")
_WEAK_PASSWORDS = frozenset(
    {"password", "passwd", "pass", "pwd", "secret", "changeme", "admin", "root", "test", "guest", "user"}
)


def _url_password_ok(pw: str) -> bool:
    if pw.lower() in _WEAK_PASSWORDS or filters.is_placeholder(pw):
        return False
    if pw.startswith(("$", "%", "{", "*")) or pw.endswith("}"):
        return False
    if pw.isalpha() and pw.islower() and len(pw) <= 10 and (pw.startswith("my") or pw in ("other", "secure")):
        return False  # password=mypass / myuser:mysecret: the placeholder spelling of docs
    if fails_format_checksum(pw):
        return False  # a ghp_/npm_/pypi- value whose checksum fails was never issued
    return not filters.is_known_example(pw) and len(set(pw)) > 2


def find_url_credentials(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
    for m in _URL_CRED.finditer(line):
        user, pw = m.group("user"), m.group("pw")
        if m.group("host").lower() in ("example.com", "host", "hostname") or not _url_password_ok(pw):
            continue
        if user and user.lower() == pw.lower():
            continue  # guest:guest, admin:admin — well-known local defaults
        yield m.start("pw"), m.end("pw"), m.group("pw"), 0
    for m in _URL_PARAM.finditer(line):
        if _url_password_ok(m.group("pw")):
            yield m.start("pw"), m.end("pw"), m.group("pw"), 0
    if _CONN_HINT.search(line):
        for m in _CONN_STR.finditer(line):
            if _url_password_ok(m.group("pw")):
                yield m.start("pw"), m.end("pw"), m.group("pw"), 0


_AWS_SECRET = r"(?i)aws.{0,20}?(?:key|pwd|pw|password|pass|token|secret).{0,20}?['\"]([0-9a-zA-Z/+]{40})['\"]"
_AWS_ID = re.compile(r"\b((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})\b")
_AWS_SECRET_RX = re.compile(_AWS_SECRET)
_AWS_SECRET_ENV = re.compile(
    r"(?i)(?:aws_?secret_?access_?key|secretaccesskey|aws_secret)[\"']?[ \t]*[:=][ \t]*[\"']?([0-9a-zA-Z/+]{40})(?![0-9a-zA-Z/+])"
)


def find_aws_key_id(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
    """AWS access key ids (AKIA…/ASIA…)."""
    for m in _AWS_ID.finditer(line):
        value = m.group(1)
        if not filters.is_false_positive(value, body=value[4:]):
            yield m.start(1), m.end(1), value, 0


def find_aws_secret(line: str) -> Iterator[Hit]:
    """40-character AWS secret access keys next to an aws/secret name (reported as generic-secret)."""
    seen: set[int] = set()
    for rx in (_AWS_SECRET_RX, _AWS_SECRET_ENV):
        for m in rx.finditer(line):
            value = m.group(1)
            if m.start(1) in seen or filters.is_false_positive(value) or not not_hex_only(value, line):
                continue
            seen.add(m.start(1))
            yield m.start(1), m.end(1), value, 0


_NPM = re.compile(
    r"(?<![A-Za-z0-9_])(npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])"
    r"|_authToken\s*=\s*[\"']?((?!npm_)[A-Za-z0-9_\-+/=]{20,})"
)


def find_npm(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
    for m in _NPM.finditer(line):
        g = 1 if m.group(1) else 2
        value = m.group(g)
        if filters.is_false_positive(value, body=value[4:] if g == 1 else value):
            continue
        if fails_format_checksum(value):
            continue  # npm_ (and ghp_…) tokens end in a CRC32 of the rest: a failed one was never issued
        yield m.start(g), m.end(g), value, 0
