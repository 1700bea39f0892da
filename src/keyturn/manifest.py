"""``keyturn.yml`` → a typed, validated model; the JSON Schema is exported from it.

The model is the single source of truth for what a manifest may say: unknown keys,
unknown store/target/generator/check types, duplicate keys and bad durations are
refused with one line naming the file, the line, the key path and the offending
value (:class:`keyturn.errors.ManifestError`, exit code 2). Paths inside the manifest
(file targets, the audit log) are relative to the manifest's directory. This module
knows no SDK and builds no store or target: see ``stores/registry`` and
``targets/registry`` for that.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from keyturn._internal.configbase import REPO_RE, SECRET_NAME_RE, ConfigModel, Duration, KeyedConfig
from keyturn._internal.configbase import RefError as _RefError
from keyturn._internal.yamlpos import YamlError, load_with_positions
from keyturn.errors import ManifestError
from keyturn.issuers.registry import issuer_config_models
from keyturn.stores.base import PENDING_SUFFIX, ROTATION_SUFFIX  # noqa: F401 (re-exported)
from keyturn.stores.registry import store_config_models
from keyturn.stores.vault import VaultAuth, VaultStoreConfig, VaultTokenAuth  # noqa: F401 (re-exported)
from keyturn.targets.base import Shape, claimed_names, versioned_base, versioned_family
from keyturn.targets.config import EntryScope, TargetConfigBase
from keyturn.targets.config import TargetConfigBase as _TargetBase  # noqa: F401 (re-exported)
from keyturn.targets.file_config import FileTargetConfig
from keyturn.targets.github_config import GitHubOrgTargetConfig, GitHubTargetConfig  # noqa: F401 (re-exported)
from keyturn.targets.registry import target_config_models
from keyturn.validators.aws_sts_config import AwsStsCheckConfig, AwsStsSpec  # noqa: F401 (re-exported)
from keyturn.validators.command_config import CommandCheckConfig  # noqa: F401 (re-exported)
from keyturn.validators.github_workflow_config import (  # noqa: F401 (re-exported)
    GitHubWorkflowCheckConfig,
    GitHubWorkflowSpec,
)
from keyturn.validators.http_config import HttpCheckConfig, HttpSpec  # noqa: F401 (re-exported)
from keyturn.validators.registry import check_config_models
from keyturn.validators.vault_token_config import VaultTokenCheckConfig, VaultTokenSpec  # noqa: F401 (re-exported)

DEFAULT_MANIFEST = "keyturn.yml"


_Model = ConfigModel

# --------------------------------------------------------------------------- audit
class AuditConfig(_Model):
    log: str = Field(default="logs/security_audit.jsonl", description="Hash-chained JSONL audit log")
    evidence_dir: str = Field(default="logs/evidence", description="Per-rotation evidence records")


# --------------------------------------------------------------------------- stores
# Each store's config model lives in its backend module and is registered in
# ``keyturn.stores.registry``; the union is assembled here.
if TYPE_CHECKING:
    StoreConfig = VaultStoreConfig
else:
    StoreConfig = Annotated[Union[store_config_models()], Field(discriminator="type")]


# --------------------------------------------------------------------------- generators
class _BytesGen(_Model):
    bytes: int = Field(default=32, ge=8, le=4096, description="Random bytes before encoding (8 or more)")


class HexGen(_BytesGen):
    type: Literal["hex"]


class Base64Gen(_BytesGen):
    type: Literal["base64"]


class UrlsafeGen(_BytesGen):
    type: Literal["urlsafe"]


class PasswordGen(_Model):
    type: Literal["password"]
    length: int = Field(default=32, ge=8, le=4096)
    lower: bool = True
    upper: bool = True
    digits: bool = True
    symbols: bool = True
    symbol_set: str = "!%+-.:=@^_"
    exclude: str = ""
    min_each: int = Field(default=1, ge=0)


class Ed25519Gen(_Model):
    type: Literal["ed25519"]


class RsaGen(_Model):
    type: Literal["rsa"]
    bits: Literal[2048, 3072, 4096] = 3072


class EcGen(_Model):
    type: Literal["ec"]
    curve: Literal["P-256", "P-384", "P-521"] = "P-256"


# Issuers (generators that create the credential at its issuer) register their config
# models in ``keyturn.issuers.registry``.
if TYPE_CHECKING:
    GeneratorConfig = Union[HexGen, Base64Gen, UrlsafeGen, PasswordGen, Ed25519Gen, RsaGen, EcGen]
else:
    GeneratorConfig = Annotated[
        Union[(HexGen, Base64Gen, UrlsafeGen, PasswordGen, Ed25519Gen, RsaGen, EcGen, *issuer_config_models())],
        Field(discriminator="type"),
    ]


def generator_params(gen: Any) -> dict[str, Any]:
    """Keyword arguments for :func:`keyturn.generators.generate`."""
    params: dict[str, Any] = gen.model_dump(exclude={"type"})
    return params


# --------------------------------------------------------------------------- targets and checks
# Each target's and check's config model lives in a light module of its backend
# (``targets/file_config.py``, ``validators/http_config.py``, ...) and is registered in
# ``keyturn.targets.registry`` / ``keyturn.validators.registry``; the unions are assembled
# here. An entry's kind is the key it has (``- file: ...``, ``- command: [...]``): each model
# names its keys (``kind_keys``), and the first model, in registry order, whose key an entry
# has is its kind.
def _keyed_union(models: tuple[type[Any], ...], error_type: str, message: str) -> Any:
    def tag(v: Any) -> str | None:
        if isinstance(v, dict):
            return next((m.kind_keys[0] for m in models for key in m.kind_keys if key in v), None)
        return next((m.kind_keys[0] for m in models if isinstance(v, m)), None)

    members = tuple(Annotated[m, Tag(m.kind_keys[0])] for m in models)
    return Annotated[
        Union[members],
        Discriminator(tag, custom_error_type=error_type, custom_error_message=message),
    ]


_TARGET_KINDS = [m.kind_keys[0] for m in target_config_models()]
_CHECK_KINDS = [m.kind_keys[0] for m in check_config_models()]

if TYPE_CHECKING:
    TargetConfig = TargetConfigBase
    CheckConfig = KeyedConfig
else:
    TargetConfig = _keyed_union(
        target_config_models(),
        "unknown_target",
        "unknown target type: expected one of the keys " + ", ".join(_TARGET_KINDS),
    )
    CheckConfig = _keyed_union(
        check_config_models(),
        "unknown_check",
        "unknown check type: expected a " + ", ".join(f"{k}:" for k in _CHECK_KINDS[:-1])
        + f" or {_CHECK_KINDS[-1]}: entry",
    )


# --------------------------------------------------------------------------- secrets
#: Default ``max_age`` per kind of credential (``policy.kind``): external API keys every
#: 90 days, high-privilege tokens every 30, webhook signing secrets every 180. An explicit
#: ``max_age`` wins.
KIND_MAX_AGE: dict[str, timedelta] = {
    "external-api-key": timedelta(days=90),
    "high-privilege-token": timedelta(days=30),
    "webhook-signing-secret": timedelta(days=180),
}
CredentialKind = Literal["external-api-key", "high-privilege-token", "webhook-signing-secret"]


class Policy(_Model):
    kind: CredentialKind | None = Field(
        default=None, description="external-api-key (90d) | high-privilege-token (30d) | webhook-signing-secret "
        "(180d): sets max_age's default")
    max_age: Duration = Field(default=timedelta(days=90), description="Rotate when older (rotate --due); "
                              "default 90d, or the kind's default")
    grace: Duration = Field(default=timedelta(hours=24), description="PREVIOUS stays valid this long")

    @model_validator(mode="before")
    @classmethod
    def _kind_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") in KIND_MAX_AGE and "max_age" not in data:
            data = dict(data, max_age=KIND_MAX_AGE[data["kind"]])
        return data


class SecretConfig(_Model):
    store: str = Field(description="A key of stores:")
    path: str = Field(min_length=1, description="Path of the secret in the store")
    key: str | None = Field(default=None, description="Key inside the entry (default: the store's key)")
    description: str | None = None
    environment: str | None = Field(default=None, description="Recorded in evidence records")
    impacted_services: list[str] = Field(default_factory=list)
    generator: GeneratorConfig
    policy: Policy = Policy()
    targets: list[TargetConfig] = Field(default_factory=list)
    validate_: list[CheckConfig] = Field(default_factory=list, alias="validate")
    smoke: list[CheckConfig] = Field(default_factory=list)

    @field_validator("path")
    @classmethod
    def _path_ok(cls, v: str) -> str:
        if v.startswith("/") or v.endswith("/") or "//" in v or ".." in v.split("/"):
            raise ValueError(f"bad path {v!r}: no leading/trailing slash, no empty or '..' segments")
        if v.endswith((PENDING_SUFFIX, ROTATION_SUFFIX)):
            raise ValueError(f"bad path {v!r}: the suffixes .keyturn-* are reserved for keyturn")
        # `a/./s` is `a/s` to the store: normalise, so the duplicate-path check compares like with like.
        normal = "/".join(part for part in v.split("/") if part != ".")
        if not normal:
            raise ValueError(f"bad path {v!r}: no segments left after removing '.'")
        return normal


class ChangelogConfig(_Model):
    """``keyturn changelog-pr``: where the run's record lands in the repository."""

    file: str = Field(default="SECURITY-CHANGELOG.md", description="Changelog file in the repository")
    branch: str = Field(default="keyturn/rotations", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*$",
                        description="The one pull-request branch, updated in place")
    base: str | None = Field(default=None, description="Base branch (default: the repository's default branch)")
    title: str = Field(default="keyturn: secret rotations", description="Pull request title")


