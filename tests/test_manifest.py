"""keyturn.yml → model: the example loads; every class of bad input is refused with
exit code 2 and one line ``FILE:LINE: key.path: message`` quoting the offending key or
value (on stderr, nothing on stdout, never a traceback); the JSON Schema is valid."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from keyturn import manifest
from keyturn._internal import yamlpos
from keyturn.cli import main
from keyturn.errors import ExitCode, ManifestError, exit_code_for
from keyturn.manifest import (
    CommandCheckConfig,
    FileTargetConfig,
    GitHubOrgTargetConfig,
    GitHubTargetConfig,
    HexGen,
    load_manifest,
    parse_manifest,
)
from keyturn.targets.base import Shape

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "keyturn.yml"
DATA = Path(__file__).resolve().parent / "data" / "manifests"

# Line numbers below refer to this text: 1 version, 2 stores, 3 vault, 4 type,
# 5 secrets, 6 DB, 7 store, 8 path, 9 generator; appended lines start at 10.
BASE = """\
version: 1
stores:
  vault:
    type: vault
secrets:
  DB:
    store: vault
    path: db/prod
    generator: {type: hex}
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def check_error(tmp_path: Path, text: str) -> str:
    """Run ``keyturn manifest check`` on ``text``; return its one-line message with the
    file name replaced by ``M`` after asserting exit 2, empty stdout, one stderr line."""
    path = tmp_path / "keyturn.yml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run("manifest", "check", "--manifest", str(path))
    assert code == ExitCode.USAGE, err
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    prefix = f"keyturn: error: {path}:"
    assert err.startswith(prefix), err
    return "M:" + err[len(prefix) :].rstrip("\n")


def replace(old: str, new: str) -> str:
    assert BASE.count(old) == 1, old
    return BASE.replace(old, new)


# --------------------------------------------------------------------------- good input
def test_example_manifest_loads_into_the_model() -> None:
    m = load_manifest(EXAMPLE)
    assert m.path == EXAMPLE and m.base_dir == EXAMPLE.parent
    assert m.model.version == 1
    assert m.model.audit.log == "logs/security_audit.jsonl"
    assert m.resolve(m.model.audit.log) == EXAMPLE.parent / "logs" / "security_audit.jsonl"
    store = m.model.stores["vault"]
    assert (store.type, store.mount, store.key, store.address) == ("vault", "secret", "value", None)
    assert store.auth.token_env == "VAULT_TOKEN"
    assert list(m.model.secrets) == ["PROV_SECRET"]
    s = m.secret("PROV_SECRET")
    assert (s.store, s.path) == ("vault", "provenance/prov-secret")
    assert s.generator == HexGen(type="hex", bytes=32)
    assert manifest.generator_params(s.generator) == {"bytes": 32}
    assert s.policy.max_age == timedelta(days=90) and s.policy.grace == timedelta(hours=24)
    assert s.targets == [FileTargetConfig(file="deploy/.env")]
    assert s.targets[0].shape is Shape.SINGLE
    assert s.validate_ == [CommandCheckConfig(command=["sh", "-c", "test ${#KEYTURN_VALUE} -eq 64"])]
    assert s.smoke == [CommandCheckConfig(command=["sh", "-c", "grep -q '^PROV_SECRET=' deploy/.env"])]
    assert m.entry_key("PROV_SECRET") == "value"


def test_example_manifest_passes_manifest_check() -> None:
    code, out, err = run("manifest", "check", "--manifest", str(EXAMPLE))
    assert (code, err) == (0, "")
    assert out == f"{EXAMPLE}: ok — 1 secret(s), 1 store(s)\n"


