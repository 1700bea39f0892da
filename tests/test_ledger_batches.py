"""When the distribute loop writes its ledger (#13 item 5): batches of max(4, n/8)
results, never after the last, and sooner when a third of the lease has passed since the
journal's last write (slow target writes must not let the lease expire)."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

from keyturn.rotation.engine import LedgerBatches
from keyturn.rotation.journal import Journal


def _writes(batches: LedgerBatches) -> list[int]:
    return [i for i in range(1, batches.total + 1) if batches.add()]


def test_batches_grow_with_the_targets_and_skip_the_last() -> None:
    assert _writes(LedgerBatches(3)) == []
    assert _writes(LedgerBatches(6)) == [4]
    assert _writes(LedgerBatches(17)) == [4, 8, 12, 16]
    assert _writes(LedgerBatches(200)) == [25, 50, 75, 100, 125, 150, 175]


def test_an_aging_lease_writes_before_the_batch_is_full() -> None:
    calls = itertools.chain([False, False, True], itertools.repeat(False))
    batches = LedgerBatches(200, lambda: next(calls))
    assert _writes(batches) == [3, 28, 53, 78, 103, 128, 153, 178]
    assert _writes(LedgerBatches(2, lambda: True)) == [1], "never after the last result"


class _Slot:
    def __init__(self) -> None:
        self.text: str | None = None
        self.n = 0

    def load(self) -> tuple[str | None, str]:
        return self.text, str(self.n)

    def save(self, text: str, token: str) -> str:
        self.text, self.n = text, self.n + 1
        return str(self.n)


def test_the_lease_ages_from_the_journal_s_last_write() -> None:
    from datetime import datetime, timezone

    journal = Journal(_Slot(), "S", "me", lambda: datetime.now(timezone.utc), ttl=timedelta(seconds=0.3))
    journal.update()
    assert not journal.lease_aging()
    time.sleep(0.12)
    assert journal.lease_aging()
    journal.update()
    assert not journal.lease_aging()