NotifyEvent = Literal["completed", "rolled-back", "failed"]
NOTIFY_EVENTS: tuple[NotifyEvent, ...] = ("completed", "rolled-back", "failed")


class NotifyConfig(_Model):
    """One incoming webhook (Slack or Teams); the URL is read from an environment variable."""

    type: Literal["slack", "teams"]
    url_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Env var holding the webhook URL")
    on: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))
    timeout: Duration = timedelta(seconds=10)




class Manifest(_Model):
    version: Literal[1]
    audit: AuditConfig = AuditConfig()
    changelog: ChangelogConfig = ChangelogConfig()
    notify: list[NotifyConfig] = Field(default_factory=list, description="Webhooks told about rotations")
    stores: dict[str, StoreConfig] = Field(min_length=1)
    secrets: dict[str, SecretConfig] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_int(cls, v: Any) -> Any:
        # Literal[1] alone would accept true and 1.0 (they compare equal to 1).
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"{_show(v)} is not allowed (expected 1)")  # noqa: TRY004 - pydantic needs ValueError
        return v

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, v: dict[str, SecretConfig]) -> dict[str, SecretConfig]:
        for name in v:
            if not re.fullmatch(SECRET_NAME_RE, str(name)):
                raise _RefError(
                    ("secrets", name),
                    f"bad secret name {name!r}: letters, digits and _ only, not starting with a digit",
                )
        return v

    @model_validator(mode="after")
    def _references(self) -> Manifest:
        seen_paths: dict[tuple[str, str], str] = {}
        for name, secret in self.secrets.items():
            if secret.store not in self.stores:
                known = ", ".join(sorted(self.stores))
                raise _RefError(
                    ("secrets", name, "store"), f"unknown store {secret.store!r} (defined: {known})"
                )
            # A store may map paths to its own names (Azure Key Vault) and refuse what cannot map.
            canonical = getattr(self.stores[secret.store], "canonical_path", None)
            try:
                where = (secret.store, canonical(secret.path) if canonical else secret.path)
            except ValueError as exc:
                raise _RefError(("secrets", name, "path"), str(exc)) from None
            if where in seen_paths:
                raise _RefError(
                    ("secrets", name, "path"),
                    f"path {secret.path!r} in store {secret.store!r} is already used by {seen_paths[where]}",
                )
            seen_paths[where] = name
            _bind_generator_store(name, secret, self.stores)
        _refuse_shared_entries(self.secrets)
        from keyturn.targets.file_config import manifest_problem

        if (problem := manifest_problem(self.secrets)) is not None:
            raise _RefError(*problem)
        for name, secret in self.secrets.items():
            _refuse_unwritable_files(name, secret)
        return self


