"""The base every manifest config model shares (strict, frozen) and the duration type.

Backend modules (``stores/vault.py``, ...) define their own config models on this base;
``keyturn.manifest`` assembles the unions from the registries. No SDK is imported here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from keyturn._internal.durations import PATTERN as DURATION_PATTERN
from keyturn._internal.durations import format_duration, parse_duration


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
