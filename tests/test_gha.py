"""keyturn.gha: masks, outputs, step summary and annotations as the runner parses them."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyturn import gha
from keyturn.values import SecretValue

RUNNER_VARS = ("GITHUB_ACTIONS", "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")


@pytest.fixture(autouse=True)
def clean_runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts outside Actions with no masks sent yet."""
    for var in RUNNER_VARS:
        monkeypatch.delenv(var, raising=False)
    gha.reset_masks()
    yield
    gha.reset_masks()


@pytest.fixture
def actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")


def masks(err: str) -> list[str]:
    lines = err.splitlines()
    assert all(line.startswith("::add-mask::") for line in lines), lines
    return [line.removeprefix("::add-mask::") for line in lines]


# --------------------------------------------------------------------------- masks
def test_creating_a_value_masks_it_and_its_derived_forms(
    actions: None, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = "s3cr3t-canary/+?&= é"
    SecretValue(plain)
    out, err = capsys.readouterr()
    assert out == ""  # stdout is for results
    sent = masks(err)
    raw = plain.encode("utf-8")
    b64, b64url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()
    expected = [
        plain,
        b64,
        b64.rstrip("="),
        b64url,
        b64url.rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        urllib.parse.quote(plain, safe=""),
        urllib.parse.quote(plain, safe="").lower().replace("s3cr3t-canary", "s3cr3t-canary"),
        urllib.parse.quote_plus(plain),
        json.dumps(plain)[1:-1],
    ]
    for form in expected:
        assert gha.escape_data(form) in sent, form
    assert sent == [gha.escape_data(f) for f in SecretValue(plain, mask=False).derived_forms() if len(f) >= 8]
    # The runner un-escapes %25 back to %: the URL-encoded form arrives intact.
    assert "s3cr3t-canary%252F%252B%253F%2526%253D%2520%25C3%25A9" in sent


def test_escaping_of_percent_cr_lf() -> None:
    assert gha.escape_data("a%b\rc\nd") == "a%25b%0Dc%0Ad"
    assert gha.escape_data("%0A") == "%250A"  # escaped first: no double meaning
    assert gha.escape_property("a%b\rc\nd:e,f") == "a%25b%0Dc%0Ad%3Ae%2Cf"


def test_multiline_value_masked_whole_escaped_and_per_line(
    actions: None, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = (
        "-----BEGIN TEST KEY-----\r\nMIIBcanaryLineOne%\n\nshort\nMIIBcanaryLineTwo\n-----END TEST KEY-----\n"
    )
    SecretValue(pem)
    sent = masks(capsys.readouterr().err)
    assert sent[0] == (
        "-----BEGIN TEST KEY-----%0D%0AMIIBcanaryLineOne%25%0A%0Ashort%0AMIIBcanaryLineTwo%0A-----END TEST KEY-----%0A"
    )
    for line in (
        "-----BEGIN TEST KEY-----",
        "MIIBcanaryLineOne%25",
        "MIIBcanaryLineTwo",
        "-----END TEST KEY-----",
    ):
        assert line in sent
    assert "short" not in sent  # a line under 8 characters is not a mask of its own
    assert all("\n" not in m and "\r" not in m for m in sent)


def test_json_value_masks_string_leaves(actions: None, capsys: pytest.CaptureFixture[str]) -> None:
    SecretValue(json.dumps({"user": "svc", "password": "correct-horse-battery", "n": 12345678}))
    sent = masks(capsys.readouterr().err)
    assert "correct-horse-battery" in sent
    assert "svc" not in sent and "12345678" not in sent  # too short / not a string leaf


@pytest.mark.parametrize("value", ["", "1234567", "abc\nde", "  \n\t    "])
def test_short_or_blank_values_are_not_masked(
    actions: None, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    gha.add_mask(value)
    assert capsys.readouterr().err == ""


def test_eight_characters_are_masked(actions: None, capsys: pytest.CaptureFixture[str]) -> None:
    gha.add_mask("12345678")
    assert capsys.readouterr().err == "::add-mask::12345678\n"


def test_short_value_masks_only_its_long_enough_encodings(
    actions: None, capsys: pytest.CaptureFixture[str]
) -> None:
    SecretValue("abcdef")
    sent = masks(capsys.readouterr().err)
    assert "abcdef" not in sent
    assert sent == ["YWJjZGVm", "616263646566"]  # base64 (std == urlsafe, no padding), hex


def test_each_mask_is_sent_once_per_process(actions: None, capsys: pytest.CaptureFixture[str]) -> None:
    first = SecretValue("once-only-canary")
    assert len(masks(capsys.readouterr().err)) == len(first.derived_forms())
    SecretValue("once-only-canary")
    gha.register_secret(first)
    gha.add_mask("once-only-canary")
    assert capsys.readouterr().err == ""
    gha.reset_masks()
    gha.add_mask("once-only-canary")
    assert capsys.readouterr().err == "::add-mask::once-only-canary\n"


def test_masks_are_remembered_as_digests_not_plaintext(actions: None) -> None:
    SecretValue("remembered-canary-value")
    assert gha._masked and all(isinstance(d, bytes) and len(d) == 32 for d in gha._masked)
    assert "remembered-canary-value" not in repr(gha._masked)


def test_mask_goes_to_the_given_stream(actions: None, capsys: pytest.CaptureFixture[str]) -> None:
    buf = io.StringIO()
    gha.register_secret(SecretValue("stream-canary", mask=False), buf)
    assert buf.getvalue().startswith("::add-mask::stream-canary\n")
    assert capsys.readouterr() == ("", "")


def test_mask_false_registers_nothing(actions: None, capsys: pytest.CaptureFixture[str]) -> None:
    SecretValue("unmasked-canary", mask=False)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("setting", [None, "", "false", "1", "yes"])
def test_outside_actions_nothing_is_printed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], setting: str | None
) -> None:
    if setting is not None:
        monkeypatch.setenv("GITHUB_ACTIONS", setting)
    assert not gha.in_actions()
    SecretValue("outside-canary-value")
    gha.add_mask("outside-canary-value")
    gha.annotation("error", "message", file="a.py", line=1, title="t")
    assert capsys.readouterr() == ("", "")
    # ...and nothing was remembered: entering Actions later still masks it.
    monkeypatch.setenv("GITHUB_ACTIONS", "TRUE")
    gha.add_mask("outside-canary-value")
    assert capsys.readouterr().err == "::add-mask::outside-canary-value\n"


# --------------------------------------------------------------------------- outputs
@pytest.fixture
def output_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(path))
    return path


