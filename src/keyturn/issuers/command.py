"""The ``command`` issuer: any vendor API, through three programs you write.

``generator: {type: command, issue: [argv...], revoke: [argv...], verify: [argv...],
timeout: 30s, env: {...}, pass_env: [...]}``. Each program runs like a ``command``
check (:mod:`keyturn._internal.child`): fixed argv, stdin closed, a minimal environment
(``PATH``, ``HOME``, locale, ``env``, ``pass_env``, and the ``KEYTURN_*`` variables
below), the working directory is the manifest's, the process group is killed on timeout.

* **issue** gets ``KEYTURN_SECRET`` / ``KEYTURN_SECRET_NAME`` (the secret's name),
  ``KEYTURN_ROTATION_ID``, and on a resumed rotation ``KEYTURN_RESUMED=1`` (plus
  ``KEYTURN_LOST_CREDENTIAL_ID`` when keyturn recorded the id of a credential whose value
  was lost). It prints the new credential on stdout: a JSON object
  ``{"id": "<public key id>", "value": "<the key>"}``, or the value alone on one line
  (its id is then the rotation id). stdout is read through a pipe, boxed in a
  :class:`~keyturn.values.SecretValue` at once and never shown; stderr is shown only
  redacted, as one short line.
* **revoke** gets ``KEYTURN_CREDENTIAL_ID`` (never a value); exit 0 = the credential is
  gone (already gone included) — exit 0 only after reading that back.
* **verify** (optional) gets the new value in ``KEYTURN_VALUE`` and its id in
  ``KEYTURN_CREDENTIAL_ID``; exit 0 = the new credential works.

Output shown is redacted of the new value and of every ``pass_env`` variable's value
(an admin key). Imports only the standard library and keyturn's value, redaction and
process modules — no SDK.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from keyturn._internal.child import TAIL_BYTES, check_env_names, minimal_env, passed_values, run_child, short
from keyturn._internal.configbase import ConfigModel, Duration
from keyturn.errors import ServiceError, UsageError
from keyturn.issuers.base import IssueRequest, Issued, Refused
from keyturn.redaction import EXCERPT_CHARS, MASK, Forms, excerpt, forms_of_all, reach, redact
from keyturn.values import SecretValue

#: The most an issue command may print on stdout (GitHub refuses secrets over 48 KB).
MAX_STDOUT = 64 * 1024
#: A credential id is public (journal, audit log, revoke's environment): short and plain.
_CREDENTIAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: How many lines of a bad stdout are redacted from stderr (each one may be the value).
_CANDIDATE_LINES = 32
_ROLES = ("issue", "revoke", "verify")
#: On a failed issue's stderr: a long token that may be the new key keyturn never got.
_KEYLIKE = re.compile(r"[A-Za-z0-9+/=._~-]{24,}")


class CommandGen(ConfigModel):
    type: Literal["command"]
    issue: list[str] = Field(min_length=1, description="argv that issues a new credential and prints it on stdout: "
                             '{"id": "...", "value": "..."} or the value alone on one line')
    revoke: list[str] = Field(min_length=1, description="argv that revokes the credential in env "
                              "KEYTURN_CREDENTIAL_ID; exit 0 = gone (read back)")
    verify: list[str] | None = Field(default=None, min_length=1, description="argv that proves the new value "
                                     "(env KEYTURN_VALUE) works; exit 0 = works")
    timeout: Duration = Field(default=timedelta(seconds=30), description="Per command")
    env: dict[str, str] = Field(default_factory=dict, description="Fixed variables for the commands")
    pass_env: list[str] = Field(
        default_factory=list,
        description="Variables copied from keyturn's environment (an admin API key); redacted from output",
    )

    @field_validator("issue", "revoke", "verify")
    @classmethod
    def _argv_ok(cls, argv: list[str] | None) -> list[str] | None:
        if argv is not None and (not argv[0] or any("\x00" in a for a in argv)):
            raise ValueError("argv[0] must name a program (and no argument may contain NUL)")
        return argv

    @field_validator("timeout")
    @classmethod
    def _timeout_ok(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("timeout must be positive")
        return value

    @model_validator(mode="after")
    def _env_names(self) -> CommandGen:
        problem = check_env_names(self.env, self.pass_env)
        if problem:
            raise ValueError(f"{problem[0]}: {problem[1]}")
        return self

    def manifest_problem(self, base_dir: Path, environ: Mapping[str, str]) -> tuple[tuple[str], str] | None:
        """(key, problem) for a program that cannot be found, checked by ``manifest check``."""
        for role in _ROLES:
            argv = getattr(self, role)
            if argv and not find_program(argv[0], str(base_dir), environ):
                return (role,), (f"{role} command {short(argv[0])}: program not found "
                                 f"({'relative to the manifest' if '/' in argv[0] else 'on PATH'})")
        return None


def find_program(program: str, cwd: str, environ: Mapping[str, str]) -> bool:
    """``program`` resolves the way the child's exec will resolve it (PATH, or ``cwd``)."""
    if "/" in program:
        path = Path(cwd, program)
        return path.is_file() and os.access(path, os.X_OK)
    return shutil.which(program, path=environ.get("PATH", os.defpath)) is not None


