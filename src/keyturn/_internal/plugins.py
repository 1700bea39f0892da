"""How the registries (stores, issuers, targets, checks) find their backends: by
``"module:attribute"`` strings, imported only when used, so that loading a manifest never
imports an SDK — and one wording for a backend whose optional dependency is missing."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from keyturn.errors import UsageError

__all__ = ["load", "load_all", "needs_extra"]


def load(item: str) -> Any:
    """The attribute named by ``"module:attribute"`` (importing the module)."""
    module_name, attr = item.split(":")
    return getattr(importlib.import_module(module_name), attr)


def load_all(items: Iterable[str]) -> tuple[Any, ...]:
    return tuple(load(item) for item in items)


@contextmanager
def needs_extra(what: str, extra: str) -> Iterator[None]:
    """Turn a missing optional dependency inside the block into one line:
    ``{what} an optional dependency (NAME) — pip install 'keyturn[EXTRA]'``
    (``what`` ends with its verb, e.g. ``"store 'v' (vault) needs"``)."""
    try:
        yield
    except ImportError as exc:
        hint = f" — pip install 'keyturn[{extra}]'" if extra else ""
        raise UsageError(f"{what} an optional dependency ({exc.name}){hint}") from None
