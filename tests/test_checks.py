"""Tests for the command and http checks, against real processes and a loopback server."""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from keyturn.errors import UsageError
from keyturn.validators.base import Check, CheckResult
from keyturn.redaction import EXCERPT_CHARS, redact
from keyturn.validators.command import CommandCheck
from keyturn.validators.http import HttpCheck
from keyturn.values import SecretValue
from tests.fakes.quiet import QuietThreadingHTTPServer

CANARY = "kt-canary-Zx9$'\"q 7;&|`x"


@pytest.fixture
def value() -> SecretValue:
    return SecretValue(CANARY, mask=False)


def assert_no_value(text: str, val: SecretValue) -> None:
    for form in val.derived_forms():
        assert form not in text


# -- command -------------------------------------------------------------------------


def test_command_is_a_check() -> None:
    check = CommandCheck(["sh", "-c", "true"])
    assert isinstance(check, Check)
    assert check.label == "command sh"


def test_command_value_and_name_arrive_in_env(value: SecretValue) -> None:
    script = (
        'test "$KEYTURN_VALUE" = "$EXPECTED" && test "$KEYTURN_SECRET_NAME" = db/prod && test "$EXTRA" = 1'
    )
    check = CommandCheck(["sh", "-c", script], env={"EXPECTED": CANARY, "EXTRA": "1"})
    result = check.run("db/prod", value)
    assert result.ok, result.detail
    assert result.detail == "exit 0"
    assert result.label == "command sh"


def test_command_env_mismatch_fails(value: SecretValue) -> None:
    check = CommandCheck(["sh", "-c", 'test "$KEYTURN_VALUE" = wrong-value'])
    result = check.run("db", value)
    assert not result.ok
    assert result.detail == "exit 1"


