"""The check protocol shared by ``validate:`` and ``smoke:`` entries.

A check receives the value as a :class:`~keyturn.values.SecretValue` and must pass it
on only through environment variables, stdin or request bodies/headers — never argv,
URLs that get logged, or its result text. ``CheckResult.detail`` is shown to users and
written to the audit log: it must be built from status codes and exit codes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from keyturn.values import SecretValue


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    label: str
    detail: str
    seconds: float = 0.0


@runtime_checkable
class Check(Protocol):
    @property
    def label(self) -> str:
        """e.g. ``command sh`` or ``http GET https://host/health``."""
        ...

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        """Run the check; never raises for a failed check (returns ok=False)."""
        ...
