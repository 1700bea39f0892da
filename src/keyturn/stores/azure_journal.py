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
nonce and is recognised as ours. Cost: each load and save lists every version of the
sibling (Key Vault cannot delete single versions; about ten per rotation).
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
    def __init__(self, store: AzureStore, ref: SecretRef, kv: str) -> None:
        self.store = store
        self.ref = ref
        self.kv = kv

    def _heads(self) -> list[Any]:
        """The enabled journal versions with the highest seq, first created first."""
        props = self.store.versions(self.ref, self.kv)
        if not props and self.store.deleted(self.ref, self.kv):
            # Someone deleted keyturn's bookkeeping: recover it rather than forget live versions.
            self.store._call(self.ref, "recover", self.kv,
                             lambda: self.store._client.begin_recover_deleted_secret(self.kv).result())
            props = self.store.versions(self.ref, self.kv)
        live = [p for p in props if p.enabled and _seq(p) > 0]
        if not live:
            return []
        top = max(_seq(p) for p in live)
        return [p for p in live if _seq(p) == top]  # versions() is oldest first

    def load(self) -> tuple[str | None, str]:
        heads = self._heads()
        if not heads:
            return None, ""
        version = heads[0].version
        try:
            bundle = self.store.get(self.ref, self.kv, version)
        except Disabled:
            bundle = None
        if bundle is None or bundle.value is None:
            raise StoreUnavailable(f"journal {self.kv} version {version} vanished while reading — re-run",
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
        bundle, nonce = self.store.write(self.ref, self.kv, text,
                                       {"keyturn-role": "journal", TAG_SEQ: str(seq), TAG_PREV: token},
                                       on_deleted="recover")
        mine = bundle.properties.version
        from keyturn.stores.azure import TAG_WRITE

        rivals = []
        for p in self.store.versions(self.ref, self.kv):
            ours = (p.tags or {}).get(TAG_WRITE) == nonce
            if ours and p.version != mine and p.enabled:
                self.store.disable(self.ref, self.kv, p.version)  # a retried duplicate of our write
            elif not ours and p.enabled and _seq(p) == seq:
                rivals.append(p.version)
        if rivals:
            self.store.disable(self.ref, self.kv, mine)
            raise Conflict(
                f"{self.ref.name}: {self.store.label} journal {self.kv} was written concurrently (version "
                f"{rivals[0]} on the same head) — another rotation is active; re-run when it has finished")
        return str(mine)
