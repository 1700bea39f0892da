"""Bad input, one line, the documented exit code, nothing changed.

A table of bad manifests, flags, environment variables and files. Each class runs the
real CLI (``main(argv)`` in-process; a subprocess where the input could hang or eat
memory) in a work directory holding a manifest whose secret was rotated once on the
session's OpenBao, and asserts: the exit code (2 usage/manifest, else the documented
one), stderr is exactly one line naming what is wrong and where (``file:line: key.path``
for manifests, the flag, the variable), no "internal error" and no traceback, and that
the secret's KV metadata (and that of its ``.keyturn-*`` siblings) and every file of the
work directory are byte-identical afterwards.
"""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import stat
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hvac
import pytest

from keyturn._internal.devserver import Server
from tests.invariants_support import OPENBAO_HEAD
from tests.conftest import KEYTURN_CMD, subprocess_env

MANIFEST = OPENBAO_HEAD + """\
  S:
    store: bao
    path: {path}
    generator:
      type: hex
      bytes: 32
    policy:
      max_age: 90d
      grace: 24h
    targets:
      - file: deploy/.env
        shape: dual
    validate:
      - command: ["true"]
        timeout: 10s
    smoke:
      - command: ["sh", "-c", "grep -q '^S=' deploy/.env"]
"""
MANIFEST_LINES = MANIFEST.splitlines()
AUDIT_KEY = "a" * 32
BASE_ENV_DROP = ("GITHUB_", "KEYTURN_", "VAULT_", "ACTIONS_", "RUNNER_")
Setup = Callable[[Path], object]


def line_of(text: str) -> int:
    """1-based line of the base manifest that contains ``text`` (exactly once)."""
    hits = [i + 1 for i, line in enumerate(MANIFEST_LINES) if text in line]
    assert len(hits) == 1, (text, hits)
    return hits[0]


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    code: int
    needles: tuple[str, ...]
    setup: Setup | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    proc: bool = False  # run as a subprocess (timeout, memory limit)
    forbidden: tuple[str, ...] = ()  # must appear in no output (e.g. a token)
    debug: bool = False  # --debug: a traceback is allowed, the last line is the error
    fifo: str | None = None  # a FIFO the command must not block on


# ----------------------------------------------------------------------------- fixtures
@dataclass
class Template:
    root: Path
    path: str
    env: dict[str, str]
    kv: Any


def _rotate_once(root: Path, env: dict[str, str]) -> str:
    """(Re)write the template's manifest for a fresh store path and rotate ``S`` once."""
    from keyturn.cli import main

    path = f"badin/{uuid.uuid4().hex[:10]}"
    (root / "keyturn.yml").write_text(MANIFEST.format(path=path))
    with pytest.MonkeyPatch.context() as mp:
        _base_env(mp, env)
        mp.chdir(root)
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["rotate", "S"])
        assert code == 0, (out.getvalue(), err.getvalue())
    return path


