"""The ``command`` check's manifest config (``- command: [argv...]``) and the rules for the
names in its ``env`` and ``pass_env`` (the check applies them again when built directly).

Imports pydantic, :mod:`keyturn._internal.configbase` and :mod:`keyturn._internal.child` (standard
library only) : the manifest imports it.
The check itself is :mod:`keyturn.validators.command`.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from keyturn._internal.child import check_env_names, reserved_env_name
from keyturn._internal.configbase import Duration, KeyedConfig, RefError

# The env/pass_env name rules are the ones every child process of keyturn's follows.
__all__ = ["CommandCheckConfig", "check_env_names", "reserved_env_name"]


class CommandCheckConfig(KeyedConfig):
    kind_keys = ("command",)

    command: list[str] = Field(min_length=1, description="argv; the value arrives in env KEYTURN_VALUE")
    timeout: Duration = timedelta(seconds=60)
    env: dict[str, str] = Field(default_factory=dict, description="Fixed variables for the check")
    pass_env: list[str] = Field(
        default_factory=list,
        description="Variables copied from keyturn's environment (checks get only PATH, HOME, locale otherwise)",
    )

    @model_validator(mode="after")
    def _env_names(self) -> CommandCheckConfig:
        problem = check_env_names(self.env, self.pass_env)
        if problem:
            raise RefError((problem[0],), problem[1], relative=True)
        return self
