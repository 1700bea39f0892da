"""``command`` check: run a program that proves a value works, value passed by env only.

The child gets a minimal environment: ``PATH``, ``HOME``, the locale variables
(``LANG``, ``LANGUAGE``, ``LC_*``), the value in ``KEYTURN_VALUE`` and the secret's name
in ``KEYTURN_SECRET_NAME``, plus exactly what the check names: ``env`` (fixed values)
and ``pass_env`` (variables copied from keyturn's own environment when set). Store and
GitHub credentials, the GitHub App key and the audit chain keys never reach it: those
names are refused in ``env`` and ``pass_env`` (:func:`reserved_env_name`). argv is fixed
at construction and never carries the value; stdin is closed. Output (stdout and stderr
together) is read through a pipe, never written to disk, and only a bounded tail is
kept; it is never echoed: a result's ``detail`` names the exit code, signal or timeout,
and a failed check's ``excerpt`` is a short line of the tail after
:func:`keyturn.redaction.redact`. The whole process group is killed on timeout and when
the check ends (the process machinery is :mod:`keyturn._internal.child`, shared with the
``command`` issuer). This module imports only the standard library,
:mod:`keyturn._internal.child`, :mod:`keyturn.values`, :mod:`keyturn.redaction`,
:mod:`keyturn.errors` and :mod:`keyturn.validators.base`; it must never import a store,
target or SDK.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from keyturn._internal.child import (
    BASE_ENV,
    TAIL_BYTES,
    check_env_names,
    minimal_env,
    passed_values,
    reserved_env_name,
    run_child,
)
from keyturn.errors import UsageError
from keyturn.redaction import EXCERPT_CHARS, excerpt, forms_of_all, reach
from keyturn.validators.base import CheckResult
from keyturn.values import SecretValue

__all__ = ["BASE_ENV", "TAIL_BYTES", "CommandCheck", "check_env_names", "minimal_env", "reserved_env_name"]

if TYPE_CHECKING:
    from pathlib import Path

    from keyturn.validators.command_config import CommandCheckConfig


class CommandCheck:
    """Run ``argv``; the check passes when it exits 0 within ``timeout`` seconds."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        pass_env: Sequence[str] = (),
        cwd: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise UsageError("command check: argv must be a non-empty list of strings")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise UsageError("command check: timeout must be a positive number of seconds")
        if isinstance(pass_env, str):
            raise UsageError("command check: pass_env must be a list of variable names")
        problem = check_env_names(env or {}, pass_env)
        if problem:
            raise UsageError(f"command check: {problem[0]}: {problem[1]}")
        self.argv = list(argv)
        self.timeout = float(timeout)
        self.env = dict(env or {})
        self.pass_env = tuple(pass_env)
        self.cwd = cwd
        self.environ = environ  # None: os.environ when the check runs

    @property
    def label(self) -> str:
        return f"command {self.argv[0]}"

    def __repr__(self) -> str:
        return f"CommandCheck({self.label!r})"

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        started = time.monotonic()
        environ = os.environ if self.environ is None else self.environ
        child_env = minimal_env(environ, self.env, self.pass_env)
        child_env["KEYTURN_SECRET_NAME"] = secret_name
        child_env["KEYTURN_VALUE"] = value.reveal()
        forms = forms_of_all([value, *passed_values(environ, self.pass_env)])
        cut = reach(forms) * 4  # characters → UTF-8 bytes, at most four each
        try:
            run = run_child(self.argv, child_env, timeout=self.timeout, cwd=self.cwd, keep=TAIL_BYTES + cut)
        finally:
            del child_env
        seconds = round(time.monotonic() - started, 3)
        if run.ok:
            return CheckResult(True, self.label, run.status, seconds)
        text = run.output.decode("utf-8", errors="replace")
        # When the buffer was trimmed, a form may start before it: its remainder lies
        # within the first ``reach`` characters, which are dropped after redaction.
        tail = excerpt(text, forms, drop_prefix=reach(forms) if run.output_truncated else 0, limit=EXCERPT_CHARS)
        return CheckResult(False, self.label, run.status, seconds, tail)


def build(config: CommandCheckConfig, base_dir: Path, environ: Mapping[str, str] | None = None) -> CommandCheck:
    """The registry's builder for ``- command:`` entries; the check runs in the manifest's directory."""
    return CommandCheck(list(config.command), timeout=config.timeout.total_seconds(), env=dict(config.env),
                        pass_env=list(config.pass_env), cwd=str(base_dir), environ=environ)
