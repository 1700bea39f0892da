"""The job's GitHub Actions OIDC token, fetched for one audience.

A job with ``permissions: id-token: write`` gets two variables from the runner:
``ACTIONS_ID_TOKEN_REQUEST_URL`` and the bearer ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``.
``GET URL&audience=AUD`` with that bearer answers ``{"value": "<JWT>"}``; the JWT is
what Vault/OpenBao JWT auth, AWS ``AssumeRoleWithWebIdentity`` and Azure federated
credentials accept. Without the permission (and in fork pull requests, which never get
one) the variables are absent, and that is reported as exactly that.

The token comes back as a :class:`~keyturn.values.SecretValue` (masked in Actions from
the moment it exists); neither it nor the request bearer ever reaches a message or a
log. Standard library only, so every store can use it without another dependency.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

from keyturn.errors import ServiceError, StoreUnavailable, UsageError
from keyturn.values import SecretValue

URL_VAR = "ACTIONS_ID_TOKEN_REQUEST_URL"
TOKEN_VAR = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
PERMISSION_FIX = "add `permissions: id-token: write` to this job (a pull request from a fork cannot get an OIDC token)"
MISSING_PERMISSION = f"no GitHub OIDC token: {URL_VAR}/_TOKEN are not set — {PERMISSION_FIX}"


class OidcMissing(UsageError):
    """The job has no OIDC token (no ``id-token: write``); ``missing`` names the variable."""

    def __init__(self, message: str, missing: str) -> None:
        super().__init__(message)
        self.missing = missing


class OidcRefused(ServiceError):
    """The token service answered with an HTTP error (``status``)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _request_url(base: str, audience: str) -> str:
    parts = urllib.parse.urlsplit(base)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k != "audience"] + [("audience", audience)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def github_oidc_token(audience: str, environ: Mapping[str, str], *, retries: int = 2,
                      backoff: float = 0.5, timeout: float = 10.0) -> SecretValue:
    """Request the job's OIDC token for ``audience``.

    Raises :class:`OidcMissing` (a UsageError, exit 2) when the job has no ``id-token:
    write`` permission or the audience is empty, :class:`OidcRefused` (exit 4) when the
    token service answers with an HTTP error, :class:`ServiceError` (exit 4) when it stays
    unreachable after ``retries`` retries. Stores may re-word these for their own labels.
    """
    if not audience or any(c.isspace() for c in audience):
        raise UsageError(f"GitHub OIDC: audience {audience!r} must be a non-empty string without spaces")
    base, bearer = environ.get(URL_VAR, ""), environ.get(TOKEN_VAR, "")
    if not base or not bearer:
        raise OidcMissing(MISSING_PERMISSION, URL_VAR if not base else TOKEN_VAR)
    request_bearer = SecretValue(bearer)  # the runner masks it too; belt and braces
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"GitHub OIDC: {URL_VAR} is not an http(s) URL")
    where = parts.hostname
    request = urllib.request.Request(
        _request_url(base, audience),
        headers={"Authorization": f"Bearer {request_bearer.reveal()}", "Accept": "application/json"},
    )
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 (http(s) checked)
                body = resp.read()
            break
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 and attempt < retries:
                time.sleep(backoff * (2**attempt))
                continue
            hint = (" — the request token is rejected (expired job?)" if exc.code in (401, 403)
                    else "")
            raise OidcRefused(f"GitHub OIDC: token request to {where} failed with HTTP {exc.code}{hint}",
                              exc.code) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            if attempt < retries:
                time.sleep(backoff * (2**attempt))
                continue
            reason = getattr(exc, "reason", exc).__class__.__name__
            raise ServiceError(f"GitHub OIDC: token service at {where} unreachable after "
                               f"{attempt + 1} attempts ({reason})") from None
    try:
        value = json.loads(body).get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or value.count(".") != 2:
        raise ServiceError(f"GitHub OIDC: the token service at {where} answered without a JWT in `value`")
    return SecretValue(value)


def token_for(label: str, audience: str, environ: Mapping[str, str], *, timeout: float = 10.0) -> SecretValue:
    """:func:`github_oidc_token` for the store (or issuer) ``label``, with the one error
    mapping all of them use: no token (the job lacks ``id-token: write``, or is not an
    Actions job) and a refused request token (HTTP 401/403) are setup problems — a
    :class:`UsageError` (exit 2) naming the permission; any other answer, or a token
    service that stays unreachable, is :class:`StoreUnavailable` (exit 4: re-run)."""
    try:
        return github_oidc_token(audience, environ, timeout=timeout)
    except OidcMissing as exc:
        raise _missing(label, exc.missing, environ) from None
    except OidcRefused as exc:
        if exc.status in (401, 403):
            raise UsageError(f"{label}: the GitHub OIDC token request was refused (HTTP {exc.status}) — "
                             f"{PERMISSION_FIX}") from None
        raise StoreUnavailable(f"{exc} — re-run the job", store=label) from None
    except ServiceError as exc:
        raise StoreUnavailable(f"{exc} — re-run the job", store=label) from None
    except UsageError as exc:
        raise UsageError(f"{label}: {exc}") from None


def _missing(label: str, variable: str, environ: Mapping[str, str]) -> UsageError:
    where = "" if environ.get("GITHUB_ACTIONS") == "true" else " — not an Actions job with an OIDC token?"
    return UsageError(f"{label}: no GitHub OIDC token ({variable} is not set{where}) — {PERMISSION_FIX}")


def require_token(label: str, environ: Mapping[str, str]) -> None:
    """Raise :func:`token_for`'s "no GitHub OIDC token" error now, before any request,
    when the job has no token to ask for (checked when a store is built)."""
    for variable in (URL_VAR, TOKEN_VAR):
        if not environ.get(variable):
            raise _missing(label, variable, environ)
