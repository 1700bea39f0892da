"""What every target's manifest config shares: the shape, the entry name, and where its
entries live (for the manifest's one-owner-per-entry check).

Each backend's config model subclasses :class:`TargetConfigBase` in a light module of its
own (``targets/file_config.py``, ``targets/github_config.py``) that imports pydantic and
:mod:`keyturn._internal.configbase` only: the manifest imports it, and loading a manifest
never imports an SDK. The model is registered, with the function that builds its targets,
in :data:`keyturn.targets.registry.TARGET_CONFIGS`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from pydantic import Field, field_validator, model_validator

from keyturn._internal.configbase import SECRET_NAME_RE, KeyedConfig
from keyturn.targets.base import Shape


class EntryScope(NamedTuple):
    """One namespace of entry names (a file, a repository's Actions secrets, one
    environment, ...): two targets with equal scopes write into the same names.
    ``label`` says it in messages; ``ignore_case`` when the place folds names (GitHub)."""

    key: tuple[str, ...]
    label: str
    ignore_case: bool = False

    def fold(self, name: str) -> str:
        return name.upper() if self.ignore_case else name


class TargetConfigBase(KeyedConfig):
    shape: Shape = Field(default=Shape.SINGLE, description="single | dual | versioned")
    name: str | None = Field(default=None, description="Entry name at the target (default: the secret's key)")
    fields: dict[str, str] | None = Field(
        default=None, description="Structured values (e.g. an IAM key): entry name → field of the value, "
        "e.g. {AWS_ACCESS_KEY_ID: access_key_id, AWS_SECRET_ACCESS_KEY: secret_access_key}")

    @field_validator("name")
    @classmethod
    def _name_ok(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(SECRET_NAME_RE, v):
            raise ValueError(f"bad name {v!r}: letters, digits and _ only, not starting with a digit")
        return v

    @field_validator("fields")
    @classmethod
    def _fields_ok(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("fields: map at least one entry name to a field")
        for entry in v:
            if not re.fullmatch(SECRET_NAME_RE, entry):
                raise ValueError(f"bad entry name {entry!r}: letters, digits and _ only, not starting with a digit")
        return v

    @model_validator(mode="after")
    def _name_or_fields(self) -> TargetConfigBase:
        if self.fields is not None and self.name is not None:
            raise ValueError("give name: (one entry) or fields: (one entry per field of a structured value), not both")
        return self

    def entry_scopes(self) -> list[EntryScope]:
        """Where this target's entries live; one scope per place it writes (a target with
        ``environments: [a, b]`` writes two). ``[]``: its names cannot clash with another's."""
        return []
