"""Carry a run's audit records onto the chain kept in the repository.

A runner's log is thrown away with the runner, so ``keyturn changelog-pr`` appends the
run's records to the copy of the log on the pull-request branch (or the default branch).
Records are matched by an *identity* that leaves out the chain fields (``seq``,
``prev_digest``, ``digest``, ``key_version``), so a record already carried is never
carried twice, even after it was re-chained. New records are re-chained onto the remote
head: each keeps its content and key version and gets the next ``seq``, the head's
digest as ``prev_digest`` and a fresh digest under the same :class:`Keyring` — a run that
started its chain from that head (``changelog-pr --fetch-log``) gets identical digests.
Both the remote chain and the run's own records are verified before anything is merged,
and the merged log is verified again. Uses only :mod:`keyturn.audit`'s public API.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyturn.audit import GENESIS_DIGEST, Keyring, canonical, compute_digest, verify_log
from keyturn.errors import AuditVerifyFailed, UsageError

CHAIN_FIELDS = ("seq", "prev_digest", "digest", "key_version")


def identity(record: dict[str, Any]) -> str:
    """Digest of a record's content without its chain fields."""
    body = {k: v for k, v in record.items() if k not in CHAIN_FIELDS}
    return hashlib.sha256(canonical(body)).hexdigest()


def parse(data: bytes, where: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise AuditVerifyFailed(f"{where}: line {number}: not valid JSON") from None
        if not isinstance(item, dict):
            raise AuditVerifyFailed(f"{where}: line {number}: not an audit record")
        records.append(item)
    return records


def verify_bytes(data: bytes, keyring: Keyring, where: str) -> None:
    """Raise :class:`AuditVerifyFailed` naming ``where`` and the first bad line."""
    if not data.strip():
        return
    with tempfile.TemporaryDirectory(prefix="keyturn-audit-") as tmp:
        path = Path(tmp) / "log.jsonl"
        path.write_bytes(data)
        report = verify_log(path, keyring)
    if not report.ok:
        raise AuditVerifyFailed(f"{where}: {report.reason.replace(str(path), where)} — refusing to extend it")


def serialize(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class Merge:
    """The merged log and what changed: ``carried`` are the re-chained new records,
    ``renamed`` maps a local digest to its digest in the merged chain."""

    data: bytes
    carried: tuple[dict[str, Any], ...]
    renamed: dict[str, str]
    head: str
    count: int


def merge(remote: bytes, local: bytes, keyring: Keyring, *, remote_where: str, local_where: str) -> Merge:
    """Append the local records the remote log lacks onto the remote chain (see module doc)."""
    verify_bytes(remote, keyring, remote_where)
    verify_bytes(local, keyring, local_where)
    base = parse(remote, remote_where)
    known = {identity(r) for r in base}
    fresh = [r for r in parse(local, local_where) if identity(r) not in known]
    seq, head = (int(base[-1]["seq"]), str(base[-1]["digest"])) if base else (0, GENESIS_DIGEST)
    carried, renamed = rechain(fresh, seq, head, keyring)
    out = remote if not remote or remote.endswith(b"\n") else remote + b"\n"
    out += b"".join(serialize(r) for r in carried)
    if carried:
        verify_bytes(out, keyring, f"{remote_where} (merged)")
        head = str(carried[-1]["digest"])
    return Merge(out, tuple(carried), renamed, head, len(base) + len(carried))


def rechain(records: Sequence[dict[str, Any]], seq: int, head: str, keyring: Keyring
            ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    out: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}
    for record in records:
        version = int(record.get("key_version", 0))
        if version and not keyring.has(version):
            raise UsageError(f"audit record seq {record.get('seq')} is signed with KEYTURN_AUDIT_KEY_V{version}, "
                             f"which this job does not have — pass KEYTURN_AUDIT_KEY_V{version} to changelog-pr")
        seq += 1
        moved = {**record, "seq": seq, "prev_digest": head}
        moved.pop("digest", None)
        moved["digest"] = compute_digest(moved, keyring)
        renamed[str(record.get("digest", ""))] = moved["digest"]
        head = moved["digest"]
        out.append(moved)
    return out, renamed
