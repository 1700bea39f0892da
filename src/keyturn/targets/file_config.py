"""The ``file`` target's manifest config (``- file: deploy/.env``).

Imports pydantic, :mod:`keyturn._internal.configbase` and :mod:`keyturn.targets.config`
only: the manifest imports it. The target itself is :mod:`keyturn.targets.file`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from keyturn._internal.configbase import RefError
from keyturn.targets.base import Shape
from keyturn.targets.config import EntryScope, TargetConfigBase


def escapes(path: str) -> bool:
    """True for an absolute path or one that leaves its base directory (``../x``)."""
    if path.startswith(("/", "\\")) or os.path.isabs(path):
        return True
    norm = posixpath.normpath(path.replace("\\", "/"))
    return norm == ".." or norm.startswith("../")


class FileTargetConfig(TargetConfigBase):
    kind_keys = ("file",)

    file: str = Field(min_length=1, description="dotenv file, written atomically with mode 0600 "
                      "(format: jwks: a JWK Set of public keys, mode 0644)")
    allow_outside: bool = Field(
        default=False, description="Allow an absolute path or one outside the manifest's directory"
    )
    format: Literal["env-file", "dotenv", "jwks"] = Field(
        default="env-file",
        description="env-file: bare values every reader (python-dotenv, docker --env-file, bash, systemd) "
        "reads back; dotenv: also single-quoted and multi-line values (not docker); jwks: the public "
        "halves of signing keys as a JWK Set (kid = RFC 7638 thumbprint), never the private key",
    )

    @model_validator(mode="after")
    def _inside(self) -> FileTargetConfig:
        if escapes(self.file) and not self.allow_outside:
            raise RefError(
                ("file",),
                f"{self.file!r} is outside the manifest's directory — use a path inside it, "
                "or set allow_outside: true on this target",
                relative=True,
            )
        return self

    def entry_scopes(self) -> list[EntryScope]:
        where = posixpath.normpath(self.file)
        return [EntryScope(("file", where), f"file {where}")]


#: generators whose values can be signing keys: key pairs, or a key a person or a program supplies
_KEY_GENERATORS = ("ed25519", "rsa", "ec", "manual", "command")


def manifest_problem(secrets: Mapping[str, Any]) -> tuple[tuple[str | int, ...], str] | None:
    """The first reason (key path, message) a manifest's ``format: jwks`` targets cannot
    work, found at ``manifest check`` rather than after promotion; None when they can."""
    formats: dict[str, tuple[str, str, int]] = {}
    for name, secret in secrets.items():
        for index, target in enumerate(getattr(secret, "targets", ())):
            fmt = getattr(target, "format", None)
            if fmt is None:
                continue
            where = ("secrets", name, "targets", index)
            path = posixpath.normpath(str(target.file))
            seen = formats.setdefault(path, (fmt, name, index))
            if (seen[0] == "jwks") != (fmt == "jwks"):
                return (*where, "format"), (
                    f"file {target.file} is also written by secrets.{seen[1]}.targets[{seen[2]}] with format "
                    f"{seen[0]} — a JWK Set and a dotenv file cannot share a file")
            if fmt != "jwks":
                continue
            if Shape(target.shape) is Shape.VERSIONED:
                return (*where, "shape"), ("format: jwks publishes CURRENT and, during grace, PREVIOUS — "
                                           "use shape: dual (or single)")
            kind = getattr(secret.generator, "type", None)
            if kind not in _KEY_GENERATORS:
                return (*where, "format"), (f"format: jwks publishes the public half of a signing key, but "
                                            f"generator {kind} makes no signing key — use generator ed25519, "
                                            "rsa or ec")
    return None
