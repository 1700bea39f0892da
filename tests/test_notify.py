"""``notify:`` webhooks against a loopback HTTP server: Slack and Teams payloads, event
filters, and failures (5xx, refused connection, unset URL) that never raise, never fail a
rotation and never print the webhook URL or a value."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from keyturn import notify
from keyturn.manifest import parse_manifest

MANIFEST = """\
version: 1
notify:
  - {type: slack, url_env: KT_SLACK}
  - {type: teams, url_env: KT_TEAMS, on: [rolled-back, failed]}
stores: {v: {type: vault}}
secrets:
  A: {store: v, path: a, generator: {type: hex}}
"""


class Hook:
    def __init__(self) -> None:
        self.bodies: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append((self.path, json.loads(body)))
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


def configs(tmp_path: Path) -> list[Any]:
    return list(parse_manifest(MANIFEST, tmp_path / "keyturn.yml").model.notify)


EVENT = notify.Event("completed", "DB_PASSWORD", "20261201T000000Z-abc", "scheduled",
                     {"current": "7", "previous": "6"}, ["github:acme/api (confirmed)"], ["smoke ok (1 check(s))"])
ENV = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/ops", "GITHUB_RUN_ID": "42"}


def test_slack_and_teams_payloads_and_event_filter(tmp_path: Path, hook: Hook) -> None:
    env = {**ENV, "KT_SLACK": hook.url + "/services/T000/B000/slack-token-part",
           "KT_TEAMS": hook.url + "/workflows/teams-sig"}
    sent = notify.send(configs(tmp_path), EVENT, env)
    assert [d.type for d in sent] == ["slack"] and sent[0].ok  # teams does not want "completed"
    path, slack = hook.bodies[0]
    assert path == "/services/T000/B000/slack-token-part"
    assert slack["text"] == "✅ keyturn: DB_PASSWORD completed"
    section = slack["blocks"][0]["text"]["text"]
    assert "*Version (current):* 7" in section and "github:acme/api (confirmed)" in section
    assert "https://github.com/acme/ops/actions/runs/42" in json.dumps(slack)

    failed = notify.Event("rolled-back", "DB_PASSWORD", error="smoke check failed: http GET https://x/health")
    sent = notify.send(configs(tmp_path), failed, env)
    assert [(d.type, d.ok) for d in sent] == [("slack", True), ("teams", True)]
    _, teams = hook.bodies[-1]
    card = teams["attachments"][0]["content"]
    assert teams["type"] == "message" and card["type"] == "AdaptiveCard"
    facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
    assert facts["Outcome"] == "rolled-back" and facts["Error"].startswith("smoke check failed")
    assert card["actions"][0]["url"] == "https://github.com/acme/ops/actions/runs/42"


def test_failures_never_raise_and_never_print_the_url(
    tmp_path: Path, hook: Hook, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="keyturn.notify")
    hook.status = 500
    secret_url = hook.url + "/services/T/B/very-secret-webhook-path"
    sent = notify.send(configs(tmp_path), EVENT, {"KT_SLACK": secret_url})
    assert not sent[0].ok and sent[0].detail == "HTTP 500"
    sent = notify.send(configs(tmp_path), EVENT, {"KT_SLACK": dead_url + "/hook"})
    assert not sent[0].ok and sent[0].detail.startswith("unreachable")
    sent = notify.send(configs(tmp_path), EVENT, {})
    assert not sent[0].ok and sent[0].detail == "KT_SLACK is not set"
    sent = notify.send(configs(tmp_path), EVENT, {"KT_SLACK": "file:///etc/passwd"})
    assert not sent[0].ok and "not an http(s) URL" in sent[0].detail
    assert len(caplog.records) == 4
    text = caplog.text
    assert "very-secret-webhook-path" not in text and "/etc/passwd" not in text and dead_url not in text
    assert "the rotation is unaffected" in text


def test_manifest_refuses_an_unknown_webhook_type(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="notify"):
        parse_manifest(MANIFEST.replace("type: slack", "type: discord"), tmp_path / "keyturn.yml")
