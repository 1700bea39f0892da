"""The check protocol shared by ``validate:`` and ``smoke:`` entries, and its result.

A check receives the value as a :class:`~keyturn.values.SecretValue` and must pass it
on only through environment variables, stdin or request bodies/headers — never argv,
URLs that get logged, or its result text.

What a :class:`CheckResult` may say is fixed here. ``detail`` is built from status
alone (an exit code, a signal, a timeout, an HTTP status, a transport error's type) and
never from anything the check printed or a server answered: it is safe for the audit
log, the rotation record, evidence and exception text. ``excerpt`` is the only field
that carries check output: at most :data:`~keyturn.redaction.EXCERPT_CHARS` characters
of one line, after :func:`keyturn.redaction.redact` removed every derived form of the
value; it is for the operator's terminal and must never be persisted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from keyturn.redaction import EXCERPT_CHARS
from keyturn.values import SecretValue

#: ``detail`` is a status line, never output.
DETAIL_CHARS = 200


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    label: str
    detail: str
    seconds: float = 0.0
    excerpt: str = ""

    def __post_init__(self) -> None:
        if len(self.detail) > DETAIL_CHARS or "\n" in self.detail or "\r" in self.detail:
            raise ValueError("CheckResult.detail is one short status line, never output")
        if len(self.excerpt) > EXCERPT_CHARS or "\n" in self.excerpt or "\r" in self.excerpt:
            raise ValueError(f"CheckResult.excerpt is one line of at most {EXCERPT_CHARS} characters")

    @property
    def summary(self) -> str:
        """``label (detail)``: safe to persist (audit log, record, evidence, errors)."""
        return f"{self.label} ({self.detail})"

    @property
    def display(self) -> str:
        """The summary plus the redacted excerpt, for the operator's terminal only."""
        return f"{self.summary} output: {self.excerpt}" if self.excerpt else self.summary


@runtime_checkable
class Check(Protocol):
    @property
    def label(self) -> str:
        """e.g. ``command sh`` or ``http GET https://host/health``."""
        ...

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        """Run the check; never raises for a failed check (returns ok=False)."""
        ...