def test_set_output_uses_a_random_heredoc_delimiter(output_file: Path) -> None:
    assert gha.set_output("version-id", "7")
    assert gha.set_output("summary", "line one\nline two = x")
    text = output_file.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == ""  # ends with a newline
    name, _, delim = lines[0].partition("<<")
    assert name == "version-id" and delim.startswith("ghadelimiter_")
    uuid.UUID(delim.removeprefix("ghadelimiter_"))
    assert lines[1:3] == ["7", delim]
    name2, _, delim2 = lines[3].partition("<<")
    assert name2 == "summary" and delim2 != delim and delim2.startswith("ghadelimiter_")
    assert lines[4:7] == ["line one", "line two = x", delim2]


def test_set_output_appends_utf8(output_file: Path) -> None:
    output_file.write_text("earlier<<EOF\nx\nEOF\n", encoding="utf-8")
    gha.set_output("pr-url", "https://example.test/é")
    assert output_file.read_bytes().startswith(b"earlier<<EOF\nx\nEOF\npr-url<<ghadelimiter_")
    assert "https://example.test/é\n" in output_file.read_text(encoding="utf-8")


def test_set_output_refuses_a_value_containing_the_delimiter(
    output_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fixed = uuid.UUID("12345678-1234-5678-1234-567812345678")
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    evil = f"x\nghadelimiter_{fixed}\ninjected=1"
    with pytest.raises(ValueError, match="^GITHUB_OUTPUT: value for status contains the delimiter$"):
        gha.set_output("status", evil)
    assert not output_file.exists()


@pytest.mark.parametrize("name", ["", "a\nb", "a<<EOF", "a b", "1x", "x=y"])
def test_set_output_refuses_bad_names(output_file: Path, name: str) -> None:
    with pytest.raises(ValueError, match="bad name"):
        gha.set_output(name, "v")
    assert not output_file.exists()


def test_set_output_refuses_a_secret_value(output_file: Path) -> None:
    with pytest.raises(TypeError, match="must be str, not SecretValue"):
        gha.set_output("token", SecretValue("never-an-output", mask=False))  # type: ignore[arg-type]
    assert not output_file.exists()


def test_set_output_without_github_output_goes_nowhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gha.set_output("status", "ok") is False
    assert capsys.readouterr() == ("", "")


# --------------------------------------------------------------------------- summary
@pytest.fixture
def summary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


def test_append_summary(summary_file: Path) -> None:
    assert gha.append_summary("### keyturn")
    assert gha.append_summary("| a | é |\n")
    assert summary_file.read_text(encoding="utf-8") == "### keyturn\n| a | é |\n"


def test_append_summary_without_file_goes_nowhere() -> None:
    assert gha.append_summary("x") is False


def test_append_summary_respects_the_1_mib_limit(summary_file: Path) -> None:
    limit = gha.STEP_SUMMARY_LIMIT
    assert limit == 1024 * 1024
    assert gha.append_summary("a" * (limit - 101))  # + newline: 100 bytes left
    assert gha.append_summary("é" * 49)  # 98 bytes + newline = 99: fits
    assert summary_file.stat().st_size == limit - 1
    assert not gha.append_summary("b")  # 2 bytes: neither it nor the note fits
    assert summary_file.stat().st_size == limit - 1


def test_append_summary_truncation_note_once(summary_file: Path) -> None:
    limit = gha.STEP_SUMMARY_LIMIT
    assert gha.append_summary("a" * (limit - 1000))
    assert gha.append_summary("Z" * 2000)  # does not fit: the note is written instead
    text = summary_file.read_text(encoding="utf-8")
    assert "Z" not in text and text.endswith("\n> keyturn: step summary truncated at GitHub's 1 MiB limit.\n")
    size = summary_file.stat().st_size
    assert not gha.append_summary("c" * 2000)  # the note is not repeated
    assert summary_file.stat().st_size == size <= limit
    assert gha.append_summary("small")  # what still fits is still written
    assert summary_file.stat().st_size == size + 6


def test_append_summary_first_write_too_big(summary_file: Path) -> None:
    assert gha.append_summary("x" * (gha.STEP_SUMMARY_LIMIT + 1))
    assert summary_file.read_text(encoding="utf-8").startswith("\n> keyturn: step summary truncated")


# --------------------------------------------------------------------------- annotations
def test_annotation_format_and_escaping(actions: None, capsys: pytest.CaptureFixture[str]) -> None:
    gha.annotation(
        "error",
        "100% bad\r\nsecond line: a, b",
        file="src/a,b:c.py",
        line=12,
        title="Leak: token, live\n",
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "::error file=src/a%2Cb%3Ac.py,line=12,title=Leak%3A token%2C live%0A::"
        "100% bad%0D%0Asecond line: a, b\n".replace("100% bad", "100%25 bad")
    )


@pytest.mark.parametrize("level", ["error", "warning", "notice"])
def test_annotation_levels(actions: None, capsys: pytest.CaptureFixture[str], level: str) -> None:
    gha.annotation(level, "plain")
    assert capsys.readouterr().err == f"::{level}::plain\n"


def test_annotation_file_only_and_stream(actions: None) -> None:
    buf = io.StringIO()
    gha.annotation("warning", "m", file="x.py", stream=buf)
    assert buf.getvalue() == "::warning file=x.py::m\n"


@pytest.mark.parametrize("level", ["debug", "ERROR", "fatal", ""])
def test_annotation_rejects_bad_levels(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    with pytest.raises(ValueError, match="unknown annotation level"):
        gha.annotation(level, "m")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(ValueError, match="unknown annotation level"):
        gha.annotation(level, "m")


def test_annotation_outside_actions_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    gha.annotation("error", "m", file="a.py", line=3)
    assert capsys.readouterr() == ("", "")


def _runner_masked(line: str, sent: list[str]) -> str:
    """What the runner shows of one log line: every registered mask replaced."""
    for mask in sorted(sent, key=len, reverse=True):
        line = line.replace(mask.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%"), "***")
    return line


def test_masks_cover_wrapped_base64_xxd_and_od_layouts(
    actions: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue #8 item 3: a value of 58+ bytes printed by GNU base64 (76 columns), xxd -p
    # (60 digits) or od -tx1 (16 bytes a line) was shown by the runner line by line.
    import subprocess

    plain = "mask-canary-" + "9f3c2a7e1b5d4c6f" * 6
    SecretValue(plain)
    sent = masks(capsys.readouterr().err)
    env = {"PATH": "/usr/bin:/bin", "V": plain}
    for command in (
        'printf %s "$V" | base64', 'echo "$V" | base64', 'printf %s "$V" | xxd -p', 'printf %s "$V" | xxd -p -u',
        'printf %s "$V" | od -tx1', 'printf "%s" "$V" | od -An -tx1', 'printf "u:%s" "$V" | base64 -w0',
    ):
        out = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            shown = _runner_masked(line, sent)
            body = shown.partition(" ")[2] if command.endswith("| od -tx1") else shown  # the offset column
            # At most one base64 group (≤ 2 bytes of the value) at each edge of an embedding.
            assert all(len(bit) <= 4 for bit in "".join(body.split()).split("***")), (command, shown)


def test_a_value_masked_once_is_not_derived_again(actions: None, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every copy of a value (a re-read, a field) used to rebuild all its derived forms —
    thousands for a large value — only for add_mask to drop them as already sent."""
    calls: list[int] = []
    real = SecretValue.derived_forms
    monkeypatch.setattr(SecretValue, "derived_forms", lambda self: calls.append(1) or real(self))
    SecretValue("derived-once-canary")
    SecretValue("derived-once-canary")
    assert calls == [1]
    assert masks(capsys.readouterr().err)  # the first one did send its masks
