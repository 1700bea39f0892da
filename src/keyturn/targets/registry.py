"""Explicit target registry: manifest target entries → Target objects.

One manifest entry may expand to several targets (``environments: [a, b]`` → one
target per environment). Shared sessions (one GitHub client per run) are created once
per :class:`TargetFactory`, which also owns what targets may remember between runs
(GitHub public keys and repository ids): :meth:`TargetFactory.load_target_cache` before
the first write, :meth:`TargetFactory.target_cache` after, both plain JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyturn.errors import UsageError
from keyturn.manifest import (
    FileTargetConfig,
    GitHubOrgTargetConfig,
    GitHubTargetConfig,
)
from keyturn.targets.base import Shape, Target
from keyturn.targets.github_cache import JsonKeyCache

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
        self.base_dir = base_dir
        self.environ = environ
        self._github: Any = None
        api_url = (environ.get("GITHUB_API_URL") or DEFAULT_GITHUB_API_URL).rstrip("/")
        self.github_cache = JsonKeyCache(api_url)

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

    def _github_session(self) -> Any:
        if self._github is None:
            try:
                from keyturn._internal.github_client import GitHubSession
            except ImportError as exc:
                raise UsageError(
                    f"GitHub targets need an optional dependency ({exc.name}) — pip install 'keyturn[github]'"
                ) from None
            self._github = GitHubSession.from_env(self.environ, cache=self.github_cache)
        return self._github

    def build(self, secret_name: str, config: Any) -> list[BoundTarget]:
        """One BoundTarget per target and entry (a ``fields:`` mapping gives one entry
        per field, all on the same target object)."""
        bounds = self._build(secret_name, config)
        mapping = getattr(config, "fields", None)
        if not mapping:
            return bounds
        return [BoundTarget(b.target, b.shape, entry, field) for b in bounds for entry, field in mapping.items()]

    def _build(self, secret_name: str, config: Any) -> list[BoundTarget]:
        name = config.name or secret_name
        shape = Shape(config.shape)
        if isinstance(config, FileTargetConfig) and config.format == "jwks":
            from keyturn.targets.jwks import JwksTarget

            jwks = JwksTarget(config.file, base_dir=self.base_dir, allow_outside=config.allow_outside)
            return [BoundTarget(jwks, shape, name)]
        if isinstance(config, FileTargetConfig):
            from keyturn.targets.file import FileTarget

            dotenv = FileTarget(
                config.file, base_dir=self.base_dir, allow_outside=config.allow_outside, style=config.format
            )
            return [BoundTarget(dotenv, shape, name)]
        if isinstance(config, GitHubTargetConfig):
            from keyturn.targets.github import GitHubRepoSecretTarget

            session = self._github_session()
            if config.environments:
                return [
                    BoundTarget(GitHubRepoSecretTarget(session, config.github, environment=env), shape, name)
                    for env in config.environments
                ]
            return [
                BoundTarget(
                    GitHubRepoSecretTarget(session, config.github, dependabot=config.dependabot), shape, name
                )
            ]
        if isinstance(config, GitHubOrgTargetConfig):
            from keyturn.targets.github import GitHubOrgSecretTarget

            session = self._github_session()
            target = GitHubOrgSecretTarget(
                session,
                config.github_org,
                visibility=config.visibility,
                repositories=list(config.repositories),
                dependabot=config.dependabot,
            )
            return [BoundTarget(target, shape, name)]
        raise UsageError(f"{secret_name}: unsupported target {type(config).__name__}")
