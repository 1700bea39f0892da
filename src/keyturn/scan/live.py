"""Live-secret link: recognise a finding whose value is a managed secret's live version.

The store side (``keyturn.rotation.live.live_values``) returns ``(name, "CURRENT" |
"PREVIOUS", SecretValue)`` triples for a manifest. Here each value — and every encoded
form a leak could take (base64, URL-encoded, each line) — is reduced to an HMAC-SHA256
under a per-run random key, and the values are dropped. The engine compares candidate
values by the same keyed hash, so no value is ever printed, stored or sent to workers.
This module imports the rotation package lazily and only through ``live_values``; it
never imports stores, targets or cloud SDKs itself.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
from collections.abc import Callable, Iterable, Iterator

from keyturn.errors import UsageError
from keyturn.scan.detectors import Detector, Hit
from keyturn.scan.model import LiveMatch
from keyturn.scan.safetext import rotate_command
from keyturn.values import SecretValue

LiveProvider = Callable[[str], Iterable[tuple[str, str, SecretValue]]]


def default_provider() -> LiveProvider:
    """``keyturn.rotation.live.live_values``, looked up at call time (tests patch it)."""
    try:
        module = importlib.import_module("keyturn.rotation.live")
    except ImportError as exc:
        raise UsageError(
            "--manifest: live-secret matching needs keyturn.rotation.live, which is not available in this install"
        ) from exc
    provider: LiveProvider = module.live_values
    return provider


def live_fingerprints(
    manifest: str, provider: LiveProvider | None = None
) -> tuple[bytes, dict[str, LiveMatch]]:
    """Return (per-run key, {keyed fingerprint: LiveMatch}) for every live value form."""
    key = secrets.token_bytes(32)
    table: dict[str, LiveMatch] = {}
    get = provider or default_provider()
    for name, version, value in get(manifest):
        match = LiveMatch(secret=name, version=version)
        for form in value.derived_forms():
            if len(form) < 8:
                continue  # too short to tell apart from ordinary text
            fp = hmac.new(key, form.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
            # CURRENT wins over PREVIOUS if both share a form.
            if fp not in table or version == "CURRENT":
                table[fp] = match
    return key, table


def _no_hits(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
    return iter(())


#: Reported when ``--manifest`` finds a live value that no format detector matched.
LIVE_DETECTOR = Detector(
    "live-secret",
    "Managed secret value",
    "A value equal to the CURRENT or PREVIOUS version of a secret managed by keyturn (found with --manifest).",
    (),
    _no_hits,
    severity=10.0,
)


def rotate_hint(secret: str, path: str) -> str:
    """The hint printed with a live finding; the command inside is shell-quoted (see safetext)."""
    return f"live credential — run: {rotate_command(secret, path)}"
