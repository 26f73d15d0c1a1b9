"""HTTP/1.1 on a socket: as much of it as the console and the demo's API server use.

Why not http.client / http.server: both parse headers with the email package,
and importing them (email.parser, email.message, email.utils, html, calendar,
...) is ~45 M instructions, 3 % of everything the demo's first frame costs;
their per-request header parsing through email's feed parser is slow too. What
the console needs is small: GET requests with a body of known length or
chunked, read whole or as it arrives (watch and log streams), keep-alive; the
simulated API server needs the request head parsed. Anything else (proxies,
100-continue on the client side, pipelining) is not used.

Client: Connection(host, port, timeout=, ssl_context=, server_hostname=);
.request(method, target, headers, body=None) then .getresponse() -> Response (.status,
.reason, .headers, .will_close, .read(), .read1(n)). Errors: OSError
(including RemoteDisconnected: the server closed a kept-alive connection before
answering) and ProtocolError (a malformed response).

Server side: read_request_head(rfile) -> (method, target, version, headers) or
None at a clean end of the connection; ProtocolError for a malformed request.
"""
from __future__ import annotations

import socket
from typing import Any

MAX_LINE = 65536        # a request/status line or header line, at most
MAX_HEADERS = 100


class ProtocolError(Exception):
    """A malformed HTTP message."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without an answer (a kept-alive
    connection it had timed out: the request can be sent again)."""


class Headers(dict):
    """Header fields by lower-case name; repeated fields joined with ', '."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


def read_headers(fp) -> Headers:
    headers = Headers()
    for _ in range(MAX_HEADERS + 1):
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ProtocolError("header line too long")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise ProtocolError("connection closed in the headers")
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    raise ProtocolError(f"more than {MAX_HEADERS} header fields")


def read_request_head(fp) -> tuple[str, str, str, Headers] | None:
    """The request line and headers; None when the client closed the connection
    between requests."""
    line = fp.readline(MAX_LINE + 1)
    if not line:
        return None
    if len(line) > MAX_LINE:
        raise ProtocolError("request line too long")
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ProtocolError(f"malformed request line {line[:80]!r}")
    method, target, version = parts
    return method, target, version, read_headers(fp)


def keeps_alive(version: str, headers: Headers) -> bool:
    """Whether the connection stays open after this message (HTTP/1.1: unless
    'Connection: close'; HTTP/1.0: only with 'Connection: keep-alive')."""
    tokens = {t.strip().lower() for t in (headers.get("connection") or "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


class Response:
    """One response's head, and its body read whole or as it arrives."""

    def __init__(self, fp, method: str) -> None:
        self._fp = fp
        line = fp.readline(MAX_LINE + 1)
        if not line:
            raise RemoteDisconnected("connection closed by the server without an answer")
        version, _, rest = line.decode("latin-1").rstrip("\r\n").partition(" ")
        code, _, self.reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ProtocolError(f"malformed status line {line[:80]!r}")
        self.status = int(code)
        self.headers = read_headers(fp)
        self._chunked = "chunked" in (self.headers.get("transfer-encoding") or "").lower()
        length = self.headers.get("content-length")
        if method == "HEAD" or self.status in (204, 304) or 100 <= self.status < 200:
            self._left: int | None = 0
        elif self._chunked:
            self._left = None
        elif length is not None:
            try:
                self._left = int(length)
            except ValueError:
                raise ProtocolError(f"bad Content-Length {length!r}") from None
        else:
            self._left = -1          # until the server closes the connection
        self.will_close = self._left == -1 or not keeps_alive(version, self.headers)
        self._chunk_left = 0         # chunked: bytes of the current chunk not read yet
        self._done = self._left == 0

    def read(self) -> bytes:
        """The whole (rest of the) body."""
        parts = []
        while True:
            data = self.read1(1 << 20)
            if not data:
                return b"".join(parts)
            parts.append(data)

    def read1(self, n: int) -> bytes:
        """Up to n bytes of the body, as soon as some have arrived; b'' at its end."""
        if self._done:
            return b""
        fp = self._fp
        if self._chunked:
            if self._chunk_left == 0:
                size_line = fp.readline(MAX_LINE + 1)
                try:
                    self._chunk_left = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    if not size_line:
                        raise RemoteDisconnected("connection closed in a chunked body") from None
                    raise ProtocolError(f"bad chunk size line {size_line[:40]!r}") from None
                if self._chunk_left == 0:
                    read_headers(fp)         # trailers, up to the blank line
                    self._done = True
                    return b""
            data = fp.read1(min(n, self._chunk_left))
            if not data:
                raise RemoteDisconnected("connection closed in a chunked body")
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                fp.readline(MAX_LINE + 1)     # the CRLF after the chunk's data
            return data
        if self._left == -1:                 # until the connection closes
            data = fp.read1(n)
            self._done = not data
            return data
        data = fp.read1(min(n, self._left))
        if not data:
            raise RemoteDisconnected("connection closed in the body")
        self._left -= len(data)
        self._done = self._left == 0
        return data


class Connection:
    """One client connection (kept alive between requests while the server allows)."""

    def __init__(self, host: str, port: int, *, timeout: float | None = None,
                 ssl_context: Any = None, server_hostname: str | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._ssl, self._server_hostname = ssl_context, server_hostname
        self.sock: socket.socket | None = None
        self._fp = None

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_hostname=self._server_hostname or self.host)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self._fp = sock.makefile("rb")

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes | None = None) -> None:
        if self.sock is None:
            self.connect()
        host = self.host if ":" not in self.host else f"[{self.host}]"
        head = [f"{method} {target} HTTP/1.1", f"Host: {host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            head.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b""))
        self._method = method

    def getresponse(self) -> Response:
        return Response(self._fp, self._method)

    def close(self) -> None:
        fp, sock, self._fp, self.sock = self._fp, self.sock, None, None
        for thing in (fp, sock):
            if thing is not None:
                try:
                    thing.close()
                except OSError:
                    pass