def test_github_target_forms_load() -> None:
    m = load_manifest(DATA / "github-targets.yml")
    api, worker, bot, org = m.secret("PROV_SECRET").targets
    assert api == GitHubTargetConfig(github="acme/api", environments=["staging", "production"])
    assert isinstance(worker, GitHubTargetConfig)
    assert (worker.github, worker.shape, worker.name) == ("acme/worker", Shape.DUAL, "WORKER_PROV_SECRET")
    assert isinstance(bot, GitHubTargetConfig) and bot.dependabot and bot.environments is None
    assert isinstance(org, GitHubOrgTargetConfig)
    assert (org.github_org, org.visibility, org.repositories) == ("acme", "selected", ["acme/api"])


def test_full_manifest_loads() -> None:
    m = load_manifest(DATA / "full.yml")
    store = m.model.stores["bao"]
    assert (store.type, store.retire, store.timeout) == ("openbao", "destroy", timedelta(seconds=90))
    assert store.auth.token_env == "BAO_TOKEN"
    api = m.secret("API_TOKEN")
    assert api.policy.max_age == timedelta(weeks=2) and api.policy.grace == timedelta(0)
    assert m.entry_key("API_TOKEN") == "token" and m.entry_key("SIGNING_KEY") == "secret"
    http = api.validate_[0].http  # type: ignore[union-attr]
    assert http.expect_status == [200, 204] and http.timeout == timedelta(seconds=5)
    assert api.smoke[0].timeout == timedelta(seconds=120)  # type: ignore[union-attr]
    assert isinstance(api.targets[1], GitHubOrgTargetConfig) and api.targets[1].visibility == "all"


def test_durations_round_trip_through_the_model() -> None:
    text = replace(
        "generator: {type: hex}", "generator: {type: hex}\n    policy: {max_age: 1d2h3m4s, grace: 2W}"
    )
    m = parse_manifest(text, Path("m.yml"))
    dumped = m.model.model_dump(mode="json", by_alias=True)
    assert dumped["secrets"]["DB"]["policy"] == {"kind": None, "max_age": "1d2h3m4s", "grace": "14d"}
    assert manifest.Manifest.model_validate(dumped) == m.model


def test_unknown_secret_name_is_a_manifest_error() -> None:
    m = parse_manifest(BASE, Path("m.yml"))
    with pytest.raises(ManifestError, match=r"^m.yml: no secret named 'NOPE' \(defined: DB\)$") as info:
        m.secret("NOPE")
    assert exit_code_for(info.value) == ExitCode.USAGE


