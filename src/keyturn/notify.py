"""Optional rotation notifications to Slack or Microsoft Teams incoming webhooks.

``notify:`` in the manifest lists webhooks, each with its ``type`` (``slack`` | ``teams``),
the environment variable that holds its URL (the URL is a credential: it is read from
the environment, wrapped in a :class:`~keyturn.values.SecretValue` so Actions masks it,
and never printed), and the events it wants (``completed``, ``rolled-back``, ``failed``).
A message carries the secret's name, the outcome, versions, targets, checks, the
rotation id and a link to the run — metadata the audit log also holds, never a value.
Sending never raises: a webhook that is down, slow, refuses the payload or is not
configured yields a :class:`Delivery` with ``ok=False`` and one warning on the
``keyturn.notify`` logger, and the rotation's outcome is unchanged. Uses
:mod:`urllib.request` only; never imports a store, target or the engine.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyturn.values import SecretValue

log = logging.getLogger("keyturn.notify")
_ICONS = {"completed": "✅", "rolled-back": "↩️", "failed": "❌"}


@dataclass(frozen=True)
class Event:
    """What happened, in words fit for a chat message (no values)."""

    outcome: str  # completed | rolled-back | failed
    secret: str
    rotation_id: str = ""
    mode: str = "scheduled"
    versions: Mapping[str, str] = field(default_factory=dict)
    targets: Sequence[str] = ()
    checks: Sequence[str] = ()
    error: str = ""

    def facts(self) -> list[tuple[str, str]]:
        rows = [("Secret", self.secret), ("Outcome", self.outcome), ("Mode", self.mode)]
        rows += [(f"Version ({k})", str(v)) for k, v in sorted(self.versions.items())]
        if self.targets:
            rows.append(("Targets", ", ".join(self.targets)))
        if self.checks:
            rows.append(("Checks", "; ".join(self.checks)))
        if self.rotation_id:
            rows.append(("Rotation", self.rotation_id))
        if self.error:
            rows.append(("Error", self.error[:300]))
        return rows


@dataclass(frozen=True)
class Delivery:
    type: str
    ok: bool
    detail: str


def run_url(environ: Mapping[str, str]) -> str:
    server, repo, run = (environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}" if server and repo and run else ""


def slack_payload(event: Event, link: str) -> dict[str, Any]:
    title = f"{_ICONS.get(event.outcome, '')} keyturn: {event.secret} {event.outcome}".strip()
    lines = "\n".join(f"*{k}:* {v}" for k, v in event.facts())
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{lines}"}}]
    if link:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|workflow run>"}]})
    return {"text": title, "blocks": blocks}


def teams_payload(event: Event, link: str) -> dict[str, Any]:
    title = f"keyturn: {event.secret} {event.outcome}"
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
            {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in event.facts()]},
        ],
    }
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Workflow run", "url": link}]
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def send(configs: Sequence[Any], event: Event, environ: Mapping[str, str] | None = None) -> list[Delivery]:
    """Post ``event`` to every configured webhook that wants it. Never raises."""
    env = os.environ if environ is None else environ
    out: list[Delivery] = []
    for config in configs:
        if event.outcome not in config.on:
            continue
        try:
            out.append(_send_one(config, event, env))
        except Exception as exc:  # noqa: BLE001 - a notification must never fail a rotation
            out.append(Delivery(config.type, False, f"not sent: {type(exc).__name__}"))
        if not out[-1].ok:
            log.warning("notify %s (%s): %s — the rotation is unaffected", config.type, config.url_env,
                        out[-1].detail)
    return out


def _send_one(config: Any, event: Event, env: Mapping[str, str]) -> Delivery:
    raw = env.get(config.url_env, "").strip()
    if not raw:
        return Delivery(config.type, False, f"{config.url_env} is not set")
    url = SecretValue(raw)  # masked in Actions; never printed
    if not url.reveal().startswith(("https://", "http://")):
        return Delivery(config.type, False, f"{config.url_env} is not an http(s) URL")
    link = run_url(env)
    payload = slack_payload(event, link) if config.type == "slack" else teams_payload(event, link)
    request = urllib.request.Request(url.reveal(), data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "keyturn"})
    try:
        with urllib.request.urlopen(request, timeout=config.timeout.total_seconds()) as resp:  # noqa: S310
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        return Delivery(config.type, False, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return Delivery(config.type, False, f"unreachable ({type(reason).__name__})")
    return Delivery(config.type, 200 <= status < 300, f"HTTP {status}")
