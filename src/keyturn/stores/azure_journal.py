"""The Azure store's journal slot: the sibling secret ``NAME-keyturn-rotation``, whose
versions hold the journal text (bookkeeping only, never a value).

Key Vault has no compare-and-set, and "latest" is only the newest version, so the slot
orders its own writes: every version carries tags ``keyturn-journal-seq`` (1, 2, ...),
``keyturn-journal-prev`` (the token it was written on) and a per-write nonce. The
**token** is the version id of the head: the enabled version with the highest seq.

**save(text, token)** is compare-and-verify:

1. *compare* — list the versions; ``token`` must be a head (``""`` = none may exist);
2. *write* — a new version with seq = head seq + 1;
3. *verify* — list again: if any other enabled version has the same seq (a writer that
   passed step 1 on the same head), we lost: disable our version, raise Conflict.

At most one of two racing writers wins: if A's verify saw no rival, B's write came after
A's verify, so B's verify sees A and B loses (both may lose, never both win). A loser is
disabled, so the head stays unambiguous; only a writer killed between its write and its
verify can leave two enabled versions with one seq. Then ``load`` picks the first created
(the winner wrote first) and ``save`` accepts either as its token, so the next write
settles it. A retried write whose first attempt applied (lost response) carries the same
nonce and is recognised as ours.

**Generations.** Key Vault cannot delete single versions, and a rotation makes about ten
journal writes, so one sibling would grow without bound and every list would grow with
it. Seq ``n`` therefore lives in generation ``(n - 1) // PER_GENERATION``: generation 0 is
``NAME-keyturn-rotation``, generation ``g`` is ``NAME-keyturn-rotation-g{g}``. Rivals write
the same seq, hence into the same sibling, so compare and verify list one sibling of at
most ``PER_GENERATION`` versions. The newest generation is found with exponential then
binary probing (generations are created in order and never deleted), then remembered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keyturn.errors import Conflict, StoreUnavailable
from keyturn.stores.azure_calls import Disabled
from keyturn.stores.base import SecretRef

if TYPE_CHECKING:
    from keyturn.stores.azure import AzureStore

TAG_SEQ, TAG_PREV = "keyturn-journal-seq", "keyturn-journal-prev"


def _seq(p: Any) -> int:
    try:
        return int((p.tags or {}).get(TAG_SEQ, "0"))
    except ValueError:
        return 0


class AzureJournal:
    PER_GENERATION = 50  # two list pages of 25

    def __init__(self, store: AzureStore, ref: SecretRef, kv: str) -> None:
        self.store = store
        self.ref = ref
        self.kv = kv
        self._top = 0  # highest generation known to exist

    def sibling(self, generation: int) -> str:
        return self.kv if generation == 0 else f"{self.kv}-g{generation}"

    def _exists(self, generation: int) -> bool:
        try:
            return self.store.get(self.ref, self.sibling(generation)) is not None
        except Disabled:
            return True

    def _top_generation(self) -> int:
        lo = self._top
        if not self._exists(lo + 1):
            return lo
        step = 1
        while self._exists(lo + 2 * step):
            step *= 2
        low, high = lo + step, lo + 2 * step  # low exists, high does not
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if self._exists(mid) else (low, mid)
        self._top = low
        return low

    def _heads(self) -> list[Any]:
        """The enabled journal versions with the highest seq, first created first."""
        top = self._top_generation()
        for generation in range(top, max(-1, top - 3), -1):
            kv = self.sibling(generation)
            props = self.store.versions(self.ref, kv)
            if not props and generation == 0 and self.store.deleted(self.ref, kv):
                # Someone deleted keyturn's bookkeeping: recover it rather than forget live versions.
                self.store._call(self.ref, "recover", kv,
                                 lambda kv=kv: self.store._client.begin_recover_deleted_secret(kv).result())  # type: ignore[misc]
                props = self.store.versions(self.ref, kv)
            live = [p for p in props if p.enabled and _seq(p) > 0]
            if live:  # else the first write into this generation lost: the head is in the one before
                best = max(_seq(p) for p in live)
                return [p for p in live if _seq(p) == best]  # versions() is oldest first
        return []

    def _generation(self, seq: int) -> int:
        return (seq - 1) // self.PER_GENERATION

    def load(self) -> tuple[str | None, str]:
        heads = self._heads()
        if not heads:
            return None, ""
        version = heads[0].version
        kv = self.sibling(self._generation(_seq(heads[0])))
        try:
            bundle = self.store.get(self.ref, kv, version)
        except Disabled:
            bundle = None
        if bundle is None or bundle.value is None:
            raise StoreUnavailable(f"journal {kv} version {version} vanished while reading — re-run",
                                   store=self.store.label, secret=self.ref.name)
        return str(bundle.value), str(version)

    def save(self, text: str, token: str) -> str:
        heads = self._heads()
        ids = {p.version for p in heads}
        if (token and token not in ids) or (not token and heads):
            raise Conflict(
                f"{self.ref.name}: {self.store.label} journal {self.kv} changed concurrently (compare failed: "
                "expected version {0}) — another rotation or writer is active; re-run when it has finished"
                .format(token or "none"))
        seq = (_seq(heads[0]) if heads else 0) + 1
        kv = self.sibling(self._generation(seq))
        bundle, nonce = self.store.write(self.ref, kv, text,
                                       {"keyturn-role": "journal", TAG_SEQ: str(seq), TAG_PREV: token},
                                       on_deleted="recover")
        mine = bundle.properties.version
        from keyturn.stores.azure import TAG_WRITE

        rivals = []
        for p in self.store.versions(self.ref, kv):  # rivals wrote the same seq: the same sibling
            ours = (p.tags or {}).get(TAG_WRITE) == nonce
            if ours and p.version != mine and p.enabled:
                self.store.disable(self.ref, kv, p.version)  # a retried duplicate of our write
            elif not ours and p.enabled and _seq(p) == seq:
                rivals.append(p.version)
        if rivals:
            self.store.disable(self.ref, kv, mine)
            raise Conflict(
                f"{self.ref.name}: {self.store.label} journal {self.kv} was written concurrently (version "
                f"{rivals[0]} on the same head) — another rotation is active; re-run when it has finished")
        self._top = max(self._top, self._generation(seq))
        return str(mine)
