"""The target protocol and the shapes that map one secret onto target entries.

A *target* is one place that holds copies of a secret (a dotenv file, one GitHub
repository's Actions secrets, one environment, an organization). A *shape* says which
entries a secret becomes there:

* ``single``    — ``NAME`` = CURRENT
* ``dual``      — ``NAME`` = CURRENT, ``NAME_PREVIOUS`` = PREVIOUS during the grace window
* ``versioned`` — ``NAME_V{n}`` per live generation, ``NAME_ACTIVE_VERSION`` = n

The engine computes entries with :func:`entries_for` and hands them to the target;
targets never decide shapes. This module is the one place entry names are spelled:
the engine, planning, doctor and the manifest's one-owner-per-entry check all ask it.
Nothing here imports a store or an SDK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol, Sequence, runtime_checkable

from keyturn.values import SecretValue


class Shape(str, Enum):
    SINGLE = "single"
    DUAL = "dual"
    VERSIONED = "versioned"


@dataclass(frozen=True)
class Entry:
    """One named entry to write. ``value`` is a SecretValue or a plain, non-secret
    string (only ``NAME_ACTIVE_VERSION`` is plain)."""

    name: str
    value: SecretValue | str

    def reveal(self) -> str:
        return self.value.reveal() if isinstance(self.value, SecretValue) else self.value

    def __repr__(self) -> str:  # never show the value
        return f"Entry({self.name!r})"


@dataclass(frozen=True)
class EntryPlan:
    """What to write and what to remove for one target at one stage."""

    write: tuple[Entry, ...]
    delete: tuple[str, ...] = ()


@dataclass
class WriteReport:
    """What a target reports back for the per-target ledger."""

    retries: int = 0
    requests: int = 0
    confirmed_at: datetime | None = None
    skipped: bool = False
    details: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Target(Protocol):
    """One place that holds a secret's entries. Every method is idempotent."""

    @property
    def label(self) -> str:
        """Short unique human label, e.g. ``file:deploy/.env``,
        ``github:acme/api@env:production``. Used in plans, ledgers and errors."""
        ...

    def preflight(self, entries: Sequence[Entry]) -> None:
        """Refuse, without any I/O, entries this target can never hold (bad names, values
        too large). The engine calls it for every target before the first write of any."""
        ...

    def check_access(self) -> None:
        """Read-only I/O preflight before the first write of a rotation: the place exists
        (or can be created) and keyturn may write there. Raises a KeyturnError naming the
        target and the fix (missing repository or environment, token without permission)."""
        ...

    def write(self, entries: Sequence[Entry]) -> WriteReport:
        """Create or overwrite ``entries``. Raises :class:`keyturn.errors.TargetFailed`
        (or a subclass of :class:`keyturn.errors.KeyturnError`) naming the target."""
        ...

    def delete(self, names: Sequence[str]) -> WriteReport:
        """Remove entries by name; a missing entry is not an error."""
        ...

    def is_current(self, entries: Sequence[Entry], *, since: datetime) -> bool:
        """True when every entry already holds what ``entries`` say, as far as the
        target can tell: by value where it can read values back (files), else by an
        update time at or after ``since`` (GitHub's ``updated_at``). The engine passes
        the first whole second after promotion, so a same-second write never counts."""
        ...


def _name_previous(name: str) -> str:
    return f"{name}_PREVIOUS"


def _name_version(name: str, generation: int) -> str:
    return f"{name}_V{generation}"


def active_version_name(name: str) -> str:
    return f"{name}_ACTIVE_VERSION"


_VERSIONED_ENTRY = re.compile(r"(.+)_V[0-9]+")


def claimed_names(shape: Shape, name: str) -> tuple[str, ...]:
    """The entry names a shape holds at a target whatever the generation (``versioned``
    also holds every ``NAME_V<n>``: see :func:`versioned_base`)."""
    if shape is Shape.SINGLE:
        return (name,)
    if shape is Shape.DUAL:
        return (name, _name_previous(name))
    if shape is Shape.VERSIONED:
        return (active_version_name(name),)
    raise AssertionError(f"unhandled shape {shape!r}")


def versioned_base(entry: str) -> str | None:
    """``NAME`` when ``entry`` is spelled like a ``versioned`` shape's ``NAME_V{n}``, else None."""
    m = _VERSIONED_ENTRY.fullmatch(entry)
    return m.group(1) if m else None


def versioned_family(name: str) -> str:
    """How messages spell every ``NAME_V{n}`` at once."""
    return f"{name}_V<n>"


def entries_for(
    shape: Shape,
    name: str,
    current: SecretValue,
    generation: int,
    previous: SecretValue | None = None,
    previous_generation: int | None = None,
) -> EntryPlan:
    """Entries a target must hold while CURRENT (and PREVIOUS, in grace) are live."""
    if shape is Shape.SINGLE:
        return EntryPlan(write=(Entry(name, current),))
    if shape is Shape.DUAL:
        if previous is None:
            return EntryPlan(write=(Entry(name, current),), delete=(_name_previous(name),))
        return EntryPlan(write=(Entry(name, current), Entry(_name_previous(name), previous)))
    if shape is Shape.VERSIONED:
        writes: list[Entry] = []
        if previous is not None and previous_generation is not None:
            writes.append(Entry(_name_version(name, previous_generation), previous))
        writes.append(Entry(_name_version(name, generation), current))
        writes.append(Entry(active_version_name(name), str(generation)))
        return EntryPlan(write=tuple(writes))
    raise AssertionError(f"unhandled shape {shape!r}")


def retire_entries(shape: Shape, name: str, previous_generation: int | None) -> tuple[str, ...]:
    """Grace-only entry names to remove when PREVIOUS is retired."""
    if shape is Shape.DUAL:
        return (_name_previous(name),)
    if shape is Shape.VERSIONED and previous_generation is not None:
        return (_name_version(name, previous_generation),)
    return ()


def entry_names(shape: Shape, name: str, generation: int) -> tuple[str, ...]:
    """Every entry name a shape may have written for ``generation``."""
    if shape is Shape.SINGLE:
        return (name,)
    if shape is Shape.DUAL:
        return (name, _name_previous(name))
    if shape is Shape.VERSIONED:
        return (_name_version(name, generation), active_version_name(name))
    raise AssertionError(f"unhandled shape {shape!r}")
