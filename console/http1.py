"""HTTP/1.1 on a socket, framed by h11: the client the console uses, and the
request-head parser of the simulated API server.

The framing (status line, headers, Content-Length, chunked bodies and their
CRLFs, 1xx answers, keep-alive) is h11's, which is strict and well kept; what is
ours is the socket around it: connect with a timeout, TLS from the caller's
context, reading a body whole or as it arrives (watch and log streams), and
reusing the connection while both sides allow it. Not http.client/http.server:
their import of the email package is ~45 M instructions on the demo's first
frame, and their header parsing is slower than h11's.

Client: Connection(host, port, timeout=, ssl_context=, server_hostname=);
.request(method, target, headers, body=None) then .getresponse() -> Response
(.status, .reason, .headers, .will_close, .read(), .read1(n)). Errors: OSError
(including RemoteDisconnected: the server closed the connection without a
complete answer), ProtocolError (a malformed response) and HeaderValueError (a
header value with CR, LF or NUL: refused before anything is sent; the message
names the header, never its value, which may be a token).

Server side: read_request_head(rfile) -> (method, target, version, headers) or
None at a clean end of the connection; ProtocolError for a malformed request.
"""
from __future__ import annotations

import select
import socket
from collections.abc import Sequence
from typing import Any, Protocol

import h11

MAX_HEAD = 65536        # a response's or request's head (status line + headers), at most
MAX_HEADERS = 100
RECV_SIZE = 1 << 18


class ProtocolError(Exception):
    """A malformed HTTP message."""


class HeaderValueError(ValueError):
    """A header the caller gave cannot be sent (CR, LF or NUL in it)."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without a (complete) answer; for a
    kept-alive connection it had timed out, the request can be sent again."""


class Headers(dict):
    """Header fields by lower-case name; repeated fields joined with ', '."""

    def get(self, name: str, default: Any = None) -> Any:
        return dict.get(self, name.lower(), default)


def _headers_of(pairs: Sequence[tuple[bytes, bytes]]) -> Headers:
    if len(pairs) > MAX_HEADERS:
        raise ProtocolError(f"more than {MAX_HEADERS} header fields")
    headers = Headers()
    for name, value in pairs:       # h11 gives lower-case names, bytes
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def check_header(name: str, value: str) -> None:
    """Refuse a header that would change the request's framing: CR or LF in a
    value (a token with CRLF in it would inject a header) or NUL anywhere."""
    if any(c in value for c in "\r\n\0") or any(c in name for c in "\r\n\0: "):
        raise HeaderValueError(f"header {name.strip()[:40]!r}: its value contains CR, LF or NUL; not sent")


class LineReader(Protocol):
    """What read_request_head reads from: a buffered socket file (rfile)."""

    def readline(self, size: int = -1, /) -> bytes: ...


