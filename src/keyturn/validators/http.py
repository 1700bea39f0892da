"""``http`` check: send one request that carries the value and compare the status.

Headers and body may hold the placeholders ``{{ value }}``, ``{{ value_b64 }}`` and
``{{ secret_name }}``, substituted only at send time; the URL may not hold a value
placeholder, because URLs end up in logs. The request is never logged, redirects are
never followed (a redirect would forward the headers to another host: a 3xx is just a
status), and the result detail is built from the status code or the transport error
type only — never from the response body or an exception message, which could echo
the value. Uses :mod:`urllib.request` only. This module imports only the standard
library, :mod:`keyturn.values`, :mod:`keyturn.errors` and :mod:`keyturn.validators.base`;
it must never import a store, target or SDK.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from keyturn.errors import UsageError
from keyturn.validators.base import CheckResult
from keyturn.values import SecretValue

if TYPE_CHECKING:
    from pathlib import Path

    from keyturn.validators.http_config import HttpCheckConfig

PLACEHOLDERS = ("value", "value_b64", "secret_name")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_METHOD = re.compile(r"^[A-Z]+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_READ_LIMIT = 64 * 1024


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


def _template_names(text: str) -> set[str]:
    return {m.group(1) for m in _PLACEHOLDER.finditer(text)}


def _netloc(parts: urllib.parse.SplitResult) -> str:
    """Host and port without userinfo."""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port else host


class HttpCheck:
    """Passes when the response status is one of ``expect_status``."""

    def __init__(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str | None = None,
        expect_status: Sequence[int] | int = 200,
        timeout: float = 10,
        verify: bool | str = True,
        retries: int = 0,
        backoff: float = 0.5,
    ) -> None:
        if not isinstance(url, str):
            raise UsageError("http check: url must be a string")
        for text in (url, urllib.parse.unquote(url)):
            if _template_names(text) & {"value", "value_b64"}:
                raise UsageError(
                    "http check: the URL must not contain {{ value }}: URLs end up in logs; "
                    "put the value in a header or the body"
                )
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise UsageError("http check: url is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError("http check: url must be an http:// or https:// URL with a host")
        method = method.upper() if isinstance(method, str) else ""
        if not _METHOD.match(method):
            raise UsageError("http check: method must be an HTTP method such as GET or POST")
        self.headers = dict(headers or {})
        for name, val in self.headers.items():
            if not isinstance(name, str) or not _HEADER_NAME.match(name):
                raise UsageError(f"http check: invalid header name {name!r}")
            if not isinstance(val, str):
                raise UsageError(f"http check: header {name} must be a string")
        if body is not None and not isinstance(body, str):
            raise UsageError("http check: body must be a string")
        templated = [v for v in self.headers.values()] + ([body] if body else [])
        unknown = set().union(*(_template_names(t) for t in templated)) - set(PLACEHOLDERS)
        if unknown:
            raise UsageError(
                f"http check: unknown placeholder(s) {', '.join(sorted(unknown))}; "
                f"valid: {', '.join('{{ ' + p + ' }}' for p in PLACEHOLDERS)}"
            )
        statuses = [expect_status] if isinstance(expect_status, int) else list(expect_status)
        if not statuses or not all(
            isinstance(s, int) and not isinstance(s, bool) and 100 <= s <= 599 for s in statuses
        ):
            raise UsageError("http check: expect_status must be status codes between 100 and 599")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise UsageError("http check: timeout must be a positive number of seconds")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise UsageError("http check: retries must be a non-negative integer")
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or backoff < 0:
            raise UsageError("http check: backoff must be a non-negative number of seconds")

        self.method = method
        self.body = body
        self.expect_status = statuses
        self.timeout = float(timeout)
        self.retries = retries
        self.backoff = float(backoff)
        netloc = _netloc(parts)
        self._display = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        # Userinfo never goes into the request; it becomes Basic auth instead.
        self._url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        self._basic: str | None = None
        if parts.username is not None:
            user = urllib.parse.unquote(parts.username)
            password = urllib.parse.unquote(parts.password or "")
            self._basic = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._context = self._ssl_context(verify) if parts.scheme == "https" else None

    @staticmethod
    def _ssl_context(verify: bool | str) -> ssl.SSLContext:
        if verify is True:
            return ssl.create_default_context()
        if verify is False:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        if isinstance(verify, str):
            if not os.path.isfile(verify):
                raise UsageError(f"http check: CA bundle not found: {verify}")
            try:
                return ssl.create_default_context(cafile=verify)
            except ssl.SSLError:
                raise UsageError(f"http check: cannot load CA bundle {verify}") from None
        raise UsageError("http check: verify must be true, false or a CA bundle path")

    @property
    def label(self) -> str:
        return f"http {self.method} {self._display}"

    def __repr__(self) -> str:
        return f"HttpCheck({self.label!r})"

    # -- running -------------------------------------------------------------------

    def _request(self, secret_name: str, value: SecretValue) -> urllib.request.Request:
        subs = {
            "value": value.reveal(),
            "value_b64": base64.b64encode(value.reveal_bytes()).decode("ascii"),
            "secret_name": secret_name,
        }

        def fill(text: str) -> str:  # one pass: substituted text is never re-expanded
            return _PLACEHOLDER.sub(lambda m: subs[m.group(1)], text)

        headers = {name: fill(val) for name, val in self.headers.items()}
        if self._basic and not any(n.lower() == "authorization" for n in headers):
            headers["Authorization"] = f"Basic {self._basic}"
        data = fill(self.body).encode("utf-8") if self.body is not None else None
        return urllib.request.Request(self._url, data=data, headers=headers, method=self.method)

    def _attempt(self, secret_name: str, value: SecretValue) -> tuple[bool, str]:
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if self._context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=self._context))
        opener = urllib.request.build_opener(*handlers)
        try:
            request = self._request(secret_name, value)
            with opener.open(request, timeout=self.timeout) as response:
                response.read(_READ_LIMIT)
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            exc.close()
        except urllib.error.URLError as exc:
            return False, self._transport_detail(exc.reason)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return False, self._transport_detail(exc)
        if status in self.expect_status:
            return True, f"HTTP {status}"
        expected = ", ".join(str(s) for s in self.expect_status)
        return False, f"HTTP {status} (expected {expected})"

    def _transport_detail(self, reason: object) -> str:
        """Name the failure from its type only: exception text may echo the request."""
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return f"timed out after {self.timeout:g}s"
        if isinstance(reason, ssl.SSLCertVerificationError):
            return "TLS certificate verification failed"
        if isinstance(reason, ssl.SSLError):
            return "TLS error"
        if isinstance(reason, socket.gaierror):
            return "could not resolve host"
        if isinstance(reason, ConnectionResetError):
            return "connection reset"
        if isinstance(reason, http.client.RemoteDisconnected):
            return "server closed the connection without a response"
        if isinstance(reason, http.client.HTTPException):
            return f"invalid HTTP response ({type(reason).__name__})"
        if isinstance(reason, ValueError):
            return "request not sent: a header or the body holds characters HTTP does not allow"
        if isinstance(reason, OSError):
            return f"connection failed ({type(reason).__name__})"
        return "connection failed"

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            ok, detail = self._attempt(secret_name, value)
            if ok or attempts > self.retries:
                break
            time.sleep(self.backoff * 2 ** (attempts - 1))
        if attempts > 1:
            detail += f" after {attempts} attempts"
        return CheckResult(ok, self.label, detail, round(time.monotonic() - started, 3))


def build(config: HttpCheckConfig, base_dir: Path, environ: Mapping[str, str] | None = None) -> HttpCheck:
    """The registry's builder for ``- http:`` entries; ``ca_cert`` is relative to the manifest."""
    spec = config.http
    verify: bool | str = str(base_dir / spec.ca_cert) if spec.ca_cert else True
    return HttpCheck(spec.url, method=spec.method, headers=dict(spec.headers), body=spec.body,
                     expect_status=spec.expect_status, timeout=spec.timeout.total_seconds(), verify=verify)