def command_label(argv: Sequence[str]) -> str:
    """``argv[0]``, and the script it runs (``python3 issue.py``): no values, ever."""
    if len(argv) > 1 and argv[1] and not argv[1].startswith("-"):
        return f"{short(argv[0], 40)} {short(argv[1], 60)}"
    return short(argv[0])


class CommandIssuer:
    kind = "command"
    fields: tuple[str, ...] = ()
    overlap = True
    human_revoke = False

    def __init__(self, secret: str, config: CommandGen, environ: Mapping[str, str], base_dir: Any = None) -> None:
        self.secret = secret
        self.config = config
        self.environ = environ
        self.cwd = str(base_dir) if base_dir is not None else os.getcwd()
        self.timeout = config.timeout.total_seconds()

    def __repr__(self) -> str:
        return f"CommandIssuer({self.secret!r})"

    # -- the child's world -----------------------------------------------------------
    def _env(self, **keyturn: str) -> dict[str, str]:
        env = minimal_env(self.environ, self.config.env, self.config.pass_env)
        env["KEYTURN_SECRET"] = env["KEYTURN_SECRET_NAME"] = self.secret
        env.update(keyturn)
        return env

    def _admin_values(self) -> list[str]:
        """What ``pass_env`` hands the commands (admin keys): never shown either."""
        return passed_values(self.environ, self.config.pass_env)

    def _shown(self, output: bytes, truncated: bool, forms: Forms, *, keylike: bool = False) -> str:
        text = output.decode("utf-8", errors="replace")
        drop = reach(forms) if truncated else 0
        if keylike:  # after redaction, which finds wrapped and spaced forms in the whole text
            text = _KEYLIKE.sub(lambda m: MASK if _mixed(m.group(0)) else m.group(0),
                                redact(text, forms, drop_prefix=drop))
            return excerpt(text, (), limit=EXCERPT_CHARS)
        return excerpt(text, forms, drop_prefix=drop, limit=EXCERPT_CHARS)

    def _run(self, argv: Sequence[str], env: dict[str, str], secrets: list[str],
             stdout_limit: int | None = None) -> tuple[bool, str, str, bytes]:
        """(ok, status, redacted output line, stdout) of one command."""
        forms = forms_of_all(secrets + self._admin_values())
        try:
            run = run_child(argv, env, timeout=self.timeout, cwd=self.cwd, keep=TAIL_BYTES + reach(forms) * 4,
                            stdout_limit=stdout_limit)
        finally:
            env.clear()
        keylike = stdout_limit is not None and not run.ok
        if keylike:
            # A failed issue: keyturn does not know the new key, which may be on stdout (every
            # line of it is redacted) or only on stderr (key-like tokens are masked too).
            forms = forms_of_all(secrets + self._admin_values() + _candidates(run.stdout))
        shown = self._shown(run.output, run.output_truncated, forms, keylike=keylike) if not run.ok else ""
        if run.stdout_overflow:
            return False, f"printed more than {MAX_STDOUT // 1024} KiB on stdout", shown, b""
        return run.ok, run.status, shown, run.stdout

    def _fail(self, role: str, argv: Sequence[str], status: str, shown: str, fix: str) -> ServiceError:
        """The error: its message is status only (it reaches webhooks and JSON results);
        the redacted stderr goes with it for the terminal only."""
        return ServiceError(f"{self.secret}: {role} command {command_label(argv)} failed: {status} — {fix}",
                            excerpt=f"stderr: {shown}" if shown else "")

    # -- the protocol ----------------------------------------------------------------
    def preflight(self, current: str) -> None:
        problem = self.config.manifest_problem(Path(self.cwd), self.environ)
        if problem:
            raise UsageError(f"{self.secret}: generator command: {problem[1]}")

    def current_credential(self) -> str:
        return ""  # the key in use before keyturn: its id is unknown (revoke it by hand once)

    def issue(self, request: IssueRequest) -> Issued:
        extra = {"KEYTURN_ROTATION_ID": request.rotation_id}
        if request.resumed:
            extra["KEYTURN_RESUMED"] = "1"
            if request.lost:
                extra["KEYTURN_LOST_CREDENTIAL_ID"] = request.lost
        argv = self.config.issue
        ok, status, shown, stdout = self._run(argv, self._env(**extra), [], stdout_limit=MAX_STDOUT)
        fix = (f"nothing was promoted; `keyturn rotate {self.secret}` resumes rotation {request.rotation_id} "
               "(KEYTURN_RESUMED=1: delete what an earlier attempt issued)")
        if not ok:
            raise self._fail("issue", argv, status, shown, fix)
        value, credential_id = parse_issued(stdout, request.rotation_id)  # boxed at once
        if isinstance(value, str):  # a problem with stdout (never its text)
            raise self._fail("issue", argv, f"exit 0 but {value}", "", fix)
        return Issued(value, credential_id)

    def verify(self, issued: Issued) -> Refused | None:
        argv = self.config.verify
        if not argv:
            return None
        env = self._env(KEYTURN_VALUE=issued.value.reveal(), KEYTURN_CREDENTIAL_ID=issued.credential_id)
        ok, status, shown, _ = self._run(argv, env, [issued.value.reveal()])
        if ok:
            return None
        return Refused(f"verify command {command_label(argv)}: {status}", shown)

    def revoke(self, credential_id: str) -> bool:
        argv = self.config.revoke
        ok, status, shown, _ = self._run(argv, self._env(KEYTURN_CREDENTIAL_ID=credential_id), [])
        if not ok:
            raise self._fail("revoke", argv, status, shown, f"credential {credential_id} may still be valid")
        return True


