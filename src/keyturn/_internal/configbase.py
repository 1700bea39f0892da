"""The base every manifest config model shares (strict, frozen), the duration type, the
error a validator raises to name a key path, and the patterns several backends use.

Backend modules (``stores/vault.py``, ``targets/file_config.py``, ``validators/http_config.py``,
...) define their own config models on this base; ``keyturn.manifest`` assembles the unions
from the registries. Imports pydantic and nothing of keyturn's but durations: no SDK.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from keyturn._internal.durations import PATTERN as DURATION_PATTERN
from keyturn._internal.durations import format_duration, parse_duration

#: An entry name: GitHub's secret-name rule, also kept for dotenv files.
SECRET_NAME_RE = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: ``owner/repo``.
REPO_RE = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": DURATION_PATTERN},
                {"type": "integer", "minimum": 0},
            ],
            "description": "Duration: 90d, 24h, 1h30m, 45s, 2w, or seconds",
        }
    ),
]


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class KeyedConfig(ConfigModel):
    """An entry of a union told apart by which key it has, not by a ``type:`` field
    (targets: ``- file: ...``, ``- github: ...``; checks: ``- command: [...]``).

    ``kind_keys`` are the manifest keys that mark this kind, in the order they are tried; the
    first is the kind's name (its union tag, and what error messages list)."""

    kind_keys: ClassVar[tuple[str, ...]] = ()
    #: the ``pip install 'keyturn[EXTRA]'`` its implementation needs ("" = none).
    extra: ClassVar[str] = ""


class RefError(ValueError):
    """A validator error that names its key path: from the manifest root, or (``relative``)
    from the model that raised it."""

    def __init__(self, path: tuple[str | int, ...], message: str, *, relative: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.relative = relative
