#!/usr/bin/env python3
"""keyturn `command` issuer, issue step: create a SendGrid API key, print it for keyturn.

keyturn runs this with KEYTURN_ROTATION_ID (and KEYTURN_RESUMED=1 when an earlier attempt
of the same rotation was interrupted). The key is named ``keyturn-<rotation id>``, so a
resumed run first deletes the keys of that name — SendGrid shows a key's value only when
it is created, so keyturn never got theirs — and then creates one: a rotation never leaves
two new keys alive. stdout carries exactly one JSON object {"id": ..., "value": ...};
nothing else is ever printed there, and no key is ever printed on stderr.

Environment (set in the manifest's ``env:`` / ``pass_env:``):
  SENDGRID_ADMIN_API_KEY  a key with the api_keys.* scopes (pass_env, from a secret)
  SENDGRID_API_URL        default https://api.sendgrid.com
  SENDGRID_KEY_SCOPES     comma-separated scopes of the new key, default mail.send
Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

API = os.environ.get("SENDGRID_API_URL", "https://api.sendgrid.com").rstrip("/")


class Failed(Exception):
    pass


def call(method: str, path: str, body: Any = None, *, ok: tuple[int, ...] = (200, 201, 204)) -> tuple[int, Any]:
    """One API call with the admin key; the status and parsed body (never printed)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method, headers={
        "Authorization": "Bearer " + os.environ["SENDGRID_ADMIN_API_KEY"], "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        raise Failed(f"{method} {path}: {type(exc).__name__}") from None
    if status not in ok:
        try:  # SendGrid's error messages name the problem, never a key
            why = "; ".join(e.get("message", "") for e in json.loads(raw).get("errors", []))
        except (ValueError, AttributeError):
            why = ""
        raise Failed(f"{method} {path} answered {status}" + (f": {why}" if why else ""))
    return status, json.loads(raw) if raw else None


def main() -> int:
    name = "keyturn-" + os.environ["KEYTURN_ROTATION_ID"]
    if os.environ.get("KEYTURN_RESUMED") == "1":
        _, listing = call("GET", "/v3/api_keys?limit=500")
        lost = {k["api_key_id"] for k in listing.get("result", []) if k.get("name") == name}
        lost |= {os.environ["KEYTURN_LOST_CREDENTIAL_ID"]} if os.environ.get("KEYTURN_LOST_CREDENTIAL_ID") else set()
        for key_id in sorted(lost):
            call("DELETE", "/v3/api_keys/" + urllib.parse.quote(key_id, safe=""), ok=(204, 404))
            print(f"deleted key {key_id} of an interrupted attempt", file=sys.stderr)
    scopes = [s.strip() for s in os.environ.get("SENDGRID_KEY_SCOPES", "mail.send").split(",") if s.strip()]
    _, created = call("POST", "/v3/api_keys", {"name": name, "scopes": scopes}, ok=(201,))
    print(json.dumps({"id": created["api_key_id"], "value": created["api_key"]}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failed as exc:
        print(f"sendgrid: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyError as exc:
        print(f"sendgrid: {exc.args[0]} is not set", file=sys.stderr)
        sys.exit(2)
