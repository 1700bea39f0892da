"""The ``command`` check's manifest config (``- command: [argv...]``) and the rules for the
names in its ``env`` and ``pass_env`` (the check applies them again when built directly).

Imports pydantic and :mod:`keyturn._internal.configbase` only: the manifest imports it.
The check itself is :mod:`keyturn.validators.command`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta

from pydantic import Field, model_validator

from keyturn._internal.configbase import Duration, KeyedConfig, RefError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Credentials that never reach a check, whatever the manifest says.
_RESERVED = re.compile(
    r"^(KEYTURN_.*|VAULT_TOKEN|BAO_TOKEN|GITHUB_TOKEN|GH_TOKEN|GH_ENTERPRISE_TOKEN|GITHUB_ENTERPRISE_TOKEN"
    r"|ACTIONS_RUNTIME_TOKEN|ACTIONS_ID_TOKEN_REQUEST_TOKEN|ACTIONS_ID_TOKEN_REQUEST_URL)$",
    re.IGNORECASE,
)


def reserved_env_name(name: str) -> bool:
    """True for names a check may never receive from ``env``/``pass_env``."""
    return bool(_RESERVED.match(name))


def check_env_names(env: Mapping[str, str], pass_env: Sequence[str]) -> tuple[str, str] | None:
    """(field, problem) for the first bad ``env``/``pass_env`` name, or None."""
    for field, names in (("env", list(env)), ("pass_env", list(pass_env))):
        for name in names:
            if not isinstance(name, str) or not _ENV_NAME.match(name):
                return field, f"{name!r} is not an environment variable name"
            if reserved_env_name(name):
                return field, (
                    f"{name} is reserved — keyturn sets KEYTURN_VALUE and KEYTURN_SECRET_NAME, "
                    "and store/GitHub credentials and audit keys never reach a check"
                )
    return None


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