def test_command_gets_a_minimal_environment(
    value: SecretValue, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Issue #8 item 4: a check saw keyturn's whole environment, credentials included.
    for name in (
        "VAULT_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "KEYTURN_AUDIT_KEY_V1", "KEYTURN_GITHUB_APP_PRIVATE_KEY",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "AWS_SECRET_ACCESS_KEY", "UNRELATED",
    ):
        monkeypatch.setenv(name, f"credential-of-{name}")
    monkeypatch.setenv("PASSED_ON", "yes")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    out = tmp_path / "env.json"
    code = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"
    check = CommandCheck([sys.executable, "-c", code, str(out)], env={"FIXED": "1"}, pass_env=["PASSED_ON", "UNSET_X"])
    assert check.run("db/prod", value).ok
    seen = json.loads(out.read_text())
    assert seen.pop("KEYTURN_VALUE") == CANARY and seen.pop("KEYTURN_SECRET_NAME") == "db/prod"
    assert seen.pop("FIXED") == "1" and seen.pop("PASSED_ON") == "yes"
    assert seen.pop("PATH") == os.environ["PATH"] and seen.pop("LC_ALL") == "C.UTF-8"
    assert set(seen) <= {"HOME", "LANG", "LANGUAGE"} | {k for k in seen if k.startswith("LC_")}
    assert not any("credential-of" in v for v in seen.values())


@pytest.mark.parametrize(
    ("env", "pass_env"),
    [
        ({"VAULT_TOKEN": "x"}, []),
        ({}, ["GITHUB_TOKEN"]),
        ({}, ["KEYTURN_AUDIT_KEY_V2"]),
        ({}, ["keyturn_github_app_private_key"]),
        ({"KEYTURN_VALUE": "x"}, []),
        ({}, ["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]),
        ({}, ["NOT-A-NAME"]),
    ],
)
def test_command_refuses_reserved_env_names(env: dict[str, str], pass_env: list[str]) -> None:
    with pytest.raises(UsageError, match="^command check: (env|pass_env): "):
        CommandCheck(["true"], env=env, pass_env=pass_env)


def test_command_argv_never_contains_value(value: SecretValue, tmp_path: Path) -> None:
    out = tmp_path / "argv.json"
    code = "import json, sys; json.dump(sys.argv, open(sys.argv[1], 'w'))"
    check = CommandCheck([sys.executable, "-c", code, str(out)])
    assert check.run("db", value).ok
    argv = json.loads(out.read_text())
    assert all(CANARY not in arg for arg in argv)
    assert check.argv == [sys.executable, "-c", code, str(out)]


def test_command_stdin_is_closed(value: SecretValue) -> None:
    # reading stdin returns EOF at once instead of hanging
    check = CommandCheck(["sh", "-c", 'read line; test -z "$line"'], timeout=5)
    result = check.run("db", value)
    assert result.detail in ("exit 0", "exit 1")
    assert result.seconds < 5


def test_command_exit_code_in_detail(value: SecretValue) -> None:
    result = CommandCheck(["sh", "-c", "exit 3"]).run("db", value)
    assert not result.ok
    assert result.detail == "exit 3"


def test_command_timeout_kills_process_group(value: SecretValue, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    # The background grandchild must die with the group, not only the shell.
    script = f'sleep 30 & echo $! > "{pidfile}"; wait'
    started = time.monotonic()
    result = CommandCheck(["sh", "-c", script], timeout=0.5).run("db", value)
    assert time.monotonic() - started < 10
    assert not result.ok
    assert result.detail.startswith("timed out after 0.5s")
    grandchild = int(pidfile.read_text())
    for _ in range(50):
        if not _alive(grandchild):
            break
        time.sleep(0.05)
    assert not _alive(grandchild)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_command_output_is_never_in_detail_and_the_excerpt_is_redacted(value: SecretValue) -> None:
    script = (
        'echo "start"; echo "plain: $KEYTURN_VALUE"; printf %s "$KEYTURN_VALUE" | base64; echo "end"; exit 2'
    )
    result = CommandCheck(["sh", "-c", script]).run("db", value)
    assert not result.ok
    assert result.detail == "exit 2"  # status only: safe for the audit log and the record
    assert result.excerpt.startswith("start") and result.excerpt.endswith("end")
    assert "***" in result.excerpt
    assert result.summary == "command sh (exit 2)"
    assert result.display == f"command sh (exit 2) output: {result.excerpt}"
    assert_no_value(result.excerpt, value)


def test_command_output_tail_is_bounded_and_redacted_at_the_cut(value: SecretValue) -> None:
    # Lots of output with the value everywhere: the kept tail must start at a clean cut.
    script = 'i=0; while [ $i -lt 3000 ]; do printf "%s-" "$KEYTURN_VALUE"; i=$((i+1)); done; exit 1'
    result = CommandCheck(["sh", "-c", script]).run("db", value)
    assert not result.ok
    assert len(result.excerpt) <= EXCERPT_CHARS
    for cut in range(4, len(CANARY)):
        assert CANARY[:cut] not in result.excerpt
        assert CANARY[-cut:] not in result.excerpt


def test_command_json_escaped_output_is_redacted(value: SecretValue) -> None:
    code = "import json, os; print(json.dumps({'v': os.environ['KEYTURN_VALUE']})); raise SystemExit(4)"
    result = CommandCheck([sys.executable, "-c", code]).run("db", value)
    assert (result.detail, result.excerpt) == ("exit 4", '{"v": "***"}')


def test_redact_helper_drops_partial_prefix() -> None:
    secret = "abcdefgh"
    # the buffer starts in the middle of a secret: "efgh" is its tail
    text = "efgh then abcdefgh end"
    assert redact(text, [secret], drop_prefix=len(secret)) == "n *** end"
    assert redact("xxabcdefghyy", [secret, "cdef"]) == "xx***yy"


def test_command_output_is_one_line(value: SecretValue) -> None:
    script = 'printf "a\\n::error::boom\\n\\033[31mred\\342\\200\\250x\\302\\205y\\n"; exit 1'
    result = CommandCheck(["sh", "-c", script]).run("db", value)
    assert "\n" not in result.excerpt and "\x1b" not in result.excerpt
    assert "\u2028" not in result.excerpt and "\x85" not in result.excerpt
    assert result.excerpt == "a ::error::boom red x y"


def test_check_result_refuses_output_in_detail() -> None:
    with pytest.raises(ValueError, match="detail"):
        CheckResult(False, "command sh", "exit 1; output: line one\nline two")
    with pytest.raises(ValueError, match="detail"):
        CheckResult(False, "command sh", "x" * 201)
    with pytest.raises(ValueError, match="excerpt"):
        CheckResult(False, "command sh", "exit 1", excerpt="y" * (EXCERPT_CHARS + 1))


def test_command_missing_executable(value: SecretValue) -> None:
    result = CommandCheck(["keyturn-no-such-binary-xyz"]).run("db", value)
    assert not result.ok
    assert result.detail == "command not found: keyturn-no-such-binary-xyz"


def test_command_missing_cwd(value: SecretValue, tmp_path: Path) -> None:
    result = CommandCheck(["sh", "-c", "true"], cwd=str(tmp_path / "nope")).run("db", value)
    assert not result.ok and result.detail.startswith("working directory not found")


def test_command_cwd_is_used(value: SecretValue, tmp_path: Path) -> None:
    (tmp_path / "marker").write_text("x")
    assert CommandCheck(["sh", "-c", "test -f marker"], cwd=str(tmp_path)).run("db", value).ok


def test_command_killed_by_signal(value: SecretValue) -> None:
    result = CommandCheck(["sh", "-c", "kill -TERM $$"]).run("db", value)
    assert not result.ok and result.detail == "killed by SIGTERM"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"argv": []},
        {"argv": "sh -c true"},
        {"argv": [""]},
        {"argv": ["sh"], "timeout": 0},
        {"argv": ["sh"], "env": {"KEYTURN_VALUE": "x"}},
    ],
)
def test_command_bad_config(kwargs: dict[str, object]) -> None:
    argv = kwargs.pop("argv")
    with pytest.raises(UsageError):
        CommandCheck(argv, **kwargs)  # type: ignore[arg-type]


# -- http: a real loopback server ------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    url: str
    requests: list[Recorded] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.recorded.append(  # type: ignore[attr-defined]
            Recorded(self.command, self.path, {k: v for k, v in self.headers.items()}, body)
        )
        path = self.path.split("?")[0]
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        elif path == "/slow":
            time.sleep(2)
            code = 200
        elif path == "/echo":
            # a hostile endpoint that echoes what it got
            payload = json.dumps(dict(self.headers.items())).encode()
            self.send_response(500)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        elif path == "/flaky":
            code = 503 if len(self.server.recorded) < 3 else 200  # type: ignore[attr-defined]
        else:
            code = 200
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = _handle

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    httpd = QuietThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.recorded = []  # type: ignore[attr-defined]
    scheme = "http"
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(f"{scheme}://127.0.0.1:{httpd.server_address[1]}", httpd.recorded)  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from _serve()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


def test_http_is_a_check(server: Server) -> None:
    assert isinstance(HttpCheck(server.url + "/"), Check)


def test_http_value_arrives_exactly_in_header(server: Server, value: SecretValue) -> None:
    check = HttpCheck(
        server.url + "/health",
        headers={
            "Authorization": "Bearer {{ value }}",
            "X-B64": "{{value_b64}}",
            "X-Name": "{{ secret_name }}",
        },
    )
    result = check.run("db/prod", value)
    assert result.ok, result.detail
    assert result.detail == "HTTP 200"
    got = server.requests[-1].headers
    assert got["Authorization"] == f"Bearer {CANARY}"
    assert base64.b64decode(got["X-B64"]).decode() == CANARY
    assert got["X-Name"] == "db/prod"
    assert server.requests[-1].method == "GET"
    assert_no_value(repr(check) + check.label + result.detail, value)


def test_http_body_substitution_without_reexpansion(server: Server) -> None:
    tricky = SecretValue("pw-{{ secret_name }}-{{ value }}-end", mask=False)
    check = HttpCheck(
        server.url + "/login",
        method="post",
        body='{"password": "{{ value }}", "n": "{{ secret_name }}"}',
        headers={"Content-Type": "application/json"},
        expect_status=[200, 204],
    )
    result = check.run("svc", tricky)
    assert result.ok, result.detail
    rec = server.requests[-1]
    assert rec.method == "POST"
    assert json.loads(rec.body) == {"password": tricky.reveal(), "n": "svc"}
    assert check.label.startswith("http POST ")


def test_http_wrong_status_fails(server: Server, value: SecretValue) -> None:
    result = HttpCheck(server.url + "/status/503").run("db", value)
    assert not result.ok
    assert result.detail == "HTTP 503 (expected 200)"
    ok = HttpCheck(server.url + "/status/401", expect_status=[401, 403]).run("db", value)
    assert ok.ok and ok.detail == "HTTP 401"


def test_http_echoed_value_never_in_detail(server: Server, value: SecretValue) -> None:
    result = HttpCheck(server.url + "/echo", headers={"X-Token": "{{ value }}"}).run("db", value)
    assert not result.ok and result.detail == "HTTP 500 (expected 200)"
    assert_no_value(result.detail, value)


def test_http_redirect_not_followed(server: Server, value: SecretValue) -> None:
    result = HttpCheck(server.url + "/redirect", headers={"X-Token": "{{ value }}"}).run("db", value)
    assert not result.ok and result.detail == "HTTP 302 (expected 200)"
    assert [r.path for r in server.requests] == ["/redirect"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/check?token={{ value }}",
        "http://127.0.0.1/{{value_b64}}",
        "http://127.0.0.1/check?token=%7B%7B%20value%20%7D%7D",
    ],
)
def test_http_url_placeholder_refused(url: str) -> None:
    with pytest.raises(UsageError, match="URL must not contain"):
        HttpCheck(url)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "ftp://host/x"},
        {"url": "http:///nohost"},
        {"url": "http://h/", "headers": {"X": "{{ valeu }}"}},
        {"url": "http://h/", "body": "{{ token }}"},
        {"url": "http://h/", "expect_status": 99},
        {"url": "http://h/", "expect_status": []},
        {"url": "http://h/", "method": "GE T"},
        {"url": "http://h/", "timeout": 0},
        {"url": "http://h/", "retries": -1},
        {"url": "http://h/", "headers": {"Bad Name": "x"}},
        {"url": "https://h/", "verify": "/nonexistent/ca.pem"},
    ],
)
def test_http_bad_config(kwargs: dict[str, object]) -> None:
    url = kwargs.pop("url")
    with pytest.raises(UsageError):
        HttpCheck(url, **kwargs)  # type: ignore[arg-type]