def test_errors_are_manifest_errors_with_exit_code_2() -> None:
    with pytest.raises(ManifestError) as info:
        parse_manifest(BASE + "extra: 1\n", Path("m.yml"))
    assert str(info.value) == "m.yml:10: extra: unknown key 'extra'"
    assert exit_code_for(info.value) == ExitCode.USAGE


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE + "extra: 1\n", "M:10: extra: unknown key 'extra'"),
        (BASE + "yes: 1\n", "M:10: yes: unknown key 'yes'"),  # not the boolean True
        (BASE + "    colour: red\n", "M:10: secrets.DB.colour: unknown key 'colour'"),
        (
            replace("    type: vault\n", "    type: vault\n    colour: red\n"),
            "M:5: stores.vault.colour: unknown key 'colour'",
        ),
        (
            replace("    type: vault\n", "    type: vault\n    auth:\n      method: token\n      role: ci\n"),
            "M:7: stores.vault.auth.role: unknown key 'role'",
        ),
        (
            replace("{type: hex}", "{type: hex, size: 4}"),
            "M:9: secrets.DB.generator.size: unknown key 'size'",
        ),
        (
            BASE + "    policy: {max_age: 90d, jitter: 1h}\n",
            "M:10: secrets.DB.policy.jitter: unknown key 'jitter'",
        ),
        (
            BASE + "    targets:\n      - file: out.env\n        mode: 600\n",
            "M:12: secrets.DB.targets[0].mode: unknown key 'mode'",
        ),
        (
            BASE + "    targets:\n      - github: acme/api\n        mode: 600\n",
            "M:12: secrets.DB.targets[0].mode: unknown key 'mode'",
        ),
        (
            BASE + "    validate:\n      - command: [ls]\n        retries: 3\n",
            "M:12: secrets.DB.validate[0].retries: unknown key 'retries'",
        ),
        (
            BASE + "    smoke:\n      - http:\n          url: https://example.test/\n          retries: 3\n",
            "M:13: secrets.DB.smoke[0].http.retries: unknown key 'retries'",
        ),
        (
            BASE + "    smoke:\n      - http: {url: 'https://example.test/'}\n        retries: 3\n",
            "M:12: secrets.DB.smoke[0].retries: unknown key 'retries'",
        ),
    ],
    ids=[
        "top",
        "top-yaml-bool",
        "secret",
        "store",
        "auth",
        "generator",
        "policy",
        "file-target",
        "github-target",
        "command-check",
        "http-spec",
        "http-check",
    ],
)
def test_unknown_key(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            replace("type: vault", "type: consul"),
            "M:4: stores.vault.type: unknown store type 'consul' (expected one of: 'vault', 'openbao', 'aws', 'azure')",
        ),
        (replace("    type: vault\n", "    mount: kv\n"), "M:3: stores.vault: store needs a 'type' key"),
        (
            replace("    type: vault\n", "    type: vault\n    auth: {method: oidc}\n"),
            "M:5: stores.vault.auth.method: unknown auth method 'oidc' (expected one of: 'token', 'jwt', 'approle')",
        ),
    ],
    ids=["unknown", "missing", "auth-method"],
)
def test_unknown_store_type(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            replace("{type: hex}", "{type: uuid}"),
            "M:9: secrets.DB.generator.type: unknown generator type 'uuid'",
        ),
        (
            replace("generator: {type: hex}", "generator:\n      bytes: 32\n      type: uuid"),
            "M:11: secrets.DB.generator.type: unknown generator type 'uuid'",
        ),
    ],
    ids=["flow", "block"],
)
def test_unknown_generator_type(tmp_path: Path, text: str, expected: str) -> None:
    from keyturn.issuers.registry import issuer_config_models

    # The random generators first, then every registered issuer, in registry order.
    issuers = [m.model_fields["type"].annotation.__args__[0] for m in issuer_config_models()]
    kinds = ["hex", "base64", "urlsafe", "password", "ed25519", "rsa", "ec", *issuers]
    tags = "(expected one of: " + ", ".join(repr(k) for k in kinds) + ")"
    assert check_error(tmp_path, text) == f"{expected} {tags}"


def test_generator_without_type(tmp_path: Path) -> None:
    msg = check_error(tmp_path, replace("{type: hex}", "{bytes: 32}"))
    assert msg == "M:9: secrets.DB.generator: generator needs a 'type' key"


@pytest.mark.parametrize(
    ("target", "got"),
    [("- s3: bucket/key", "'s3'"), ("- acme/api", "'acme/api'"), ("- {}", "an empty mapping")],
    ids=["unknown-key", "scalar", "empty"],
)
def test_unknown_target_type(tmp_path: Path, target: str, got: str) -> None:
    msg = check_error(tmp_path, BASE + f"    targets:\n      {target}\n")
    assert msg == (
        f"M:11: secrets.DB.targets[0]: unknown target type: expected one of the keys file, github, "
        f"github-org (got {got})"
    )


