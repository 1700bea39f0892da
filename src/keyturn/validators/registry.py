"""Manifest check entries (``validate:`` / ``smoke:``) → Check objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyturn.manifest import CommandCheckConfig, HttpCheckConfig
from keyturn.validators.base import Check


def build_check(config: Any, base_dir: Path) -> Check:
    if isinstance(config, CommandCheckConfig):
        from keyturn.validators.command import CommandCheck

        return CommandCheck(
            list(config.command),
            timeout=config.timeout.total_seconds(),
            env=dict(config.env),
            pass_env=list(config.pass_env),
            cwd=str(base_dir),
        )
    if isinstance(config, HttpCheckConfig):
        from keyturn.validators.http import HttpCheck

        spec = config.http
        verify: bool | str = str(base_dir / spec.ca_cert) if spec.ca_cert else True
        return HttpCheck(
            spec.url,
            method=spec.method,
            headers=dict(spec.headers),
            body=spec.body,
            expect_status=spec.expect_status,
            timeout=spec.timeout.total_seconds(),
            verify=verify,
        )
    raise TypeError(f"unknown check config {type(config).__name__}")
