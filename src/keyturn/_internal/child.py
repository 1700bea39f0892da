"""Run one user-supplied program the way keyturn runs every child: a minimal environment,
a fixed argv, stdin closed, output read through pipes (never written to disk, only a
bounded part kept), its own process group killed as a whole on timeout and when it
ends. Shared by ``command`` checks (:mod:`keyturn.validators.command`) and the
``command`` issuer (:mod:`keyturn.issuers.command`).

The child gets ``PATH``, ``HOME``, the locale variables (``LANG``, ``LANGUAGE``,
``LC_*``) plus exactly what the caller names (:func:`minimal_env`); store and GitHub
credentials and the audit chain keys are refused as ``env``/``pass_env`` names
(:func:`reserved_env_name`). Nothing here interprets or shows what the child printed:
callers redact it (:mod:`keyturn.redaction`). Imports only the standard library.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

#: How much of the shown output is kept (beyond what redaction at the cut needs).
TAIL_BYTES = 8192
_KILL_GRACE = 1.0
#: Variables every child gets from keyturn's environment (when set).
BASE_ENV = ("PATH", "HOME", "LANG", "LANGUAGE")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Credentials that never reach a child, whatever the manifest says.
_RESERVED = re.compile(
    r"^(KEYTURN_.*|VAULT_TOKEN|BAO_TOKEN|GITHUB_TOKEN|GH_TOKEN|GH_ENTERPRISE_TOKEN|GITHUB_ENTERPRISE_TOKEN"
    r"|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_TOKEN|ACTIONS_ID_TOKEN_REQUEST_URL)$",
    re.IGNORECASE,
)


def reserved_env_name(name: str) -> bool:
    """True for names a child may never receive from ``env``/``pass_env``."""
    return bool(_RESERVED.match(name))


def check_env_names(env: Mapping[str, str], pass_env: Sequence[str]) -> tuple[str, str] | None:
    """(field, problem) for the first bad ``env``/``pass_env`` name, or None."""
    for field, names in (("env", list(env)), ("pass_env", list(pass_env))):
        for name in names:
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                return field, f"{name!r} is not an environment variable name"
            if reserved_env_name(name):
                return field, (
                    f"{name} is reserved — keyturn sets the KEYTURN_* variables itself, "
                    "and store/GitHub credentials and audit keys never reach a command"
                )
    return None


def minimal_env(
    environ: Mapping[str, str], env: Mapping[str, str], pass_env: Sequence[str]
) -> dict[str, str]:
    """The child's environment without any value (the caller adds ``KEYTURN_*``)."""
    child = {k: v for k, v in environ.items() if k in BASE_ENV or k.startswith("LC_")}
    child.setdefault("PATH", os.defpath)
    child.update({k: environ[k] for k in pass_env if k in environ})
    child.update(env)
    return child


def passed_values(environ: Mapping[str, str], pass_env: Sequence[str]) -> list[str]:
    """The values ``pass_env`` hands a child (admin keys, tokens): redacted from its
    output like the secret itself (values under 8 characters are not worth a mask)."""
    return [environ[k] for k in pass_env if len(environ.get(k, "")) >= 8]


def short(text: str, keep: int = 80) -> str:
    """A program name short enough for a status line (its end says the most)."""
    return text if len(text) <= keep else "…" + text[-(keep - 1) :]


class _Drain(threading.Thread):
    """Read a pipe to its end, keeping its last (``head=False``) or first ``keep`` bytes."""

    def __init__(self, pipe: IO[bytes], keep: int, *, head: bool = False) -> None:
        super().__init__(daemon=True, name="keyturn-child-output")
        self._pipe = pipe
        self._keep = keep
        self._head = head
        self.buffer = bytearray()
        self.truncated = False

    def run(self) -> None:
        try:
            while chunk := self._pipe.read1(65536):  # type: ignore[attr-defined]
                if self._head:
                    room = self._keep - len(self.buffer)
                    if len(chunk) > room:
                        self.truncated = True
                    if room > 0:
                        self.buffer += chunk[:room]
                    continue
                self.buffer += chunk
                if len(self.buffer) > self._keep:
                    del self.buffer[: len(self.buffer) - self._keep]
                    self.truncated = True
        except (OSError, ValueError):
            pass


@dataclass
class ChildRun:
    """How a child ended. ``status`` is one short line built from status alone (an exit
    code, a signal, a timeout, a start failure) — never from output."""

    ok: bool
    status: str
    #: the exit code when the child ran and exited (None: not started, timed out, signalled)
    returncode: int | None = None
    #: the shown output's tail (stderr, or stdout and stderr together), raw: redact it
    output: bytes = b""
    #: the tail was cut at its start (a form of the value may straddle the cut)
    output_truncated: bool = False
    #: with ``stdout_limit``: stdout's first ``stdout_limit`` bytes, raw (the value)
    stdout: bytes = b""
    stdout_overflow: bool = False

    def __repr__(self) -> str:  # never the output
        return f"ChildRun(ok={self.ok}, status={self.status!r})"


def run_child(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    timeout: float,
    cwd: str | None = None,
    keep: int = TAIL_BYTES,
    stdout_limit: int | None = None,
) -> ChildRun:
    """Run ``argv`` with exactly ``env``; ``ok`` when it exits 0 within ``timeout``.

    Without ``stdout_limit`` stdout and stderr share one pipe whose last ``keep``
    bytes are kept; with it, stdout is read on its own (first ``stdout_limit`` bytes
    kept, ``stdout_overflow`` when it printed more) and the tail is stderr's.
    """
    if cwd is not None and not os.path.isdir(cwd):
        return ChildRun(False, "working directory not found")
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stdout_limit is not None else subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # own process group: killed as a whole
            close_fds=True,
        )
    except FileNotFoundError:
        return ChildRun(False, f"command not found: {short(argv[0])}")
    except PermissionError:
        return ChildRun(False, f"command not executable: {short(argv[0])}")
    except ValueError:  # e.g. NUL in the environment; the message is not shown
        return ChildRun(False, "value cannot be passed in the environment (contains NUL)")
    except OSError as exc:
        return ChildRun(False, f"command could not start: {short(argv[0])} ({type(exc).__name__})")

    assert proc.stdout is not None
    readers: list[_Drain] = []
    if stdout_limit is not None:
        assert proc.stderr is not None
        out = _Drain(proc.stdout, stdout_limit, head=True)
        tail = _Drain(proc.stderr, keep)
        readers = [out, tail]
    else:
        out = None
        tail = _Drain(proc.stdout, keep)
        readers = [tail]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=_KILL_GRACE)
        except subprocess.TimeoutExpired:
            pass
    finally:
        # Whatever is left in the group (background children still holding a value in
        # their environment) does not outlive the command.
        _kill_group(proc, signal.SIGKILL)
        proc.wait()
        for reader in readers:
            reader.join(timeout=2)
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()

    run = ChildRun(False, "", output=bytes(tail.buffer), output_truncated=tail.truncated)
    if out is not None:
        run.stdout, run.stdout_overflow = bytes(out.buffer), out.truncated
    if timed_out:
        run.status = f"timed out after {timeout:g}s"
    elif proc.returncode == 0:
        run.ok, run.status, run.returncode = True, "exit 0", 0
    elif proc.returncode < 0:
        run.status = f"killed by {_signal_name(-proc.returncode)}"
    else:
        run.status, run.returncode = f"exit {proc.returncode}", proc.returncode
    return run


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