@pytest.mark.parametrize("section", ["validate", "smoke"])
def test_unknown_check_type(tmp_path: Path, section: str) -> None:
    text = BASE + f"    {section}:\n      - command: [ls]\n      - shell: ls -l\n"
    assert check_error(tmp_path, text) == (
        f"M:12: secrets.DB.{section}[1]: unknown check type: expected a command:, http:, github-workflow:, aws-sts: or "
        f"vault-token: entry (got 'shell')"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE + "  DB:\n    store: vault\n",
            "M:10: secrets.DB: duplicate key 'DB' (first defined on line 6)",
        ),
        (
            replace("    type: vault\n", "    type: vault\n    type: openbao\n"),
            "M:5: stores.vault.type: duplicate key 'type' (first defined on line 4)",
        ),
        (BASE + "version: 1\n", "M:10: version: duplicate key 'version' (first defined on line 1)"),
        (
            BASE + "    targets:\n      - file: a.env\n        file: b.env\n",
            "M:12: secrets.DB.targets[0].file: duplicate key 'file' (first defined on line 11)",
        ),
        (
            replace("{type: hex}", "{type: hex, type: base64}"),
            "M:9: secrets.DB.generator.type: duplicate key 'type' (first defined on line 9)",
        ),
        (
            BASE + "    smoke:\n      - http:\n          url: https://a.test/\n"
            "          headers: {X-A: '1', X-A: '2'}\n",
            "M:13: secrets.DB.smoke[0].http.headers.X-A: duplicate key 'X-A' (first defined on line 13)",
        ),
        # YAML's 1 and "1" are different keys; a manifest's keys are what the author wrote.
        (BASE + "  1: {}\n  '1': {}\n", "M:11: secrets.1: duplicate key '1' (first defined on line 10)"),
    ],
    ids=["secret-name", "store-key", "top-level", "target-key", "flow-mapping", "header", "quoted-vs-plain"],
)
def test_duplicate_keys(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("max_age: 90 days", "'90 days'"),
        ("max_age: -1d", "'-1d'"),
        ("grace: 1.5h", "'1.5h'"),
        ("grace: true", "true"),
        ("grace: 1.5", "1.5"),
        ("grace: 2024-01-01", "2024-01-01"),
        ("grace:", "null (an empty value)"),
        ("grace: ''", "''"),
        ("max_age: 1y", "'1y'"),
    ],
)
def test_bad_duration(tmp_path: Path, line: str, shown: str) -> None:
    key = line.split(":")[0]
    msg = check_error(tmp_path, BASE + f"    policy:\n      {line}\n")
    assert (
        msg == f"M:11: secrets.DB.policy.{key}: bad duration {shown}: expected e.g. 90d, 24h, 1h30m, 45s, 2w"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE + "    policy: {grace: -5}\n",
            "M:10: secrets.DB.policy.grace: bad duration -5: must not be negative",
        ),
        (
            BASE + "    policy: {max_age: 99999999999w}\n",  # used to overflow timedelta: a traceback
            "M:10: secrets.DB.policy.max_age: bad duration '99999999999w': longer than 100 years",
        ),
        (
            replace("    type: vault\n", "    type: vault\n    timeout: soon\n"),
            "M:5: stores.vault.timeout: bad duration 'soon': expected e.g. 90d, 24h, 1h30m, 45s, 2w",
        ),
        (
            BASE + "    validate:\n      - command: [ls]\n        timeout: 1.5h\n",
            "M:12: secrets.DB.validate[0].timeout: bad duration '1.5h': expected e.g. 90d, 24h, 1h30m, 45s, 2w",
        ),
        (
            BASE + "    smoke:\n      - http: {url: 'https://a.test/', timeout: 10 s}\n",
            "M:11: secrets.DB.smoke[0].http.timeout: bad duration '10 s': expected e.g. 90d, 24h, 1h30m, 45s, 2w",
        ),
    ],
    ids=["negative-int", "overflow", "store-timeout", "command-timeout", "http-timeout"],
)
def test_bad_duration_elsewhere(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


def test_reference_to_undefined_store(tmp_path: Path) -> None:
    msg = check_error(tmp_path, replace("store: vault", "store: aws"))
    assert msg == "M:7: secrets.DB.store: unknown store 'aws' (defined: vault)"


def test_two_secrets_on_the_same_store_path(tmp_path: Path) -> None:
    text = BASE + "  API:\n    store: vault\n    path: db/prod\n    generator: {type: hex}\n"
    msg = check_error(tmp_path, text)
    assert msg == "M:12: secrets.API.path: path 'db/prod' in store 'vault' is already used by DB"


def test_same_path_in_different_stores_is_fine() -> None:
    text = replace("    type: vault\n", "    type: vault\n  bao:\n    type: openbao\n")
    text += "  API:\n    store: bao\n    path: db/prod\n    generator: {type: hex}\n"
    assert set(parse_manifest(text, Path("m.yml")).model.secrets) == {"DB", "API"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE + "    policy: {max_age: 90d\n",
            "M:10: invalid YAML: expected ',' or '}', but got '<stream end>'",
        ),
        (
            replace("    path: db/prod", "\tpath: db/prod"),
            r"M:8: invalid YAML: found character '\t' that cannot start any token (indent with spaces, not tabs)",
        ),
        (
            replace("    path: db/prod", "    path: db/prod\n   key: x"),
            (
                "M:9: invalid YAML: expected <block end>, but found '<block mapping start>' "
                "(while parsing a block mapping started on line 6)"
            ),
        ),
        (
            BASE + "---\nversion: 1\n",
            "M:10: invalid YAML: expected a single document in the stream, but found another document",
        ),
        (
            "version: 1\nstores: \x07\n",
            "M:2: invalid YAML: special characters are not allowed (character #x0007)",
        ),
        (
            BASE + "    description: !!int abc\n",
            "M:10: secrets.DB.description: cannot read 'abc' as !!int: ValueError",
        ),
        (
            BASE + "    description: !!python/object:os.system {}\n",
            "M:10: secrets.DB.description: unsupported YAML tag '!!python/object:os.system'",
        ),
        (
            BASE + "    impacted_services: &s [a, *s]\n",
            "M:10: secrets.DB.impacted_services[1]: recursive alias",
        ),
        (BASE + "    ? [a, b]\n    : x\n", "M:10: secrets.DB: mapping keys must be plain scalars"),
    ],
    ids=[
        "syntax",
        "tab",
        "indentation",
        "two-documents",
        "control-char",
        "bad-tagged-scalar",
        "python-tag",
        "recursive-alias",
        "complex-key",
    ],
)
def test_invalid_yaml(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


def test_alias_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlpos, "MAX_NODES", 1000)  # the mechanism, without building 100k nodes
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    msg = check_error(tmp_path, "\n".join(lines) + "\n")
    assert msg.endswith(": more than 1000 nodes (alias expansion?)"), msg


