"""The store and journal contracts, as tests: subclass :class:`StoreConformance` (and
:class:`JournalConformance`) and implement ``make_store()``, ``make_ref(unique)``,
``read_by_name(store, ref)`` (what an ordinary reader sees, bypassing keyturn) and
``write_outside(store, ref, value)`` (a write by a human or another tool).

Store: PENDING invisible to readers by name (I1), pending adoption per rotation id (I3),
idempotent promote with concurrent-writer detection (I7), promote after a revoked
first version, other keys kept, restore, retire with read-back, live versions.
Journal: create-only, CAS with an opaque token, stale tokens refused, text round-trips.
"""

from __future__ import annotations

import uuid

import pytest

from keyturn.errors import Conflict
from keyturn.stores.base import RotationId, SecretRef, Store, VersionId
from keyturn.values import SecretValue


def _value(tag: str) -> SecretValue:
    return SecretValue(f"{tag}-{uuid.uuid4().hex}", mask=False)


class _Base:
    def make_store(self) -> Store:
        raise NotImplementedError

    def make_ref(self, unique: str) -> SecretRef:
        raise NotImplementedError

    def read_by_name(self, store: Store, ref: SecretRef) -> str | None:
        raise NotImplementedError

    def write_outside(self, store: Store, ref: SecretRef, value: str) -> None:
        raise NotImplementedError

    @pytest.fixture
    def store(self) -> Store:
        return self.make_store()

    @pytest.fixture
    def ref(self) -> SecretRef:
        return self.make_ref(uuid.uuid4().hex[:12])


class StoreConformance(_Base):
    def _rotate(self, store: Store, ref: SecretRef, value: SecretValue) -> VersionId:
        rid = RotationId(f"r-{uuid.uuid4().hex}")
        head = store.describe(ref).head
        store.create_pending(ref, rid, value)
        version = store.promote(ref, rid, value, head)
        store.discard_pending(ref, rid)
        return version

    def test_describe_absent(self, store: Store, ref: SecretRef) -> None:
        state = store.describe(ref)
        assert not state.exists and state.current is None
        assert store.live_versions(ref) == []

    def test_pending_is_invisible_and_adopted(self, store: Store, ref: SecretRef) -> None:
        first = self._rotate(store, ref, _value("one"))
        before = self.read_by_name(store, ref)
        rid = RotationId(f"r-{uuid.uuid4().hex}")
        pending = _value("pending")
        assert store.create_pending(ref, rid, pending).same_as(pending)
        again = store.create_pending(ref, rid, _value("other"))
        assert again.same_as(pending), "a re-run must adopt the pending value, not make another"
        assert self.read_by_name(store, ref) == before  # I1
        assert store.describe(ref).current == first
        got = store.read_pending(ref, rid)
        assert got is not None and got.same_as(pending)
        assert store.read_pending(ref, RotationId("someone-else")) is None
        store.discard_pending(ref, rid)
        store.discard_pending(ref, rid)  # repeatable
        assert store.read_pending(ref, rid) is None

    def test_promote_is_idempotent_and_keeps_old_readable(self, store: Store, ref: SecretRef) -> None:
        old = _value("old")
        first = self._rotate(store, ref, old)
        head = store.describe(ref).head
        rid = RotationId(f"r-{uuid.uuid4().hex}")
        new = _value("new")
        store.create_pending(ref, rid, new)
        v1 = store.promote(ref, rid, new, head)
        v2 = store.promote(ref, rid, new, head)  # killed after the write, re-run
        assert v1 == v2 and v1 != first
        assert self.read_by_name(store, ref) == new.reveal()
        assert store.describe(ref).current == v1
        assert store.read(ref, first).same_as(old)  # the old version stays readable by id
        assert set(store.live_versions(ref)) >= {first, v1}

    def test_promote_detects_concurrent_writer(self, store: Store, ref: SecretRef) -> None:
        self._rotate(store, ref, _value("old"))
        head = store.describe(ref).head
        rid = RotationId(f"r-{uuid.uuid4().hex}")
        self.write_outside(store, ref, f"outside-{uuid.uuid4().hex}")
        new = _value("new")
        store.create_pending(ref, rid, new)
        with pytest.raises(Conflict):
            store.promote(ref, rid, new, head)
        assert self.read_by_name(store, ref) != new.reveal()

    def test_promote_after_revoked_first_version(self, store: Store, ref: SecretRef) -> None:
        """A failed first rotation (its only version revoked) leaves the secret rotatable."""
        first = self._rotate(store, ref, _value("first"))
        assert store.retire(ref, [first]) == []  # CURRENT is never revoked by default
        assert store.retire(ref, [first], allow_current=True) == [first]
        state = store.describe(ref)
        assert not state.exists and state.current is None
        new = self._rotate(store, ref, _value("second"))
        assert store.describe(ref).current == new
        assert self.read_by_name(store, ref) is not None

    def test_restore_makes_old_value_current(self, store: Store, ref: SecretRef) -> None:
        old = _value("old")
        first = self._rotate(store, ref, old)
        bad = self._rotate(store, ref, _value("bad"))
        restored = store.restore(ref, first, bad)
        assert store.restore(ref, first, bad) == restored  # idempotent
        assert self.read_by_name(store, ref) == old.reveal()
        assert store.describe(ref).current == restored

    def test_restore_refuses_after_outside_write(self, store: Store, ref: SecretRef) -> None:
        first = self._rotate(store, ref, _value("old"))
        bad = self._rotate(store, ref, _value("bad"))
        self.write_outside(store, ref, f"outside-{uuid.uuid4().hex}")
        with pytest.raises(Conflict):
            store.restore(ref, first, bad)

    def test_retire_never_touches_current_and_reads_back(self, store: Store, ref: SecretRef) -> None:
        first = self._rotate(store, ref, _value("a"))
        second = self._rotate(store, ref, _value("b"))
        retired = store.retire(ref, [first, second])
        assert retired == [first]
        assert store.retire(ref, [first]) == [first]  # repeatable: still reported revoked
        assert first not in store.live_versions(ref)
        assert store.describe(ref).current == second
        assert self.read_by_name(store, ref) is not None


class JournalConformance(_Base):
    def test_create_only_and_cas(self, store: Store, ref: SecretRef) -> None:
        slot = store.journal(ref)
        assert slot.load() == (None, "")
        token = slot.save('{"a":1}', "")
        with pytest.raises(Conflict):
            slot.save('{"b":2}', "")  # a second "begin" loses (I7)
        token2 = slot.save('{"c":3}', token)
        assert token2 != token
        with pytest.raises(Conflict):
            slot.save('{"d":4}', token)  # stale token
        assert slot.load() == ('{"c":3}', token2)

    def test_independent_per_secret(self, store: Store, ref: SecretRef) -> None:
        other = self.make_ref(uuid.uuid4().hex[:12])
        store.journal(ref).save("one", "")
        assert store.journal(other).load() == (None, "")

    def test_not_visible_to_readers(self, store: Store, ref: SecretRef) -> None:
        StoreConformance._rotate(StoreConformance(), store, ref, _value("v"))
        before = self.read_by_name(store, ref)
        store.journal(ref).save("bookkeeping", "")
        assert self.read_by_name(store, ref) == before