def _bind_generator_store(name: str, secret: SecretConfig, stores: dict[str, StoreConfig]) -> None:
    """An issuer that reaches its service through a store's connection (``generator.store``,
    e.g. Vault's database engine) gets that store's config, or a one-line error."""
    generator: Any = secret.generator
    wanted = getattr(generator, "store", None)
    if not isinstance(wanted, str):
        return
    where = ("secrets", name, "generator", "store")
    if wanted not in stores:
        raise _RefError(where, f"unknown store {wanted!r} (defined: {', '.join(sorted(stores))})")
    try:
        generator.bind_store(wanted, stores[wanted])
    except ValueError as exc:
        raise _RefError(where, str(exc)) from None


def _refuse_unwritable_files(name: str, secret: SecretConfig) -> None:
    """A generator whose values a file target's format cannot spell is found now, not
    after promotion."""
    gen = secret.generator
    for index, target in enumerate(secret.targets):
        if not isinstance(target, FileTargetConfig):
            continue
        why = None
        symbols = set(gen.symbol_set) - set(gen.exclude) if isinstance(gen, PasswordGen) and gen.symbols else set()
        if target.format == "jwks":  # checked by keyturn.targets.file_config.manifest_problem
            continue
        if target.format == "dotenv":
            if symbols & set("'\\$"):
                raise _RefError(
                    ("secrets", name, "generator", "symbol_set"),
                    "symbols ', \\ and $ cannot be written to a dotenv file that python-dotenv, bash and "
                    "systemd all read back — exclude them",
                )
            continue
        if isinstance(gen, (Ed25519Gen, RsaGen, EcGen)):
            why = f"{gen.type} keys are multi-line PEM"
        elif symbols:
            odd = sorted(symbols - set("_./:@+=,%^!-"))
            if odd:
                why = f"password symbols {''.join(odd)!r} need quoting"
        if why:
            raise _RefError(
                ("secrets", name, "targets", index, "format"),
                f"{why}, which docker --env-file cannot read back — set format: dotenv on this target "
                "(python-dotenv, bash, systemd) or change the generator",
            )