@pytest.mark.parametrize("text", ["", "\n", "# nothing yet\n", "---\n", "null\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    assert (
        check_error(tmp_path, text)
        == "M:1: (top level): the manifest is empty: it needs version, stores and secrets"
    )


@pytest.mark.parametrize(("text", "got"), [("- a\n- b\n", "a list"), ("hello\n", "'hello'"), ("42\n", "42")])
def test_top_level_not_a_mapping(tmp_path: Path, text: str, got: str) -> None:
    assert check_error(tmp_path, text) == (
        f"M:1: (top level): the manifest must be a mapping with version, stores and secrets (got {got})"
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yml"
    code, out, err = run("manifest", "check", "--manifest", str(path))
    assert (code, out) == (2, "")
    assert (
        err == f"keyturn: error: {path}: manifest not found (pass --manifest FILE or set KEYTURN_MANIFEST)\n"
    )


def test_unreadable_manifest(tmp_path: Path) -> None:
    code, out, err = run("manifest", "check", "--manifest", str(tmp_path))  # a directory
    assert (code, out) == (2, "")
    assert err == (f"keyturn: error: {tmp_path}: is a directory, not a manifest file (pass --manifest FILE or "
                   "set KEYTURN_MANIFEST)\n")
    bad = tmp_path / "latin1.yml"
    bad.write_bytes(b"version: 1\n# caf\xe9\n")
    code, out, err = run("manifest", "check", "--manifest", str(bad))
    assert (code, out, err) == (2, "", f"keyturn: error: {bad}:2: (top level): not UTF-8 text (byte 0xe9 at "
                                       "column 6) — save the manifest as UTF-8\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (replace("version: 1", "version: 2"), "M:1: version: 2 is not allowed (expected 1)"),
        (replace("version: 1", "version: '1'"), "M:1: version: '1' is not allowed (expected 1)"),
        (replace("version: 1", "version: 1.0"), "M:1: version: 1.0 is not allowed (expected 1)"),
        (replace("version: 1", "version: true"), "M:1: version: true is not allowed (expected 1)"),
        (replace("version: 1\n", ""), "M:1: version: required key 'version' is missing"),
    ],
    ids=["2", "string", "float", "bool", "missing"],
)
def test_wrong_version(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


@pytest.mark.parametrize("name", ["db-prod", "1DB", "db.prod", "'db prod'", "é"])
def test_bad_secret_name(tmp_path: Path, name: str) -> None:
    shown = repr(yaml.safe_load(name))
    msg = check_error(tmp_path, replace("  DB:", f"  {name}:"))
    assert msg == (
        f"M:6: secrets.{yaml.safe_load(name)}: bad secret name {shown}: letters, digits and _ only, "
        "not starting with a digit"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "- github-org: acme\n        visibility: selected",
            "M:12: secrets.DB.targets[0].visibility: visibility 'selected' needs repositories: [owner/name, ...]",
        ),
        (
            "- github-org: acme\n        repositories: [acme/api]",
            (
                "M:12: secrets.DB.targets[0].repositories: repositories is only valid with visibility: selected "
                "(visibility is 'private')"
            ),
        ),
        (
            "- github: acme/api\n        environments: [production]\n        dependabot: true",
            (
                "M:13: secrets.DB.targets[0].dependabot: dependabot cannot be combined with environments "
                "(Dependabot secrets are repository-wide: use a second target)"
            ),
        ),
        ("- github: acme", "M:11: secrets.DB.targets[0].github: bad value 'acme': expected owner/name"),
        (
            "- github: acme/api/x",
            "M:11: secrets.DB.targets[0].github: bad value 'acme/api/x': expected owner/name",
        ),
        (
            "- github-org: acme\n        visibility: selected\n        repositories: [acme/api, api]",
            "M:13: secrets.DB.targets[0].repositories: bad repository 'api': expected owner/name",
        ),
        (
            "- github-org: acme/x",
            (
                "M:11: secrets.DB.targets[0].github-org: bad value 'acme/x': "
                "expected an organization name (letters, digits and -)"
            ),
        ),
        (
            "- github-org: acme\n        visibility: public",
            "M:12: secrets.DB.targets[0].visibility: 'public' is not allowed (expected 'all', 'private' or 'selected')",
        ),
        (
            "- github: acme/api\n        environments: []",
            "M:12: secrets.DB.targets[0].environments: must not be empty",
        ),
        (
            "- github: acme/api\n        name: bad-name",
            (
                "M:12: secrets.DB.targets[0].name: bad name 'bad-name': letters, digits and _ only, not starting with a "
                "digit"
            ),
        ),
        (
            "- github: acme/api\n        shape: triple",
            "M:12: secrets.DB.targets[0].shape: Input should be 'single', 'dual' or 'versioned' (got 'triple')",
        ),
    ],
    ids=[
        "selected-without-repositories",
        "repositories-without-selected",
        "environments-and-dependabot",
        "bad-repo",
        "bad-repo-3-parts",
        "bad-org-repository",
        "bad-org",
        "bad-visibility",
        "no-environments",
        "bad-name",
        "bad-shape",
    ],
)
def test_github_target_errors(tmp_path: Path, target: str, expected: str) -> None:
    assert check_error(tmp_path, BASE + f"    targets:\n      {target}\n") == expected


