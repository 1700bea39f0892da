"""The store contract, as tests: subclass :class:`StoreConformance` and implement
``make_store()``, ``make_ref(unique)`` and ``read_by_name(store, ref)`` (what an
ordinary reader of the secret sees, bypassing keyturn).

Covers: PENDING invisible to readers by name (I1), create-only record and CAS tokens
(I7), pending adoption (I3), idempotent promote and its concurrent-writer detection,
PREVIOUS readable by version, rollback, retire, finish.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from keyturn.errors import Conflict
from keyturn.stores.base import RotationId, RotationRecord, SecretRef, Store, VersionId, iso, utcnow
from keyturn.values import SecretValue


def _value(tag: str) -> SecretValue:
    return SecretValue(f"{tag}-{uuid.uuid4().hex}", mask=False)


class StoreConformance:
    # -- to implement ------------------------------------------------------------
    def make_store(self) -> Store:
        raise NotImplementedError

    def make_ref(self, unique: str) -> SecretRef:
        raise NotImplementedError

    def read_by_name(self, store: Store, ref: SecretRef) -> str | None:
        raise NotImplementedError

    def write_outside(self, store: Store, ref: SecretRef, value: str) -> None:
        """Write a new version the way a human or another tool would."""
        raise NotImplementedError

    # -- helpers -------------------------------------------------------------------
    @pytest.fixture
    def store(self) -> Store:
        return self.make_store()

    @pytest.fixture
    def ref(self) -> SecretRef:
        return self.make_ref(uuid.uuid4().hex[:12])

    def _record(self, store: Store, ref: SecretRef, **kw: Any) -> RotationRecord:
        state = store.describe(ref)
        base = dict(
            rotation_id=RotationId(f"r-{uuid.uuid4().hex}"), secret=ref.name, mode="scheduled", reason=None,
            actor="tests", started=iso(utcnow()) or "", old_version=state.current if state.exists else None,
            old_generation=state.generation, generation=state.generation + 1, promoted_at=iso(utcnow()),
            grace_until=iso(utcnow()),
        )
        base.update(kw)
        return RotationRecord(**base)  # type: ignore[arg-type]

    def _rotate(self, store: Store, ref: SecretRef, value: SecretValue) -> RotationRecord:
        record = self._record(store, ref)
        token = store.save_rotation(ref, record, 0)
        store.create_pending(ref, record.rotation_id, value)
        version = store.promote(ref, record, value)
        record = record.with_(new_version=version, stage="promoted")
        store.save_rotation(ref, record, token)
        store.finish(ref, record.rotation_id)
        return record

    # -- the contract ------------------------------------------------------------
    def test_describe_absent(self, store: Store, ref: SecretRef) -> None:
        state = store.describe(ref)
        assert not state.exists and state.current is None and store.load_rotation(ref)[0] is None

    def test_record_create_only_and_cas(self, store: Store, ref: SecretRef) -> None:
        record = self._record(store, ref)
        token = store.save_rotation(ref, record, 0)
        with pytest.raises(Conflict):
            store.save_rotation(ref, record, 0)  # a second "begin" loses (I7)
        token2 = store.save_rotation(ref, record.with_(stage="created"), token)
        with pytest.raises(Conflict):
            store.save_rotation(ref, record.with_(stage="verified"), token)  # stale token
        loaded, current = store.load_rotation(ref)
        assert loaded is not None and loaded.stage == "created" and current == token2
        store.finish(ref, record.rotation_id)
        assert store.load_rotation(ref)[0] is None

    def test_pending_is_invisible_and_adopted(self, store: Store, ref: SecretRef) -> None:
        first = self._rotate(store, ref, _value("one"))
        before = self.read_by_name(store, ref)
        record = self._record(store, ref)
        store.save_rotation(ref, record, 0)
        pending = _value("pending")
        assert store.create_pending(ref, record.rotation_id, pending).same_as(pending)
        again = store.create_pending(ref, record.rotation_id, _value("other"))
        assert again.same_as(pending), "a re-run must adopt the pending value, not make another"
        assert self.read_by_name(store, ref) == before  # I1
        assert store.describe(ref).current == first.new_version
        got = store.read_pending(ref, record.rotation_id)
        assert got is not None and got.same_as(pending)
        assert store.read_pending(ref, RotationId("someone-else")) is None
        store.finish(ref, record.rotation_id)
        assert store.read_pending(ref, record.rotation_id) is None

    def test_promote_is_idempotent_and_keeps_previous(self, store: Store, ref: SecretRef) -> None:
        old = _value("old")
        first = self._rotate(store, ref, old)
        record = self._record(store, ref)
        store.save_rotation(ref, record, 0)
        new = _value("new")
        store.create_pending(ref, record.rotation_id, new)
        v1 = store.promote(ref, record, new)
        v2 = store.promote(ref, record, new)  # killed after the write, re-run
        assert v1 == v2
        assert self.read_by_name(store, ref) == new.reveal()
        state = store.describe(ref)
        assert state.current == v1 and state.previous == first.new_version
        assert state.generation == record.generation
        assert store.read(ref, VersionId(str(first.new_version))).same_as(old)  # PREVIOUS by version

    def test_promote_detects_concurrent_writer(self, store: Store, ref: SecretRef) -> None:
        self._rotate(store, ref, _value("old"))
        record = self._record(store, ref)
        store.save_rotation(ref, record, 0)
        self.write_outside(store, ref, f"outside-{uuid.uuid4().hex}")
        new = _value("new")
        store.create_pending(ref, record.rotation_id, new)
        with pytest.raises(Conflict):
            store.promote(ref, record, new)
        assert self.read_by_name(store, ref) != new.reveal()

    def test_rollback_restores_old_value(self, store: Store, ref: SecretRef) -> None:
        old = _value("old")
        self._rotate(store, ref, old)
        record = self._record(store, ref)
        store.save_rotation(ref, record, 0)
        new = _value("bad")
        store.create_pending(ref, record.rotation_id, new)
        record = record.with_(new_version=store.promote(ref, record, new))
        restored = store.rollback(ref, record)
        assert store.rollback(ref, record) == restored  # idempotent
        assert self.read_by_name(store, ref) == old.reveal()
        state = store.describe(ref)
        assert state.current == restored and state.generation == record.old_generation
        assert state.previous is None

    def test_retire_never_touches_current(self, store: Store, ref: SecretRef) -> None:
        first = self._rotate(store, ref, _value("a"))
        second = self._rotate(store, ref, _value("b"))
        assert first.new_version and second.new_version
        retired = store.retire(ref, [first.new_version, second.new_version])
        assert retired == [first.new_version]
        assert store.retire(ref, [first.new_version]) in ([], [first.new_version])  # repeatable
        assert store.describe(ref).previous is None
        assert self.read_by_name(store, ref) is not None
