#!/usr/bin/env python3
"""keyturn `command` issuer, revoke step: delete the SendGrid API key KEYTURN_CREDENTIAL_ID.

Exit 0 only when SendGrid says the key is gone (read back with a GET → 404); a key that
is already gone counts as revoked. keyturn never passes the key itself here.

Environment: SENDGRID_ADMIN_API_KEY (pass_env), SENDGRID_API_URL (default
https://api.sendgrid.com). Standard library only.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.parse
import urllib.request

API = os.environ.get("SENDGRID_API_URL", "https://api.sendgrid.com").rstrip("/")


def status_of(method: str, path: str) -> int:
    req = urllib.request.Request(API + path, method=method,
                                 headers={"Authorization": "Bearer " + os.environ["SENDGRID_ADMIN_API_KEY"]})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> int:
    key_id = os.environ["KEYTURN_CREDENTIAL_ID"]
    path = "/v3/api_keys/" + urllib.parse.quote(key_id, safe="")
    deleted = status_of("DELETE", path)
    if deleted not in (204, 404):
        print(f"sendgrid: DELETE {path} answered {deleted}", file=sys.stderr)
        return 1
    after = status_of("GET", path)
    if after != 404:
        print(f"sendgrid: key {key_id} still answers {after} after DELETE", file=sys.stderr)
        return 1
    print(f"key {key_id} deleted" if deleted == 204 else f"key {key_id} was already gone", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (urllib.error.URLError, OSError) as exc:
        print(f"sendgrid: {type(exc).__name__}", file=sys.stderr)
        sys.exit(1)
    except KeyError as exc:
        print(f"sendgrid: {exc.args[0]} is not set", file=sys.stderr)
        sys.exit(2)
