"""Tests for the dotenv file target: round trips, preservation, atomicity, mode, errors."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keyturn.errors import ExitCode, TargetFailed, UsageError
from keyturn.targets.base import Entry, Target
from keyturn.targets.file import FileTarget, Style, Unrepresentable, format_value, parse_lines
from keyturn.values import SecretValue

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"  # pragma: allowlist secret
    "MC4CAQAwBQYDK2VwBCIEIGx0a2V5dHVybi1jYW5hcnktcGVtLXZhbHVlLXh5eg==\n"
    "-----END PRIVATE KEY-----\n"
)
TRICKY = [
    "plain-Value_1.2:3@4+5=6/7",
    "",
    'has "double" quotes',
    "has 'single' quotes",
    "dollar $HOME and ${VAR} and $(cmd)",
    "back`tick`",
    "back\\slash\\n not a newline",
    "  leading and trailing spaces  ",
    "line one\nline two",
    "crlf\r\nvalue",
    "hash # not a comment",
    "#starts-with-hash",
    "unicode ✓ ünïcødé 🔑",
    "tab\tseparated",
    "ends with backslash\\",
    "equals=in=value",
    PEM,
]


def sv(text: str) -> SecretValue:
    return SecretValue(text, mask=False)


def values_in(path: Path) -> dict[str, str]:
    return {k: v.reveal() for k, v in FileTarget(path).read().items()}


def test_is_a_target(tmp_path: Path) -> None:
    target = FileTarget("deploy/.env", base_dir=tmp_path)
    assert isinstance(target, Target)
    assert target.label == "file:deploy/.env"
    assert target.path == tmp_path / "deploy" / ".env"
    outside = FileTarget(tmp_path / "abs.env", base_dir=Path("/elsewhere"), allow_outside=True)
    assert outside.path == tmp_path / "abs.env"


@pytest.mark.parametrize("given", ["/etc/x.env", "../x.env", "deploy/../../x.env", "..", "a/../../b/.env"])
def test_paths_outside_the_manifest_directory_need_an_opt_in(tmp_path: Path, given: str) -> None:
    # Issue #8 item 7: `file: ../../x.env` and absolute paths wrote outside the repository.
    with pytest.raises(UsageError, match="outside the manifest's directory .* allow_outside: true"):
        FileTarget(given, base_dir=tmp_path / "repo")
    assert FileTarget(given, base_dir=tmp_path / "repo", allow_outside=True).label == f"file:{given}"
    assert FileTarget("deploy/./a/../.env", base_dir=tmp_path).path == tmp_path / "deploy" / ".env"


def test_symlinked_dotenv_is_refused_not_read_through(tmp_path: Path) -> None:
    # Issue #8 item 7: the link target's other entries were copied into the new file.
    elsewhere = tmp_path / "elsewhere.env"
    elsewhere.write_text("UNRELATED_TOKEN=keep-me-private\n")
    (tmp_path / "repo").mkdir()
    link = tmp_path / "repo" / ".env"
    link.symlink_to(elsewhere)
    target = FileTarget(".env", base_dir=tmp_path / "repo")
    for action in (
        lambda: target.write([Entry("SECRET", sv("new-value-123"))]),
        lambda: target.read(),
        lambda: target.delete(["SECRET"]),
        lambda: target.is_current([Entry("SECRET", sv("new-value-123"))], since=SINCE),
    ):
        with pytest.raises(TargetFailed, match="is a symlink"):
            action()
    assert link.is_symlink() and elsewhere.read_text() == "UNRELATED_TOKEN=keep-me-private\n"


def test_symlinked_directory_below_the_manifest_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "deploy").symlink_to(outside)
    target = FileTarget("deploy/.env", base_dir=repo)
    with pytest.raises(TargetFailed, match="deploy: it is a symlink"):
        target.write([Entry("SECRET", sv("new-value-123"))])
    assert list(outside.iterdir()) == []
    # The manifest's own directory may be reached through a link (a checkout under a linked home).
    (tmp_path / "link-to-repo").symlink_to(repo)
    (repo / "deploy").unlink()
    FileTarget("deploy/.env", base_dir=tmp_path / "link-to-repo").write([Entry("SECRET", sv("new-value-123"))])
    assert (repo / "deploy" / ".env").is_file()


def test_fifo_target_is_refused_without_hanging(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / ".env")
    with pytest.raises(TargetFailed, match="not a regular file"):
        FileTarget(".env", base_dir=tmp_path).read()


def test_directories_are_made_0700_under_any_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        FileTarget("a/b/.env", base_dir=tmp_path).write([Entry("SECRET", sv("new-value-123"))])
    finally:
        os.umask(old)
    for d in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    assert stat.S_IMODE((tmp_path / "a" / "b" / ".env").stat().st_mode) == 0o600


@pytest.mark.parametrize("style", list(Style))
@pytest.mark.parametrize("value", TRICKY)
def test_round_trip_tricky_values(tmp_path: Path, value: str, style: Style) -> None:
    path = tmp_path / ".env"
    target = FileTarget(path, style=style)
    try:
        format_value(value, style)
    except Unrepresentable:
        with pytest.raises(TargetFailed, match="entry SECRET: the value"):
            target.write([Entry("SECRET", sv(value)), Entry("OTHER", "x")])
        assert not path.exists()  # refused before anything was written
        return
    target.write([Entry("SECRET", sv(value)), Entry("OTHER", "x")])
    assert values_in(path) == {"SECRET": value, "OTHER": "x"}
    assert target.is_current([Entry("SECRET", sv(value))], since=SINCE)


def test_bare_and_quoted_spelling() -> None:
    assert format_value("abc-DEF_1.2/3:4@5+6=7") == "abc-DEF_1.2/3:4@5+6=7"
    assert format_value("a,b%c^d!e#f~g") == "a,b%c^d!e#f~g"
    assert format_value('a "b" $c `d` \\e\nf', Style.DOTENV) == "'a \"b\" $c `d` \\e\nf'"
    for value in ("", "#x", "~x", "a:~b", "has space", "$x", "ends\n"):
        with pytest.raises(Unrepresentable):
            format_value(value)


def test_parser_reads_common_dotenv_forms() -> None:
    text = (
        "# comment\n"
        "\n"
        "export EXPORTED=one\n"
        "BARE=two   # trailing comment\n"
        "SINGLE='three $NOT \\n expanded'\n"
        'DOUBLE="four\\nlines \\"q\\""  # c\n'
        "  INDENTED = five \n"
        "EMPTY=\n"
        "HASHONLY= # just a comment\n"
        'MULTI="first\n'
        'second"\n'
        "SQ_MULTI='a\n"
        "b'\n"
        'UNKNOWN_ESCAPE="a\\qb"\n'
        "LAST=no-newline"
    )
    parsed = {ln.name: ln.value for ln in parse_lines(text) if ln.name}
    assert parsed == {
        "EXPORTED": "one",
        "BARE": "two",
        "SINGLE": "three $NOT \\n expanded",
        "DOUBLE": 'four\nlines "q"',
        "INDENTED": "five",
        "EMPTY": "",
        "HASHONLY": "",
        "MULTI": "first\nsecond",
        "SQ_MULTI": "a\nb",
        "UNKNOWN_ESCAPE": "a\\qb",
        "LAST": "no-newline",
    }
    assert "".join(ln.text for ln in parse_lines(text)) == text


def test_write_preserves_other_lines_and_order(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    original = (
        "# header comment\n"
        "FIRST=1\n"
        "\n"
        "export TOKEN=old-token-value  # rotated by keyturn\n"
        "  # indented comment\n"
        "MIDDLE='keep me'\n"
        'LAST="x y"\n'
    )
    path.write_text(original)
    FileTarget(path, style=Style.DOTENV).write(
        [Entry("TOKEN", sv("new value $1")), Entry("ADDED", sv("added-value-123"))]
    )
    assert path.read_text() == (
        "# header comment\n"
        "FIRST=1\n"
        "\n"
        "# rotated by keyturn\n"  # docker and systemd would read a trailing comment as value
        "TOKEN='new value $1'\n"
        "  # indented comment\n"
        "MIDDLE='keep me'\n"
        'LAST="x y"\n'
        "ADDED=added-value-123\n"
    )
    assert values_in(path)["MIDDLE"] == "keep me"


def test_write_appends_after_missing_final_newline_and_keeps_crlf(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\r\nB=2")
    FileTarget(path).write([Entry("C", sv("three-333"))])
    assert path.read_bytes() == b"A=1\r\nB=2\r\nC=three-333\r\n"


def test_write_replaces_multiline_entry_and_duplicates(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('KEY="old\nmulti"\nX=1\nKEY=dup\n')
    target = FileTarget(path)
    target.write([Entry("KEY", sv("fresh-value-1"))])
    assert path.read_text() == "KEY=fresh-value-1\nX=1\nKEY=fresh-value-1\n"
    assert target.is_current([Entry("KEY", sv("fresh-value-1"))], since=SINCE)


def test_creates_parents_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / ".env"
    FileTarget("a/b/.env", base_dir=tmp_path).write([Entry("K", sv("value-value"))])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "K=value-value\n"


def test_existing_loose_mode_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("K=value-value\n")
    os.chmod(path, 0o644)
    report = FileTarget(path).write([Entry("K", sv("value-value"))])  # same content
    assert not report.skipped
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = FileTarget(path).write([Entry("K", sv("value-value"))])
    assert again.skipped and again.requests == 0


def test_atomic_no_temp_files_left(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    target = FileTarget(path)
    for i in range(3):
        target.write([Entry("K", sv(f"value-number-{i}"))])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_original_intact_when_replace_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".env"
    path.write_text("K=original-value\nOTHER=1\n")
    before = path.read_bytes()

    def boom(src: str, dst: str) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(TargetFailed) as err:
        FileTarget(path).write([Entry("K", sv("new-secret-canary"))])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]
    assert "new-secret-canary" not in str(err.value)
    assert str(err.value).startswith(f"file:{path}: cannot replace {path}")
    assert err.value.exit_code is ExitCode.SERVICE


def test_delete(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("# c\nA=1\nexport B=2\nC=3\n")
    target = FileTarget(path)
    report = target.delete(["B", "MISSING"])
    assert not report.skipped
    assert path.read_text() == "# c\nA=1\nC=3\n"


def test_delete_nothing_leaves_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    os.chmod(path, 0o644)
    mtime = path.stat().st_mtime_ns
    report = FileTarget(path).delete(["NOPE"])
    assert report.skipped
    assert path.stat().st_mtime_ns == mtime and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert FileTarget(tmp_path / "missing.env").delete(["A"]).skipped
    assert not (tmp_path / "missing.env").exists()


def test_is_current(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    target = FileTarget(path)
    entries = [Entry("A", sv("alpha-value")), Entry("A_ACTIVE_VERSION", "3")]
    assert not target.is_current(entries, since=SINCE)  # no file yet
    target.write(entries)
    assert target.is_current(entries, since=SINCE)
    assert not target.is_current([Entry("A", sv("alpha-valuE"))], since=SINCE)
    assert not target.is_current([Entry("A", sv("alpha-value")), Entry("B", sv("b"))], since=SINCE)
    assert not target.is_current([Entry("A_ACTIVE_VERSION", "4")], since=SINCE)
    assert target.is_current([], since=SINCE)


# -- errors never carry a value ----------------------------------------------------------


def test_unparsable_line_names_path_and_line_only(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\nthis is not-a-canary-secret\n")
    with pytest.raises(TargetFailed) as err:
        FileTarget(path).write([Entry("A", sv("new-value-canary"))])
    msg = str(err.value)
    assert msg == f"file:{path}: {path}:2: expected NAME=value, a comment or a blank line"
    assert "canary" not in msg
    assert path.read_text() == "A=1\nthis is not-a-canary-secret\n"


def test_unterminated_quote_and_trailing_garbage(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text('A=1\nB="secret-canary-no-end\nC=3\n')
    with pytest.raises(TargetFailed, match=r":2: unterminated \" quote$") as err:
        FileTarget(path).is_current([Entry("A", "1")], since=SINCE)
    assert "canary" not in str(err.value)
    path.write_text('A="secret-canary" trailing-canary\n')
    with pytest.raises(TargetFailed, match=":1: unexpected text after the closing quote") as err:
        FileTarget(path).read()
    assert "canary" not in str(err.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"A=1\nB=\xff\xfe-canary\n")
    with pytest.raises(TargetFailed, match=":2: not UTF-8 text") as err:
        FileTarget(path).read()
    assert "canary" not in str(err.value)


def test_directory_in_the_way(tmp_path: Path) -> None:
    (tmp_path / ".env").mkdir()
    with pytest.raises(TargetFailed) as err:
        FileTarget(tmp_path / ".env").write([Entry("A", sv("dir-canary-value"))])
    assert "is a directory" in str(err.value) and "canary" not in str(err.value)


def test_file_in_the_way_of_parent(tmp_path: Path) -> None:
    (tmp_path / "sub").write_text("i am a file")
    with pytest.raises(TargetFailed) as err:
        FileTarget("sub/.env", base_dir=tmp_path).write([Entry("A", sv("parent-canary-value"))])
    msg = str(err.value)
    assert msg.startswith("file:sub/.env: ")
    assert "a file is in the way" in msg and "canary" not in msg


@pytest.mark.skipif(os.geteuid() == 0, reason="root bypasses file permissions")
def test_permission_denied(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / ".env").write_text("A=1\n")
    os.chmod(locked, 0o500)
    try:
        with pytest.raises(TargetFailed, match="permission denied") as err:
            FileTarget(locked / ".env").write([Entry("A", sv("perm-canary-value"))])
        assert "canary" not in str(err.value)
    finally:
        os.chmod(locked, 0o700)


def test_permission_denied_translated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Works as root too: the OS error is simulated at the write boundary.
    import tempfile

    def denied(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(TargetFailed) as err:
        FileTarget(tmp_path / ".env").write([Entry("A", sv("perm-canary-value"))])
    assert str(err.value) == f"file:{tmp_path / '.env'}: cannot write in {tmp_path}: permission denied"


def test_invalid_entry_name(tmp_path: Path) -> None:
    with pytest.raises(TargetFailed, match="invalid entry name 'BAD-NAME'"):
        FileTarget(tmp_path / ".env").write([Entry("BAD-NAME", sv("some-value-1"))])


def test_repr_and_report_have_no_value(tmp_path: Path) -> None:
    target = FileTarget(tmp_path / ".env")
    report = target.write([Entry("A", sv("report-canary-value"))])
    assert report.requests == 1 and not report.skipped and report.confirmed_at is not None
    assert "canary" not in repr(target) + repr(report)


def test_preflight_refuses_bad_names_without_touching_disk(tmp_path: Path) -> None:
    path = tmp_path / "sub" / ".env"
    target = FileTarget(path)
    target.preflight([Entry("GOOD_NAME", sv("value-12345678"))])
    with pytest.raises(TargetFailed, match="invalid entry name"):
        target.preflight([Entry("BAD-NAME", sv("value-12345678"))])
    assert not path.parent.exists()
