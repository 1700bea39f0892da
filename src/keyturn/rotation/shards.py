"""Sharded distribution: one secret's targets split across N jobs (one token or GitHub App
installation each), and what the journal records of each shard.

A target belongs to shard ``I`` of ``N`` by its ledger key (:func:`~keyturn.rotation.secretop.target_key`):
the keys are ordered by their SHA-256 and dealt out round-robin, so the slices are balanced
(sizes differ by at most one), and the same manifest gives the same slices on every run, re-run
and re-plan. Confirmed rows are global (the operation's one ledger), so a slice that changed
because a target was added re-writes only what is not confirmed yet.

Each shard's run is recorded under ``op.shards`` — ``{"count": N, "runs": {"I": {...}}}`` —
with its own lease (owner and expiry, the same owner ids as the operation's lease), so
concurrent shards never need the operation's lease, and a second run of the *same* shard is a
conflict. :func:`require_complete` is what the finishing ``keyturn rotate NAME`` checks before it
goes on to smoke: every shard's slice confirmed, else one line naming each missing or failed
shard and the command that re-runs it (exit 4).

Pure bookkeeping: imports records, the journal's lease test and errors — never the engine, a
store, a target or an SDK (the runs themselves are in :mod:`keyturn.rotation.sharded`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keyturn.errors import Conflict, ServiceError, UsageError
from keyturn.rotation.journal import holder_is_live
from keyturn.rotation.record import OpRecord

_SHARD_RE = re.compile(r"^([1-9][0-9]{0,3})/([1-9][0-9]{0,3})$")
MAX_SHARDS = 256  # a GitHub Actions matrix holds at most 256 jobs


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` with 1 ≤ I ≤ N ≤ 256; anything else is a one-line UsageError."""
        m = _SHARD_RE.match(text.strip())
        if m is None or not 1 <= int(m[1]) <= int(m[2]) <= MAX_SHARDS:
            raise UsageError(f"expected I/N with 1 ≤ I ≤ N ≤ {MAX_SHARDS} (e.g. 2/3), not {text!r}")
        return cls(int(m[1]), int(m[2]))


def parse_count(text: str) -> int:
    """A shard count: a whole number 1..256."""
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_SHARDS:
        raise UsageError(f"expected a number of shards from 1 to {MAX_SHARDS}, not {text!r}")
    return int(text)


def assign(keys: Iterable[str], count: int) -> dict[str, int]:
    """Each target key's shard (1-based): SHA-256 order, dealt out round-robin."""
    order = sorted(set(keys), key=lambda k: (hashlib.sha256(k.encode("utf-8")).hexdigest(), k))
    return {key: i % count + 1 for i, key in enumerate(order)}


def slice_keys(keys: Iterable[str], shard: Shard) -> list[str]:
    """The keys of ``shard``, in the order given."""
    keys = list(keys)
    where = assign(keys, shard.count)
    return [k for k in keys if where[k] == shard.index]


def matrix(names: list[str], count: int) -> dict[str, Any]:
    """``strategy.matrix`` for the distribute jobs: one entry per secret and shard."""
    return {"include": [{"secret": n, "shard": f"{i}/{count}"} for n in names for i in range(1, count + 1)]}


# ---------------------------------------------------------------------------- records
def recorded_count(op: OpRecord) -> int:
    return int(op.shards.get("count") or 0)


def runs(op: OpRecord) -> dict[str, dict[str, Any]]:
    return dict(op.shards.get("runs") or {})


def with_count(op: OpRecord, count: int) -> OpRecord:
    """``op`` recording that ``count`` shards distribute it (refused when it records another)."""
    have = recorded_count(op)
    if have and have != count:
        raise UsageError(f"{op.secret}: rotation {op.rotation_id} is split in {have} shards (recorded in its "
                         f"journal); use --shard I/{have}, or finish it unsharded with `keyturn rotate {op.secret}`"
                         if runs(op) else
                         f"{op.secret}: rotation {op.rotation_id} records {have} shards, not {count}")
    return op.with_(shards={**op.shards, "count": count, "runs": runs(op)})


