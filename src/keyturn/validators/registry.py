"""Explicit check registry: manifest check entries (``validate:`` / ``smoke:``) → Check objects.

:data:`CHECK_CONFIGS` lists every check kind: its manifest config model (a light module:
pydantic only, imported by the manifest, which assembles its union from this table) and
the function that builds the check (imported when a check is built; an SDK it needs is
imported when the check runs). Adding a check is its config module, its implementation
with a builder, and one line here.
"""

from __future__ import annotations

from keyturn._internal.plugins import load, needs_extra
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from keyturn.validators.base import Check

#: config model → builder, both "module:name". A builder is
#: ``(config, base_dir: Path, environ: Mapping[str, str] | None) -> Check``; the config model
#: subclasses :class:`keyturn._internal.configbase.KeyedConfig` and its module must not import an SDK.
CHECK_CONFIGS: dict[str, str] = {
    "keyturn.validators.command_config:CommandCheckConfig": "keyturn.validators.command:build",
    "keyturn.validators.http_config:HttpCheckConfig": "keyturn.validators.http:build",
    "keyturn.validators.github_workflow_config:GitHubWorkflowCheckConfig": "keyturn.validators.github_workflow:build",
    "keyturn.validators.aws_sts_config:AwsStsCheckConfig": "keyturn.validators.aws_sts:build",
    "keyturn.validators.vault_token_config:VaultTokenCheckConfig": "keyturn.validators.vault_token:build",
}


@cache
def _builders() -> dict[type[Any], str]:
    return {load(config): builder for config, builder in CHECK_CONFIGS.items()}


def check_config_models() -> tuple[type[Any], ...]:
    """The config model classes of every registered check, for the manifest's union."""
    return tuple(_builders())


def build_check(config: Any, base_dir: Path, environ: Mapping[str, str] | None = None) -> Check:
    """``environ`` (default ``os.environ`` at run time) feeds GITHUB_*, AWS_* and VAULT_* defaults."""
    try:
        builder_path = _builders()[type(config)]
    except KeyError:
        raise TypeError(f"unknown check config {type(config).__name__}") from None
    with needs_extra(f"{config.kind_keys[0]} checks need", config.extra):
        builder: Callable[[Any, Path, Mapping[str, str] | None], Check] = load(builder_path)
    return builder(config, base_dir, environ)