def test_http_check_refuses_value_in_url(tmp_path: Path) -> None:
    text = BASE + "    smoke:\n      - http:\n          url: 'https://a.test/?k={{ value }}'\n"
    assert check_error(tmp_path, text) == (
        "M:12: secrets.DB.smoke[0].http.url: the URL must not contain a template: URLs reach logs; use headers "
        "or body (got 'https://a.test/?k={{ value }}')"
    )


def test_http_check_url_scheme(tmp_path: Path) -> None:
    text = BASE + "    validate:\n      - http: {url: 'ftp://a.test/'}\n"
    assert check_error(tmp_path, text) == (
        "M:11: secrets.DB.validate[0].http.url: bad value 'ftp://a.test/': expected an http:// or https:// URL"
    )


@pytest.mark.parametrize("suffix", [".keyturn-pending", ".keyturn-rotation"])
def test_reserved_path_suffix(tmp_path: Path, suffix: str) -> None:
    msg = check_error(tmp_path, replace("db/prod", f"db/prod{suffix}"))
    assert (
        msg
        == f"M:8: secrets.DB.path: bad path 'db/prod{suffix}': the suffixes .keyturn-* are reserved for keyturn"
    )


@pytest.mark.parametrize("path", ["/db/prod", "db/prod/", "db//prod", "db/../prod"])
def test_bad_store_path(tmp_path: Path, path: str) -> None:
    msg = check_error(tmp_path, replace("db/prod", path))
    assert (
        msg
        == f"M:8: secrets.DB.path: bad path {path!r}: no leading/trailing slash, no empty or '..' segments"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE + "  API:\n    <<: {store: vault, generator: {type: hex}}\n    path: api\n",
            "M:11: secrets.API: YAML merge key '<<' is not supported: write the keys out",
        ),
        (
            "defaults: &d {type: vault}\n" + replace("    type: vault\n", "    <<: *d\n"),
            "M:5: stores.vault: YAML merge key '<<' is not supported: write the keys out",
        ),
    ],
    ids=["inline", "anchor"],
)
def test_yaml_merge_keys_refused(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            replace("    generator: {type: hex}\n", ""),
            "M:6: secrets.DB.generator: required key 'generator' is missing",
        ),
        (BASE.split("secrets:")[0], "M:1: secrets: required key 'secrets' is missing"),
        (BASE.split("secrets:")[0] + "secrets: {}\n", "M:5: secrets: must not be empty"),
        (BASE.split("secrets:")[0] + "secrets: [DB]\n", "M:5: secrets: expected a mapping (got a list)"),
        (BASE + "  X:\n", "M:10: secrets.X: expected a mapping (got an empty value)"),
        (replace("{type: hex}", "hex"), "M:9: secrets.DB.generator: expected a mapping (got 'hex')"),
        (BASE + "    targets: acme/api\n", "M:10: secrets.DB.targets: expected a list (got 'acme/api')"),
        (
            BASE + "    validate:\n      - command: ls -l\n",
            "M:11: secrets.DB.validate[0].command: expected a list (got 'ls -l')",
        ),
        (
            BASE + "    validate:\n      - command: []\n",
            "M:11: secrets.DB.validate[0].command: must not be empty",
        ),
        (
            replace("{type: hex}", "{type: hex, bytes: 4}"),
            "M:9: secrets.DB.generator.bytes: Input should be greater than or equal to 8 (got 4)",
        ),
        (
            BASE + "    smoke:\n      - http: {method: GET}\n",
            "M:11: secrets.DB.smoke[0].http.url: required key 'url' is missing",
        ),
        (
            BASE + "extra: 1\nmore: 2\n",
            "M:10: extra: unknown key 'extra' (and 1 more error(s))",
        ),
    ],
    ids=[
        "missing-generator",
        "missing-secrets",
        "no-secrets",
        "secrets-list",
        "empty-secret",
        "generator-scalar",
        "targets-scalar",
        "command-string",
        "command-empty",
        "bytes-too-small",
        "http-no-url",
        "several",
    ],
)
def test_shape_errors(tmp_path: Path, text: str, expected: str) -> None:
    assert check_error(tmp_path, text) == expected