def read_request_head(fp: LineReader) -> tuple[str, str, str, Headers] | None:
    """The request line and headers; None when the client closed the connection
    between requests. Reads the head line by line, so the body stays in fp."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
    size = 0
    while True:
        line = fp.readline(MAX_HEAD + 1)
        size += len(line)
        if size > MAX_HEAD:
            raise ProtocolError("request head too long")
        if not line:
            if size == 0:
                return None
            raise ProtocolError("connection closed in the request head")
        if size == len(line) and line in (b"\r\n", b"\n"):
            size = 0                 # a stray empty line between requests (RFC 9112 2.2)
            continue
        conn.receive_data(line)
        if line in (b"\r\n", b"\n"):
            break
    try:
        event = conn.next_event()
    except h11.RemoteProtocolError as e:
        raise ProtocolError(f"malformed request: {e}") from None
    if not isinstance(event, h11.Request):      # pragma: no cover - a whole head was fed
        raise ProtocolError("malformed request")
    version = "HTTP/" + event.http_version.decode("ascii")
    return (event.method.decode("ascii"), event.target.decode("latin-1"), version, _headers_of(event.headers))


def keeps_alive(version: str, headers: Headers) -> bool:
    """Whether the connection stays open after this message (HTTP/1.1: unless
    'Connection: close'; HTTP/1.0: only with 'Connection: keep-alive')."""
    tokens = {t.strip().lower() for t in (headers.get("connection") or "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


class Response:
    """One response's head, and its body read whole or as it arrives."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pending = b""            # body bytes h11 handed over beyond what read1 returned
        self._done = False
        while True:
            event = conn._next_event()
            if isinstance(event, h11.InformationalResponse):
                continue               # 100 Continue, 103 Early Hints: not the answer
            if isinstance(event, h11.Response):
                break
            raise RemoteDisconnected("connection closed by the server without an answer")
        self.status = event.status_code
        self.reason = event.reason.decode("latin-1")
        self.headers = _headers_of(event.headers)
        self._version = "HTTP/" + event.http_version.decode("ascii")

    @property
    def will_close(self) -> bool:
        """Whether the connection cannot carry another request after this answer."""
        h = self._conn._h11
        if h is None:
            return True
        if h.their_state is h11.MUST_CLOSE or h.our_state is h11.MUST_CLOSE:
            return True
        return not keeps_alive(self._version, self.headers)

    def read(self) -> bytes:
        """The whole (rest of the) body."""
        parts = [self._pending] if self._pending else []
        self._pending = b""
        while not self._done:
            event = self._conn._next_event()
            if isinstance(event, h11.Data):
                parts.append(event.data)        # h11's slices, joined once (no copy each)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                self._conn._message_done()
            elif isinstance(event, h11.ConnectionClosed):
                self._done = True
        return b"".join(parts)

    def read1(self, n: int) -> bytes:
        """Up to n bytes of the body, as soon as some have arrived; b'' at its end."""
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        while not self._done:
            event = self._conn._next_event()
            if isinstance(event, h11.Data):
                data = bytes(event.data)
                if not data:
                    continue
                if len(data) > n:
                    data, self._pending = data[:n], data[n:]
                return data
            if isinstance(event, h11.EndOfMessage):
                self._done = True
                self._conn._message_done()
            elif isinstance(event, h11.ConnectionClosed):   # a body delimited by the close
                self._done = True
        return b""


class ProxyRefused(OSError):
    """The proxy answered CONNECT with an error status."""


def open_tunnel(sock: socket.socket, host: str, port: int, headers: dict[str, str]) -> None:
    """Ask the HTTP proxy at the other end of `sock` for a tunnel to host:port
    (CONNECT); on return, sock carries bytes to host:port."""
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    for name, value in headers.items():
        check_header(name, value)
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    fields = [("Host", authority), *headers.items()]
    sock.sendall(conn.send(h11.Request(method="CONNECT", target=authority, headers=fields))
                 + conn.send(h11.EndOfMessage()))
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as e:
            raise ProtocolError(f"proxy: malformed answer to CONNECT: {e}") from None
        if event is h11.NEED_DATA:
            data = sock.recv(RECV_SIZE)
            if not data:
                raise RemoteDisconnected("proxy closed the connection without answering CONNECT")
            conn.receive_data(data)
        elif isinstance(event, h11.InformationalResponse):
            continue
        elif isinstance(event, h11.Response):
            if not 200 <= event.status_code < 300:
                reason = event.reason.decode("latin-1")
                raise ProxyRefused(f"proxy refused CONNECT to {authority}: {event.status_code} {reason!r}")
            if conn.trailing_data[0]:      # the server spoke first, through the tunnel: not for TLS/HTTP
                raise ProtocolError("proxy: unexpected data after its answer to CONNECT")
            return
        else:
            raise RemoteDisconnected("proxy closed the connection without answering CONNECT")


