"""``command`` check: run a program that proves a value works, value passed by env only.

The child gets the value in ``KEYTURN_VALUE`` and the secret's name in
``KEYTURN_SECRET_NAME`` (on top of the inherited environment and the check's ``env``);
argv is fixed at construction and never carries the value; stdin is closed. Output
(stdout and stderr together) is read through a pipe, never written to disk, and only a
bounded tail is kept. On failure the detail names the exit code or timeout and, after
every derived form of the value is replaced with ``***``, the tail of the output. The
whole process group is killed on timeout and when the check ends. This module imports
only the standard library, :mod:`keyturn.values`, :mod:`keyturn.errors` and
:mod:`keyturn.validators.base`; it must never import a store, target or SDK.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO

from keyturn.errors import UsageError
from keyturn.validators.base import CheckResult
from keyturn.values import SecretValue

#: How much of the (redacted) output a failed check reports.
TAIL_CHARS = 4096
_KILL_GRACE = 1.0
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


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


def redaction_forms(value: SecretValue) -> list[str]:
    """``value.derived_forms()`` plus how tools commonly print them: JSON- and
    Python-repr-escaped (a value with quotes or backslashes printed by ``json.dumps``)."""
    forms = value.derived_forms()
    extra = [json.dumps(f)[1:-1] for f in forms] + [repr(f)[1:-1] for f in forms]
    return list(dict.fromkeys(forms + [f for f in extra if f]))


def redact(text: str, forms: Sequence[str], *, drop_prefix: int = 0) -> str:
    """Replace every occurrence of ``forms`` with ``***``; then drop the first
    ``drop_prefix`` characters of the original text (where a form cut off by the
    buffer start could remain partially), keeping a match that straddles the cut."""
    spans: list[tuple[int, int]] = []
    for form in sorted(set(forms), key=len, reverse=True):
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    spans.sort()
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out: list[str] = []
    pos = drop_prefix
    for start, end in merged:
        if end <= pos:
            continue
        if start > pos:
            out.append(text[pos:start])
        out.append("***")
        pos = max(pos, end)
    out.append(text[pos:])
    return "".join(out)


class CommandCheck:
    """Run ``argv``; the check passes when it exits 0 within ``timeout`` seconds."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> None:
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) for a in argv) or not argv[0]:
            raise UsageError("command check: argv must be a non-empty list of strings")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise UsageError("command check: timeout must be a positive number of seconds")
        for key in env or {}:
            if key.startswith("KEYTURN_VALUE") or key == "KEYTURN_SECRET_NAME":
                raise UsageError(f"command check: env must not set {key}; keyturn sets it")
        self.argv = list(argv)
        self.timeout = float(timeout)
        self.env = dict(env or {})
        self.cwd = cwd

    @property
    def label(self) -> str:
        return f"command {self.argv[0]}"

    def __repr__(self) -> str:
        return f"CommandCheck({self.label!r})"

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        started = time.monotonic()

        def result(ok: bool, detail: str) -> CheckResult:
            return CheckResult(ok, self.label, detail, round(time.monotonic() - started, 3))

        if self.cwd is not None and not os.path.isdir(self.cwd):
            return result(False, f"working directory not found: {self.cwd}")
        child_env = {**os.environ, **self.env}
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
            return result(False, f"command not found: {self.argv[0]}")
        except PermissionError:
            return result(False, f"command not executable: {self.argv[0]}")
        except ValueError:  # e.g. NUL in the environment; the message is not shown
            return result(False, "value cannot be passed in the environment (contains NUL)")
        except OSError as exc:
            return result(False, f"command could not start: {self.argv[0]} ({type(exc).__name__})")
        finally:
            del child_env

        forms = redaction_forms(value)
        longest = max((len(f.encode("utf-8")) for f in forms), default=0)
        assert proc.stdout is not None
        reader = _Tail(proc.stdout, TAIL_CHARS * 4 + longest)
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
        tail = self._redacted_tail(bytes(reader.buffer), forms, longest if reader.truncated else 0)
        return result(False, f"{status}; output: {tail}" if tail else status)

    @staticmethod
    def _redacted_tail(raw: bytes, forms: Sequence[str], cut: int) -> str:
        text = raw.decode("utf-8", errors="replace")
        # When the buffer was trimmed, a form may start before it: its remainder lies
        # within the first ``cut`` characters, which are dropped after redaction.
        clean = redact(text, forms, drop_prefix=cut)
        clean = _CONTROL.sub(" ", clean)
        # One line: output cannot start a line that the runner would read as a
        # workflow command (``::add-mask::``, ``::error::``) when the detail is logged.
        one_line = " ".join(clean.split())
        if len(one_line) > TAIL_CHARS:
            one_line = "…" + one_line[-TAIL_CHARS:]
        return one_line


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