def _mixed(token: str) -> bool:
    """Letters and digits both: a key, not a word or a path."""
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def _candidates(stdout: bytes) -> list[str]:
    """What on a stdout that was not read could be the value: its lines and JSON strings."""
    text = stdout.decode("utf-8", errors="replace")
    found = [line.strip() for line in text.splitlines()[:_CANDIDATE_LINES] if len(line.strip()) >= 8]
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        found += [v for v in data.values() if isinstance(v, str) and len(v) >= 8]
    return found


def parse_issued(stdout: bytes, rotation_id: str) -> tuple[SecretValue | str, str]:
    """(value, credential id) from an issue command's stdout — or (problem, "") where the
    problem names what is wrong without quoting anything that was printed."""
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError:
        return "its stdout is not UTF-8 (stdout not shown)", ""
    if not text.strip():
        return 'it printed nothing on stdout (expected {"id": ..., "value": ...} or the value on one line)', ""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return "its stdout starts with { but is not a JSON object (stdout not shown)", ""
        if not isinstance(data, dict):
            return "its stdout is not a JSON object (stdout not shown)", ""
        raw_value = data.get("value")
        if not isinstance(raw_value, str) or not raw_value:
            return 'its JSON has no string "value" (stdout not shown)', ""
        value = SecretValue(raw_value)
        unknown = sorted(k for k in data if k not in ("id", "value"))
        if unknown:
            names = ", ".join(repr(k)[:40] for k in unknown[:5])
            return f'its JSON has keys other than "id" and "value": {names} (stdout not shown)', ""
        credential_id = data.get("id")
        if not isinstance(credential_id, str) or not credential_id:
            return 'its JSON has no string "id" (stdout not shown)', ""
        if value.reveal() in credential_id:
            return 'its JSON "id" contains the value (the id is public: journal, audit log)', ""
        if not _CREDENTIAL_ID.match(credential_id):
            return ('its JSON "id" is not a plain id (1-200 of A-Z a-z 0-9 . _ : @ / + = -, '
                    "not shown)"), ""
    else:
        body = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
        if "\n" in body or "\r" in body:
            return (f"it printed {len(body.splitlines())} lines on stdout (expected the value on one line, or "
                    '{"id": ..., "value": ...}; stdout not shown)'), ""
        value = SecretValue(body)
        credential_id = rotation_id
    plain = value.reveal()
    if _CONTROL.search(plain):
        return "the value it printed contains control characters (not shown)", ""
    if plain != plain.strip():
        return "the value it printed has leading or trailing whitespace (not shown)", ""
    if len(plain) < 8:
        return "the value it printed is shorter than 8 characters (too short to mask)", ""
    return value, credential_id
