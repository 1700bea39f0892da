"""Checks of a manifest that its schema cannot express, run by ``keyturn manifest check``
and by every command before anything is written: every ``validate:``/``smoke:`` check is
built (header names, placeholders, status codes, timeouts, CA files), every generator's
parameters are validated without making a value. A mistake is a one-line
``FILE:LINE: key.path: message`` error (exit 2), never a surprise after promotion."""

from __future__ import annotations

from keyturn.errors import UsageError
from keyturn.generators import check_params
from keyturn.manifest import LoadedManifest, generator_params
from keyturn.validators.http_config import HttpCheckConfig
from keyturn.validators.registry import build_check


def check_semantics(loaded: LoadedManifest) -> None:
    for name, secret in loaded.model.secrets.items():
        try:
            check_params(secret.generator.type, **generator_params(secret.generator))
        except UsageError as exc:
            raise loaded.error_at(("secrets", name, "generator"), str(exc)) from None
        for field, checks in (("validate", secret.validate_), ("smoke", secret.smoke)):
            for i, config in enumerate(checks):
                where = ("secrets", name, field, i)
                if isinstance(config, HttpCheckConfig) and config.http.ca_cert:
                    ca = loaded.resolve(config.http.ca_cert)
                    if not ca.is_file():
                        raise loaded.error_at(where + ("http", "ca_cert"), f"no such CA file: {ca}")
                try:
                    build_check(config, loaded.base_dir)
                except UsageError as exc:
                    raise loaded.error_at(where, str(exc)) from None
