"""``manifest check`` refuses targets that escape the manifest's directory, store paths
that alias each other, and two targets that would write one entry (issue #8 item 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyturn.errors import ManifestError
from keyturn.manifest import FileTargetConfig, parse_manifest

HEAD = """\
version: 1
stores:
  vault:
    type: vault
secrets:
"""


def secret(name: str, path: str, targets: str = "[]") -> str:
    return f"""\
  {name}:
    store: vault
    path: {path}
    generator: {{type: hex, bytes: 32}}
    targets: {targets}
"""


def refused(text: str) -> str:
    with pytest.raises(ManifestError) as err:
        parse_manifest(text, Path("m.yml"))
    message = str(err.value)
    assert "\n" not in message and message.startswith("m.yml:"), message
    return message


@pytest.mark.parametrize("file", ["/etc/app.env", "../x.env", "../../x.env", "deploy/../../x.env"])
def test_file_outside_the_manifest_directory_needs_allow_outside(file: str) -> None:
    text = HEAD + secret("A", "app/a", f"[{{file: '{file}'}}]")
    message = refused(text)
    assert "secrets.A.targets[0].file" in message and "allow_outside: true" in message
    allowed = HEAD + secret("A", "app/a", f"[{{file: '{file}', allow_outside: true}}]")
    target = parse_manifest(allowed, Path("m.yml")).model.secrets["A"].targets[0]
    assert isinstance(target, FileTargetConfig) and target.allow_outside


def test_dot_segments_in_a_store_path_are_normalised_before_the_duplicate_check() -> None:
    message = refused(HEAD + secret("A", "app/s") + secret("B", "app/./s"))
    assert "secrets.B.path" in message and "already used by A" in message
    m = parse_manifest(HEAD + secret("A", "./app/./s"), Path("m.yml"))
    assert m.model.secrets["A"].path == "app/s"


@pytest.mark.parametrize(
    ("first", "second", "entry"),
    [
        ("[{file: deploy/.env, name: DB}]", "[{file: deploy/./.env, name: DB}]", "DB in file deploy/.env"),
        ("[{github: acme/api, name: DB}]", "[{github: ACME/api, name: db}]", "db in GitHub repository acme/api"),
        ("[{github: acme/api, shape: dual}]", "[{github: acme/api}]", "S_PREVIOUS in GitHub repository"),
        ("[{file: .env, shape: versioned}]", "[{file: .env, name: S_V3}]", "S_V3 in file .env"),
        ("[{file: .env, name: X_V2}]", "[{file: .env, name: X, shape: versioned}]", "X_V<n> in file .env"),
        (
            "[{github: acme/api, environments: [prod]}]",
            "[{github: acme/api, environments: [stage, prod], name: S}]",
            "environment prod",
        ),
        ("[{github-org: acme, name: T}]", "[{github-org: acme, name: T}]", "GitHub organization acme"),
    ],
)
def test_two_secrets_writing_one_entry_are_refused(first: str, second: str, entry: str) -> None:
    # The second secret is named S_PREVIOUS: a dual S next to it would overwrite it.
    message = refused(HEAD + secret("S", "app/s", first) + secret("S_PREVIOUS", "app/p", second))
    assert "secrets.S_PREVIOUS.targets[0]" in message and entry in message
    assert "also written by secrets.S.targets[0]" in message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("[{file: a.env, name: DB}]", "[{file: b.env, name: DB}]"),
        ("[{github: acme/api, name: DB}]", "[{github: acme/api, name: DB, dependabot: true}]"),
        ("[{github: acme/api, name: DB, environments: [prod]}]", "[{github: acme/api, name: DB}]"),
        ("[{file: .env, name: DB}]", "[{file: .env, name: db}]"),  # dotenv names are case-sensitive
        ("[{file: .env, shape: dual}]", "[{file: .env, name: S_PREVIOUSLY}]"),
    ],
)
def test_distinct_entries_are_accepted(first: str, second: str) -> None:
    parse_manifest(HEAD + secret("S", "app/s", first) + secret("T", "app/t", second), Path("m.yml"))


def test_one_secret_listing_an_entry_twice_is_refused() -> None:
    message = refused(HEAD + secret("S", "app/s", "[{file: .env}, {file: ./.env}]"))
    assert "secrets.S.targets[1]" in message and "secrets.S.targets[0]" in message


# -- file formats (issue #8 item 8) -----------------------------------------------------


@pytest.mark.parametrize(
    ("generator", "fmt", "problem"),
    [
        ("{type: password, symbol_set: '!#%~'}", "env-file", "password symbols '#~' need quoting"),
        ("{type: rsa}", "env-file", "rsa keys are multi-line PEM"),
        ("{type: ed25519}", "env-file", "ed25519 keys are multi-line PEM"),
        ("{type: ec}", "env-file", "ec keys are multi-line PEM"),
        ("{type: password, symbol_set: \"!$'\"}", "dotenv", "symbols ', \\ and $ cannot be written"),
    ],
)
def test_generators_a_file_format_cannot_spell_are_refused(generator: str, fmt: str, problem: str) -> None:
    text = HEAD + secret("A", "app/a", f"[{{file: .env, format: {fmt}}}]").replace("{type: hex, bytes: 32}", generator)
    message = refused(text)
    assert problem in message and "secrets.A." in message


@pytest.mark.parametrize(
    ("generator", "fmt"),
    [
        ("{type: password}", "env-file"),  # the default symbols read back bare everywhere
        ("{type: password}", "dotenv"),
        ("{type: rsa}", "dotenv"),
        ("{type: ec, curve: P-521}", "dotenv"),
        ("{type: ed25519}", "jwks"),  # only the public key is written: no quoting question
        ("{type: rsa}", "jwks"),
        ("{type: ec}", "jwks"),
        ("{type: base64}", "env-file"),
        ("{type: urlsafe}", "env-file"),
    ],
)
def test_generators_a_file_format_can_spell_are_accepted(generator: str, fmt: str) -> None:
    text = HEAD + secret("A", "app/a", f"[{{file: .env, format: {fmt}}}]").replace("{type: hex, bytes: 32}", generator)
    target = parse_manifest(text, Path("m.yml")).model.secrets["A"].targets[0]
    assert isinstance(target, FileTargetConfig) and target.format == fmt