def test_http_label_strips_userinfo_and_query(server: Server, value: SecretValue) -> None:
    url = server.url.replace("http://", "http://user:s3cr3t-pass@") + "/health?key=abc#frag"
    check = HttpCheck(url)
    port = server.url.rsplit(":", 1)[1]
    assert check.label == f"http GET http://127.0.0.1:{port}/health"
    assert "s3cr3t" not in repr(check)
    result = check.run("db", value)
    assert result.ok
    rec = server.requests[-1]
    assert rec.path == "/health?key=abc"  # query still sent
    assert rec.headers["Authorization"] == "Basic " + base64.b64encode(b"user:s3cr3t-pass").decode()


def test_http_connection_refused(value: SecretValue, dead_url: str) -> None:
    result = HttpCheck(f"{dead_url}/").run("db", value)
    assert not result.ok and result.detail == "connection refused"


def test_http_timeout(server: Server, value: SecretValue) -> None:
    result = HttpCheck(server.url + "/slow", timeout=0.3).run("db", value)
    assert not result.ok and result.detail == "timed out after 0.3s"


def test_http_header_with_newline_value_is_refused_without_echo(server: Server) -> None:
    val = SecretValue("line-one-canary\nline-two-canary", mask=False)
    result = HttpCheck(server.url + "/", headers={"X-Token": "{{ value }}"}).run("db", val)
    assert not result.ok
    assert result.detail.startswith("request not sent")
    assert_no_value(result.detail, val)
    assert server.requests == []