def test_store_and_type_names_do_not_confuse_the_key_path(tmp_path: Path) -> None:
    # The store named "vault" is an openbao and the one named "openbao" a vault: the error
    # location pydantic reports carries the type as a tag, which must not be mistaken for a key.
    text = (
        "version: 1\nstores:\n  vault:\n    type: openbao\n    timeout: never\n  openbao:\n    type: vault\n"
    )
    text += "secrets:\n  DB: {store: vault, path: a, generator: {type: hex}}\n"
    msg = check_error(tmp_path, text)
    assert msg == "M:5: stores.vault.timeout: bad duration 'never': expected e.g. 90d, 24h, 1h30m, 45s, 2w"


# --------------------------------------------------------------------------- schema
@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(manifest.json_schema())


def test_json_schema_is_valid_draft_2020_12() -> None:
    schema = manifest.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", [EXAMPLE, DATA / "github-targets.yml", DATA / "full.yml"])
def test_good_manifests_validate_against_the_schema(
    validator: jsonschema.Draft202012Validator, path: Path
) -> None:
    assert [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))] == []


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(extra=1),
        lambda d: d["secrets"]["PROV_SECRET"].update(colour="red"),
        lambda d: d["secrets"]["PROV_SECRET"]["targets"][0].update(mode=600),
        lambda d: d["secrets"]["PROV_SECRET"]["policy"].update(max_age="90 days"),
        lambda d: d["stores"]["vault"].update(type="consul"),
    ],
    ids=["top-key", "secret-key", "target-key", "duration", "store-type"],
)
def test_schema_rejects_bad_manifests(validator: jsonschema.Draft202012Validator, mutate: object) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    mutate(data)  # type: ignore[operator]
    assert not validator.is_valid(data)


