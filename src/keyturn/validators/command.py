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
the check ends. This module imports only the standard library, :mod:`keyturn.values`,
:mod:`keyturn.redaction`, :mod:`keyturn.errors`, :mod:`keyturn.validators.base` and its
manifest config (:mod:`keyturn.validators.command_config`, which holds the env-name rules);
it must never import a store, target or SDK.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO, TYPE_CHECKING

from keyturn.errors import UsageError
from keyturn.redaction import EXCERPT_CHARS, excerpt, forms_of, reach
from keyturn.validators.base import CheckResult
from keyturn.validators.command_config import check_env_names, reserved_env_name  # noqa: F401 (re-exported)
from keyturn.values import SecretValue

if TYPE_CHECKING:
    from pathlib import Path

    from keyturn.validators.command_config import CommandCheckConfig

#: How much output is kept (beyond what redaction at the cut needs).
TAIL_BYTES = 8192
_KILL_GRACE = 1.0
#: Variables every check gets from keyturn's environment (when set).
BASE_ENV = ("PATH", "HOME", "LANG", "LANGUAGE")
def minimal_env(
    environ: Mapping[str, str], env: Mapping[str, str], pass_env: Sequence[str]
) -> dict[str, str]:
    """The child's environment without the value (the caller adds ``KEYTURN_*``)."""
    child = {k: v for k, v in environ.items() if k in BASE_ENV or k.startswith("LC_")}
    child.setdefault("PATH", os.defpath)
    child.update({k: environ[k] for k in pass_env if k in environ})
    child.update(env)
    return child


class _Tail(threading.Thread):
    """Drain a pipe, keeping only its last ``keep`` bytes in memory."""

    def __init__(self, pipe: IO[bytes], keep: int) -> None:
        super().__init__(daemon=True, name="keyturn-command-output")
        self._pipe = pipe
        self._keep = keep
        self.buffer = bytearray()
        self.truncated = False

    def run(self) -> None:
        try:
            while chunk := self._pipe.read1(65536):  # type: ignore[attr-defined]
                self.buffer += chunk
                if len(self.buffer) > self._keep:
                    del self.buffer[: len(self.buffer) - self._keep]
                    self.truncated = True
        except (OSError, ValueError):
            pass


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

    @property
    def label(self) -> str:
        return f"command {self.argv[0]}"

    def __repr__(self) -> str:
        return f"CommandCheck({self.label!r})"

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        started = time.monotonic()

        def result(ok: bool, detail: str, tail: str = "") -> CheckResult:
            return CheckResult(ok, self.label, detail, round(time.monotonic() - started, 3), tail)

        if self.cwd is not None and not os.path.isdir(self.cwd):
            return result(False, "working directory not found")
        child_env = minimal_env(os.environ, self.env, self.pass_env)
        child_env["KEYTURN_SECRET_NAME"] = secret_name
        child_env["KEYTURN_VALUE"] = value.reveal()
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=child_env,
                cwd=self.cwd,
                start_new_session=True,  # own process group: killed as a whole
                close_fds=True,
            )
        except FileNotFoundError:
            return result(False, f"command not found: {_short(self.argv[0])}")
        except PermissionError:
            return result(False, f"command not executable: {_short(self.argv[0])}")
        except ValueError:  # e.g. NUL in the environment; the message is not shown
            return result(False, "value cannot be passed in the environment (contains NUL)")
        except OSError as exc:
            return result(False, f"command could not start: {_short(self.argv[0])} ({type(exc).__name__})")
        finally:
            del child_env

        forms = forms_of(value)
        cut = reach(forms) * 4  # characters → UTF-8 bytes, at most four each
        assert proc.stdout is not None
        reader = _Tail(proc.stdout, TAIL_BYTES + cut)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=_KILL_GRACE)
            except subprocess.TimeoutExpired:
                pass
        finally:
            # Whatever is left in the group (background children still holding the
            # value in their environment) does not outlive the check.
            _kill_group(proc, signal.SIGKILL)
            proc.wait()
            reader.join(timeout=2)
            proc.stdout.close()

        if timed_out:
            status = f"timed out after {self.timeout:g}s"
        elif proc.returncode == 0:
            return result(True, "exit 0")
        elif proc.returncode < 0:
            status = f"killed by {_signal_name(-proc.returncode)}"
        else:
            status = f"exit {proc.returncode}"
        text = bytes(reader.buffer).decode("utf-8", errors="replace")
        # When the buffer was trimmed, a form may start before it: its remainder lies
        # within the first ``reach`` characters, which are dropped after redaction.
        tail = excerpt(text, forms, drop_prefix=reach(forms) if reader.truncated else 0, limit=EXCERPT_CHARS)
        return result(False, status, tail)


def _short(text: str, keep: int = 80) -> str:
    """A program name short enough for a status line (its end says the most)."""
    return text if len(text) <= keep else "…" + text[-(keep - 1) :]


def _kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def build(config: CommandCheckConfig, base_dir: Path, environ: Mapping[str, str] | None = None) -> CommandCheck:
    """The registry's builder for ``- command:`` entries; the check runs in the manifest's directory."""
    return CommandCheck(list(config.command), timeout=config.timeout.total_seconds(), env=dict(config.env),
                        pass_env=list(config.pass_env), cwd=str(base_dir))
