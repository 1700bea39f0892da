#!/usr/bin/env python3
"""Prove a SendGrid API key works: GET /v3/scopes with the key in KEYTURN_VALUE.

Used as the `command` issuer's verify step (before promotion) and as a `command` smoke
check (after distribution). Exit 0 when SendGrid accepts the key and it has every scope
in SENDGRID_KEY_SCOPES (default mail.send). The key is sent only in the Authorization
header and never printed.

Environment: KEYTURN_VALUE (set by keyturn), SENDGRID_API_URL (default
https://api.sendgrid.com), SENDGRID_KEY_SCOPES. Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request

API = os.environ.get("SENDGRID_API_URL", "https://api.sendgrid.com").rstrip("/")


def main() -> int:
    req = urllib.request.Request(API + "/v3/scopes", headers={"Authorization": "Bearer " + os.environ["KEYTURN_VALUE"]})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            granted = set(json.loads(resp.read()).get("scopes", []))
    except urllib.error.HTTPError as exc:
        print(f"sendgrid: GET /v3/scopes answered {exc.code}: the key does not work", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"sendgrid: GET /v3/scopes failed: {type(exc).__name__}", file=sys.stderr)
        return 1
    wanted = {s.strip() for s in os.environ.get("SENDGRID_KEY_SCOPES", "mail.send").split(",") if s.strip()}
    missing = sorted(wanted - granted)
    if missing:
        print(f"sendgrid: the key lacks scope(s) {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