def test_manifest_schema_command_prints_the_schema() -> None:
    code, out, err = run("manifest", "schema")
    assert (code, err) == (0, "")
    assert json.loads(out) == manifest.json_schema()
    assert out == manifest.schema_json()


@pytest.mark.parametrize(("kind", "days"), [("external-api-key", 90), ("high-privilege-token", 30),
                                            ("webhook-signing-secret", 180)])
def test_policy_kind_sets_the_default_max_age(tmp_path: Path, kind: str, days: int) -> None:
    from datetime import timedelta

    from keyturn.manifest import load_manifest

    path = tmp_path / "keyturn.yml"
    path.write_text(replace("generator: {type: hex}", f"generator: {{type: hex}}\n    policy: {{kind: {kind}}}"))
    assert load_manifest(path).model.secrets["DB"].policy.max_age == timedelta(days=days)
    path.write_text(replace("generator: {type: hex}",
                            f"generator: {{type: hex}}\n    policy: {{kind: {kind}, max_age: 7d}}"))
    assert load_manifest(path).model.secrets["DB"].policy.max_age == timedelta(days=7), "explicit max_age wins"


def test_unknown_policy_kind_is_a_manifest_error(tmp_path: Path) -> None:
    text = replace("generator: {type: hex}", "generator: {type: hex}\n    policy: {kind: api-key}")
    err = check_error(tmp_path, text)
    assert "secrets.DB.policy.kind" in err and "external-api-key" in err


def test_fields_on_a_single_value_generator_is_refused(tmp_path: Path) -> None:
    text = replace("generator: {type: hex}",
                   "generator: {type: hex}\n    targets:\n      - file: a.env\n        fields: {A: x}")
    err = check_error(tmp_path, text)
    assert "secrets.DB.targets[0].fields" in err and "single value" in err and "name:" in err


def test_fields_and_name_together_are_refused(tmp_path: Path) -> None:
    text = replace("generator: {type: hex}",
                   "generator: {type: hex}\n    targets:\n      - file: a.env\n        name: A\n"
                   "        fields: {A: x}")
    assert "not both" in check_error(tmp_path, text)


def test_fields_entry_names_are_checked(tmp_path: Path) -> None:
    text = replace("generator: {type: hex}",
                   "generator: {type: hex}\n    targets:\n      - file: a.env\n        fields: {1A: x}")
    assert "bad entry name '1A'" in check_error(tmp_path, text)