def _refuse_shared_entries(secrets: dict[str, SecretConfig]) -> None:
    """Two targets writing one entry (``NAME``, ``NAME_PREVIOUS``, ``NAME_V<n>``,
    ``NAME_ACTIVE_VERSION``: see :mod:`keyturn.targets.base`) in one place (each target
    config's :meth:`~keyturn.targets.config.TargetConfigBase.entry_scopes`) would
    overwrite each other."""
    exact: dict[tuple[EntryScope, str], tuple[str, int]] = {}
    versioned: dict[tuple[EntryScope, str], tuple[str, int]] = {}
    for secret_name, secret in secrets.items():
        for index, target in enumerate(secret.targets):
            base = target.name or secret_name
            shape = Shape(target.shape)
            for scope in target.entry_scopes():
                names = claimed_names(shape, base)
                mine = (secret_name, index)
                clashes = [(n, exact.get((scope, scope.fold(n)))) for n in names]
                clashes += [(n, versioned.get((scope, scope.fold(family))))
                            for n in names if (family := versioned_base(n)) is not None]
                if shape is Shape.VERSIONED:
                    prefix = scope.fold(base)
                    clashes.append((versioned_family(base), versioned.get((scope, prefix))))
                    clashes += [(versioned_family(base), owner) for (sc, n), owner in exact.items()
                                if sc == scope and versioned_base(n) == prefix]
                for entry, owner in clashes:
                    if owner is not None and owner != mine:
                        raise _RefError(
                            ("secrets", secret_name, "targets", index),
                            f"entry {entry} in {scope.label} is also written by "
                            f"secrets.{owner[0]}.targets[{owner[1]}] — each entry needs one owner (set name:)",
                        )
                for n in names:
                    exact[(scope, scope.fold(n))] = mine
                if shape is Shape.VERSIONED:
                    versioned[(scope, scope.fold(base))] = mine


