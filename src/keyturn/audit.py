"""Hash-chained JSONL audit log: append one record per state change, verify the chain.

Every line is one JSON object whose ``digest`` is HMAC-SHA256 (hex) over the
:func:`canonical` form of the record (all fields but ``digest``, ``prev_digest``
included) under a versioned chain key from :class:`Keyring`. Each record names its
``key_version``, so the chain key rotates like any other secret: old records verify
while their key is still configured (and inside its ``NOT_AFTER`` window). Without a
key the chain is plain SHA-256 (``key_version`` 0), which detects accidents but not an
attacker who can rewrite the file; a one-line warning is logged on the
``keyturn.audit`` logger and offered as :attr:`Keyring.warning` for the CLI to print.

The log is never written through a symlink (``O_NOFOLLOW``; with ``root`` — the
manifest's directory — no directory between it and the log may be one either), and
missing directories are made 0750 whatever the umask.

A chain cannot reveal that its *last* lines were deleted: keep an anchor (the
``digest``/``seq`` that :meth:`AuditLog.append` returns, e.g. in the evidence record
or PR) and pass it to :func:`verify_log` as ``expect_head`` / ``expect_count``.

Values never enter the log: :meth:`AuditLog.append` raises ``TypeError`` for any
:class:`~keyturn.values.SecretValue` (or bytes) among its arguments or nested in
``details``. A value's fingerprint may appear only as a keyed HMAC
(:meth:`SecretValue.fingerprint`), never a plain hash. This module imports only the
standard library, :mod:`keyturn._internal.atomic`, :mod:`keyturn.errors` and
:mod:`keyturn.values`; never a store,
target, validator, SDK or the CLI.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import hashlib
import hmac
import json
import logging
import math
import os
import re
import socket
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from keyturn._internal.atomic import DIR_MODE, ensure_dir
from keyturn.errors import AuditVerifyFailed, UsageError
from keyturn.values import SecretValue

__all__ = [
    "ACTIVE_VERSION_ENV",
    "DEFAULT_LOG_PATH",
    "EVENT_PATTERN",
    "FIELDS",
    "GENESIS_DIGEST",
    "KEY_ENV_PREFIX",
    "MIN_KEY_BYTES",
    "REKEY_EVENT",
    "AuditLog",
    "Keyring",
    "VerifyReport",
    "canonical",
    "compute_digest",
    "format_ts",
    "json_safe",
    "load_record",
    "verify_log",
]

DEFAULT_LOG_PATH = Path("logs/security_audit.jsonl")
GENESIS_DIGEST = "0" * 64
EVENT_PATTERN = re.compile(r"^[a-z]+(\.[a-z_]+)+$")
KEY_ENV_PREFIX = "KEYTURN_AUDIT_KEY_V"
ACTIVE_VERSION_ENV = "KEYTURN_AUDIT_KEY_ACTIVE_VERSION"
MIN_KEY_BYTES = 16
#: The record that adopts a chain key for a log that was unkeyed (or signed with an older key).
REKEY_EVENT = "audit.rekey"
#: Every record carries exactly these fields, in this (documentation) order.
FIELDS = (
    "ts",
    "seq",
    "event",
    "secret",
    "store",
    "versions",
    "mode",
    "actor",
    "reason",
    "rotation_id",
    "details",
    "key_version",
    "prev_digest",
    "digest",
)
UNKEYED_WARNING = (
    f"audit log is not keyed: set {KEY_ENV_PREFIX}1 (e.g. `openssl rand -hex 32`) so the "
    "chain cannot be recomputed by whoever can edit the file"
)
_ENV_KEY = re.compile(rf"^{KEY_ENV_PREFIX}([1-9][0-9]*)$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
log = logging.getLogger("keyturn.audit")


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a digest covers: every field but ``digest``, sorted, compact, UTF-8."""
    body = {k: v for k, v in record.items() if k != "digest"}
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def format_ts(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z`` suffix and microseconds."""
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    moment = datetime.fromisoformat(text.strip())
    if end_of_day and len(text.strip()) == 10:  # a date alone: valid through that day
        moment += timedelta(days=1, microseconds=-1)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Keyring:
    """Versioned chain keys. Key text is held as :class:`SecretValue` and never printed."""

    __slots__ = ("_active", "_keys", "_not_after")

    def __init__(
        self,
        keys: Mapping[int, str | SecretValue] | None = None,
        *,
        active_version: int | None = None,
        not_after: Mapping[int, datetime] | None = None,
    ) -> None:
        self._keys: dict[int, SecretValue] = {}
        for version, key in (keys or {}).items():
            value = key if isinstance(key, SecretValue) else SecretValue(key)
            if version < 1:
                raise UsageError(f"{KEY_ENV_PREFIX}{version}: key versions start at 1")
            if value.byte_length < MIN_KEY_BYTES:
                raise UsageError(
                    f"{KEY_ENV_PREFIX}{version} is shorter than {MIN_KEY_BYTES} bytes — "
                    "use e.g. `openssl rand -hex 32`"
                )
            self._keys[version] = value
        self._not_after = {v: t for v, t in (not_after or {}).items() if v in self._keys}
        if active_version is None:
            active_version = max(self._keys, default=0)
        if self._keys and active_version not in self._keys:
            raise UsageError(
                f"{ACTIVE_VERSION_ENV}={active_version} but {KEY_ENV_PREFIX}{active_version} "
                f"is not set — configured versions: {sorted(self._keys)}"
            )
        if not self._keys and active_version:
            raise UsageError(f"{ACTIVE_VERSION_ENV}={active_version} but no {KEY_ENV_PREFIX}<n> is set")
        self._active = active_version

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Keyring:
        """Read ``KEYTURN_AUDIT_KEY_V<n>``, ``..._V<n>_NOT_AFTER`` and ``..._ACTIVE_VERSION``.

        Empty variables count as unset (a missing Actions secret expands to "").
        ``NOT_AFTER`` is an ISO date-time (naive means UTC); a date alone means through
        the end of that day.
        """
        env = os.environ if environ is None else environ
        keys: dict[int, str] = {}
        not_after: dict[int, datetime] = {}
        for name in env:
            if (name.startswith(KEY_ENV_PREFIX) and name != ACTIVE_VERSION_ENV
                    and not _ENV_KEY.match(name.removesuffix("_NOT_AFTER"))):
                raise UsageError(f"{name}: not an audit key variable — use {KEY_ENV_PREFIX}<n> (n = 1, 2, …), "
                                 f"{KEY_ENV_PREFIX}<n>_NOT_AFTER or {ACTIVE_VERSION_ENV}")
        for name, text in env.items():
            match = _ENV_KEY.match(name)
            if match and text:
                version = int(match.group(1))
                keys[version] = text
                limit = env.get(f"{name}_NOT_AFTER", "")
                if limit:
                    try:
                        not_after[version] = _parse_time(limit, end_of_day=True)
                    except ValueError:
                        raise UsageError(
                            f"{name}_NOT_AFTER={limit!r} is not an ISO date-time (e.g. 2027-01-31T00:00:00Z)"
                        ) from None
        active_text = env.get(ACTIVE_VERSION_ENV, "").strip()
        active: int | None = None
        if active_text:
            if not active_text.isdigit():
                raise UsageError(f"{ACTIVE_VERSION_ENV}={active_text!r} must be a version number")
            active = int(active_text)
        return cls(keys, active_version=active, not_after=not_after)

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    @property
    def active_version(self) -> int:
        """The version that signs new records; 0 when unkeyed (plain SHA-256)."""
        return self._active

    @property
    def is_keyed(self) -> bool:
        return bool(self._keys)

    @property
    def warning(self) -> str | None:
        """One line for the CLI to print on stderr when no chain key is configured."""
        return None if self._keys else UNKEYED_WARNING

    def has(self, version: int) -> bool:
        return version in self._keys

    def not_after(self, version: int) -> datetime | None:
        return self._not_after.get(version)

    def sign(self, data: bytes, version: int) -> str:
        """Digest of ``data``: HMAC-SHA256 under key ``version``, plain SHA-256 for 0."""
        if version == 0:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self._keys[version].reveal_bytes(), data, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"Keyring(versions={list(self.versions)}, active={self._active})"


def compute_digest(record: Mapping[str, Any], keyring: Keyring) -> str:
    """The digest ``record`` should carry, under its own ``key_version``."""
    return keyring.sign(canonical(record), int(record["key_version"]))


# -- appending --------------------------------------------------------------------


def json_safe(value: Any, where: str = "value") -> Any:
    """Return a JSON-safe copy; ``TypeError`` for a SecretValue, bytes or odd types."""
    if isinstance(value, SecretValue):
        raise TypeError(
            f"audit {where}: a SecretValue may never be written to the audit log; "
            "record a keyed fingerprint (SecretValue.fingerprint(key)) if you must"
        )
    if isinstance(value, Enum):
        value = value.value
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and not math.isfinite(value):
            raise TypeError(f"audit {where}: NaN/Infinity is not valid JSON")
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"audit {where}: keys must be str, got {type(key).__name__}")
            out[key] = json_safe(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [json_safe(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(
        f"audit {where}: {type(value).__name__} is not allowed (str, numbers, bool, None, "
        "lists and dicts of those only)"
    )


def _default_actor(environ: Mapping[str, str]) -> str:
    if environ.get("GITHUB_ACTOR"):
        return environ["GITHUB_ACTOR"]
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _last_line(fd: int) -> bytes | None:
    """The last line (without its newline), read backwards from the end; None if empty."""
    pos = os.fstat(fd).st_size
    if pos == 0:
        return None
    tail = b""
    while pos > 0:
        step = min(65536, pos)
        pos -= step
        tail = os.pread(fd, step, pos) + tail
        body = tail[:-1] if tail.endswith(b"\n") else tail
        if b"\n" in body:
            return body.rsplit(b"\n", 1)[1]
    return tail[:-1] if tail.endswith(b"\n") else tail


class AuditLog:
    """Append-only, hash-chained audit log at ``path`` (see module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_LOG_PATH,
        keyring: Keyring | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = Path(path)
        #: The manifest's directory: no directory between it and the log may be a symlink.
        self.root = Path(root) if root is not None else None
        self._environ = os.environ if environ is None else environ
        self.keyring = keyring if keyring is not None else Keyring.from_env(self._environ)
        self._clock = clock or (lambda: datetime.now(UTC))
        if self.keyring.warning:
            log.warning(self.keyring.warning)

    def append(
        self,
        event: str,
        *,
        secret: str | None = None,
        store: str | None = None,
        versions: Mapping[str, str | int] | None = None,
        mode: str | None = None,
        actor: str | None = None,
        reason: str | None = None,
        rotation_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append exactly one record (atomic across processes) and return it."""
        fields = {
            "secret": secret,
            "store": store,
            "mode": mode,
            "actor": actor,
            "reason": reason,
            "rotation_id": rotation_id,
        }
        clean: dict[str, Any] = {}
        for name, value in fields.items():
            value = json_safe(value, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"audit {name}: expected str, got {type(value).__name__}")
            clean[name] = value
        clean["versions"] = json_safe(dict(versions or {}), "versions")
        clean["details"] = json_safe(dict(details or {}), "details")
        if not isinstance(event, str) or not EVENT_PATTERN.match(event):
            raise ValueError(f"audit event {event!r} must match {EVENT_PATTERN.pattern}")
        if clean["actor"] is None:
            clean["actor"] = _default_actor(self._environ)
        version = self.keyring.active_version
        now = self._clock()
        self._refuse_expired(version, now)
        created = not self.path.exists()
        fd = self._open_for_append()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            seq, prev, needs_newline, last = self._tail_locked(fd)
            if last is not None:
                now = self._after_last(last, event, version, now)
            record: dict[str, Any] = {
                "ts": format_ts(now),
                "seq": seq + 1,
                "event": event,
                **clean,
                "key_version": version,
                "prev_digest": prev,
            }
            record["digest"] = compute_digest(record, self.keyring)
            line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            data = (b"\n" if needs_newline else b"") + line.encode("utf-8") + b"\n"
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock
        if created:
            _fsync_dir(self.path.parent)
        return record

    def _refuse_expired(self, version: int, now: datetime) -> None:
        limit = self.keyring.not_after(version)
        if limit is not None and now > limit:
            raise UsageError(
                f"{KEY_ENV_PREFIX}{version} expired at {format_ts(limit)} — configure "
                f"{KEY_ENV_PREFIX}{version + 1} and set {ACTIVE_VERSION_ENV}={version + 1}"
            )

    def check_append(self) -> None:
        """Read-only: would :meth:`append` accept a record now? (Key expired, a key older
        than the chain's, a keyed record after an unkeyed chain.) Run before any write."""
        version = self.keyring.active_version
        now = self._clock()
        self._refuse_expired(version, now)
        if not self.path.is_file():
            return
        fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            _, _, _, last = self._tail_locked(fd)
        finally:
            os.close(fd)
        if last is not None:
            self._after_last(last, "rotation.begin", version, now)

    def _open_for_append(self) -> int:
        """Open the log without following a symlink, its directories made 0750."""
        try:
            ensure_dir(self.path.parent, DIR_MODE, root=self.root)
        except OSError as exc:
            where = exc.filename or self.path.parent
            raise UsageError(f"audit log directory {where}: {exc.strerror} — use a real directory") from None
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UsageError(f"audit log {self.path} is a symlink — keyturn does not write through symlinks") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise UsageError(f"audit log {self.path} is not a regular file")
        return fd

    def _after_last(self, last: dict[str, Any], event: str, version: int, now: datetime) -> datetime:
        """Refuse a key version older than the last record's; never let time run backwards."""
        last_version = int(last["key_version"])
        if version < last_version and version:
            raise UsageError(
                f"{self.path}: line {last['seq']} is signed with {KEY_ENV_PREFIX}{last_version}; signing with "
                f"V{version} would go backwards — set {ACTIVE_VERSION_ENV}={last_version} or higher"
            )
        if last_version == 0 and version and event != REKEY_EVENT:
            raise UsageError(
                f"{self.path} is an unkeyed chain: adopt {KEY_ENV_PREFIX}{version} first with "
                "`keyturn audit rekey --reason TEXT` (see README, audit log)"
            )
        try:
            last_ts = _parse_time(str(last["ts"]))
        except ValueError:
            return now
        # Runner clocks differ: a record never claims to precede the one before it.
        return max(now, last_ts)

    def rekey(self, *, reason: str, actor: str | None = None) -> dict[str, Any] | None:
        """Adopt the active chain key: append a signed ``audit.rekey`` record.

        The whole log is verified first (an unkeyed prefix as plain SHA-256). The rekey
        record chains onto the last digest, so its HMAC vouches for everything before
        it; from then on :func:`verify_log` requires the key and rejects any unkeyed
        record. Returns None (and writes nothing) when the last record is already
        signed with the active key.
        """
        if not self.keyring.is_keyed:
            raise UsageError(f"audit rekey: no chain key is set — set {KEY_ENV_PREFIX}1 (e.g. `openssl rand -hex 32`)")
        if not isinstance(reason, str) or not reason.strip():
            raise UsageError("audit rekey needs --reason TEXT (it is audited)")
        count, from_version = 0, 0
        if self.path.exists():
            report = verify_log(self.path, self.keyring, allow_unkeyed=True)
            report.raise_for_failure()
            count = report.records
            from_version = max(report.key_versions, default=0)
        if count and from_version == self.keyring.active_version:
            return None
        return self.append(
            REKEY_EVENT,
            actor=actor,
            reason=reason,
            details={
                "from_key_version": from_version,
                "to_key_version": self.keyring.active_version,
                "records_before": count,
            },
        )

    def head(self) -> tuple[int, str]:
        """(seq, digest) of the last record — the anchor to keep; (0, genesis) if empty."""
        if not self.path.exists():
            return 0, GENESIS_DIGEST
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            seq, digest, _ = self._head_locked(fd)
            return seq, digest
        finally:
            os.close(fd)

    def _head_locked(self, fd: int) -> tuple[int, str, bool]:
        seq, digest, needs_newline, _ = self._tail_locked(fd)
        return seq, digest, needs_newline

    def _tail_locked(self, fd: int) -> tuple[int, str, bool, dict[str, Any] | None]:
        raw = _last_line(fd)
        if raw is None:
            return 0, GENESIS_DIGEST, False, None
        where = f"{self.path}: last line"
        hint = f"run `keyturn audit verify --log {self.path}` and repair the log before appending"
        try:
            last = load_record(raw)
        except DuplicateKey as exc:
            raise UsageError(f"{where} has a {exc} — {hint}") from None
        except (ValueError, RecursionError):
            raise UsageError(f"{where} is not valid JSON (truncated write?) — {hint}") from None
        if (
            not isinstance(last, dict)
            or not isinstance(last.get("seq"), int)
            or not isinstance(last.get("key_version"), int)
            or not _HEX64.match(str(last.get("digest", "")))
        ):
            raise UsageError(f"{where} is not an audit record — {hint}")
        version = last["key_version"]
        if version and not self.keyring.is_keyed:
            raise UsageError(
                f"{where} is signed with {KEY_ENV_PREFIX}{version} but no audit key is set — "
                f"set {KEY_ENV_PREFIX}{version} instead of extending the chain unkeyed"
            )
        if (version == 0 or self.keyring.has(version)) and not hmac.compare_digest(
            compute_digest(last, self.keyring), last["digest"]
        ):
            raise UsageError(f"{where} (seq {last['seq']}): digest mismatch — {hint}")
        size = os.fstat(fd).st_size
        needs_newline = os.pread(fd, 1, size - 1) != b"\n"
        return int(last["seq"]), str(last["digest"]), needs_newline, last


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# -- verifying --------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify_log`. ``records`` counts the records that verified."""

    ok: bool
    records: int
    first_bad_line: int | None
    reason: str
    path: str = ""
    head: str = GENESIS_DIGEST
    key_versions: tuple[int, ...] = ()
    warning: str | None = None

    def raise_for_failure(self) -> None:
        """Raise :class:`AuditVerifyFailed` (exit 1) with a one-line message if not ok."""
        if not self.ok:
            raise AuditVerifyFailed(f"{self.path}: {self.reason}")


_TYPES: dict[str, type | tuple[type, ...]] = {
    "ts": str,
    "seq": int,
    "event": str,
    "versions": dict,
    "details": dict,
    "key_version": int,
    "prev_digest": str,
    "digest": str,
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class DuplicateKey(ValueError):
    """A JSON object names one key twice: readers disagree on which value counts."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def load_record(raw: bytes) -> Any:
    """Parse one line strictly: UTF-8, no NaN/Infinity, no duplicated keys at any depth."""
    return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)


def _lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    with open(path, "rb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
        for number, raw in enumerate(fh, start=1):
            yield number, raw.rstrip(b"\n"), raw.endswith(b"\n")


def _check(record: Any, keyring: Keyring) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    for name in FIELDS:
        if name not in record:
            return f"missing field {name!r}"
    for name, kind in _TYPES.items():
        if not isinstance(record[name], kind) or isinstance(record[name], bool):
            return f"field {name!r} has the wrong type"
    for name in ("prev_digest", "digest"):
        if not _HEX64.match(record[name]):
            return f"{name} is not 64 lowercase hex characters"
    version = record["key_version"]
    if version < 0 or (version and not keyring.has(version)):
        return f"key_version {version} is not configured (set {KEY_ENV_PREFIX}{version})"
    return None


_ADOPT = f"adopt the key with `keyturn audit rekey --reason TEXT` (it appends a signed {REKEY_EVENT} record)"


def _order(record: dict[str, Any], last: tuple[int, int, datetime] | None, keyed: bool) -> str | None:
    """Key versions and timestamps never go backwards; ``last`` is (line, version, ts)."""
    if last is None:
        return None
    line, version, ts = last
    if record["key_version"] < version:
        if record["key_version"] == 0:
            return f"unkeyed record (key_version 0) after keyed line {line} — anyone could have written it"
        return (
            f"key_version {record['key_version']} goes backwards (line {line} is signed with V{version}): "
            "a retired key cannot sign after its successor"
        )
    if version == 0 and record["key_version"] > 0 and record["event"] != REKEY_EVENT and keyed:
        return f"keyed record after unkeyed line {line} without an {REKEY_EVENT} record — {_ADOPT}"
    moment = _parse_time(record["ts"])
    if moment < ts:
        return f"ts {record['ts']} is earlier than line {line}'s {format_ts(ts)} (timestamps never go backwards)"
    return None


def verify_log(
    path: str | os.PathLike[str],
    keyring: Keyring,
    *,
    expect_head: str | None = None,
    expect_count: int | None = None,
    allow_unkeyed: bool = False,
) -> VerifyReport:
    """Verify the whole chain; name the first bad line and why.

    Detects edited, deleted, inserted and reordered lines. Deleting the *last* lines
    leaves a valid shorter chain, so pass an anchor taken earlier: ``expect_count``
    (at least that many records) and/or ``expect_head`` (that digest is in the chain,
    at seq ``expect_count`` when both are given).

    Key versions and timestamps never go backwards, and no JSON key appears twice.
    With a chain key configured, unkeyed (key_version 0) records are accepted only as
    a prefix that a signed ``audit.rekey`` record adopts (``keyturn audit rekey``);
    ``allow_unkeyed`` also accepts a prefix without one (used before adopting).
    """
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"audit log {target} is a directory — pass --log FILE")
    if not target.is_file():
        raise UsageError(f"audit log {target} does not exist — pass --log PATH")
    prev, count, anchor_seq = GENESIS_DIGEST, 0, None
    seen: set[int] = set()

    def report(ok: bool, line: int | None, reason: str) -> VerifyReport:
        unkeyed = 0 in seen or (count == 0 and not keyring.is_keyed)
        return VerifyReport(
            ok,
            count,
            line,
            reason,
            str(target),
            prev,
            tuple(sorted(seen)),
            UNKEYED_WARNING if unkeyed else None,
        )

    last: tuple[int, int, datetime] | None = None
    first_unkeyed: int | None = None
    for number, raw, terminated in _lines(target):
        bad = f"line {number}:"
        if not raw.strip():
            return report(False, number, f"{bad} empty line")
        try:
            record = load_record(raw)
        except DuplicateKey as exc:
            return report(False, number, f"{bad} {exc} (a reader could take either value)")
        except (ValueError, RecursionError):
            why = "" if terminated else " (truncated last line)"
            return report(False, number, f"{bad} not valid JSON{why}")
        problem = _check(record, keyring)
        if problem:
            return report(False, number, f"{bad} {problem}")
        try:
            signed_at = _parse_time(record["ts"])
        except ValueError:
            return report(False, number, f"{bad} ts {record['ts']!r} is not an ISO-8601 time")
        if record["prev_digest"] != prev:
            if number == 1:
                why = "prev_digest is not the genesis value (the first line was deleted or a line inserted before it)"
            else:
                why = f"prev_digest does not match line {number - 1} (a line was deleted, inserted or reordered)"
            return report(False, number, f"{bad} {why}")
        if record["seq"] != number:
            return report(False, number, f"{bad} seq {record['seq']} expected {number}")
        if not hmac.compare_digest(compute_digest(record, keyring), record["digest"]):
            return report(False, number, f"{bad} digest mismatch (record edited or wrong key)")
        problem = _order(record, last, keyring.is_keyed and not allow_unkeyed)
        if problem:
            return report(False, number, f"{bad} {problem}")
        version = record["key_version"]
        limit = keyring.not_after(version)
        if limit is not None and signed_at > limit:
            return report(
                False,
                number,
                (
                    f"{bad} signed with key V{version} at {record['ts']}, after its "
                    f"{KEY_ENV_PREFIX}{version}_NOT_AFTER {format_ts(limit)}"
                ),
            )
        if version == 0 and first_unkeyed is None:
            first_unkeyed = number
        seen.add(version)
        last = (number, version, signed_at)
        prev, count = record["digest"], number
        if expect_head is not None and record["digest"] == expect_head:
            anchor_seq = number
    if keyring.is_keyed and not allow_unkeyed and first_unkeyed is not None and seen == {0}:
        return report(
            False,
            first_unkeyed,
            f"line {first_unkeyed}: unkeyed record (key_version 0) but a chain key is configured — {_ADOPT}",
        )
    if expect_count is not None and count < expect_count:
        return report(
            False,
            count + 1,
            (
                f"line {count + 1}: missing — the log ends after {count} records but the anchor "
                f"expects at least {expect_count} (the last line(s) were deleted)"
            ),
        )
    if expect_head is not None and (anchor_seq is None or expect_count not in (None, anchor_seq)):
        where = f" at seq {expect_count}" if expect_count is not None else ""
        return report(
            False,
            None,
            (
                f"anchor digest {expect_head[:12]}… not found{where} in {count} records "
                "(the log was truncated or rewritten after the anchor was taken)"
            ),
        )
    return report(True, None, f"ok: {count} records verified")
