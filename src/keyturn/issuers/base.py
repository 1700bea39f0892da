"""The issuer protocol: issue → verify → revoke, each idempotent, driven by the rotation
journal.

A plain generator only makes a random value; an *issuer* changes the credential that
value stands for, at the service that checks it. The engine calls it in this order:

1. :meth:`Issuer.preflight` (read-only, before anything is written): credentials work,
   the user/role exists, a new credential can be issued (e.g. the IAM user has a free
   key slot) — or a one-line error naming the fix.
2. :meth:`Issuer.issue` once per rotation id. Before it runs the journal records that
   issuing began; after it, the credential id (never the value) is recorded, then the
   value goes to the store as PENDING. A run killed in between resumes with
   ``IssueRequest.resumed`` set: the issuer must clean up what an earlier attempt of
   this rotation issued whose value is lost (``IssueRequest.lost`` when its id was
   recorded; otherwise anything it issued after ``IssueRequest.started`` that is not in
   ``IssueRequest.known``) so a rotation never leaves two new credentials alive.
3. :meth:`Issuer.verify` with the new value before promotion (e.g. STS
   ``GetCallerIdentity`` with the new key, a database login); failure abandons the
   rotation and revokes what was issued.
4. :meth:`Issuer.revoke` when the version's time has come (grace ended, superseded,
   rolled back, abandoned): idempotent, True only when the revocation was read back.
   A credential already gone counts as revoked.

Values are :class:`~keyturn.values.SecretValue`; a structured value (``fields``) is a
JSON object whose fields targets map onto several entries (``fields:`` in a target).
Nothing in this module imports an SDK.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from keyturn.errors import UsageError
from keyturn.values import SecretValue

__all__ = ["IssueRequest", "Issued", "Issuer", "Refused", "field_value", "structured_value"]


@dataclass(frozen=True)
class Issued:
    """What an issuer made: the value (boxed) and the credential's public id at the
    issuer (an access key id, ``user#rotation``, a vendor key id) — never secret."""

    value: SecretValue
    credential_id: str

    def __repr__(self) -> str:
        return f"Issued(credential_id={self.credential_id!r})"


@dataclass(frozen=True)
class Refused:
    """Why a new credential does not work: ``detail`` is one status line (persisted);
    ``excerpt`` is redacted program output for the terminal only."""

    detail: str
    excerpt: str = ""

    def __str__(self) -> str:
        return f"{self.detail} output: {self.excerpt}" if self.excerpt else self.detail


@dataclass(frozen=True)
class IssueRequest:
    secret: str
    rotation_id: str
    #: when the rotation began: anything this rotation issued is newer
    started: datetime
    #: an earlier attempt of this rotation may have issued a credential whose value was lost
    resumed: bool = False
    #: the id of a credential an earlier attempt issued (recorded) whose value was lost
    lost: str = ""
    #: credential ids keyturn tracks (CURRENT, PREVIOUS, retiring): never touched by cleanup
    known: frozenset[str] = frozenset()
    #: the CURRENT version's credential id, if known
    current: str = ""
    environ: Mapping[str, str] = field(default_factory=dict)
    #: a value a person supplied (``--value-from-stdin``), for issuers that take one
    supplied: SecretValue | None = None


@runtime_checkable
class Issuer(Protocol):
    """One credential at the service that issues it. An issuer whose new value comes from
    a person (``rotate --value-from-stdin``) also sets ``needs_value = True``."""

    #: the generator ``type`` (``aws-iam-access-key``, ``command``, ...)
    kind: str
    #: field names of a structured value (``()`` = a single value)
    fields: tuple[str, ...]
    #: the old credential stays valid after issue (False: it dies when the new one is
    #: issued — a Vault static role, single-user PostgreSQL; grace is then 0 and a
    #: failed smoke check cannot bring it back)
    overlap: bool
    #: revocation needs a person (a vendor dashboard): keyturn records it as a pending
    #: action until ``keyturn confirm-revoked``
    human_revoke: bool

    def preflight(self, current: str) -> None:
        """Read-only checks before any write; raises a KeyturnError naming the fix."""
        ...

    def current_credential(self) -> str:
        """The credential id the store's CURRENT value stands for when the journal does
        not know it (a secret's first rotation under keyturn); ``""`` when unknown."""
        ...

    def issue(self, request: IssueRequest) -> Issued:
        """Issue a new credential (see the module doc for idempotency)."""
        ...

    def verify(self, issued: Issued) -> str | Refused | None:
        """None when the new credential works at the service; else why not (no value)."""
        ...

    def revoke(self, credential_id: str) -> bool:
        """Revoke one credential; True when the revocation was read back."""
        ...


# -- structured values ---------------------------------------------------------------


def structured_value(kind: str, fields: Mapping[str, str]) -> SecretValue:
    """Box a structured credential as one JSON object (each field masked too)."""
    for name, text in fields.items():
        if not isinstance(text, str) or not text:
            raise UsageError(f"generator {kind}: issued field {name!r} is empty")
        SecretValue(text)  # registers the mask of each field on its own
    return SecretValue(json.dumps(dict(fields), sort_keys=True, separators=(",", ":")))


def field_value(value: SecretValue, name: str, *, secret: str) -> SecretValue:
    """One field of a structured value (never shows the value in an error)."""
    try:
        data = json.loads(value.reveal())
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UsageError(f"{secret}: a target maps field {name!r} but the secret's value is not a JSON object")
    if not isinstance(data.get(name), str):
        raise UsageError(f"{secret}: the secret's value has no string field {name!r} "
                         f"(fields: {', '.join(sorted(data)) or 'none'})")
    return SecretValue(data[name])
