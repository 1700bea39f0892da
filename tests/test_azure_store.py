"""The store and journal conformance suites against the Key Vault HTTPS fake (the real
``SecretClient`` talks to it), plus the journal's compare-and-verify under concurrent
writers."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from keyturn.errors import Conflict
from keyturn.stores.azure import AzureStore, kv_name
from keyturn.stores.base import SecretRef, Store
from keyturn.testing.stores import JournalConformance, StoreConformance
from tests.azure_support import keyvault, make_store, read_by_name  # noqa: F401 (fixture)
from tests.fakes.azure_keyvault import FakeKeyVault


class _AzureBackend:
    @pytest.fixture(autouse=True)
    def _server(self, keyvault: FakeKeyVault) -> None:  # noqa: F811
        self.kv = keyvault

    def make_store(self) -> Store:
        return make_store(self.kv)

    def make_ref(self, unique: str) -> SecretRef:
        return SecretRef(name="CONF_SECRET", path=f"conformance/{unique}", key="value")

    def read_by_name(self, store: Store, ref: SecretRef) -> str | None:
        return read_by_name(self.kv, ref)

    def write_outside(self, store: Store, ref: SecretRef, value: str) -> None:
        self.kv.put(kv_name(ref.path), value)


class TestAzureConformance(_AzureBackend, StoreConformance):
    pass


class TestAzureJournalConformance(_AzureBackend, JournalConformance):
    pass


def _ref() -> SecretRef:
    return SecretRef("J", f"journal/{uuid.uuid4().hex[:12]}", "value")


def test_journal_writer_between_compare_and_write_loses(keyvault: FakeKeyVault) -> None:  # noqa: F811
    ref = _ref()
    a, b = make_store(keyvault), make_store(keyvault)
    token = a.journal(ref).save("base", "")
    real_set = a.write
    won: list[str] = []

    def racing_set(*args: Any, **kw: Any) -> Any:  # B saves after A's compare, before A's write
        won.append(b.journal(ref).save("from-b", token))
        return real_set(*args, **kw)

    a.write = racing_set  # type: ignore[method-assign]
    with pytest.raises(Conflict, match="written concurrently"):
        a.journal(ref).save("from-a", token)
    assert a.journal(ref).load() == ("from-b", won[0])  # B's write stands, A's was disabled
    assert make_store(keyvault).journal(ref).save("next", won[0])  # and the chain goes on from B


def test_journal_both_writers_on_one_head_lose(keyvault: FakeKeyVault) -> None:  # noqa: F811
    """Both pass the compare, both write, then both verify: at most one may win (the
    journal's documented guarantee). Which outcome depends on the order of the two
    verifies: if one loser disables its version before the other lists, the other wins."""
    ref = _ref()
    stores = [make_store(keyvault), make_store(keyvault)]
    token = stores[0].journal(ref).save("base", "")
    before, after = threading.Barrier(2, timeout=20), threading.Barrier(2, timeout=20)
    results: dict[int, Any] = {}

    def arm(store: AzureStore) -> None:
        real = store.write

        def gated(*args: Any, **kw: Any) -> Any:
            before.wait()  # both compared
            out = real(*args, **kw)
            after.wait()  # both wrote
            return out

        store.write = gated  # type: ignore[method-assign]

    def run(i: int) -> None:
        try:
            results[i] = stores[i].journal(ref).save(f"writer-{i}", token)
        except Conflict as exc:
            results[i] = exc

    for s in stores:
        arm(s)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2, results
    winners = {i: r for i, r in results.items() if not isinstance(r, Conflict)}
    assert len(winners) <= 1, results
    expected = next(((f"writer-{i}", tok) for i, tok in winners.items()), ("base", token))
    assert make_store(keyvault).journal(ref).load() == expected


def test_journal_many_concurrent_writers_at_most_one_wins(keyvault: FakeKeyVault) -> None:  # noqa: F811
    ref = _ref()
    token = make_store(keyvault).journal(ref).save("base", "")
    results: dict[int, Any] = {}

    def run(i: int) -> None:
        try:
            results[i] = make_store(keyvault).journal(ref).save(f"writer-{i}", token)
        except Conflict as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = {i: tok for i, tok in results.items() if isinstance(tok, str)}
    assert len(results) == 6 and len(winners) <= 1, results
    text, head = make_store(keyvault).journal(ref).load()
    if winners:
        (i, tok), = winners.items()
        assert (text, head) == (f"writer-{i}", tok)
    else:
        assert (text, head) == ("base", token)


def test_journal_retried_duplicate_write_is_ours(keyvault: FakeKeyVault) -> None:  # noqa: F811
    """A write whose response was lost and was sent again: the duplicate (same nonce)
    is recognised as ours and disabled, not taken for a concurrent writer."""
    ref = _ref()
    store = make_store(keyvault)
    token = store.journal(ref).save("base", "")
    real_call = store._client.set_secret

    def twice(name: str, value: str, **kw: Any) -> Any:
        real_call(name, value, **kw)  # first attempt applied, response "lost"
        return real_call(name, value, **kw)

    store._client.set_secret = twice  # type: ignore[method-assign]
    new = store.journal(ref).save("again", token)
    assert store.journal(ref).load() == ("again", new)
    enabled = [v for v in keyvault.versions(kv_name(ref.path) + "-keyturn-rotation") if v.enabled]
    assert len(enabled) == 2  # base + one of the duplicates


def test_journal_rolls_over_into_generations(keyvault: FakeKeyVault) -> None:  # noqa: F811
    """Each sibling holds at most PER_GENERATION versions; a fresh process finds the
    newest generation; rivals across a rollover boundary still conflict."""
    ref = _ref()
    store = make_store(keyvault)
    slot = store.journal(ref)
    slot.PER_GENERATION = 3  # type: ignore[misc]
    token = ""
    for i in range(11):
        token = slot.save(f"doc-{i}", token)
    base = kv_name(ref.path) + "-keyturn-rotation"
    sizes = [len(keyvault.versions(base if g == 0 else f"{base}-g{g}")) for g in range(5)]
    assert sizes == [3, 3, 3, 2, 0]
    fresh = make_store(keyvault).journal(ref)
    fresh.PER_GENERATION = 3  # type: ignore[misc]
    assert fresh.load() == ("doc-10", token)
    token = fresh.save("doc-11", token)  # seq 12: the last of generation 3
    other = make_store(keyvault).journal(ref)
    other.PER_GENERATION = 3  # type: ignore[misc]
    real = fresh.store.write

    def racing(*args: Any, **kw: Any) -> Any:  # a rival writes seq 13 (generation 4) first
        other.save("rival", token)
        return real(*args, **kw)

    fresh.store.write = racing  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        fresh.save("doc-12", token)
    assert other.load()[0] == "rival"
