"""The GitHub targets' manifest configs: ``- github: owner/repo`` (repository,
environment or Dependabot secrets) and ``- github-org: org`` (organization secrets).

Imports pydantic, :mod:`keyturn._internal.configbase` and :mod:`keyturn.targets.config`
only: the manifest imports it, and loading a manifest never imports PyGithub. The
targets themselves are in :mod:`keyturn.targets.github`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from keyturn._internal.configbase import REPO_RE, RefError
from keyturn.targets.config import EntryScope, TargetConfigBase

ORG_RE = r"^[A-Za-z0-9-]+$"


def _scope(kind: str, owner: str, *where: str) -> EntryScope:
    """GitHub folds secret names (and owner names) to one case."""
    label = "GitHub organization" if kind == "github-org" else "GitHub repository"
    if where[0] == "environment":
        label = f"{label} {owner} environment {where[1]}"
    else:
        label = f"{label} {owner}" + (" (Dependabot)" if where[0] == "dependabot" else "")
    return EntryScope((kind, owner, *where), label, ignore_case=True)


class GitHubTargetConfig(TargetConfigBase):
    kind_keys = ("github",)
    extra = "github"

    github: str = Field(pattern=REPO_RE, description="owner/repo")
    environments: list[str] | None = Field(
        default=None, min_length=1, description="Environment secrets instead"
    )
    dependabot: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> GitHubTargetConfig:
        if self.environments and self.dependabot:
            raise RefError(
                ("dependabot",),
                "dependabot cannot be combined with environments (Dependabot secrets are repository-wide:"
                " use a second target)",
                relative=True,
            )
        return self

    def entry_scopes(self) -> list[EntryScope]:
        repo = self.github.lower()
        if self.environments:
            return [_scope("github", repo, "environment", env) for env in self.environments]
        return [_scope("github", repo, "dependabot" if self.dependabot else "actions")]


class GitHubOrgTargetConfig(TargetConfigBase):
    kind_keys = ("github-org", "github_org")
    extra = "github"

    github_org: str = Field(alias="github-org", pattern=ORG_RE)
    visibility: Literal["all", "private", "selected"] = "private"
    repositories: list[str] = Field(default_factory=list)
    dependabot: bool = False

    @field_validator("repositories")
    @classmethod
    def _repos_ok(cls, v: list[str]) -> list[str]:
        for repo in v:
            if not re.fullmatch(REPO_RE, repo):
                raise ValueError(f"bad repository {repo!r}: expected owner/name")
        return v

    @model_validator(mode="after")
    def _selected(self) -> GitHubOrgTargetConfig:
        if self.visibility == "selected" and not self.repositories:
            raise RefError(
                ("visibility",), "visibility 'selected' needs repositories: [owner/name, ...]", relative=True
            )
        if self.visibility != "selected" and self.repositories:
            raise RefError(
                ("repositories",),
                f"repositories is only valid with visibility: selected (visibility is {self.visibility!r})",
                relative=True,
            )
        return self

    def entry_scopes(self) -> list[EntryScope]:
        return [_scope("github-org", self.github_org.lower(), "dependabot" if self.dependabot else "actions")]