def test_http_no_retries_by_default(server: Server, value: SecretValue) -> None:
    result = HttpCheck(server.url + "/flaky").run("db", value)
    assert not result.ok and len(server.requests) == 1


def test_http_retries_with_backoff(server: Server, value: SecretValue) -> None:
    result = HttpCheck(server.url + "/flaky", retries=3, backoff=0.01).run("db", value)
    assert result.ok, result.detail
    assert result.detail == "HTTP 200 after 3 attempts"
    assert len(server.requests) == 3


def test_http_retries_exhausted(value: SecretValue, dead_url: str) -> None:
    result = HttpCheck(f"{dead_url}/", retries=2, backoff=0.01).run("db", value)
    assert not result.ok and result.detail == "connection refused after 3 attempts"


# -- https with a local CA ------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    for srv in _serve(ctx):
        yield srv, str(ca_path)


def test_https_verify_modes(tls_server: tuple[Server, str], value: SecretValue) -> None:
    srv, ca_path = tls_server
    untrusted = HttpCheck(srv.url + "/").run("db", value)
    assert not untrusted.ok and untrusted.detail == "TLS certificate verification failed"
    trusted = HttpCheck(srv.url + "/", verify=ca_path, headers={"X-T": "{{ value }}"}).run("db", value)
    assert trusted.ok, trusted.detail
    assert srv.requests[-1].headers["X-T"] == CANARY
    insecure = HttpCheck(srv.url + "/", verify=False).run("db", value)
    assert insecure.ok