# --------------------------------------------------------------------------- loaded
class LoadedManifest:
    """A validated manifest plus where it came from."""

    def __init__(self, model: Manifest, path: Path, positions: dict[Any, int] | None = None) -> None:
        self.model = model
        self.path = path
        self.base_dir = path.parent
        self.positions = positions or {}

    def error_at(self, loc: tuple[Any, ...], message: str) -> ManifestError:
        """A one-line ``FILE:LINE: key.path: message`` error for a model location."""
        line = 1
        for i in range(len(loc), -1, -1):
            if tuple(loc[:i]) in self.positions:
                line = self.positions[tuple(loc[:i])]
                break
        return ManifestError(f"{self.path}:{line}: {_render(loc)}: {message}")

    def resolve(self, relative: str) -> Path:
        p = Path(relative)
        return p if p.is_absolute() else self.base_dir / p

    def secret(self, name: str) -> SecretConfig:
        try:
            return self.model.secrets[name]
        except KeyError:
            known = ", ".join(sorted(self.model.secrets)) or "none"
            raise ManifestError(f"{self.path}: no secret named {name!r} (defined: {known})") from None

    def entry_key(self, name: str) -> str:
        secret = self.secret(name)
        store = self.model.stores[secret.store]
        return secret.key or store.key


def json_schema() -> dict[str, Any]:
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "keyturn manifest (keyturn.yml)"
    return schema


#: A manifest larger than this is a mistake (or /dev/zero), not a list of secrets.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def load_manifest(path: str | Path = DEFAULT_MANIFEST) -> LoadedManifest:
    p = Path(path)
    return parse_manifest(_decode(_read_regular(p), p), p)


