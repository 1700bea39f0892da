"""What GitHub targets may remember between runs: each scope's public key and repository ids.

A GitHub secrets write needs the scope's public key (``key_id`` + a 32-byte Curve25519
key) and, for an organization secret with ``visibility: selected``, the numeric ids of
the selected repositories. Both are public data that change rarely: GitHub rotates a
scope's key now and then (a PUT sealed for the old key is then refused with 422), and a
repository keeps its id for life. Remembering them turns a fresh rotation's
"public key + PUT" per scope into "PUT" only.

:class:`KeyCache` is the store-neutral interface the GitHub session reads and writes;
:class:`MemoryKeyCache` is the per-run default; :class:`JsonKeyCache` adds a JSON form
(:meth:`JsonKeyCache.to_json` / :meth:`JsonKeyCache.from_json`) that whoever keeps
keyturn's bookkeeping can persist — a journal field, store metadata. Nothing here is a
secret; a cached key that turns out stale costs one refetch, never a wrong write (GitHub
refuses a box sealed for another key). Imports nothing from keyturn.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

JSON_VERSION = 1


@dataclass(frozen=True)
class PublicKeyEntry:
    """A scope's public key as GitHub serves it: ``key`` is base64 of 32 bytes."""

    key_id: str
    key: str

    def valid(self) -> bool:
        try:
            return bool(self.key_id) and len(base64.b64decode(self.key, validate=True)) == 32
        except (binascii.Error, ValueError):
            return False


@runtime_checkable
class KeyCache(Protocol):
    """Public keys per secrets scope (e.g. ``/repos/acme/api/actions``) and repository
    ids per ``owner/name`` (case-insensitive). Implementations must be thread-safe."""

    def get_key(self, scope: str) -> PublicKeyEntry | None: ...

    def put_key(self, scope: str, entry: PublicKeyEntry) -> None: ...

    def drop_key(self, scope: str) -> None: ...

    def get_repo_id(self, full_name: str) -> int | None: ...

    def put_repo_id(self, full_name: str, repo_id: int) -> None: ...

    def drop_repo_id(self, full_name: str) -> None: ...


class MemoryKeyCache:
    """The in-process :class:`KeyCache` (one run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, PublicKeyEntry] = {}
        self._repo_ids: dict[str, int] = {}
        self.changed = False  # set by every put/drop that changed something

    def get_key(self, scope: str) -> PublicKeyEntry | None:
        with self._lock:
            return self._keys.get(scope.lower())

    def put_key(self, scope: str, entry: PublicKeyEntry) -> None:
        with self._lock:
            if self._keys.get(scope.lower()) != entry:
                self._keys[scope.lower()] = entry
                self.changed = True

    def drop_key(self, scope: str) -> None:
        with self._lock:
            if self._keys.pop(scope.lower(), None) is not None:
                self.changed = True

    def get_repo_id(self, full_name: str) -> int | None:
        with self._lock:
            return self._repo_ids.get(full_name.lower())

    def put_repo_id(self, full_name: str, repo_id: int) -> None:
        with self._lock:
            if self._repo_ids.get(full_name.lower()) != repo_id:
                self._repo_ids[full_name.lower()] = int(repo_id)
                self.changed = True

    def drop_repo_id(self, full_name: str) -> None:
        with self._lock:
            if self._repo_ids.pop(full_name.lower(), None) is not None:
                self.changed = True


class JsonKeyCache(MemoryKeyCache):
    """A :class:`KeyCache` with a JSON form, bound to one API root.

    ``to_json()`` → ``{"v": 1, "api": "https://api.github.com", "keys": {scope:
    [key_id, key]}, "repo_ids": {"owner/name": id}}`` (about 100 bytes per scope); pass
    ``scopes`` / ``repos`` to export only those (one secret's targets). ``from_json``
    ignores data for another API root, another format version or malformed entries:
    a bad cache costs requests, never a failure."""

    def __init__(self, api_url: str) -> None:
        super().__init__()
        self.api_url = api_url.rstrip("/")

    def to_json(
        self, scopes: Iterable[str] | None = None, repos: Iterable[str] | None = None
    ) -> dict[str, Any]:
        with self._lock:
            keys = dict(self._keys)
            ids = dict(self._repo_ids)
        if scopes is not None:
            wanted = {s.lower() for s in scopes}
            keys = {s: k for s, k in keys.items() if s in wanted}
        if repos is not None:
            wanted_repos = {r.lower() for r in repos}
            ids = {r: i for r, i in ids.items() if r in wanted_repos}
        return {
            "v": JSON_VERSION,
            "api": self.api_url,
            "keys": {s: [k.key_id, k.key] for s, k in sorted(keys.items())},
            "repo_ids": dict(sorted(ids.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None, api_url: str) -> JsonKeyCache:
        cache = cls(api_url)
        cache.load(data)
        return cache

    def load(self, data: Mapping[str, Any] | None) -> None:
        """Merge ``data`` (a :meth:`to_json` result) into this cache; does not mark it changed."""
        if not isinstance(data, Mapping) or data.get("v") != JSON_VERSION:
            return
        if str(data.get("api", "")).rstrip("/") != self.api_url:
            return
        keys, ids = data.get("keys"), data.get("repo_ids")
        with self._lock:
            for scope, pair in (keys.items() if isinstance(keys, Mapping) else ()):
                if isinstance(pair, (list, tuple)) and len(pair) == 2:
                    entry = PublicKeyEntry(str(pair[0]), str(pair[1]))
                    if entry.valid():
                        self._keys[str(scope).lower()] = entry
            for name, repo_id in (ids.items() if isinstance(ids, Mapping) else ()):
                if isinstance(repo_id, int) and not isinstance(repo_id, bool) and repo_id > 0:
                    self._repo_ids[str(name).lower()] = repo_id


__all__ = ["JsonKeyCache", "KeyCache", "MemoryKeyCache", "PublicKeyEntry"]
