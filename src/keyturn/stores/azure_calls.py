"""Every Key Vault call of the Azure store goes through :func:`call`: retries with full
jitter on throttling (429), 5xx and transport errors, and one-line errors that name the
operation, the Key Vault secret and the missing RBAC data action (or access-policy
permission) — never a payload, never the service's whole message.

Exit codes: a 403 before anything was written (``preflight``) is a usage error (2): fix
the role assignment; a 403 later, and a service still failing after retries, are service
errors (4): fix and re-run to resume; 409 that is not a soft-deleted name is a conflict
(3). 404 is returned to the caller (``NotFound``), a disabled version too (``Disabled``):
both are states the store handles, not errors. Imports azure-core lazily.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from keyturn.errors import Conflict, KeyturnError, StoreUnavailable, UsageError

T = TypeVar("T")

ROLE = "Key Vault Secrets Officer"
#: operation -> (RBAC data action, access-policy secret permission)
PERMISSIONS = {
    "get": ("Microsoft.KeyVault/vaults/secrets/getSecret/action", "get"),
    "list": ("Microsoft.KeyVault/vaults/secrets/readMetadata/action", "list"),
    "set": ("Microsoft.KeyVault/vaults/secrets/setSecret/action", "set"),
    "update": ("Microsoft.KeyVault/vaults/secrets/update/action", "set"),
    "delete": ("Microsoft.KeyVault/vaults/secrets/delete", "delete"),
    "getdeleted": ("Microsoft.KeyVault/vaults/secrets/readMetadata/action", "list"),
    "recover": ("Microsoft.KeyVault/vaults/secrets/recover/action", "recover"),
    "purge": ("Microsoft.KeyVault/vaults/secrets/purge/action", "purge"),
}


class NotFound(Exception):
    """404: the secret or version does not exist (or is soft-deleted)."""


class Disabled(Exception):
    """403 SecretDisabled: the version (or, by name, the newest version) is disabled."""


class DeletedName(Exception):
    """409 ObjectIsDeletedButRecoverable: the name is soft-deleted; recover or purge it."""


class PurgeRefused(Exception):
    """403 on purge: purge protection is on, or the identity may not purge."""


def _codes(exc: Any) -> tuple[str, str, str]:
    """(code, inner code, message) of an azure-core HttpResponseError."""
    err = getattr(exc, "error", None)
    code = str(getattr(err, "code", "") or "")
    inner = getattr(err, "innererror", None) or {}
    inner_code = str(inner.get("code", "")) if isinstance(inner, dict) else ""
    message = str(getattr(err, "message", "") or "")
    return code, inner_code, message


def _denied(op: str, what: str, inner: str, message: str) -> str:
    action, policy = PERMISSIONS.get(op, ("", op))
    if inner == "ForbiddenByRbac" or "Action:" in message or "not authorized" in message:
        m = re.search(r"Action: '([^']+)'", message)
        needed = m.group(1) if m else action
        return (f"403 on {op} {what}: the identity lacks {needed} — assign it the '{ROLE}' role on the vault "
                "(or a custom role with that data action)")
    return (f"403 on {op} {what}: the vault's access policy does not grant secret permission '{policy}' — add "
            f"it, or switch the vault to Azure RBAC and assign '{ROLE}'")


def call(label: str, secret: str, op: str, what: str, fn: Callable[[], T], *, retries: int, backoff: float,
         preflight: bool = False, ca_hint: str = "", vault_url: str = "") -> T:
    """Run one SDK call; ``what`` names the Key Vault secret (and version)."""
    from azure.core import exceptions as ax

    for attempt in range(retries + 1):
        try:
            return fn()
        except KeyturnError:
            raise
        except ax.ResourceNotFoundError:
            raise NotFound(what) from None
        except ax.ClientAuthenticationError as exc:
            response = getattr(exc, "response", None)
            url = str(getattr(getattr(response, "request", None), "url", "") or "")
            if exc.status_code == 401 and vault_url and url.startswith(vault_url):
                raise StoreUnavailable(f"the vault refused the access token (401) on {op} {what} — is the identity "
                                       "in the vault's tenant (AZURE_TENANT_ID) and the vault URL right?",
                                       store=label, secret=secret) from None
            first = (str(exc).splitlines() or ["authentication failed"])[0][:200]
            raise StoreUnavailable(f"could not get an Azure access token ({first}) — check stores auth "
                                   "(AZURE_CLIENT_ID, AZURE_TENANT_ID, the federated credential)",
                                   store=label, secret=secret) from None
        except ax.ResourceExistsError as exc:
            code, inner, _ = _codes(exc)
            if inner == "ObjectIsDeletedButRecoverable" or "deleted but recoverable" in str(exc):
                raise DeletedName(what) from None
            if inner == "ObjectIsBeingDeleted" and attempt < retries:
                time.sleep(random.uniform(0, backoff * (2**attempt)))
                continue
            raise Conflict(f"{secret}: {label}: {op} {what} answered 409 ({inner or code or 'Conflict'}) — another "
                           "writer is active; re-run when it has finished") from None
        except ax.HttpResponseError as exc:
            status = exc.status_code or 0
            code, inner, message = _codes(exc)
            if status == 403 and inner == "SecretDisabled":
                raise Disabled(what) from None
            if status == 403 and op == "purge":
                raise PurgeRefused(what) from None
            if status == 403:
                msg = _denied(op, what, inner, message)
                if preflight:
                    raise UsageError(f"{secret}: {label}: {msg}") from None
                raise StoreUnavailable(msg, store=label, secret=secret) from None
            if status == 429 or status >= 500:
                if attempt >= retries:
                    kind = "throttled (429)" if status == 429 else f"failed ({status})"
                    raise StoreUnavailable(f"{op} {what} {kind} after {attempt + 1} attempts — Key Vault service "
                                           "limits or an outage; re-run to resume", store=label, secret=secret) from None
                _sleep(exc, attempt, backoff)
                continue
            raise StoreUnavailable(f"{op} {what} refused ({status} {inner or code})", store=label,
                                   secret=secret) from None
        except ax.ServiceRequestError as exc:
            if "SSL" in str(exc) or "certificate" in str(exc).lower():
                raise StoreUnavailable(f"TLS verification failed for the vault — {ca_hint}", store=label,
                                       secret=secret) from None
            if attempt >= retries:
                raise StoreUnavailable(f"{op} {what}: the vault is unreachable after {attempt + 1} attempts "
                                       f"({exc.__class__.__name__}) — check vault_url and the network",
                                       store=label, secret=secret) from None
            time.sleep(random.uniform(0, backoff * (2**attempt)))
        except ax.ServiceResponseError as exc:
            if attempt >= retries:
                raise StoreUnavailable(f"{op} {what}: no response after {attempt + 1} attempts "
                                       f"({exc.__class__.__name__}) — re-run to resume", store=label,
                                       secret=secret) from None
            time.sleep(random.uniform(0, backoff * (2**attempt)))
    raise AssertionError("unreachable")


def _sleep(exc: Any, attempt: int, backoff: float) -> None:
    """Full jitter, at least what Retry-After asks (capped at 60 s)."""
    wait = random.uniform(0, backoff * (2**attempt))
    try:
        after = float(exc.response.headers.get("Retry-After") or 0)
    except (AttributeError, TypeError, ValueError):
        after = 0.0
    time.sleep(max(wait, min(after, 60.0)))