class Connection:
    """One client connection (kept alive between requests while the server allows)."""

    def __init__(self, host: str, port: int, *, timeout: float | None = None,
                 ssl_context: Any = None, server_hostname: str | None = None,
                 tunnel_via: tuple[str, int, dict[str, str]] | None = None) -> None:
        """tunnel_via: (proxy host, proxy port, headers for the proxy): connect
        through an HTTP proxy's CONNECT tunnel (then TLS, end to end)."""
        self.host, self.port, self.timeout = host, port, timeout
        self.ssl_context, self._server_hostname = ssl_context, server_hostname
        self._tunnel_via = tunnel_via
        self.sock: socket.socket | None = None
        self._raw: socket.socket | None = None      # the TCP socket (under TLS, if any): abort() shuts it
        self._h11: h11.Connection | None = None
        self._eof = False

    def connect(self) -> socket.socket:
        """Connect; the socket HTTP is spoken on (TLS over TCP where there is TLS)."""
        via = self._tunnel_via
        sock = socket.create_connection((via[0], via[1]) if via else (self.host, self.port), self.timeout)
        self._raw = sock
        try:
            if via:
                open_tunnel(sock, self.host, self.port, via[2])
            return self.start(sock)
        except BaseException:
            sock.close()
            raise

    def idle_closed(self) -> bool:
        """Between requests: whether the server has closed this kept-alive
        connection (its socket reads as ready with nothing asked: the close, or
        bytes no request asked for). Such a connection must not carry a request
        whose resending is not safe. poll, not select: any descriptor number."""
        raw = self._raw
        if raw is None or self.sock is None:
            return True
        poller = select.poll()
        try:
            poller.register(raw, select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def abort(self) -> None:
        """From any thread: shut the socket down, so that a read blocked on it in
        another thread returns at once (close() stays the owner's to call)."""
        raw = self._raw
        if raw is not None:
            try:
                raw.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def start(self, sock: socket.socket) -> socket.socket:
        """Speak HTTP on a socket already connected (directly, or through a
        proxy's CONNECT tunnel): TLS first when there is a context."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._raw = sock
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_hostname=self._server_hostname or self.host)
        self.sock = sock
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self._eof = False
        return sock

    def request(self, method: str, target: str, headers: dict[str, str], body: bytes | None = None) -> None:
        for name, value in headers.items():
            check_header(name, value)
        sock = self.sock if self.sock is not None else self.connect()
        h = self._h11
        if h is None:                  # close() from another thread, just now
            raise RemoteDisconnected("connection closed")
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
        host = self.host if ":" not in self.host else f"[{self.host}]"
        fields = list(headers.items())
        if not any(k.lower() == "host" for k in headers):
            fields.insert(0, ("Host", f"{host}:{self.port}"))
        if body is not None:
            fields.append(("Content-Length", str(len(body))))
        try:
            out = h.send(h11.Request(method=method, target=target, headers=fields))
            if body:
                out += h.send(h11.Data(data=body))
            out += h.send(h11.EndOfMessage())
        except h11.LocalProtocolError as e:
            # not the connection's fault, but its h11 state is spent: start afresh next time
            self.close()
            raise ProtocolError(f"request not sent: {type(e).__name__}") from None
        sock.sendall(out)

    def getresponse(self) -> Response:
        return Response(self)

    def _next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        """h11's next event, reading from the socket as it needs."""
        h, sock = self._h11, self.sock
        if h is None or sock is None:
            raise RemoteDisconnected("connection closed")
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as e:
                if self._eof:
                    raise RemoteDisconnected(f"connection closed in the answer ({e})") from None
                raise ProtocolError(f"malformed response: {e}") from None
            if event is h11.NEED_DATA:
                data = sock.recv(RECV_SIZE)
                self._eof = not data
                h.receive_data(data)
                continue
            return event

    def _message_done(self) -> None:
        h = self._h11
        if h is not None and not (h.our_state is h11.DONE and h.their_state is h11.DONE):
            self.close()        # the server closes after this answer (or the framing needs it)

    def close(self) -> None:
        sock, self.sock, self._h11, self._raw = self.sock, None, None, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
