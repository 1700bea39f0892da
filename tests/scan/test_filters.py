"""Filters: detect-secrets heuristic parity, placeholders, documented examples, value shapes."""

from __future__ import annotations

import pytest
from detect_secrets.filters import heuristic

from keyturn.scan import filters
from keyturn.scan.filters import DS

SAMPLES = [
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    "1234567890abcdef",
    "abcdefABCDEF",
    "{secret}",
    "<secret>",
    "${SECRET}",
    "$notreal",
    "x",
    "",
    "----",
    "a7f770d9-106f-d287-db7f-1adbc60926f6",
    "hunter2",
    "Zm9vYmFy",
    "ghp_" + "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8d",  # split: the repo's own scan stays clean
    "=/",
    "ABCDEF0123456789",
]


@pytest.mark.parametrize("value", SAMPLES)
def test_mirrors_detect_secrets_heuristics(value: str) -> None:
    assert DS.is_sequential_string(value) == heuristic.is_sequential_string(value)
    assert DS.is_potential_uuid(value) == heuristic.is_potential_uuid(value)
    assert DS.is_templated_secret(value) == heuristic.is_templated_secret(value)
    assert DS.is_prefixed_with_dollar_sign(value) == heuristic.is_prefixed_with_dollar_sign(value)
    assert DS.is_not_alphanumeric_string(value) == heuristic.is_not_alphanumeric_string(value)


@pytest.mark.parametrize(
    "value",
    [
        "${{ secrets.X }}",
        "<your-token>",
        "changeme",
        "xxxxxxxxxxxxxxxx",
        "{{ vault_password }}",
        "%(password)s",
        "$(cat /run/secret)",
        "P@55w0rd!",
        "your_api_key_here",
        "sk-...",
        "REPLACE_ME_WITH_TOKEN",
    ],
)
def test_placeholders(value: str) -> None:
    assert filters.is_placeholder(value)


@pytest.mark.parametrize(
    "value",
    ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIAI44QH8DHBEXAMPLE"],
)
def test_documented_examples(value: str) -> None:
    assert filters.is_known_example(value)
    assert filters.is_false_positive(value)


@pytest.mark.parametrize(
    "value",
    [
        "6f1c2a3e-8f4b-4c2d-9e7a-1b2c3d4e5f60",
        "data:image/png;base64,iVBORw0KGgo",
        "sha512-abc123def456",
        "ssh-rsa AAAAB3NzaC1yc2E",
        "2016-09-08T21:47:36Z",
        "urn:oasis:names:tc:SAML:2.0:assertion",
        "Jobs[-1].JobId",
        "someone@example.org",
    ],
)
def test_non_secret_shapes(value: str) -> None:
    assert filters.is_non_secret_shape(value)


@pytest.mark.parametrize(
    "value,random_",
    [
        ("Xk9#mP2$vL8qR4wT", True),
        ("a7f770d9106fd287db7f1adbc60926f6", True),
        ("IvuxYyjpqH2Cflnk8mEawOq9r2oNWDRSIM4XZUykWH8=", True),
        ("django_tests_secret_key", False),
        ("MySecretValue", False),
        ("b20f9694e8c700ee", False),  # short hex: an id
        ("eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ==", False),  # base64 JSON cursor
        ("4b825dc642cb6eb9a060e54bf8d69288fbee4904", True),  # 40 hex: could be a legacy token
        ("ST==D@XGRplhj~3sa=v^", True),  # symbols, not base64: never "decodes to text"
        ("lHfEocxrjr_Cfx36", True),  # random letters with a separator are not words
        ("LPDFpVBNcYOiBVCSLRAzeKex", True),  # letters only, random case mix
        ("DescribeReservedInstancesOfferings", False),  # CamelCase identifier
        ("MyAppKeyIsHereNow", False),
        ("someone@example.org", False),
    ],
)
def test_looks_random(value: str, random_: bool) -> None:
    assert filters.looks_random(value) is random_


def test_entropy() -> None:
    assert filters.shannon_entropy("aaaa") == 0
    assert filters.shannon_entropy("abcd") == 2


# -- random values that merely contain template punctuation or placeholder letters --------
def _rand(seed: int, n: int, alphabet: str) -> str:
    import random

    r = random.Random(seed)
    return "".join(r.choice(alphabet) for _ in range(n))


_SALT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#%*-_=+[]{}|:,.<>?~^@"


@pytest.mark.parametrize("seed", range(20))
def test_random_salts_with_angle_brackets_are_not_templates(seed: int) -> None:
    value = _rand(seed, 60, _SALT) + "<q>X"  # a WordPress-style salt with < and >
    assert not filters.is_placeholder(value)
    assert filters.looks_random(value)


@pytest.mark.parametrize(
    "value", ["<db-password>", "prefix-<token>", "{{ .Values.secret }}", "%(secret_key)s", "$(DB_PASS)"]
)
def test_whole_templates_still_placeholders(value: str) -> None:
    assert filters.is_placeholder(value)


@pytest.mark.parametrize("word", ["yOuR", "xXXx", "fAkE", "dUmMy"])
def test_mixed_case_letters_inside_random_value_are_not_placeholder_words(word: str) -> None:
    body = _rand(1, 12, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    assert not filters.is_placeholder(body[:6] + "k" + word + "Q" + body[6:])


@pytest.mark.parametrize(
    "value", ["YOUR_API_KEY", "your-token", "YourApiKeyHere", "ChangeMe123", "my_FAKE_key"]
)
def test_placeholder_words_as_words(value: str) -> None:
    assert filters.is_placeholder(value)


def test_dotted_names_vs_random_values_with_a_dot() -> None:
    assert filters.is_dotted_name("settings.DB_PASSWORD")
    assert filters.is_dotted_name("config.getDbPassword")
    assert filters.is_dotted_name("mail.internal.corp")
    assert not filters.is_dotted_name("aB3kQz9Lm.Xp7rT2")


def test_random_letters_value() -> None:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
    assert sum(filters.random_letters_value(_rand(s, 28, letters)) for s in range(50)) >= 45
    for value in ("some_snake_case_identifier", "MyApplicationDatabaseSecret", "Some_Snake_Case_Identifier"):
        assert not filters.random_letters_value(value)


def test_sample_directories_skip_generic_only() -> None:
    from keyturn.scan.engine import Engine
    from keyturn.scan.generic import is_example_file

    assert is_example_file("roles/x/molecule/default/converge.yml")
    assert is_example_file("docs/examples/use-defaults.yml")
    assert not is_example_file("roles/x/tasks/main.yml")
    engine = Engine(b"k")
    text = 'api_token: "Qx7LmZr2TbW9nVc4Pk8sYd3F"\nGH = "ghp_' + "kASAOsE1nYEZ9GlGHpYaax7LBejYWo1Y2ELt" + '"\n'
    assert {f.detector for f in engine.scan_text("app/config.yml", text)} == {"generic-secret", "github-token"}
    assert {f.detector for f in engine.scan_text("app/molecule/default/config.yml", text)} == {"github-token"}


def test_memorable_sample_passwords() -> None:
    from keyturn.scan import filters

    for v in ("Testing@123", "Cluster1!", "#1234Abc", "C1sco12345", "0th3rP@ss", "#123Dell456!"):
        assert filters.memorable_password(v), v
    for v in ("Xk9fPq2LmZr7TbW3nVc8", "5egtMOUluwxdR+Zo3gs@", "xa=amt@jRQRnud-M", "8^66W@_D3kk3j=Iv"):
        assert not filters.memorable_password(v), v
