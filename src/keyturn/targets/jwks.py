"""``file`` target with ``format: jwks``: the public halves of signing keys as a JWK Set.

Each entry's value is a private key PEM (Ed25519, RSA of 2048 bits or more, EC on
P-256, P-384 or P-521, as the ``ed25519``, ``rsa`` and ``ec`` generators make them);
only its public key reaches the file, as a JWK (RFC 7517) with ``kid`` = the key's
RFC 7638 thumbprint (so the same key always gets the same ``kid`` and a re-run writes
the same bytes), ``alg`` (``EdDSA``, ``RS256``, ``ES256``/``ES384``/``ES512``) and
``use: sig``. With ``shape: dual`` the set holds CURRENT and, during grace, PREVIOUS —
the two keys a verifier must accept while tokens signed by the old key are still in
flight — and only CURRENT once ``finalize`` deleted ``NAME_PREVIOUS``.

Which entry holds which key is kept in the document's ``keyturn`` member
(``{"entries": {"NAME": kid, ...}}``; JWK Set readers ignore members they do not
know), so a delete removes exactly that entry's key and one file may publish the keys
of several secrets. Keys keyturn did not write are kept, after keyturn's; keys are
listed in entry order (the engine writes CURRENT before PREVIOUS) and once each. A
file holding private or symmetric key material (``d``, ``k``, …) is refused rather
than published again. The document is rendered deterministically and replaced
atomically with mode 0644 (public data, meant to be served; directories made for it
0755). Messages name the file and entry, never a value. This module imports the
standard library, :mod:`keyturn.targets.file` and :mod:`keyturn.targets.base`, and
``cryptography`` only inside functions; never a store, validator or SDK.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from keyturn.generators import EC_CURVES, RSA_MIN_BITS
from keyturn.targets.base import Entry, WriteReport
from keyturn.targets.file import LocalFile

#: Public data, meant to be served by a web server.
JWKS_FILE_MODE = 0o644
JWKS_DIR_MODE = 0o755
#: The members RFC 7638 hashes, per key type.
_THUMBPRINT_MEMBERS = {"OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
#: Members that carry private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
#: cryptography's curve name → (JOSE name, JWS algorithm): the curves the ``ec`` generator makes
_EC_CURVES = {name: (jose, alg) for jose, (name, alg) in EC_CURVES.items()}
_OWN = "keyturn"

__all__ = ["JWKS_FILE_MODE", "JwksTarget", "NotASigningKey", "public_jwk", "thumbprint"]


class NotASigningKey(ValueError):
    """A value that is not a private key :func:`public_jwk` can publish; no value text."""


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(n: int) -> bytes:
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public ``OKP``/``RSA``/``EC`` key."""
    members = _THUMBPRINT_MEMBERS[str(jwk["kty"])]
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64u(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_jwk(pem: bytes) -> dict[str, str]:
    """The public JWK (``kty``, ``use``, ``alg``, ``kid``, key members) of a private key
    PEM; :class:`NotASigningKey` when it is none this target publishes."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # The library's message is about the value's content: not shown.
        raise NotASigningKey("is not an unencrypted PEM private key") from None
    members: dict[str, str]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        alg, members = "EdDSA", {"kty": "OKP", "crv": "Ed25519", "x": _b64u(raw)}
    elif isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < RSA_MIN_BITS:
            raise NotASigningKey(f"is a {key.key_size}-bit RSA key; publish {RSA_MIN_BITS} bits or more")
        numbers = key.public_key().public_numbers()
        alg, members = "RS256", {"kty": "RSA", "n": _b64u(_uint(numbers.n)), "e": _b64u(_uint(numbers.e))}
    elif isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _EC_CURVES:
        crv, alg = _EC_CURVES[key.curve.name]
        size = (key.curve.key_size + 7) // 8
        point = key.public_key().public_numbers()
        members = {"kty": "EC", "crv": crv, "x": _b64u(point.x.to_bytes(size, "big")),
                   "y": _b64u(point.y.to_bytes(size, "big"))}
    else:
        curve = getattr(getattr(key, "curve", None), "name", None)
        kind = f"EC {curve}" if curve else type(key).__name__.removesuffix("PrivateKey")
        raise NotASigningKey(f"is a private key of type {kind}, which format: jwks does not publish")
    return {"kty": members["kty"], "use": "sig", "alg": alg, "kid": thumbprint(members),
            **{k: v for k, v in members.items() if k != "kty"}}


class _Doc:
    """A parsed JWK Set: keyturn's entries (name → JWK, in order), the keys it did not
    write, and any other top-level members (kept as they are)."""

    def __init__(self, owned: dict[str, dict[str, Any]], foreign: list[dict[str, Any]],
                 other: dict[str, Any]) -> None:
        self.owned = owned
        self.foreign = foreign
        self.other = other

    def render(self) -> str:
        keys: list[dict[str, Any]] = []
        seen: set[str] = set()
        for jwk in self.owned.values():
            if jwk["kid"] not in seen:
                seen.add(jwk["kid"])
                keys.append(jwk)
        keys += [k for k in self.foreign if k.get("kid") not in seen]
        doc: dict[str, Any] = {"keys": keys, **self.other}
        if self.owned:
            doc[_OWN] = {"entries": {name: jwk["kid"] for name, jwk in self.owned.items()}}
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


class JwksTarget(LocalFile):
    """A JWK Set file (``format: jwks`` on a file target)."""

    file_mode = JWKS_FILE_MODE
    dir_mode = JWKS_DIR_MODE
    what = "JWK Set file"

    # -- values -------------------------------------------------------------------------

    def _jwks_for(self, entries: Sequence[Entry]) -> dict[str, dict[str, str]]:
        self._check_names([e.name for e in entries])
        out: dict[str, dict[str, str]] = {}
        for entry in entries:
            try:
                out[entry.name] = public_jwk(entry.reveal().encode("utf-8"))
            except NotASigningKey as exc:
                raise self._fail(f"entry {entry.name}: the value {exc} — format: jwks publishes the public half "
                                 "of an Ed25519, RSA or EC (P-256, P-384, P-521) signing key: generator "
                                 "ed25519, rsa or ec") from None
        return out

    # -- the document -------------------------------------------------------------------

    def _load(self) -> tuple[str | None, _Doc]:
        text = self._read_text()
        if text is None:
            return None, _Doc({}, [], {})
        try:
            data = json.loads(text.removeprefix("\ufeff"))
        except json.JSONDecodeError as exc:
            raise self._fail(f"{self.path}:{exc.lineno}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise self._fail(f"{self.path}: not a JWK Set (expected an object with a \"keys\" list)")
        keys: list[dict[str, Any]] = data["keys"]
        by_kid: dict[str, dict[str, Any]] = {}
        for i, key in enumerate(keys):
            if not isinstance(key, dict) or not isinstance(key.get("kty"), str):
                raise self._fail(f"{self.path}: keys[{i}] is not a JWK (an object with \"kty\")")
            private = [m for m in _PRIVATE_MEMBERS if m in key]
            if private:
                raise self._fail(f"{self.path}: keys[{i}] holds private or symmetric key material "
                                 f"({', '.join(private)}) — a JWK Set is published: remove that key")
            if isinstance(key.get("kid"), str):
                by_kid.setdefault(key["kid"], key)
        own = data.get(_OWN, {})
        entries = own.get("entries", {}) if isinstance(own, dict) else None
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise self._fail(f"{self.path}: the \"{_OWN}\" member is not keyturn's (expected "
                             "{\"entries\": {NAME: kid}}) — rename or remove it")
        owned = {name: by_kid[kid] for name, kid in entries.items() if kid in by_kid}
        kids = {jwk["kid"] for jwk in owned.values()}
        foreign = [k for k in keys if k.get("kid") not in kids]
        other = {k: v for k, v in data.items() if k not in ("keys", _OWN)}
        return text, _Doc(owned, foreign, other)

    def _check_parses(self) -> None:
        self._load()

    def _save(self, old: str | None, doc: _Doc) -> WriteReport:
        return self._save_text(old, doc.render())

    # -- the target protocol ------------------------------------------------------------

    def preflight(self, entries: Sequence[Entry]) -> None:
        self._jwks_for(entries)

    def write(self, entries: Sequence[Entry]) -> WriteReport:
        wanted = self._jwks_for(entries)
        old, doc = self._load()
        # The written entries stay together, in the order given (CURRENT first), where
        # the first of them already was; other secrets' entries keep their places.
        names = list(doc.owned)
        at = next((i for i, n in enumerate(names) if n in wanted), len(names))
        names = names[:at] + list(wanted) + [n for n in names[at:] if n not in wanted]
        doc.owned = {n: wanted.get(n) or doc.owned[n] for n in names}
        return self._save(old, doc)

    def delete(self, names: Sequence[str]) -> WriteReport:
        self._check_names(names)
        old, doc = self._load()
        if old is None or not any(n in doc.owned for n in names):
            return self._report(False)
        doc.owned = {n: jwk for n, jwk in doc.owned.items() if n not in names}
        return self._save(old, doc)

    def is_current(self, entries: Sequence[Entry], *, since: datetime) -> bool:
        """True iff every entry is recorded with exactly its key's public JWK, in the
        order given (``since`` is unused: the file's content is authoritative)."""
        wanted = self._jwks_for(entries)
        old, doc = self._load()
        if old is None or any(doc.owned.get(n) != jwk for n, jwk in wanted.items()):
            return False
        order = [n for n in doc.owned if n in wanted]
        return order == list(wanted)

    def entries(self) -> dict[str, str]:
        """Entry name → ``kid`` for the keys keyturn wrote."""
        _, doc = self._load()
        return {name: jwk["kid"] for name, jwk in doc.owned.items()}