def with_run(op: OpRecord, shard: Shard, run: dict[str, Any]) -> OpRecord:
    op = with_count(op, shard.count)
    all_runs = runs(op)
    all_runs[str(shard.index)] = run
    return op.with_(shards={**op.shards, "runs": all_runs})


def run_is_live(run: dict[str, Any] | None, now: datetime) -> bool:
    if not run or run.get("state") != "running":
        return False
    return holder_is_live(str(run.get("owner") or ""), run.get("expires"), now)


def refuse_running(op: OpRecord | None, now: datetime) -> None:
    """An abort or rollback must not race a shard that is writing: Conflict (exit 3)."""
    if op is None:
        return
    for index, run in sorted(runs(op).items()):
        if run_is_live(run, now):
            raise Conflict(f"{op.secret}: shard {index}/{recorded_count(op)} of rotation {op.rotation_id} is "
                           f"distributing (owner {str(run.get('owner', '?')).split('/')[0]}, until "
                           f"{run.get('expires')}) — nothing changed; wait for it, or if its runner is gone: "
                           f"`keyturn unlock {op.secret} --reason TEXT`")


def released(op: OpRecord, now_text: str) -> OpRecord | None:
    """``op`` with every running shard's lease expired (``keyturn unlock``); None if none ran."""
    all_runs = runs(op)
    if not any(r.get("state") == "running" for r in all_runs.values()):
        return None
    freed = {k: (dict(r, state="failed", expires=now_text, owner="") if r.get("state") == "running" else r)
             for k, r in all_runs.items()}
    return op.with_(shards={**op.shards, "runs": freed})


# ---------------------------------------------------------------------------- the finish
class ShardsIncomplete(ServiceError):
    """The finishing run found shards whose slice is not confirmed (exit 4)."""

    def __init__(self, secret: str, problems: list[str], commands: list[str]) -> None:
        super().__init__(f"{secret}: sharded distribution incomplete: {'; '.join(problems)} — nothing was "
                         f"smoke-checked or completed; run {', '.join(commands)}, then `keyturn rotate {secret}` "
                         "again to finish")
        self.problems = problems


def problems(op: OpRecord, keys: list[str], now: datetime) -> tuple[list[str], list[str]]:
    """For a sharded ``op``: each shard whose slice of ``keys`` is not all confirmed, as
    (problem descriptions, commands that re-run them). Empty when complete or unsharded."""
    count = recorded_count(op)
    if not count:
        return [], []
    where = assign(keys, count)
    found: list[str] = []
    commands: list[str] = []
    all_runs = runs(op)
    for index in range(1, count + 1):
        mine = [k for k in keys if where[k] == index]
        open_keys = [k for k in mine if op.ledger.get(k, {}).get("status") != "confirmed"]
        if not open_keys:
            continue
        shard = Shard(index, count)
        run = all_runs.get(str(index))
        failed = [k for k in open_keys if op.ledger.get(k, {}).get("status") == "failed"]
        if run is None:
            what = f"shard {shard.label} never ran ({len(open_keys)} target(s) not written)"
        elif run_is_live(run, now):
            what = (f"shard {shard.label} is still running (owner {str(run.get('owner', '?')).split('/')[0]}, "
                    f"until {run.get('expires')})")
        elif failed:
            what = f"shard {shard.label} failed for {len(failed)} target(s) (first: {failed[0]})"
        else:
            what = f"shard {shard.label} did not finish ({len(open_keys)} target(s) not confirmed)"
        found.append(what)
        commands.append(f"`keyturn rotate {op.secret} --shard {shard.label}`")
    return found, commands


def require_complete(op: OpRecord, keys: list[str], now: datetime) -> None:
    """Raise :class:`ShardsIncomplete` unless every shard of a sharded ``op`` confirmed its slice."""
    found, commands = problems(op, keys, now)
    if found:
        raise ShardsIncomplete(op.secret, found, commands)
