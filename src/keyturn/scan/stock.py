"""Adapters that run detect-secrets' stock plugins not covered by keyturn's detectors.

Each adapter names the plugin class, keyturn's detector id and the literal anchors the
prefilter uses to send it lines (``()`` = run over the whole text). Plugins are driven
through ``analyze_string`` only: detect-secrets' ``verify`` (which would send a candidate
to a provider API) is never called. Imports the stdlib and detect_secrets plugins; never
stores, targets or cloud SDKs.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator

from keyturn.scan import filters
from keyturn.scan.detectors import Detector, Finder, Hit, ci, cs

#: (detector id, title, "module:Class", prefilter patterns)
_STOCK: tuple[tuple[str, str, str, tuple[tuple[str, bool], ...]], ...] = (
    ("twilio-key", "Twilio API key", "twilio:TwilioKeyDetector", cs(r"(?:AC|SK)[a-z0-9]{32}")),
    ("mailchimp-key", "Mailchimp API key", "mailchimp:MailchimpDetector", cs(r"[0-9a-z]{32}-us[0-9]")),
    ("sendgrid-key", "SendGrid API key", "sendgrid:SendGridDetector", cs(r"SG\.[a-zA-Z0-9_\-]{22}\.")),
    (
        "discord-token",
        "Discord bot token",
        "discord:DiscordBotTokenDetector",
        cs(r"[MNO][a-zA-Z0-9_\-]{23,25}\.[a-zA-Z0-9_\-]{6}\.[a-zA-Z0-9_\-]{27}"),
    ),
    (
        "telegram-token",
        "Telegram bot token",
        "telegram_token:TelegramBotTokenDetector",
        cs(r"[0-9]{8,10}:[0-9A-Za-z_\-]{35}"),
    ),
    ("square-oauth", "Square OAuth secret", "square_oauth:SquareOAuthDetector", cs(r"sq0csp-")),
    (
        "artifactory-token",
        "Artifactory token",
        "artifactory:ArtifactoryDetector",
        cs(
            r"(?:[\s=:\"]|^)AKC[a-zA-Z0-9]{10,200}(?:[\s\"]|$)",
            r"(?:[\s=:\"]|^)AP[0-9ABCDEF][a-zA-Z0-9]{8,200}(?:[\s\"]|$)",
        ),
    ),
    (
        "ibm-cloud-iam",
        "IBM Cloud IAM key",
        "ibm_cloud_iam:IbmCloudIamDetector",
        ci(r"(?:key|pwd|password|pass|token)[\"']?[ \t]*(?::=|=>|=|:)[ \t]*[\"']?[a-zA-Z0-9_\-]{44}"),
    ),
    (
        "ibm-cos-hmac",
        "IBM COS HMAC secret",
        "ibm_cos_hmac:IbmCosHmacDetector",
        ci(r"secret[-_]?(?:access)?[-_]?key[\"']?[ \t]*(?::=|=>|=|:)[ \t]*[\"']?[a-f0-9]{48}"),
    ),
    (
        "softlayer-key",
        "SoftLayer API key",
        "softlayer:SoftlayerDetector",
        ci(
            r"(?:softlayer|sl)[_\-]?(?:api)?[_\-]?(?:key|pwd|password|pass|token)(?:[\"'`]?\]?[ \t]*(?:=|:|:=|=>|::)[ \t]*[\"'`]?|[ \t]+)[a-z0-9]{64}",
            r"api\.softlayer\.com/",
        ),
    ),
    (
        "cloudant-key",
        "Cloudant credentials",
        "cloudant:CloudantDetector",
        ci(
            r"(?:cloudant|cl|clou)[_\-]?(?:api)?[_\-]?(?:key|pwd|pw|password|pass|token)(?:[\"'`]?\]?[ \t]*(?:=|:|:=|=>|::)[ \t]*[\"'`]?|[ \t]+)(?:[0-9a-f]{64}|[a-z]{24})",
            r"cloudant\.com",
        ),
    ),
)
_plugins: dict[str, object] = {}


def _plugin(spec: str) -> object:
    """Import detect-secrets' plugin lazily: its import costs more than most scans."""
    plugin = _plugins.get(spec)
    if plugin is None:
        module, cls = spec.split(":")
        mod = importlib.import_module(f"detect_secrets.plugins.{module}")
        plugin = getattr(mod, cls)()
        # Belt and braces: keyturn never verifies a candidate against a provider API.
        plugin.verify = _never_verify
        _plugins[spec] = plugin
    return plugin


def _never_verify(*args: object, **kwargs: object) -> None:
    raise RuntimeError("keyturn never sends a candidate secret to a provider API")


#: Keyword-only plugins (``password = <44 chars>``) fire on any secret; keyturn reports those
#: as generic-secret unless the line names the provider.
_CONTEXT = {
    "ibm-cloud-iam": re.compile(r"(?i)ibm|iam|cloud"),
    "ibm-cos-hmac": re.compile(r"(?i)ibm|cos|hmac"),
}


_WORDS = re.compile(r"[a-z]+(?:[-_][a-z]+)+[-_]?[a-z]*")
_ARN_BEFORE = re.compile(r"arn:[\w\-]*:[\w\-]*:[^\s:]*:$")


def _telegram_ok(value: str, line: str, start: int) -> bool:
    """A bot token is ``<bot id>:<35 random chars>``; an ARN's ``<account>:labeling-job-…``
    has the same shape but words after the colon and ``arn:…:`` before it."""
    secret = value.partition(":")[2]
    return not _WORDS.fullmatch(secret) and not _ARN_BEFORE.search(line[max(0, start - 120) : start])


_VALID = {"telegram-token": _telegram_ok}


def _finder(det_id: str, spec: str, patterns: tuple[tuple[str, bool], ...]) -> Finder:
    context = _CONTEXT.get(det_id)
    valid = _VALID.get(det_id)
    loose = [re.compile(p, re.IGNORECASE if caseless else 0) for p, caseless in patterns]

    def find(line: str, text: str, offset: int, path: str = "") -> Iterator[Hit]:
        if context is not None and not context.search(line):
            return
        # Load detect-secrets (~0.3 s with requests) only for a plausible candidate.
        if not any(not filters.obviously_fake(m.group()) for rx in loose for m in rx.finditer(line)):
            return
        plugin = _plugin(spec)
        for value in set(plugin.analyze_string(line)):  # type: ignore[attr-defined]
            if not value or filters.is_false_positive(value):
                continue
            start = line.find(value)
            while start >= 0:
                if valid is None or valid(value, line, start):
                    yield start, start + len(value), value, 0
                start = line.find(value, start + 1)

    return find


def stock_detectors() -> tuple[Detector, ...]:
    """Detectors backed by detect-secrets plugins (plugins load on first use)."""
    return tuple(
        Detector(
            det_id,
            title,
            f"{title} (detect-secrets {spec.split(':')[1]}).",
            pats,
            _finder(det_id, spec, pats),
            severity=8.0,
            precision="medium",
            ds_types=(title,),
        )
        for det_id, title, spec, pats in _STOCK
    )
