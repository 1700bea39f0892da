"""A ThreadingHTTPServer for test fakes that never writes to the process's stderr.

The stdlib prints a handler's exception (e.g. a client killed mid-request) to
``sys.stderr`` — which, inside another test's ``redirect_stderr``, lands in that test's
captured output. Fakes record the error instead."""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer
from typing import Any


class QuietThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.errors: list[str] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        self.errors.append(f"{client_address}: {exc.__class__.__name__ if exc else 'error'}")
