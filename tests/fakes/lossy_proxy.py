"""An HTTP/1.1 proxy on loopback that can lose a response: the request reaches the real
server (OpenBao) and is applied, but the client's connection is closed before the answer
comes back — what a dropped connection or a proxy timeout does to a write. Used to prove
that a retried write whose first attempt applied is recognised as our own."""

from __future__ import annotations

import re
import socket
import threading
from typing import Self


def _read_message(sock: socket.socket, buf: bytes) -> tuple[bytes, bytes] | None:
    """One HTTP message (head + Content-Length body) from ``sock``; returns (message, rest)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    chunked = re.search(rb"(?im)^transfer-encoding:\s*chunked", head) is not None
    body = rest
    if chunked:
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
        return head + b"\r\n\r\n" + body, b""
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head + b"\r\n\r\n" + body[:length], body[length:]


class LossyProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self._rules: list[tuple[str, re.Pattern[str], int]] = []  # method, path, skip count
        self._lock = threading.Lock()
        self.dropped: list[str] = []
        self._stop = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lose_response(self, method: str, path_regex: str, *, after: int = 0) -> None:
        """Lose the response of the (after+1)-th matching request, once."""
        with self._lock:
            self._rules.append((method.upper(), re.compile(path_regex), after))

    def _should_drop(self, request: bytes) -> bool:
        line = request.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = line.partition(" ")
        path = rest.rpartition(" ")[0].split("?")[0]
        with self._lock:
            for i, (m, pattern, skip) in enumerate(self._rules):
                if m == method and pattern.search(path):
                    if skip:
                        self._rules[i] = (m, pattern, skip - 1)
                        return False
                    del self._rules[i]
                    self.dropped.append(f"{method} {path}")
                    return True
        return False

    def _serve_client(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        buf = b""
        try:
            while True:
                got = _read_message(client, buf)
                if got is None:
                    return
                request, buf = got
                upstream.sendall(request)
                answer = _read_message(upstream, b"")
                if answer is None:
                    return
                if self._should_drop(request):
                    return  # the server applied it; the client never hears back
                client.sendall(answer[0])
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_client, args=(client,), daemon=True).start()

    def start(self) -> Self:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop = True
        self._listener.close()