def _read_regular(p: Path) -> bytes:
    """The bytes of a regular file of at most MAX_MANIFEST_BYTES; anything else is a
    one-line ManifestError. Checked before opening for read (a FIFO would block, a device
    never end) and again on the open descriptor, opened non-blocking."""
    if "\0" in str(p):
        raise ManifestError(f"manifest path {str(p)!r} contains a NUL character")
    hint = "(pass --manifest FILE or set KEYTURN_MANIFEST)"
    try:
        fd = -1
        st = os.stat(p)
        if stat.S_ISREG(st.st_mode):
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
            st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ManifestError(f"{p}: is a directory, not a manifest file {hint}")
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or \
                stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "special"
            raise ManifestError(f"{p}: not a regular file ({kind}) {hint}")
        if st.st_size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{p}: the manifest is larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB")
        with os.fdopen(fd, "rb") as fh:
            fd = -1
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise ManifestError(f"{p}: manifest not found {hint}") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ManifestError(f"{p}: symlink loop (too many levels of symbolic links)") from None
        raise ManifestError(f"{p}: cannot read manifest: {exc.strerror or exc.__class__.__name__}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_MANIFEST_BYTES:  # it grew while we read it
        raise ManifestError(f"{p}: the manifest is larger than {MAX_MANIFEST_BYTES // (1024 * 1024)} MiB")
    return data


def _decode(data: bytes, p: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError(
            f"{p}:{line}: (top level): not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column})"
            " — save the manifest as UTF-8"
        ) from None


def parse_manifest(text: str, path: Path) -> LoadedManifest:
    try:
        data, positions = load_with_positions(text)
    except YamlError as exc:
        where = f" {_render(exc.path) or '(top level)'}:" if exc.path is not None else ""
        raise ManifestError(f"{path}:{exc.line or 1}:{where} {exc}") from None
    if data is None:
        raise ManifestError(
            f"{path}:1: (top level): the manifest is empty: it needs version, stores and secrets"
        )
    if not isinstance(data, dict):
        raise ManifestError(
            f"{path}:1: (top level): the manifest must be a mapping with version, stores and secrets "
            f"(got {_kind_of_value(data)})"
        )
    try:
        model = Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_describe(exc, data, positions, path)) from None
    return LoadedManifest(model, path, positions)


#: Where the model has tagged unions: pydantic puts the tag (store type, generator type,
#: target or check kind) into an error's location right after these paths. "*" is any
#: mapping key, "#" any list index.
_UNION_AT: tuple[tuple[str, ...], ...] = (
    ("stores", "*"),
    ("stores", "*", "auth"),
    ("secrets", "*", "generator"),
    ("secrets", "*", "targets", "#"),
    ("secrets", "*", "validate", "#"),
    ("secrets", "*", "smoke", "#"),
)

#: Friendly words for the regexes in the model.
_PATTERN_HINTS = {
    REPO_RE: "expected owner/name",
    r"^[A-Za-z0-9-]+$": "expected an organization name (letters, digits and -)",
    r"^https?://": "expected an http:// or https:// URL",
}


def _describe(exc: ValidationError, data: Any, positions: dict[Any, int], path: Path) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    ctx = first.get("ctx") or {}
    loc = _strip_tags(first["loc"])
    ctx_err = ctx.get("error")
    if isinstance(ctx_err, _RefError):  # a validator that knows which key is at fault
        loc = loc + ctx_err.path if ctx_err.relative else ctx_err.path
    elif kind == "union_tag_invalid":  # point at the type: key itself
        loc = loc + (str(ctx.get("discriminator", "type")).strip("'"),)
    real, line = _locate(loc, data, positions, kind)
    msg = _message(first, loc)
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    return f"{path}:{line}: {_render(real) or '(top level)'}: {msg}{more}"


def _strip_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop the union tags pydantic inserts into a location (see :data:`_UNION_AT`)."""
    out: list[Any] = []
    skip = False
    for part in loc:
        if skip:
            skip = False
            continue
        out.append(part)
        skip = any(_matches(out, pattern) for pattern in _UNION_AT)
    return tuple(out)


def _matches(loc: list[Any], pattern: tuple[str, ...]) -> bool:
    if len(loc) != len(pattern):
        return False
    for part, want in zip(loc, pattern, strict=True):
        if want == "#":
            if not isinstance(part, int):
                return False
        elif want == "*":
            if not isinstance(part, str):
                return False
        elif part != want:
            return False
    return True


def _locate(
    loc: tuple[Any, ...], data: Any, positions: dict[Any, int], kind: str = ""
) -> tuple[tuple[Any, ...], int]:
    """Follow a (tag-free) location through the data: the key path that exists, and its line."""
    real: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and part in node
        if in_dict or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            real.append(part)
            node = node[part]
        elif kind in ("extra_forbidden", "missing") and i == len(loc) - 1 and isinstance(part, str):
            real.append(part)  # a missing key: name it (its line is its parent's)
            node = None
        else:
            break
    line = 1
    for i in range(len(real), -1, -1):
        if tuple(real[:i]) in positions:
            line = positions[tuple(real[:i])]
            break
    return tuple(real), line


def _render(loc: tuple[Any, ...] | None) -> str:
    if not loc:
        return ""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if j else str(p)) for j, p in enumerate(loc))


def _show(value: Any) -> str:
    """A value as the YAML author wrote it: 'text', 42, true, null."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value)


def _kind_of_value(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "an empty value"
    return _show(value)


def _message(err: ErrorDetails, loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" if loc else "unknown key"
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing" if loc else "required key missing"
    if kind == "union_tag_invalid":
        expected = ctx.get("expected_tags", "")
        field = str(ctx.get("discriminator", "type")).strip("'")
        return f"unknown {_kind_of(loc)} {field} {ctx.get('tag')!r} (expected one of: {expected})"
    if kind == "union_tag_not_found":
        return f"{_kind_of(loc)} needs a {ctx.get('discriminator', 'type')!s} key"
    if kind in ("unknown_target", "unknown_check"):
        keys = (
            ", ".join(repr(k) for k in value) if isinstance(value, dict) and value else _kind_of_value(value)
        )
        return f"{err['msg']} (got {keys})"
    if kind == "literal_error":
        return f"{_show(value)} is not allowed (expected {ctx.get('expected')})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping (got {_kind_of_value(value)})"
    if kind == "list_type":
        return f"expected a list (got {_kind_of_value(value)})"
    if kind == "string_type":
        return f"expected a string (got {_kind_of_value(value)})"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in _PATTERN_HINTS:
        return f"bad value {_show(value)}: {_PATTERN_HINTS[ctx['pattern']]}"
    text = str(err["msg"]).removeprefix("Value error, ")
    if (value is None or isinstance(value, (str, int, float))) and _show(value) not in text:
        text = f"{text} (got {_show(value)})"
    return text


def _kind_of(loc: tuple[Any, ...]) -> str:
    for part in reversed(loc):
        if part == "generator":
            return "generator"
        if part == "auth":
            return "auth"
    if len(loc) >= 2 and loc[0] == "stores":
        return "store"
    return "entry"


def schema_json() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