# -- every encoding a check may print (issue #8 item 3) -------------------------------

#: ≥ 58 bytes, so GNU base64 wraps it; quotes, backslash, %, +, /, non-ASCII for the escapes.
LONG = "kt-canary-Zx9$'\"q\\ 7;&|`x%+/é-" + "3f9a1c7e5b2d4f60a8e1c3b5d7f9021436587a9bcdef0123456789abcdef0123"
PY = sys.executable
ENCODERS = {
    "plain": 'printf "%s\\n" "$KEYTURN_VALUE"',
    "base64 -w0": 'printf %s "$KEYTURN_VALUE" | base64 -w0',
    "GNU base64 wrapped at 76": 'printf %s "$KEYTURN_VALUE" | base64',
    "echo | base64": 'echo "$KEYTURN_VALUE" | base64',
    "base64 of user:value": 'printf "user:%s" "$KEYTURN_VALUE" | base64 -w0',
    "base64 of user:value wrapped": 'printf "someuser:%s" "$KEYTURN_VALUE" | base64',
    "curl -v -u": 'echo "> Authorization: Basic $(printf "admin:%s" "$KEYTURN_VALUE" | base64 -w0)"',
    "xxd -p": 'printf %s "$KEYTURN_VALUE" | xxd -p',
    "xxd -p -u": 'printf %s "$KEYTURN_VALUE" | xxd -p -u',
    "echo | xxd -p": 'echo "$KEYTURN_VALUE" | xxd -p',
    "od -tx1": 'printf %s "$KEYTURN_VALUE" | od -tx1',
    "od -An -tx1": 'printf %s "$KEYTURN_VALUE" | od -An -tx1',
    "od -tx1 of user:value": 'printf "user:%s" "$KEYTURN_VALUE" | od -tx1',
    "hex upper": f"{PY} -c 'import os; print(os.environ[\"KEYTURN_VALUE\"].encode().hex().upper())'",
    "%xx upper": f"{PY} -c 'import os, urllib.parse as u; print(u.quote(os.environ[\"KEYTURN_VALUE\"], safe=\"\"))'",
    "%xx lower": (
        f"{PY} -c 'import os, re, urllib.parse as u; "
        "print(re.sub(\"%..\", lambda m: m.group(0).lower(), u.quote(os.environ[\"KEYTURN_VALUE\"], safe=\"\")))'"
    ),
    "quote_plus": f"{PY} -c 'import os, urllib.parse as u; print(u.quote_plus(os.environ[\"KEYTURN_VALUE\"]))'",
    "JSON": f"{PY} -c 'import os, json; print(json.dumps({{\"v\": os.environ[\"KEYTURN_VALUE\"]}}))'",
    "JSON raw unicode": (
        f"{PY} -c 'import os, json; print(json.dumps({{\"v\": os.environ[\"KEYTURN_VALUE\"]}}, ensure_ascii=False))'"
    ),
    "urlsafe base64": (
        f"{PY} -c 'import os, base64; print(base64.urlsafe_b64encode(os.environ[\"KEYTURN_VALUE\"].encode()).decode())'"
    ),
}


def _squeeze(text: str) -> str:
    return "".join(text.split()).lower()


#: Same length and shape as LONG, different bytes: what an encoder prints either way is not a leak.
OTHER = "".join(chr(ord(c) ^ 1) if c.isalnum() else c for c in LONG)


