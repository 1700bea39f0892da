"""The per-run context: manifest, environment, stores, targets, checks, audit, output.

Built once per CLI invocation and passed explicitly (no module globals). Stores and
target sessions are created lazily and cached so a run opens one client per store.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from keyturn.manifest import LoadedManifest, SecretConfig
from keyturn.stores.base import SecretRef, Store, utcnow
from keyturn.stores.registry import build_store
from keyturn.targets.registry import BoundTarget, TargetFactory
from keyturn.validators.base import Check
from keyturn.validators.registry import build_check


def default_actor(environ: Mapping[str, str]) -> str:
    if environ.get("GITHUB_ACTOR"):
        return environ["GITHUB_ACTOR"]
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class Progress:
    """Progress lines on stderr (results go to stdout). Quiet mode prints nothing."""

    def __init__(self, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()

    def step(self, secret: str, message: str) -> None:
        """One line per stage; on a terminal with the elapsed time and the name in bold."""
        if self.quiet:
            return
        if self.tty:
            elapsed = time.monotonic() - self.started
            line = f"\x1b[2m{elapsed:6.2f}s\x1b[0m \x1b[1m{secret}\x1b[0m: {message}\n"
        else:
            line = f"{secret}: {message}\n"
        self.stream.write(line)
        self.stream.flush()

    def warn(self, message: str) -> None:
        self.stream.write(f"warning: {message}\n")
        self.stream.flush()


@dataclass
class Runtime:
    manifest: LoadedManifest
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    progress: Progress = field(default_factory=Progress)
    clock: Callable[[], datetime] = utcnow
    _stores: dict[str, Store] = field(default_factory=dict)
    _targets: TargetFactory | None = None
    _audit: Any = None

    @property
    def actor(self) -> str:
        return default_actor(self.environ)

    def secret(self, name: str) -> SecretConfig:
        return self.manifest.secret(name)

    def ref(self, name: str) -> SecretRef:
        sc = self.secret(name)
        return SecretRef(name=name, path=sc.path, key=self.manifest.entry_key(name), max_age=sc.policy.max_age)

    def store_for(self, name: str) -> Store:
        store_name = self.secret(name).store
        if store_name not in self._stores:
            config = self.manifest.model.stores[store_name]
            self._stores[store_name] = build_store(store_name, config, self.environ)
        return self._stores[store_name]

    def _factory(self) -> TargetFactory:
        if self._targets is None:
            self._targets = TargetFactory(self.manifest.base_dir, self.environ)
        return self._targets

    def targets_for(self, name: str) -> list[BoundTarget]:
        out: list[BoundTarget] = []
        for cfg in self.secret(name).targets:
            out.extend(self._factory().build(name, cfg))
        return out

    def load_target_cache(self, data: Any) -> None:
        """Seed the targets' caches (public keys, repository ids) from a journal."""
        self._factory().load_target_cache(data)

    def target_cache(self, bounds: list[BoundTarget]) -> dict[str, Any]:
        return self._factory().target_cache(bounds)

    def checks(self, configs: list[Any]) -> list[Check]:
        return [build_check(c, self.manifest.base_dir, self.environ) for c in configs]

    @property
    def audit(self) -> Any:
        if self._audit is None:
            from keyturn.audit import AuditLog, Keyring

            keyring = Keyring.from_env(self.environ)
            self._audit = AuditLog(self.manifest.resolve(self.manifest.model.audit.log), keyring,
                                   root=self.manifest.base_dir)
        return self._audit

    def check_outputs(self) -> None:
        """Before the first write: the audit keys are valid and the audit log and the
        evidence directory can be written (one line naming the path otherwise)."""
        from keyturn._internal.writable import check_dir, check_file

        audit = self.manifest.model.audit
        check_file(self.manifest.resolve(audit.log), "audit.log")
        check_dir(self.manifest.resolve(audit.evidence_dir), "audit.evidence_dir")
        self.audit.check_append()  # builds the keyring: bad KEYTURN_AUDIT_KEY_* variables fail here

    def record(self, event: str, **fields: Any) -> None:
        fields.setdefault("actor", self.actor)
        self.audit.append(event, **fields)
