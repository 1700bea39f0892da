"""The ``http`` check's manifest config (``- http: {url: ...}``).

Imports pydantic and :mod:`keyturn._internal.configbase` only: the manifest imports it.
The check itself is :mod:`keyturn.validators.http`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator

from keyturn._internal.configbase import ConfigModel, Duration, KeyedConfig

HTTP_URL_RE = r"^https?://"


class HttpSpec(ConfigModel):
    url: str = Field(pattern=HTTP_URL_RE)
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict, description="May use {{ value }}")
    body: str | None = Field(default=None, description="May use {{ value }}")
    expect_status: int | list[int] = 200
    timeout: Duration = timedelta(seconds=10)
    ca_cert: str | None = None

    @field_validator("url")
    @classmethod
    def _no_value_in_url(cls, v: str) -> str:
        if "{{" in v:
            raise ValueError("the URL must not contain a template: URLs reach logs; use headers or body")
        return v


class HttpCheckConfig(KeyedConfig):
    kind_keys = ("http",)

    http: HttpSpec