def _printed(encoder: str, value: str) -> str:
    env = {**os.environ, "KEYTURN_VALUE": value}
    return subprocess.run(["sh", "-c", ENCODERS[encoder]], env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_check_output_in_every_encoding_is_redacted(encoder: str) -> None:
    script = f'echo "before"; {ENCODERS[encoder]}; echo; echo "# after"; exit 1'
    val = SecretValue(LONG, mask=False)
    result = CommandCheck(["sh", "-c", script]).run("db", val)
    assert (result.ok, result.detail) == (False, "exit 1")
    assert result.excerpt.startswith("before") and result.excerpt.endswith("# after"), result.excerpt
    assert "***" in result.excerpt
    # What the encoder printed, computed outside keyturn: no 8 characters that depend on
    # the value survive (offset columns and a user name are the same for any value).
    encoded, neutral = _squeeze(_printed(encoder, LONG)), _squeeze(_printed(encoder, OTHER))
    shown = _squeeze(result.excerpt)
    windows = (shown[i : i + 8] for i in range(len(shown) - 7))
    leaks = [w for w in windows if w in encoded and w not in neutral]
    assert not leaks, (encoder, result.excerpt)
    assert_no_value(result.excerpt, val)


# -- the manifest's env / pass_env (issue #8 item 4) -----------------------------------

MANIFEST = """\
version: 1
stores:
  vault:
    type: vault
secrets:
  DB:
    store: vault
    path: app/db
    generator: {{type: hex, bytes: 32}}
    validate:
      - command: [sh, -c, "true"]
        {field}
"""


def test_manifest_pass_env_reaches_the_check() -> None:
    from keyturn.manifest import CommandCheckConfig, parse_manifest
    from keyturn.validators.registry import build_check

    m = parse_manifest(MANIFEST.format(field="pass_env: [AWS_REGION, DB_HOST]"), Path("m.yml"))
    config = m.model.secrets["DB"].validate_[0]
    assert isinstance(config, CommandCheckConfig) and config.pass_env == ["AWS_REGION", "DB_HOST"]
    check = build_check(config, Path("."))
    assert isinstance(check, CommandCheck) and check.pass_env == ("AWS_REGION", "DB_HOST")


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("pass_env: [VAULT_TOKEN]", "pass_env"),
        ("pass_env: [KEYTURN_AUDIT_KEY_V1]", "pass_env"),
        ("env: {GITHUB_TOKEN: x}", "env"),
        ("pass_env: ['bad name']", "pass_env"),
    ],
)
def test_manifest_refuses_credentials_for_checks(field: str, where: str) -> None:
    from keyturn.errors import ManifestError
    from keyturn.manifest import parse_manifest

    with pytest.raises(ManifestError) as err:
        parse_manifest(MANIFEST.format(field=field), Path("m.yml"))
    message = str(err.value)
    assert "\n" not in message and "m.yml" in message and where in message, message


def test_a_long_program_path_still_makes_a_short_status_line(value: SecretValue, tmp_path: Path) -> None:
    missing = str(tmp_path / ("d" * 150) / "no-such-check")
    result = CommandCheck([missing]).run("db", value)
    assert not result.ok and result.detail.startswith("command not found: …") and len(result.detail) <= 200
    assert result.detail.endswith("/no-such-check")


def test_a_failing_check_never_shows_what_pass_env_handed_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value passed with pass_env (an admin key, a token) is redacted from the excerpt
    like the secret itself, whether the check reads os.environ or the environ it was given."""
    admin = "adm-" + "Q7x" * 8
    code = "import os, sys; print('401 for', os.environ['ADMIN_KEY'], os.environ['KEYTURN_VALUE']); sys.exit(3)"
    for environ in (None, {"ADMIN_KEY": admin, "PATH": os.environ["PATH"]}):
        if environ is None:
            monkeypatch.setenv("ADMIN_KEY", admin)
        check = CommandCheck([sys.executable, "-c", code], pass_env=["ADMIN_KEY"], environ=environ)
        result = check.run("db/prod", SecretValue(CANARY))
        assert not result.ok and "401 for" in result.excerpt, result.excerpt
        assert admin not in result.excerpt and CANARY not in result.excerpt
