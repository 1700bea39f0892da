"""The ``github-workflow`` check's manifest config (``- github-workflow: {repository: ...}``).

Imports pydantic and :mod:`keyturn._internal.configbase` only: the manifest imports it.
The check itself is :mod:`keyturn.validators.github_workflow`.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from keyturn._internal.configbase import REPO_RE, ConfigModel, Duration, KeyedConfig


class GitHubWorkflowSpec(ConfigModel):
    repository: str = Field(pattern=REPO_RE, description="Consumer repository owner/name")
    workflow: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Workflow file name (or id) with on: workflow_dispatch")
    ref: str = Field(default="main", pattern=r"^[A-Za-z0-9_./-]+$", description="Branch or tag to run on")
    inputs: dict[str, str] = Field(default_factory=dict, description="workflow_dispatch inputs (never values)")
    timeout: Duration = timedelta(minutes=15)
    poll_interval: Duration = timedelta(seconds=10)
    token_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                  description="Env var with a token that has actions: write on the consumer "
                                  "repository (default: GITHUB_TOKEN)")

    @field_validator("inputs")
    @classmethod
    def _no_value_in_inputs(cls, v: dict[str, str]) -> dict[str, str]:
        if any("{{" in text for text in v.values()):
            raise ValueError("inputs must not contain a template: dispatch inputs are visible in the run's logs")
        return v


class GitHubWorkflowCheckConfig(KeyedConfig):
    kind_keys = ("github-workflow", "github_workflow")

    github_workflow: GitHubWorkflowSpec = Field(alias="github-workflow")
