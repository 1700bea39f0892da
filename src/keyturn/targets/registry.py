"""Explicit target registry: manifest target entries → Target objects.

:data:`TARGET_CONFIGS` lists every target kind: its manifest config model (a light module:
pydantic only, imported by the manifest, which assembles its union from this table) and
the function that builds its targets (imported only when a run builds them, and free to
import its SDK). Adding a target is its config module, its implementation with a builder,
and one line here.

One manifest entry may expand to several targets (``environments: [a, b]`` → one
target per environment). Shared sessions (one GitHub client per run) are created once
per :class:`TargetFactory`, which also owns what targets may remember between runs
(GitHub public keys and repository ids): :meth:`TargetFactory.load_target_cache` before
the first write, :meth:`TargetFactory.target_cache` after, both plain JSON.
"""

from __future__ import annotations

from keyturn._internal.plugins import load, needs_extra
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyturn.errors import UsageError
from keyturn.targets.base import Shape, Target

if TYPE_CHECKING:
    from keyturn.targets.github_cache import JsonKeyCache

#: config model → builder, both "module:name". A builder is
#: ``(config, factory: TargetFactory) -> list[Target]``; the config model subclasses
#: :class:`keyturn.targets.config.TargetConfigBase` and its module must not import an SDK.
TARGET_CONFIGS: dict[str, str] = {
    "keyturn.targets.file_config:FileTargetConfig": "keyturn.targets.file:build_targets",
    "keyturn.targets.github_config:GitHubTargetConfig": "keyturn.targets.github:build_repo_targets",
    "keyturn.targets.github_config:GitHubOrgTargetConfig": "keyturn.targets.github:build_org_targets",
}


@cache
def _builders() -> dict[type[Any], str]:
    return {load(config): builder for config, builder in TARGET_CONFIGS.items()}


def target_config_models() -> tuple[type[Any], ...]:
    """The config model classes of every registered target, for the manifest's union."""
    return tuple(_builders())


DEFAULT_GITHUB_API_URL = "https://api.github.com"


@dataclass(frozen=True)
class BoundTarget:
    """A target plus how the secret maps onto it."""

    target: Target
    shape: Shape
    entry_name: str
    #: the field of a structured value this entry holds (``fields:`` in the manifest)
    field: str | None = None

    @property
    def label(self) -> str:
        return self.target.label


class TargetFactory:
    def __init__(self, base_dir: Path, environ: Mapping[str, str]) -> None:
        from keyturn.targets.github_cache import JsonKeyCache  # here: the manifest imports this module

        self.base_dir = base_dir
        self.environ = environ
        self._github: Any = None
        api_url = (environ.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/")
        self.github_cache: JsonKeyCache = JsonKeyCache(api_url)

    # -- what targets remember between runs (public data only) -----------------------
    def load_target_cache(self, data: Mapping[str, Any] | None) -> None:
        """Seed the run's caches from a :meth:`target_cache` result (any run, any secret);
        malformed or foreign data (another API root) is ignored."""
        if isinstance(data, Mapping):
            self.github_cache.load(data.get("github"))

    def target_cache(self, targets: Sequence[BoundTarget]) -> dict[str, Any]:
        """JSON-serialisable public data worth keeping for ``targets``' next run: each
        GitHub scope's public key and the selected repositories' ids, ~100 bytes a scope.
        ``{}`` when none of the targets has anything to remember."""
        scopes = [t.target.cache_scope for t in targets if hasattr(t.target, "cache_scope")]
        repos = [r for t in targets for r in getattr(t.target, "cache_repos", ())]
        if not scopes:
            return {}
        return {"github": self.github_cache.to_json(scopes, repos)}

    def github_session(self) -> Any:
        """The run's one GitHub session (for the GitHub targets' builders)."""
        if self._github is None:
            with needs_extra("GitHub targets need", "github"):
                from keyturn._internal.github_client import GitHubSession
            self._github = GitHubSession.from_env(self.environ, cache=self.github_cache)
        return self._github

    def build(self, secret_name: str, config: Any) -> list[BoundTarget]:
        """One BoundTarget per target and entry (a ``fields:`` mapping gives one entry
        per field, all on the same target object)."""
        try:
            builder_path = _builders()[type(config)]
        except KeyError:
            raise UsageError(f"{secret_name}: unsupported target {type(config).__name__}") from None
        with needs_extra(f"{secret_name}: {config.kind_keys[0]} targets need", config.extra):
            builder: Callable[[Any, TargetFactory], list[Target]] = load(builder_path)
        name = config.name or secret_name
        shape = Shape(config.shape)
        targets = builder(config, self)
        mapping = getattr(config, "fields", None)
        if not mapping:
            return [BoundTarget(target, shape, name) for target in targets]
        return [BoundTarget(target, shape, entry, field) for target in targets for entry, field in mapping.items()]
