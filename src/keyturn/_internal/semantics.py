"""Checks of a manifest that its schema cannot express, run by ``keyturn manifest check``
and by every command before anything is written: every ``validate:``/``smoke:`` check is
built (header names, placeholders, status codes, timeouts, CA files), every generator's
parameters are validated without making a value (an issuer's config model may add its own
``manifest_problem``, e.g. the ``command`` issuer's programs exist). A mistake is a one-line
``FILE:LINE: key.path: message`` error (exit 2), never a surprise after promotion."""

from __future__ import annotations

import os

from keyturn.errors import UsageError
from keyturn.generators import check_params
from keyturn.issuers.registry import is_issuer
from keyturn.manifest import LoadedManifest, SecretConfig, generator_params
from keyturn.validators.http_config import HttpCheckConfig
from keyturn.validators.registry import build_check


def check_semantics(loaded: LoadedManifest) -> None:
    for name, secret in loaded.model.secrets.items():
        try:
            if not is_issuer(secret.generator):
                check_params(secret.generator.type, **generator_params(secret.generator))
        except UsageError as exc:
            raise loaded.error_at(("secrets", name, "generator"), str(exc)) from None
        problem = getattr(secret.generator, "manifest_problem", None)  # an issuer's own (programs found)
        found = problem(loaded.base_dir, os.environ) if problem is not None else None
        if found:
            raise loaded.error_at(("secrets", name, "generator", *found[0]), found[1])
        _check_fields(loaded, name, secret)
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


def _check_fields(loaded: LoadedManifest, name: str, secret: SecretConfig) -> None:
    """A structured value (an issuer with ``FIELDS``) needs ``fields:`` on every target,
    naming only fields it has; a single value takes no ``fields:``."""
    generator = secret.generator
    fields: tuple[str, ...] = tuple(getattr(generator, "FIELDS", ()))
    for i, target in enumerate(secret.targets):
        mapping = getattr(target, "fields", None)
        where = ("secrets", name, "targets", i)
        if fields and mapping is None:
            raise loaded.error_at(where, f"generator {generator.type} makes a structured value "
                                  f"({', '.join(fields)}): map it with fields: {{ENTRY_NAME: field, ...}}")
        if not fields and mapping is not None:
            raise loaded.error_at(where + ("fields",), f"generator {generator.type} makes a single value: "
                                  "use name: instead of fields:")
        for entry, field in (mapping or {}).items():
            if field not in fields:
                raise loaded.error_at(where + ("fields", entry), f"unknown field {field!r} of generator "
                                      f"{generator.type}; its fields: {', '.join(fields)}")