@pytest.fixture(scope="module")
def template(openbao: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    """A work dir whose secret ``S`` was rotated once (store, journal, dotenv, audit, evidence)."""
    root = tmp_path_factory.mktemp("badinput-template")
    env = {"VAULT_ADDR": openbao.url, "VAULT_TOKEN": openbao.token, "KEYTURN_AUDIT_KEY_V1": AUDIT_KEY,
           "KEYTURN_QUIET": "true"}
    path = _rotate_once(root, env)
    kv = hvac.Client(url=openbao.url, token=openbao.token).secrets.kv.v2
    assert (root / "deploy" / ".env").is_file() and (root / "logs" / "audit.jsonl").is_file()
    yield Template(root, path, env, kv)


def _base_env(mp: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for k in list(os.environ):
        if k.startswith(BASE_ENV_DROP):
            mp.delenv(k)
    for k, v in env.items():
        mp.setenv(k, v)


def _store_state(t: Template) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for p in (t.path, t.path + ".keyturn-rotation", t.path + ".keyturn-pending"):
        try:
            state[p] = t.kv.read_secret_metadata(path=p, mount_point="secret")["data"]
        except hvac.exceptions.InvalidPath:
            state[p] = None
    return state


def _files(root: Path) -> dict[str, Any]:
    """Every entry under root (symlinks not followed): its kind, mode and bytes."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if d != ".git"]  # git may refresh its index
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                out[rel] = ("file", st.st_mode, p.read_bytes())
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            else:
                out[rel] = ("other", st.st_mode)
    return out


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def _run(case: Case, work: Path, env: dict[str, str]) -> tuple[int, str, str]:
    argv = (["--debug"] if case.debug else []) + list(case.argv)
    if case.proc:
        child = subprocess_env({k: v for k, v in env.items()})
        for k in list(child):
            if k.startswith(BASE_ENV_DROP) and k not in env:
                del child[k]
        try:
            proc = subprocess.run(KEYTURN_CMD + argv, cwd=work, env=child, capture_output=True, text=True,
                                  timeout=120, preexec_fn=_limit_memory, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pytest.fail(f"keyturn {' '.join(argv)} hung")
        return proc.returncode, proc.stdout, proc.stderr
    from keyturn.cli import main

    blocked: list[bool] = []

    def unblock() -> None:  # a reader blocked in open() gets EOF once a writer came and went
        try:
            os.close(os.open(work / case.fifo, os.O_WRONLY | os.O_NONBLOCK))  # type: ignore[operator]
            blocked.append(True)
        except OSError:  # ENXIO: nobody is reading
            pass

    timer = threading.Timer(5, unblock) if case.fifo else None
    out, err = io.StringIO(), io.StringIO()
    try:
        if timer:
            timer.start()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(argv)
    finally:
        if timer:
            timer.cancel()
    assert not blocked, f"keyturn {' '.join(argv)} blocked opening the FIFO {case.fifo}"
    return code, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- helpers for the table
def manifest_text(t: Path) -> str:
    return (t / "keyturn.yml").read_text()


def edit(old: str, new: str) -> Setup:
    """Replace ``old`` (exactly once) in the work dir's manifest."""
    def setup(work: Path) -> None:
        text = manifest_text(work)
        assert text.count(old) == 1, old
        (work / "keyturn.yml").write_text(text.replace(old, new))
    return setup


def write(rel: str, data: str | bytes) -> Setup:
    def setup(work: Path) -> None:
        p = work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            p.write_bytes(data)
        else:
            p.write_text(data)
    return setup


def both(*setups: Setup) -> Setup:
    def setup(work: Path) -> None:
        for s in setups:
            s(work)
    return setup


CASES: list[Any] = []


def case(id: str, argv: tuple[str, ...] | list[str], code: int, *needles: str, xfail: str | None = None,
         **kw: Any) -> None:
    c = Case(id, tuple(argv), code, needles, **kw)
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    CASES.append(pytest.param(c, id=id, marks=marks))


def mcase(id: str, setup: Setup, where: str, *needles: str, argv: tuple[str, ...] = ("manifest", "check"),
          xfail: str | None = None) -> None:
    """A manifest class: exit 2 and the message starts with ``keyturn.yml:LINE: key.path:``."""
    case(id, argv, 2, f"keyturn: error: keyturn.yml:{where}", *needles, setup=setup, xfail=xfail)


def at(text: str, path: str) -> str:
    return f"{line_of(text)}: {path}:"


# ----------------------------------------------------------------------------- setups
def fifo(rel: str) -> Setup:
    def setup(work: Path) -> None:
        os.mkfifo(work / rel)
    return setup


def symlink(rel: str, target: str) -> Setup:
    def setup(work: Path) -> None:
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, work / rel)
    return setup


def mkdir(rel: str) -> Setup:
    def setup(work: Path) -> None:
        (work / rel).mkdir(parents=True, exist_ok=True)
    return setup


def replace_dir(rel: str) -> Setup:
    """``rel`` (a file of the template) becomes a directory."""
    def setup(work: Path) -> None:
        p = work / rel
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
        p.mkdir(parents=True)
        (p / "keep").write_text("x\n")
    return setup


def git_repo(work: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    repo = work / "repo"
    repo.mkdir()
    (repo / "a.txt").write_text("hello\n")
    for argv in (["init", "-q", "-b", "main"], ["add", "a.txt"], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *argv], cwd=repo, env=env, check=True, capture_output=True)


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


GITHUB_TARGET = edit("        shape: dual\n", "        shape: dual\n      - github: acme/api\n")

# ----------------------------------------------------------------------------- the table
# -- manifest files -------------------------------------------------------------------
case("manifest-missing", ["manifest", "check", "--manifest", "nope.yml"], 2, "nope.yml", "not found")
case("manifest-missing-env", ["status"], 2, "gone.yml", "not found", env={"KEYTURN_MANIFEST": "gone.yml"})
case("manifest-dangling-symlink", ["manifest", "check", "--manifest", "dangle.yml"], 2, "dangle.yml",
     "not found", setup=symlink("dangle.yml", "nowhere.yml"))
case("manifest-directory", ["manifest", "check", "--manifest", "deploy"], 2, "deploy", "directory")
case("manifest-directory-env", ["rotate", "S"], 2, "logs", "directory", env={"KEYTURN_MANIFEST": "logs"})
case("manifest-empty-path", ["manifest", "check", "--manifest", ""], 2, "directory")
case("manifest-dev-zero", ["manifest", "check", "--manifest", "/dev/zero"], 2, "/dev/zero",
     "not a regular file", proc=True)
case("manifest-dev-null", ["rotate", "S", "--manifest", "/dev/null"], 2, "/dev/null", "not a regular file")
case("manifest-fifo", ["rotate", "S", "--manifest", "pipe.yml"], 2, "pipe.yml", "not a regular file",
     setup=fifo("pipe.yml"), fifo="pipe.yml")
case("manifest-fifo-env", ["status"], 2, "pipe.yml", "not a regular file", setup=fifo("pipe.yml"),
     env={"KEYTURN_MANIFEST": "pipe.yml"}, fifo="pipe.yml")
case("manifest-symlink-loop", ["manifest", "check", "--manifest", "loop.yml"], 2, "loop.yml", "symlink",
     setup=symlink("loop.yml", "loop.yml"))
case("manifest-parent-is-file", ["manifest", "check", "--manifest", "deploy/.env/keyturn.yml"], 2,
     "deploy/.env/keyturn.yml", "not found")
case("manifest-nul-in-path", ["manifest", "check", "--manifest", "a\x00b.yml"], 2, "manifest path", "NUL")
case("manifest-huge", ["manifest", "check"], 2, "keyturn.yml", "larger than",
     setup=lambda w: (w / "keyturn.yml").write_bytes(b"# padding\n" * 600_000))
case("manifest-binary", ["manifest", "check"], 2, "keyturn.yml:1:", "UTF-8",
     setup=write("keyturn.yml", b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x00\x03\x00>\x00"))
case("manifest-nul-bytes", ["manifest", "check"], 2, "keyturn.yml:2:",
     setup=write("keyturn.yml", b"version: 1\n\x00\x00\x00\n"))
case("manifest-not-utf8", ["rotate", "S"], 2, f"keyturn.yml:{line_of('path:')}:", "UTF-8",
     setup=lambda w: (w / "keyturn.yml").write_bytes(
         manifest_text(w).replace("    path:", "    path: \xe9", 1).encode("latin-1")))
case("manifest-utf16", ["manifest", "check"], 2, "keyturn.yml:1:", "UTF-8",
     setup=lambda w: (w / "keyturn.yml").write_bytes(manifest_text(w).encode("utf-16")))
case("manifest-control-char", ["manifest", "check"], 2, f"keyturn.yml:{line_of('bytes: 32')}:",
     setup=edit("      bytes: 32", "      bytes: 32\x07"))

# -- YAML ---------------------------------------------------------------------------
case("yaml-3000-deep-flow", ["manifest", "check"], 2, "keyturn.yml:2:", "nest",
     setup=write("keyturn.yml", "version: 1\nstores: " + deep_json(3000) + "\n"))
case("yaml-3000-deep-flow-mapping", ["rotate", "S"], 2, "keyturn.yml:1:", "nest",
     setup=write("keyturn.yml", "{a: " * 3000 + "}" * 3000 + "\n"))
case("yaml-deep-block", ["manifest", "check"], 2, "keyturn.yml:", "nest",
     setup=write("keyturn.yml", "".join("  " * i + "k:\n" for i in range(400)) + "  " * 400 + "v\n"))
case("yaml-deep-inside-secret", ["manifest", "check"], 2, f"keyturn.yml:{line_of('bytes: 32')}:", "nest",
     setup=edit("      bytes: 32", "      bytes: " + deep_json(3000)))
case("yaml-deep-through-aliases", ["manifest", "check"], 2, "keyturn.yml:", "nest",
     setup=write("keyturn.yml", "a0: &a0 [" + "[" * 60 + "x" + "]" * 60 + "]\n" + "".join(
         f"a{i}: &a{i} [" + "[" * 60 + f"*a{i - 1}" + "]" * 60 + "]\n" for i in range(1, 40))))
mcase("yaml-tab-indent", edit("    mount: secret", "\tmount: secret"), f"{line_of('mount: secret')}:", "tab")
mcase("yaml-duplicate-key", edit("      grace: 24h", "      grace: 24h\n      grace: 12h"),
      f"{line_of('grace: 24h') + 1}: secrets.S.policy.grace:", "duplicate key")
mcase("yaml-merge-key", edit("    policy:\n", "    policy:\n      <<: {grace: 1h}\n"),
      f"{line_of('policy:') + 1}: secrets.S.policy:", "merge key")
mcase("yaml-alias-bomb", write("keyturn.yml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(6))),
      "", "alias")
mcase("yaml-recursive-alias", write("keyturn.yml", "version: 1\nstores: &s [*s]\n"), "2:", "alias")
mcase("yaml-python-tag", edit("      bytes: 32", "      bytes: !!python/object:os.system [x]"),
      f"{line_of('bytes: 32')}:", "tag")
mcase("yaml-custom-tag", edit("    policy:\n", "    policy: !mine\n"), f"{line_of('policy:')}:", "tag")
mcase("yaml-two-documents", lambda w: (w / "keyturn.yml").write_text(manifest_text(w) + "---\nversion: 1\n"),
      f"{len(MANIFEST_LINES) + 1}:", "document")
mcase("yaml-top-level-list", write("keyturn.yml", "- version: 1\n"), "1: (top level):", "mapping")
mcase("yaml-top-level-scalar", write("keyturn.yml", "keyturn\n"), "1: (top level):", "mapping")
mcase("yaml-empty-file", write("keyturn.yml", ""), "1: (top level):", "empty")
mcase("yaml-comments-only", write("keyturn.yml", "# nothing\n# here\n"), "1: (top level):", "empty")
mcase("yaml-unclosed-quote", edit("    path: ", '    path: "'), "", "invalid YAML")
mcase("yaml-unclosed-flow", edit('      - command: ["true"]', '      - command: ["true"'),
      "", "invalid YAML")
mcase("yaml-bad-indent", edit("    mount: secret", "     mount: secret"), "", "invalid YAML")
mcase("yaml-key-not-scalar", edit("    mount: secret", "    [a]: secret"), f"{line_of('mount: secret')}:",
      "plain scalars")
mcase("yaml-int-overflow-date", edit("      bytes: 32", "      bytes: 2026-13-45"),
      f"{line_of('bytes: 32')}: secrets.S.generator.bytes:")

# -- manifest structure ---------------------------------------------------------------
mcase("version-2", edit("version: 1", "version: 2"), "1: version:", "expected 1")
mcase("version-string", edit("version: 1", "version: '1'"), "1: version:")
mcase("version-bool", edit("version: 1", "version: true"), "1: version:", "true")
mcase("version-missing", edit("version: 1\n", ""), "1: version:", "missing")
mcase("top-unknown-key", edit("version: 1\n", "version: 1\nsecret: {}\n"), "2: secret:", "unknown key")
mcase("stores-missing", edit("stores:\n  bao:\n    type: openbao\n    mount: secret\n", ""), "1: stores:",
      "missing")
mcase("stores-empty", edit("stores:\n  bao:\n    type: openbao\n    mount: secret\n", "stores: {}\n"),
      "5: stores:", "empty")
mcase("stores-list", edit("stores:\n  bao:\n    type: openbao\n    mount: secret\n", "stores: [bao]\n"),
      "5: stores:", "mapping")
mcase("secrets-empty", lambda w: (w / "keyturn.yml").write_text(manifest_text(w).split("secrets:")[0]
                                                                + "secrets: {}\n"), "9: secrets:", "empty")
mcase("secrets-list", lambda w: (w / "keyturn.yml").write_text(manifest_text(w).split("secrets:")[0]
                                                               + "secrets: [S]\n"), "9: secrets:", "mapping")
mcase("secret-name-digit", edit("  S:\n", "  1S:\n"), "10: secrets.1S:", "bad secret name")
mcase("secret-name-dash", edit("  S:\n", "  S-1:\n"), "10: secrets.S-1:", "bad secret name")
mcase("secret-not-mapping", lambda w: (w / "keyturn.yml").write_text(manifest_text(w).split("secrets:")[0]
                                                                     + "secrets:\n  S: yes\n"), "10: secrets.S:")
mcase("secret-unknown-key", edit("    store: bao", "    stor: bao\n    store: bao"), "11: secrets.S.stor:",
      "unknown key")
mcase("secret-store-unknown", edit("    store: bao", "    store: vault"), "11: secrets.S.store:", "unknown store")
mcase("secret-store-missing", edit("    store: bao\n", ""), "10: secrets.S.store:", "missing")
mcase("secret-path-absolute", edit("    path: ", "    path: /"), "12: secrets.S.path:", "bad path")
mcase("secret-path-dotdot", edit("    path: ", "    path: ../"), "12: secrets.S.path:", "bad path")
mcase("secret-path-double-slash", edit("    path: badin/", "    path: badin//"), "12: secrets.S.path:",
      "bad path")
mcase("secret-path-reserved", lambda w: (w / "keyturn.yml").write_text(
    manifest_text(w).replace("\n    generator:", ".keyturn-pending\n    generator:", 1)),
      "12: secrets.S.path:", "reserved")
mcase("secret-path-empty", lambda w: (w / "keyturn.yml").write_text(
    "\n".join("    path: ''" if ln.startswith("    path:") else ln for ln in manifest_text(w).splitlines())
    + "\n"), "12: secrets.S.path:", "at least 1 character")
mcase("secret-path-list", lambda w: (w / "keyturn.yml").write_text(
    "\n".join("    path: [a]" if ln.startswith("    path:") else ln for ln in manifest_text(w).splitlines())
    + "\n"), "12: secrets.S.path:", "string")
mcase("secret-duplicate-path", lambda w: (w / "keyturn.yml").write_text(
    manifest_text(w) + "  T:\n    store: bao\n    path: " + manifest_text(w).split("    path: ")[1].split("\n")[0]
    + "\n    generator: {type: hex}\n"), f"{len(MANIFEST_LINES) + 3}: secrets.T.path:", "already used")
mcase("secret-key-list", edit("    store: bao", "    store: bao\n    key: [a]"), "12: secrets.S.key:", "string")
mcase("secret-impacted-not-list", edit("    store: bao", "    store: bao\n    impacted_services: api"),
      "12: secrets.S.impacted_services:", "list")

# -- generators --------------------------------------------------------------------------
g = line_of("type: hex")
mcase("generator-missing", edit("    generator:\n      type: hex\n      bytes: 32\n", ""), "10: secrets.S.generator:",
      "missing")
mcase("generator-unknown-type", edit("      type: hex", "      type: uuid"), f"{g}: secrets.S.generator.type:",
      "'uuid'")
mcase("generator-type-missing", edit("      type: hex\n", ""), f"{g - 1}: secrets.S.generator:", "type")
mcase("generator-not-mapping", edit("    generator:\n      type: hex\n      bytes: 32\n", "    generator: hex\n"),
      f"{g - 1}: secrets.S.generator:")
mcase("generator-bytes-small", edit("      bytes: 32", "      bytes: 4"), f"{g + 1}: secrets.S.generator.bytes:", "8")
mcase("generator-bytes-huge", edit("      bytes: 32", "      bytes: 99999"), f"{g + 1}: secrets.S.generator.bytes:")
mcase("generator-bytes-string", edit("      bytes: 32", "      bytes: lots"),
      f"{g + 1}: secrets.S.generator.bytes:", "lots")
mcase("generator-bytes-float", edit("      bytes: 32", "      bytes: 32.5"), f"{g + 1}: secrets.S.generator.bytes:")
mcase("generator-bytes-bool", edit("      bytes: 32", "      bytes: true"), f"{g + 1}: secrets.S.generator.bytes:")
mcase("generator-unknown-key", edit("      bytes: 32", "      length: 32"), f"{g + 1}: secrets.S.generator.length:",
      "unknown key")
mcase("generator-password-short", edit("      type: hex\n      bytes: 32", "      type: password\n      length: 2"),
      f"{g + 1}: secrets.S.generator.length:")
mcase("generator-password-no-classes", edit(
    "      type: hex\n      bytes: 32",
    "      type: password\n      lower: false\n      upper: false\n      digits: false\n      symbols: false"),
      f"{g - 1}: secrets.S.generator:", argv=("rotate", "S"))
mcase("generator-password-min-each", edit("      type: hex\n      bytes: 32",
                                          "      type: password\n      length: 8\n      min_each: 5"),
      f"{g - 1}: secrets.S.generator:")
mcase("generator-password-exclude-all", edit(
    "      type: hex\n      bytes: 32",
    "      type: password\n      upper: false\n      digits: false\n      symbols: false\n"
    "      exclude: abcdefghijklmnopqrstuvwxyz"), f"{g - 1}: secrets.S.generator:")
mcase("generator-password-lower-string", edit("      type: hex\n      bytes: 32", "      type: password\n      lower: maybe"),
      f"{g + 1}: secrets.S.generator.lower:")
mcase("generator-rsa-bits", edit("      type: hex\n      bytes: 32", "      type: rsa\n      bits: 1024"),
      f"{g + 1}: secrets.S.generator.bits:", "1024")
mcase("generator-ed25519-extra", edit("      type: hex\n      bytes: 32", "      type: ed25519\n      bits: 256"),
      f"{g + 1}: secrets.S.generator.bits:", "unknown key")

# -- durations / policy ------------------------------------------------------------------
p = line_of("max_age: 90d")
mcase("policy-max-age-unit", edit("max_age: 90d", "max_age: 90x"), f"{p}: secrets.S.policy.max_age:", "90x")
mcase("policy-max-age-negative", edit("max_age: 90d", "max_age: -1"), f"{p}: secrets.S.policy.max_age:",
      "negative")
mcase("policy-max-age-empty", edit("max_age: 90d", "max_age: ''"), f"{p}: secrets.S.policy.max_age:")
mcase("policy-max-age-null", edit("max_age: 90d", "max_age:"), f"{p}: secrets.S.policy.max_age:", "null")
mcase("policy-max-age-float", edit("max_age: 90d", "max_age: 1.5"), f"{p}: secrets.S.policy.max_age:")
mcase("policy-max-age-bool", edit("max_age: 90d", "max_age: true"), f"{p}: secrets.S.policy.max_age:", "true")
mcase("policy-max-age-list", edit("max_age: 90d", "max_age: [90d]"), f"{p}: secrets.S.policy.max_age:")
mcase("policy-max-age-centuries", edit("max_age: 90d", "max_age: 99999999d"), f"{p}: secrets.S.policy.max_age:",
      "100 years")
mcase("policy-max-age-huge-int", edit("max_age: 90d", "max_age: 99999999999999999999999"),
      f"{p}: secrets.S.policy.max_age:")
mcase("policy-grace-words", edit("grace: 24h", "grace: one day"), f"{p + 1}: secrets.S.policy.grace:", "one day")
mcase("policy-grace-spaces", edit("grace: 24h", "grace: 1h 30m"), f"{p + 1}: secrets.S.policy.grace:")
mcase("policy-unknown-key", edit("grace: 24h", "grace_period: 24h"), f"{p + 1}: secrets.S.policy.grace_period:",
      "unknown key")
mcase("policy-not-mapping", edit("    policy:\n      max_age: 90d\n      grace: 24h\n", "    policy: 90d\n"),
      f"{p - 1}: secrets.S.policy:", "mapping")

# -- targets -----------------------------------------------------------------------------
t = line_of("- file: deploy/.env")
mcase("targets-not-list", edit("      - file: deploy/.env\n        shape: dual\n", "      file: deploy/.env\n"),
      f"{t - 1}: secrets.S.targets:", "list")
mcase("target-unknown-kind", edit("      - file: deploy/.env", "      - s3: bucket/key"), f"{t}: secrets.S.targets[0]:",
      "unknown target")
mcase("target-string", edit("      - file: deploy/.env\n        shape: dual\n", "      - deploy/.env\n"),
      f"{t}: secrets.S.targets[0]:", "unknown target")
mcase("target-file-list", edit("      - file: deploy/.env", "      - file: [deploy/.env]"),
      f"{t}: secrets.S.targets[0].file:", "string")
mcase("target-shape-unknown", edit("        shape: dual", "        shape: quad"), f"{t + 1}: secrets.S.targets[0].shape:",
      "quad")
mcase("target-name-digit", edit("        shape: dual", "        name: 1BAD"), f"{t + 1}: secrets.S.targets[0].name:",
      "1BAD")
mcase("target-name-dash", edit("        shape: dual", "        name: A-B"), f"{t + 1}: secrets.S.targets[0].name:")
mcase("target-unknown-key", edit("        shape: dual", "        shap: dual"), f"{t + 1}: secrets.S.targets[0].shap:",
      "unknown key")
mcase("target-github-noslash", edit("      - file: deploy/.env\n        shape: dual", "      - github: acme"),
      f"{t}: secrets.S.targets[0].github:", "owner/name")
mcase("target-github-org-bad", edit("      - file: deploy/.env\n        shape: dual", "      - github-org: acme corp"),
      f"{t}: secrets.S.targets[0].github-org:", "organization")
mcase("target-github-org-selected-empty", edit(
    "      - file: deploy/.env\n        shape: dual", "      - github-org: acme\n        visibility: selected"),
      f"{t + 1}: secrets.S.targets[0].visibility:", "repositories")
mcase("target-github-org-repos-not-selected", edit(
    "      - file: deploy/.env\n        shape: dual", "      - github-org: acme\n        repositories: [acme/api]"),
      f"{t + 1}: secrets.S.targets[0].repositories:", "selected")
mcase("target-github-org-bad-repo", edit(
    "      - file: deploy/.env\n        shape: dual",
    "      - github-org: acme\n        visibility: selected\n        repositories: [api]"),
      f"{t + 2}: secrets.S.targets[0].repositories:", "owner/name")
mcase("target-github-org-visibility", edit(
    "      - file: deploy/.env\n        shape: dual", "      - github-org: acme\n        visibility: public"),
      f"{t + 1}: secrets.S.targets[0].visibility:", "public")
mcase("target-github-envs-empty", edit(
    "      - file: deploy/.env\n        shape: dual", "      - github: acme/api\n        environments: []"),
      f"{t + 1}: secrets.S.targets[0].environments:")
mcase("target-github-envs-and-dependabot", edit(
    "      - file: deploy/.env\n        shape: dual",
    "      - github: acme/api\n        environments: [prod]\n        dependabot: true"),
      f"{t + 2}: secrets.S.targets[0].dependabot:", "dependabot")
mcase("target-github-dependabot-maybe", edit(
    "      - file: deploy/.env\n        shape: dual", "      - github: acme/api\n        dependabot: maybe"),
      f"{t + 1}: secrets.S.targets[0].dependabot:")
mcase("target-file-escapes-dir", edit("      - file: deploy/.env", "      - file: ../../escape.env"),
      f"{t}: secrets.S.targets[0].file:", argv=("rotate", "S"))

# -- checks ------------------------------------------------------------------------------
v = line_of('- command: ["true"]')
mcase("checks-not-list", edit('      - command: ["true"]\n        timeout: 10s\n', '      command: ["true"]\n'),
      f"{v - 1}: secrets.S.validate:", "list")
mcase("check-unknown-kind", edit('      - command: ["true"]', "      - ping: host"), f"{v}: secrets.S.validate[0]:",
      "unknown check")
mcase("check-string", edit('      - command: ["true"]\n        timeout: 10s\n', '      - "true"\n'),
      f"{v}: secrets.S.validate[0]:", "unknown check")
mcase("check-command-empty", edit('      - command: ["true"]', "      - command: []"),
      f"{v}: secrets.S.validate[0].command:", "empty")
mcase("check-command-string", edit('      - command: ["true"]', "      - command: true"),
      f"{v}: secrets.S.validate[0].command:", "list")
mcase("check-timeout-bad", edit("        timeout: 10s", "        timeout: soon"),
      f"{v + 1}: secrets.S.validate[0].timeout:", "soon")
mcase("check-env-int", edit("        timeout: 10s", "        env: {A: 1}"), f"{v + 1}: secrets.S.validate[0].env.A:")
mcase("check-env-list", edit("        timeout: 10s", "        env: [A]"), f"{v + 1}: secrets.S.validate[0].env:")
mcase("check-unknown-key", edit("        timeout: 10s", "        timeot: 10s"),
      f"{v + 1}: secrets.S.validate[0].timeot:", "unknown key")
s_ = line_of("- command: [\"sh\"")
HTTP = '      - http:\n          url: http://127.0.0.1:9/health\n'
SMOKE = '      - command: ["sh", "-c", "grep -q \'^S=\' deploy/.env"]'
mcase("check-http-ftp", edit(SMOKE, "      - http:\n          url: ftp://127.0.0.1/health"),
      f"{s_ + 1}: secrets.S.smoke[0].http.url:", "http")
mcase("check-http-template-url", edit(SMOKE, '      - http:\n          url: "https://x/?t={{ value }}"'),
      f"{s_ + 1}: secrets.S.smoke[0].http.url:", "template")
mcase("check-http-method", edit(SMOKE, HTTP + "          method: TRACE"), f"{s_ + 2}: secrets.S.smoke[0].http.method:",
      "TRACE")
mcase("check-http-status-string", edit(SMOKE, HTTP + "          expect_status: ok"),
      f"{s_ + 2}: secrets.S.smoke[0].http.expect_status:")
mcase("check-http-status-range", edit(SMOKE, HTTP + "          expect_status: 999"), f"{s_}: secrets.S.smoke[0]")
mcase("check-http-timeout", edit(SMOKE, HTTP + "          timeout: 10 seconds"),
      f"{s_ + 2}: secrets.S.smoke[0].http.timeout:")
mcase("check-http-ca-missing", edit(SMOKE, HTTP + "          ca_cert: nope.pem"),
      f"{s_ + 2}: secrets.S.smoke[0].http.ca_cert:", "nope.pem")
mcase("check-http-headers-list", edit(SMOKE, HTTP + "          headers: [a]"),
      f"{s_ + 2}: secrets.S.smoke[0].http.headers:", "mapping")
mcase("check-http-header-name", edit(SMOKE, HTTP + '          headers: {"Bad Header": x}'), f"{s_}: secrets.S.smoke[0]")
mcase("check-http-missing-url", edit(SMOKE, "      - http:\n          method: GET"),
      f"{s_}: secrets.S.smoke[0].http.url:", "missing")
GW = "      - github-workflow:\n          repository: acme/api\n          workflow: smoke.yml\n"
mcase("check-gw-repo", edit(SMOKE, GW.replace("acme/api", "acme")), f"{s_ + 1}: secrets.S.smoke[0].github-workflow.repository:",
      "owner/name")
mcase("check-gw-workflow", edit(SMOKE, GW.replace("smoke.yml", "'smoke test.yml'")),
      f"{s_ + 2}: secrets.S.smoke[0].github-workflow.workflow:")
mcase("check-gw-inputs-template", edit(SMOKE, GW + '          inputs: {t: "{{ value }}"}'),
      f"{s_ + 3}: secrets.S.smoke[0].github-workflow.inputs:", "template")
mcase("check-gw-poll", edit(SMOKE, GW + "          poll_interval: often"),
      f"{s_ + 3}: secrets.S.smoke[0].github-workflow.poll_interval:")
mcase("check-gw-token-env", edit(SMOKE, GW + "          token_env: 1TOKEN"),
      f"{s_ + 3}: secrets.S.smoke[0].github-workflow.token_env:")
mcase("check-gw-ref", edit(SMOKE, GW + "          ref: 'a b'"), f"{s_ + 3}: secrets.S.smoke[0].github-workflow.ref:")
mcase("check-aws-account", edit(SMOKE, "      - aws-sts:\n          expect_account: '123'"),
      f"{s_ + 1}: secrets.S.smoke[0].aws-sts.expect_account:")
mcase("check-aws-timeout", edit(SMOKE, "      - aws-sts:\n          timeout: -5"),
      f"{s_ + 1}: secrets.S.smoke[0].aws-sts.timeout:", "negative")
mcase("check-vault-token-policies", edit(SMOKE, "      - vault-token:\n          expect_policies: default"),
      f"{s_ + 1}: secrets.S.smoke[0].vault-token.expect_policies:", "list")
mcase("check-vault-token-unknown", edit(SMOKE, "      - vault-token:\n          adress: http://x"),
      f"{s_ + 1}: secrets.S.smoke[0].vault-token.adress:", "unknown key")

# -- stores --------------------------------------------------------------------------------
st = line_of("type: openbao")
mcase("store-type-unknown", edit("    type: openbao", "    type: consul"), f"{st}: stores.bao.type:", "consul")
mcase("store-type-missing", edit("    type: openbao\n", ""), f"{st - 1}: stores.bao:", "type")
mcase("store-unknown-key", edit("    mount: secret", "    mount: secret\n    token: root"), f"{st + 2}: stores.bao.token:",
      "unknown key")
mcase("store-mount-list", edit("    mount: secret", "    mount: [secret]"), f"{st + 1}: stores.bao.mount:", "string")
mcase("store-retire-unknown", edit("    mount: secret", "    mount: secret\n    retire: shred"),
      f"{st + 2}: stores.bao.retire:", "shred")
mcase("store-timeout-bad", edit("    mount: secret", "    mount: secret\n    timeout: 30 s"),
      f"{st + 2}: stores.bao.timeout:")
mcase("store-auth-method", edit("    mount: secret", "    mount: secret\n    auth: {method: kerberos}"),
      f"{st + 2}: stores.bao.auth.method:", "kerberos")
case("store-auth-approle-unset", ["rotate", "S"], 2, "VAULT_ROLE_ID",
     setup=edit("    mount: secret", "    mount: secret\n    auth: {method: approle}"))
case("store-auth-jwt-no-id-token", ["rotate", "S"], 2, "permissions: id-token: write",
     setup=edit("    mount: secret", "    mount: secret\n    auth: {method: jwt, role: r}"))
mcase("store-auth-not-mapping", edit("    mount: secret", "    mount: secret\n    auth: token"),
      f"{st + 2}: stores.bao.auth:")
case("store-auth-token-env-unset", ["rotate", "S"], 2, "MY_BAO_TOKEN",
     setup=edit("    mount: secret", "    mount: secret\n    auth: {method: token, token_env: MY_BAO_TOKEN}"))
case("store-address-not-url", ["rotate", "S"], 2, "stores.bao.address",
     setup=edit("    mount: secret", "    mount: secret\n    address: not a url"))
case("store-address-port", ["status"], 2, "stores.bao.address",
     setup=edit("    mount: secret", "    mount: secret\n    address: http://127.0.0.1:99999"))
case("store-ca-cert-missing", ["rotate", "S"], 2, "ca.pem",
     setup=edit("    mount: secret", "    mount: secret\n    address: https://127.0.0.1:9\n    ca_cert: ca.pem"))

# -- audit, notify, changelog -----------------------------------------------------------------
mcase("audit-log-list", edit("  log: logs/audit.jsonl", "  log: [a]"), "3: audit.log:", "string")
mcase("audit-unknown-key", edit("  log: logs/audit.jsonl", "  logs: logs/audit.jsonl"), "3: audit.logs:", "unknown key")
mcase("audit-not-mapping", edit("audit:\n  log: logs/audit.jsonl\n  evidence_dir: logs/evidence\n", "audit: on\n"),
      "2: audit:", "mapping")
mcase("audit-evidence-int", edit("  evidence_dir: logs/evidence", "  evidence_dir: 5"), "4: audit.evidence_dir:")
mcase("notify-type", edit("version: 1\n", "version: 1\nnotify:\n  - type: discord\n    url_env: HOOK\n"),
      "3: notify[0].type:", "discord")
mcase("notify-url-env", edit("version: 1\n", "version: 1\nnotify:\n  - type: slack\n    url_env: 1HOOK\n"),
      "4: notify[0].url_env:")
mcase("notify-on", edit("version: 1\n", "version: 1\nnotify:\n  - type: slack\n    url_env: HOOK\n    on: [exploded]\n"),
      "5: notify[0].on[0]:", "exploded")
mcase("notify-not-list", edit("version: 1\n", "version: 1\nnotify: {type: slack}\n"), "2: notify:", "list")
mcase("notify-timeout", edit("version: 1\n", "version: 1\nnotify:\n  - type: teams\n    url_env: H\n    timeout: 1y\n"),
      "5: notify[0].timeout:")
mcase("changelog-branch", edit("version: 1\n", "version: 1\nchangelog: {branch: 'bad branch'}\n"), "2: changelog.branch:")
mcase("changelog-unknown", edit("version: 1\n", "version: 1\nchangelog:\n  filee: x.md\n"), "3: changelog.filee:",
      "unknown key")
mcase("changelog-title-list", edit("version: 1\n", "version: 1\nchangelog:\n  title: [a]\n"), "3: changelog.title:")

# -- files the manifest names ---------------------------------------------------------------
X_AUDIT = "as root, /proc/version opens for writing and only a write fails: the preflight (which writes " \
          "nothing) cannot see it; the append then fails after the journal lease was taken"
case("audit-log-is-directory", ["rotate", "S"], 2, "logs/audit.jsonl", setup=replace_dir("logs/audit.jsonl"))
case("audit-log-parent-is-file", ["rotate", "S"], 2, "deploy/.env",
     setup=edit("  log: logs/audit.jsonl", "  log: deploy/.env/audit.jsonl"))
case("audit-log-symlink-loop", ["rotate", "S"], 2, "loop.jsonl", setup=both(
    edit("  log: logs/audit.jsonl", "  log: logs/loop.jsonl"), symlink("logs/loop.jsonl", "loop.jsonl")))
case("audit-log-unwritable", ["rotate", "S"], 2, "/proc/version",
     setup=edit("  log: logs/audit.jsonl", "  log: /proc/version"), xfail=X_AUDIT)
case("evidence-dir-is-file", ["rotate", "S"], 2, "deploy/.env",
     setup=edit("  evidence_dir: logs/evidence", "  evidence_dir: deploy/.env"))
case("dotenv-target-is-directory", ["rotate", "S"], 2, "deploy/.env", setup=replace_dir("deploy/.env"))
case("dotenv-target-parent-is-file", ["rotate", "S"], 2, "deploy/.env",
     setup=edit("      - file: deploy/.env", "      - file: deploy/.env/x.env"))
case("dotenv-target-unterminated-quote", ["rotate", "S"], 2, "deploy/.env",
     setup=write("deploy/.env", "OTHER='unterminated\n"))
case("dotenv-target-no-equals", ["rotate", "S"], 2, "deploy/.env",
     setup=write("deploy/.env", "just some words\n"))
case("dotenv-target-not-utf8", ["rotate", "S"], 2, "deploy/.env",
     setup=write("deploy/.env", b"OTHER=\xff\xfe\n"))
case("dotenv-target-symlink-loop", ["rotate", "S"], 2, "deploy/loop.env", setup=both(
    edit("      - file: deploy/.env", "      - file: deploy/loop.env"), symlink("deploy/loop.env", "loop.env")))

# -- CLI: every subcommand ------------------------------------------------------------------------
case("cli-unknown-command", ["rotat", "S"], 2, "rotat", "--help")
case("cli-no-command", [], 2, "COMMAND")
case("cli-unknown-global-flag", ["--verbose", "status"], 2, "--verbose")
case("cli-unknown-flag", ["rotate", "S", "--force"], 2, "rotate", "--force")
case("rotate-bad-mode", ["rotate", "S", "--mode", "x"], 2, "rotate", "--mode", "'x'", "scheduled",
     "see keyturn rotate --help")
case("rotate-bad-format", ["rotate", "S", "--format", "yaml"], 2, "--format", "yaml")
case("rotate-no-names", ["rotate"], 2, "name the secrets")
case("rotate-emergency-no-reason", ["rotate", "S", "--mode", "emergency"], 2, "--reason")
case("rotate-emergency-blank-reason", ["rotate", "S", "--mode", "emergency", "--reason", "  "], 2, "--reason")
case("rotate-unknown-secret", ["rotate", "NOPE"], 2, "keyturn.yml", "NOPE", "S")
case("rotate-manifest-no-value", ["rotate", "S", "--manifest"], 2, "--manifest", "expected one argument")
case("rotate-dry-run-value", ["rotate", "S", "--dry-run=yes"], 2, "--dry-run")
case("finalize-unknown-secret", ["finalize", "NOPE"], 2, "NOPE")
case("finalize-bad-flag", ["finalize", "--now"], 2, "--now")
case("rollback-no-name", ["rollback"], 2, "rollback", "NAME")
case("rollback-two-names", ["rollback", "S", "T"], 2, "rollback", "unrecognized arguments: T")
case("rollback-unknown-secret", ["rollback", "NOPE"], 2, "NOPE")
case("abort-no-reason", ["abort", "S"], 2, "abort", "--reason")
case("abort-unknown-secret", ["abort", "NOPE", "--reason", "x"], 2, "NOPE")
case("unlock-no-reason", ["unlock", "S"], 2, "unlock", "--reason")
case("unlock-unknown-secret", ["unlock", "NOPE", "--reason", "x"], 2, "NOPE")
case("doctor-bad-format", ["doctor", "--format", "html"], 2, "doctor", "--format", "html")
case("status-bad-format", ["status", "--format", "csv"], 2, "status", "--format", "csv")
case("plan-bad-format", ["plan", "--format", "yaml"], 2, "plan", "--format", "yaml")
case("validate-no-name", ["validate"], 2, "validate", "NAME")
case("validate-unknown-secret", ["validate", "NOPE"], 2, "NOPE")
case("audit-no-subcommand", ["audit"], 2, "audit", "SUBCOMMAND")
case("audit-unknown-subcommand", ["audit", "check"], 2, "audit", "'check'")
case("audit-expect-count-not-int", ["audit", "verify", "--expect-count", "many"], 2, "--expect-count", "many")
case("audit-expect-count-negative", ["audit", "verify", "--expect-count", "-3"], 2, "--expect-count")
case("audit-log-flag-directory", ["audit", "verify", "--log", "logs"], 2, "logs", "directory")
case("audit-log-flag-fifo", ["audit", "verify", "--log", "pipe.jsonl"], 2, "pipe.jsonl", setup=fifo("pipe.jsonl"),
     fifo="pipe.jsonl")
case("audit-log-flag-missing", ["audit", "verify", "--log", "none.jsonl"], 2, "none.jsonl")
case("audit-log-garbage-line", ["audit", "verify"], 1, "logs/audit.jsonl", "line 2",
     setup=lambda w: (w / "logs/audit.jsonl").write_bytes((w / "logs/audit.jsonl").read_bytes().split(b"\n")[0]
                                                         + b"\nnot json\n"))
case("audit-log-not-utf8-line", ["audit", "verify"], 1, "logs/audit.jsonl", "line 2",
     setup=lambda w: (w / "logs/audit.jsonl").write_bytes((w / "logs/audit.jsonl").read_bytes().split(b"\n")[0]
                                                         + b"\n\xff\xfe{}\n"))
case("audit-log-deep-json-line", ["audit", "verify"], 1, "logs/audit.jsonl", "line 2",
     setup=lambda w: (w / "logs/audit.jsonl").write_bytes((w / "logs/audit.jsonl").read_bytes().split(b"\n")[0]
                                                         + b"\n" + deep_json(100_000).encode() + b"\n"))
case("manifest-no-subcommand", ["manifest"], 2, "manifest", "SUBCOMMAND")
case("manifest-schema-output-dir", ["manifest", "schema", "--output", "logs"], 2, "--output", "logs")
case("manifest-schema-output-parent-is-file", ["manifest", "schema", "--output", "deploy/.env/schema.json"], 2,
     "--output", "deploy/.env")
case("changelog-pr-bad-format", ["changelog-pr", "--format", "md"], 2, "changelog-pr", "--format")
case("changelog-pr-repository-bad", ["changelog-pr", "--dry-run"], 2, "GITHUB_REPOSITORY",
     env={"GITHUB_REPOSITORY": "no-slash", "GITHUB_TOKEN": "t"})
case("scan-bad-format", ["scan", "--format", "xml"], 2, "scan", "--format", "xml")
case("scan-diff-and-staged", ["scan", "--diff", "main", "--staged"], 2, "--staged", "--diff")
case("scan-jobs-not-int", ["scan", "--jobs", "x"], 2, "--jobs", "'x'")
case("scan-jobs-negative", ["scan", "deploy", "--jobs", "-1"], 2, "--jobs")
case("scan-max-file-size-bad", ["scan", "--max-file-size", "big"], 2, "--max-file-size", "big")
case("scan-max-file-size-zero", ["scan", "deploy", "--max-file-size", "0"], 2, "--max-file-size")
case("scan-update-baseline-alone", ["scan", "deploy", "--update-baseline"], 2, "--update-baseline", "--baseline")
case("scan-manifest-missing", ["scan", "deploy", "--manifest", "none.yml"], 2, "--manifest", "none.yml")
case("scan-path-missing", ["scan", "no/such/dir"], 2, "no/such/dir")
case("scan-output-dir", ["scan", "deploy", "--output", "logs"], 2, "--output", "logs")
case("scan-output-missing-dir", ["scan", "deploy", "--output", "no/such/out.sarif"], 2, "--output", "no/such")
case("scan-diff-no-such-ref", ["scan", "repo", "--diff", "no-such-ref"], 2, "no-such-ref", setup=git_repo)
case("scan-diff-not-a-repo", ["scan", "deploy", "--diff", "main"], 2, "git")
case("scan-baseline-missing", ["scan", "deploy", "--baseline", "none.baseline"], 2, "--baseline", "none.baseline")
case("scan-baseline-directory", ["scan", "deploy", "--baseline", "logs"], 2, "--baseline", "logs")
case("scan-baseline-not-json", ["scan", "deploy", "--baseline", "b.json"], 2, "--baseline", "b.json",
     setup=write("b.json", "{not json"))
case("scan-baseline-list", ["scan", "deploy", "--baseline", "b.json"], 2, "--baseline", "b.json",
     setup=write("b.json", "[]"))
case("scan-baseline-results-list", ["scan", "deploy", "--baseline", "b.json"], 2, "--baseline", "b.json",
     setup=write("b.json", '{"results": []}'))
case("scan-baseline-deep-json", ["scan", "deploy", "--baseline", "b.json"], 2, "--baseline", "b.json",
     setup=write("b.json", deep_json(100_000)))
case("scan-baseline-deep-json-results", ["scan", "deploy", "--baseline", "b.json"], 2, "--baseline", "b.json",
     setup=write("b.json", '{"results": ' + deep_json(100_000) + "}"))
case("scan-baseline-not-utf8", ["scan", "deploy", "--baseline", "b.json"], 2, "--baseline", "b.json",
     setup=write("b.json", b'{"results": {"\xff": []}}'))
case("scan-baseline-fifo", ["scan", "deploy", "--baseline", "b.fifo"], 2, "--baseline", "b.fifo",
     setup=fifo("b.fifo"), fifo="b.fifo")

# -- environment ----------------------------------------------------------------------------------
case("vault-addr-not-url", ["rotate", "S"], 2, "VAULT_ADDR", env={"VAULT_ADDR": "not a url"})
case("vault-addr-port-99999", ["rotate", "S"], 2, "VAULT_ADDR", env={"VAULT_ADDR": "http://127.0.0.1:99999"})
case("vault-addr-ftp", ["status"], 2, "VAULT_ADDR", env={"VAULT_ADDR": "ftp://127.0.0.1:8200"})
case("vault-addr-no-host", ["rotate", "S"], 2, "VAULT_ADDR", env={"VAULT_ADDR": "http://"})
case("vault-addr-bad-ipv6", ["rotate", "S"], 2, "VAULT_ADDR", env={"VAULT_ADDR": "http://[::1"})
case("vault-addr-unset", ["rotate", "S"], 2, "VAULT_ADDR", env={"VAULT_ADDR": None})
case("vault-token-unset", ["rotate", "S"], 2, "VAULT_TOKEN", env={"VAULT_TOKEN": None})
case("vault-token-empty", ["validate", "S"], 2, "VAULT_TOKEN", env={"VAULT_TOKEN": ""})
case("vault-token-newline", ["rotate", "S"], 2, "VAULT_TOKEN", env={"VAULT_TOKEN": "root\n"})
case("vault-token-space", ["rotate", "S"], 2, "VAULT_TOKEN", env={"VAULT_TOKEN": "ro ot"})
case("vault-token-non-latin1", ["rotate", "S"], 2, "VAULT_TOKEN", env={"VAULT_TOKEN": "r\u00f6\u2603t-token"},
     forbidden=("\u2603",))
case("vault-token-debug-malformed", ["rotate", "S"], 2, "VAULT_TOKEN", env={"VAULT_TOKEN": "hvs.TOPSECRET\n"},
     forbidden=("TOPSECRET",), debug=True, proc=True)
case("vault-token-debug-env", ["status"], 2, "VAULT_TOKEN",
     env={"VAULT_TOKEN": "hvs.TOPSECRET\r", "KEYTURN_DEBUG": "true"}, forbidden=("TOPSECRET",), debug=True)
case("vault-namespace-newline", ["rotate", "S"], 2, "VAULT_NAMESPACE", env={"VAULT_NAMESPACE": "team\nx"})
case("github-api-url-not-url", ["rotate", "S"], 2, "GITHUB_API_URL", setup=GITHUB_TARGET,
     env={"GITHUB_API_URL": "::not a url::", "GITHUB_TOKEN": "t"})
case("github-api-url-port", ["rotate", "S"], 2, "GITHUB_API_URL", setup=GITHUB_TARGET,
     env={"GITHUB_API_URL": "http://127.0.0.1:99999", "GITHUB_TOKEN": "t"})
case("github-api-url-ftp", ["changelog-pr", "--dry-run"], 2, "GITHUB_API_URL",
     env={"GITHUB_API_URL": "ftp://127.0.0.1/api", "GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/api"})
case("github-token-missing", ["rotate", "S"], 2, "GITHUB_TOKEN", setup=GITHUB_TARGET)
case("github-token-newline", ["rotate", "S"], 2, "GITHUB_TOKEN", setup=GITHUB_TARGET,
     env={"GITHUB_TOKEN": "ghp_abc\n", "GITHUB_API_URL": "http://127.0.0.1:9"})
case("github-min-write-interval", ["rotate", "S"], 2, "KEYTURN_GITHUB_MIN_WRITE_INTERVAL", setup=GITHUB_TARGET,
     env={"GITHUB_TOKEN": "t", "KEYTURN_GITHUB_MIN_WRITE_INTERVAL": "fast"})
case("github-max-retries", ["rotate", "S"], 2, "KEYTURN_GITHUB_MAX_RETRIES", setup=GITHUB_TARGET,
     env={"GITHUB_TOKEN": "t", "KEYTURN_GITHUB_MAX_RETRIES": "-1"})
case("github-app-key-bad", ["rotate", "S"], 2, "KEYTURN_GITHUB_APP_PRIVATE_KEY", setup=GITHUB_TARGET,
     env={"KEYTURN_GITHUB_APP_ID": "1", "KEYTURN_GITHUB_APP_PRIVATE_KEY": "not a pem", "KEYTURN_GITHUB_APP_INSTALLATION_ID": "1",
          "GITHUB_API_URL": "http://127.0.0.1:9"})
case("github-app-id-bad", ["rotate", "S"], 2, "KEYTURN_GITHUB_APP_ID", setup=GITHUB_TARGET,
     env={"KEYTURN_GITHUB_APP_ID": "one", "KEYTURN_GITHUB_APP_PRIVATE_KEY": "x", "KEYTURN_GITHUB_APP_INSTALLATION_ID": "1",
          "GITHUB_API_URL": "http://127.0.0.1:9"})
for var, value in (("KEYTURN_DEBUG", "yes"), ("KEYTURN_DEBUG", "1"), ("KEYTURN_QUIET", "no"),
                   ("KEYTURN_QUIET", " true"), ("KEYTURN_DRY_RUN", "y"), ("KEYTURN_DRY_RUN", "on"),
                   ("KEYTURN_DRY_RUN", "truee")):
    case(f"env-bool-{var.lower()}-{value.strip() or 'blank'}", ["rotate", "S"], 2, var, repr(value),
         env={var: value})
case("env-bool-scan-exit-zero", ["scan", "deploy"], 2, "KEYTURN_SCAN_EXIT_ZERO", env={"KEYTURN_SCAN_EXIT_ZERO": "0"})
case("env-bool-dry-run-upper-ok", ["rotate", "S"], 0, env={"KEYTURN_DRY_RUN": "TRUE"})
case("env-bool-debug-mixed-ok", ["manifest", "check"], 0, env={"KEYTURN_DEBUG": "fAlSe"})
case("env-scan-format", ["scan", "deploy"], 2, "KEYTURN_SCAN_FORMAT", env={"KEYTURN_SCAN_FORMAT": "xml"})
case("env-scan-jobs", ["scan", "deploy"], 2, "KEYTURN_SCAN_JOBS", env={"KEYTURN_SCAN_JOBS": "four"})
case("env-audit-key-short", ["rotate", "S"], 2, "KEYTURN_AUDIT_KEY_V1", env={"KEYTURN_AUDIT_KEY_V1": "abc"})
case("env-audit-active-not-int", ["rotate", "S"], 2, "KEYTURN_AUDIT_KEY_ACTIVE_VERSION",
     env={"KEYTURN_AUDIT_KEY_ACTIVE_VERSION": "latest"})
case("env-audit-active-missing-key", ["rotate", "S"], 2, "KEYTURN_AUDIT_KEY_ACTIVE_VERSION",
     env={"KEYTURN_AUDIT_KEY_ACTIVE_VERSION": "7"})
case("env-audit-not-after", ["audit", "verify"], 2, "KEYTURN_AUDIT_KEY_V1_NOT_AFTER",
     env={"KEYTURN_AUDIT_KEY_V1_NOT_AFTER": "tomorrow"})
case("env-audit-key-short-verify", ["audit", "verify"], 2, "KEYTURN_AUDIT_KEY_V1", env={"KEYTURN_AUDIT_KEY_V1": "abc"})
case("env-audit-active-not-int-verify", ["audit", "verify"], 2, "KEYTURN_AUDIT_KEY_ACTIVE_VERSION",
     env={"KEYTURN_AUDIT_KEY_ACTIVE_VERSION": "latest"})
case("env-manifest-through-file", ["status"], 2, "not found", env={"KEYTURN_MANIFEST": "deploy/.env/../x"})
case("env-bool-quiet-upper-ok", ["manifest", "check"], 0, "1 secret(s)", env={"KEYTURN_QUIET": "FALSE"})
case("audit-expect-head-unknown", ["audit", "verify", "--expect-head", "0" * 64], 1, "logs/audit.jsonl")
case("audit-expect-count-too-many", ["audit", "verify", "--expect-count", "99"], 1, "99")
case("audit-log-truncated-line", ["audit", "verify"], 1, "logs/audit.jsonl", "line",
     setup=lambda w: (w / "logs/audit.jsonl").write_bytes((w / "logs/audit.jsonl").read_bytes()[:-20]))
case("status-manifest-directory", ["status", "--manifest", "logs/evidence"], 2, "logs/evidence", "directory")
case("plan-unknown-flag-value", ["plan", "--due=yes"], 2, "plan", "--due")
case("validate-two-names", ["validate", "S", "S"], 2, "validate", "unrecognized arguments: S")
case("finalize-manifest-missing", ["finalize", "--manifest", "none.yml"], 2, "none.yml", "not found")
case("doctor-manifest-fifo", ["doctor", "--manifest", "p.yml"], 2, "p.yml", "FIFO", setup=fifo("p.yml"), fifo="p.yml")
case("unlock-manifest-dev-null", ["unlock", "S", "--reason", "x", "--manifest", "/dev/null"], 2, "/dev/null",
     "not a regular file")
case("changelog-pr-manifest-deep", ["changelog-pr", "--dry-run"], 2, "keyturn.yml:1:", "nest",
     setup=write("keyturn.yml", "[" * 5000 + "]" * 5000))
case("env-audit-key-version-name", ["rotate", "S"], 2, "KEYTURN_AUDIT_KEY_VX", env={"KEYTURN_AUDIT_KEY_VX": "a" * 32})


# ----------------------------------------------------------------------------- the test
@pytest.mark.parametrize("c", CASES)
def test_bad_input(c: Case, template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "w"
    shutil.copytree(template.root, work, symlinks=True)
    if c.setup is not None:
        c.setup(work)
    env = dict(template.env)
    _base_env(monkeypatch, env)
    for k, v in c.env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
            env.pop(k, None)
        else:
            monkeypatch.setenv(k, v)
            env[k] = v
    monkeypatch.chdir(work)
    files_before, store_before = _files(work), _store_state(template)

    code, out, err = _run(c, work, env)
    store_after = _store_state(template)
    if store_after != store_before:  # a failing class must not spoil the ones after it
        template.path = _rotate_once(template.root, template.env)

    assert "internal error" not in err, err
    if c.code == 0:
        assert "error" not in err, err
        last = out
    elif c.debug:
        lines = err.rstrip("\n").splitlines()
        assert lines and lines[-1].startswith("keyturn: error: "), err
        last = lines[-1]
    else:
        assert "Traceback" not in err, err
        assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
        assert err.startswith("keyturn: error: "), err
        last = err
    assert code == c.code, (code, err)
    for needle in c.needles:
        assert needle in last, f"{needle!r} not in {last!r}"
    for secret in c.forbidden:
        assert secret not in out and secret not in err, "a secret reached the output"
    assert store_after == store_before, "the store changed"
    assert _files(work) == files_before, "the work dir changed"


def test_table_is_large_enough() -> None:
    assert len(CASES) >= 150
    assert len({p.id for p in CASES}) == len(CASES)


def test_base_manifest_is_valid(template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every class is one change away from a manifest that works."""
    work = tmp_path / "w"
    shutil.copytree(template.root, work, symlinks=True)
    _base_env(monkeypatch, template.env)
    monkeypatch.chdir(work)
    code, out, err = _run(Case("ok", ("manifest", "check"), 0, ()), work, template.env)
    assert code == 0 and err == "" and "1 secret(s)" in out
    record = json.loads(work.joinpath("logs", "audit.jsonl").read_text().splitlines()[-1])
    assert record["secret"] == "S"

