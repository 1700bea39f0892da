"""Dotenv files that other programs read back exactly (issue #8 item 8).

Every value is written by :class:`FileTarget` and read back by the real readers that can
run here: python-dotenv (``dotenv_values``), bash (``set -a; . FILE``) and systemd's own
environment-file parser (systemd 252's ``30-systemd-environment-d-generator``, which
parses with the code ``EnvironmentFile=`` uses; it also expands ``$VAR``, which
``EnvironmentFile=`` does not, so values holding ``$`` skip that reader). No Docker
daemon runs here: ``docker --env-file`` is checked with a line-for-line port of its
parser (docker/cli ``opts/envfile.go``: lines split on LF, a trailing CR dropped,
leading whitespace and ``#`` comment lines skipped, ``NAME=`` then the rest verbatim,
no unquoting). A value a style cannot represent is refused and nothing is written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from keyturn.errors import TargetFailed
from keyturn.targets.base import Entry
from keyturn.targets.file import FileTarget, Style, Unrepresentable, format_value
from keyturn.values import SecretValue
from tests.test_file_target import TRICKY

GENERATOR = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")
VALUES = [
    *TRICKY,
    "x~y:z~", "pct%20caret^bang!hash#mid", "comma,separated", "$NOT_EXPANDED_HERE", "a\u2028INJECTED=1",
    "b\u0085INJECTED=1", "c\x0bINJECTED=1", "nul\x00byte", "~/home-relative", "path:~/tilde", "dollar $x only",
    "tab\tand 'q'", "trailing backslash pair \\\\ x",
]
#: What each style must refuse — and nothing more.
REFUSED = {
    Style.ENV_FILE: {v for v in VALUES if v not in {
        "plain-Value_1.2:3@4+5=6/7", "equals=in=value", "x~y:z~", "pct%20caret^bang!hash#mid", "comma,separated",
    }},
    Style.DOTENV: {
        "", "has 'single' quotes", "dollar $HOME and ${VAR} and $(cmd)", "crlf\r\nvalue", "ends with backslash\\",
        "a\u2028INJECTED=1", "b\u0085INJECTED=1", "c\x0bINJECTED=1", "nul\x00byte", "tab\tand 'q'",
        "trailing backslash pair \\\\ x",
    },
}
#: An existing file: the entry keyturn rewrites has ``export`` and a trailing comment.
BEFORE = "# kept\nOTHER=keep-me\nexport SECRET=old-value # note\n"


def docker_env_file(path: Path) -> dict[str, str]:
    """docker --env-file, as docker/cli opts/envfile.go parses it."""
    data = path.read_bytes().decode("utf-8")  # docker refuses invalid UTF-8 too
    out: dict[str, str] = {}
    for number, line in enumerate(data.split("\n")):
        line = line.removesuffix("\r")  # bufio.ScanLines drops one trailing CR
        if number == 0:
            line = line.removeprefix("\ufeff")
        trimmed = line.lstrip()
        if not trimmed or trimmed.startswith("#"):
            continue
        name, has_value, value = trimmed.partition("=")
        name = name.lstrip(" \t")
        assert not any(ch in name for ch in " \t"), f"docker: variable {name!r} contains whitespace"
        if has_value:
            out[name] = value
    return out


def python_dotenv(path: Path) -> dict[str, str | None]:
    from dotenv import dotenv_values

    return dict(dotenv_values(path))


def bash(path: Path, name: str) -> str:
    script = f'set -a; . "$1"; set +a; printf "%s" "${{{name}}}"'
    out = subprocess.run(["bash", "-c", script, "bash", str(path)], capture_output=True, check=True, env={"PATH": os.defpath})
    return out.stdout.decode("utf-8")


def _unescape_generator(text: str) -> str:
    if not (text.startswith('"') and text.endswith('"')):
        return text
    body, out, i = text[1:-1], [], 0
    simple = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "$": "$", "`": "`"}
    while i < len(body):
        if body[i] == "\\" and body[i + 1] in simple:
            out.append(simple[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def systemd(path: Path, tmp: Path) -> dict[str, str]:
    conf = tmp / "xdg" / "environment.d"
    conf.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, conf / "50-keyturn.conf")
    out = subprocess.run([str(GENERATOR)], capture_output=True, text=True, check=True,
                         env={"XDG_CONFIG_HOME": str(tmp / "xdg"), "PATH": os.defpath})
    assert "invalid syntax" not in out.stderr, out.stderr
    pairs = (line.partition("=") for line in out.stdout.splitlines())
    return {name: _unescape_generator(value) for name, _, value in pairs}


@pytest.mark.parametrize("style", list(Style))
@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:40] for v in VALUES])
def test_every_reader_reads_back_exactly_or_the_value_is_refused(tmp_path: Path, style: Style, value: str) -> None:
    path = tmp_path / ".env"
    path.write_text(BEFORE)
    target = FileTarget(".env", base_dir=tmp_path, style=style)
    entry = Entry("SECRET", SecretValue(value, mask=False))
    if value in REFUSED[style]:
        with pytest.raises(Unrepresentable):
            format_value(value, style)
        with pytest.raises(TargetFailed, match="^file:.env: entry SECRET: the value ") as err:
            target.preflight([entry])
        assert value not in str(err.value) or len(value) < 3
        with pytest.raises(TargetFailed):
            target.write([entry])
        assert path.read_text() == BEFORE
        return
    target.write([entry])
    assert target.read()["SECRET"].reveal() == value
    assert target.read()["OTHER"].reveal() == "keep-me"
    readers = {"python-dotenv": python_dotenv(path), "bash": {"SECRET": bash(path, "SECRET")}}
    if GENERATOR.exists() and "$" not in value:
        readers["systemd"] = systemd(path, tmp_path)
    if style is Style.ENV_FILE:
        readers["docker --env-file"] = docker_env_file(path)
        assert readers["docker --env-file"]["OTHER"] == "keep-me"
    # systemd and docker read `export` and a trailing comment as part of the entry.
    assert path.read_text().startswith("# kept\nOTHER=keep-me\n# note\nSECRET=")
    for reader, seen in readers.items():
        assert seen["SECRET"] == value, reader
        assert "INJECTED" not in seen, reader


def test_unicode_line_separators_never_reach_a_file(tmp_path: Path) -> None:
    # Issue #8 item 8: U+2028 / U+0085 written raw let a splitlines() reader see INJECTED=1.
    for style in Style:
        target = FileTarget(".env", base_dir=tmp_path, style=style)
        for sep in ("\u2028", "\u2029", "\u0085", "\x0c", "\x1e", "\r"):
            with pytest.raises(TargetFailed, match="line separator"):
                target.write([Entry("S", SecretValue(f"v{sep}INJECTED=1", mask=False))])
    assert not (tmp_path / ".env").exists()


def test_the_systemd_parser_really_ran() -> None:
    if not GENERATOR.exists():
        pytest.skip("systemd's environment-d generator is not installed")
    assert subprocess.run([str(GENERATOR)], capture_output=True, env={"PATH": os.defpath}).returncode == 0
