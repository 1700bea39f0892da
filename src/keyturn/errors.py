"""Error types and the one mapping from error family to CLI exit code.

Library code raises these; only :mod:`keyturn.cli` prints and exits. Every message is
one line naming what failed (secret, store, target) and what to do. Messages must
never contain a secret value: they are built from names, paths and version ids only.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # findings, validation, verification, smoke
    USAGE = 2  # usage or manifest error
    CONFLICT = 3  # locked, concurrent rotation
    SERVICE = 4  # a service failed after retries


class KeyturnError(Exception):
    """Base class. ``str(err)`` is the one-line message shown to users — and persisted
    (webhooks, JSON results, the journal), so it never carries a program's output.
    ``excerpt`` (e.g. ``stderr: …``, already redacted) is for the terminal only:
    :func:`terminal_text`."""

    exit_code: ExitCode = ExitCode.SERVICE

    def __init__(self, message: str, *, excerpt: str = "") -> None:
        # Collapse to one line whatever callers pass.
        super().__init__(" ".join(str(message).split()))
        self.excerpt = " ".join(excerpt.split())

    @property
    def message(self) -> str:
        return str(self)


class UsageError(KeyturnError):
    exit_code = ExitCode.USAGE


class ManifestError(UsageError):
    """Bad manifest: message starts with ``FILE:LINE: key.path:``."""


class CheckFailed(KeyturnError):
    exit_code = ExitCode.CHECK_FAILED


class VerificationFailed(CheckFailed):
    """A pre-promotion (validate) check failed: nothing was changed."""


class SmokeFailed(CheckFailed):
    """A post-distribution (smoke) check failed: the rotation was rolled back."""


class AuditVerifyFailed(CheckFailed):
    pass


class Conflict(KeyturnError):
    exit_code = ExitCode.CONFLICT


class ServiceError(KeyturnError):
    """A store, target or check endpoint failed after retries."""

    exit_code = ExitCode.SERVICE


class StoreUnavailable(ServiceError):
    def __init__(self, message: str, *, store: str = "", secret: str = "") -> None:
        prefix = ": ".join(p for p in (store, secret) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.store = store
        self.secret = secret


class TargetFailed(ServiceError):
    def __init__(self, message: str, *, target: str = "") -> None:
        super().__init__(f"{target}: {message}" if target else message)
        self.target = target


class DistributionFailed(ServiceError):
    """One or more targets failed; ``failed`` names each of them."""

    def __init__(self, secret: str, failed: list[tuple[str, str]]) -> None:
        parts = "; ".join(f"{label} ({why})" for label, why in failed)
        super().__init__(
            f"{secret}: {len(failed)} target(s) failed: {parts} — fix and re-run "
            f"`keyturn rotate {secret}` to resume (confirmed targets are skipped)"
        )
        self.secret = secret
        self.failed = failed


def exit_code_for(exc: BaseException) -> ExitCode:
    if isinstance(exc, KeyturnError):
        return exc.exit_code
    return ExitCode.SERVICE


def terminal_text(exc: KeyturnError) -> str:
    """The message plus its terminal-only excerpt (never persist this)."""
    return f"{exc}; {exc.excerpt}" if exc.excerpt else str(exc)
