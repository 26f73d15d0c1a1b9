"""A small real HTTP proxy for tests, on loopback: CONNECT tunnels (https
servers) and absolute-form requests (http servers), optional Basic proxy
authentication (407 without it), and a table of host names it resolves itself
(so a test can name the API server by a name this machine cannot resolve: a
client that bypasses the proxy fails). It records what it was asked."""
from __future__ import annotations

import base64
import socket
import threading
from urllib.parse import urlsplit


class HttpProxy:
    def __init__(self, hosts: dict[str, str] | None = None, user: str | None = None, password: str | None = None):
        self.hosts = hosts or {}
        self.auth = None if user is None else "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.requests: list[str] = []        # request lines, in order
        self.refused = 0                     # 407 answers
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stopping = True
        self.sock.close()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, rest = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            self.requests.append(lines[0])
            if self.auth is not None and headers.get("proxy-authorization") != self.auth:
                self.refused += 1
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
            else:
                u = urlsplit(target)
                host, port = u.hostname, u.port or 80
            try:
                upstream = socket.create_connection((self.hosts.get(host, host), int(port)), timeout=5)
            except OSError:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            upstream.settimeout(None)
            with upstream:
                if method == "CONNECT":
                    conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    if rest:
                        upstream.sendall(rest)
                else:   # absolute form: passed on as it is (a server must accept it, RFC 9112 3.2.2)
                    upstream.sendall(head + b"\r\n\r\n" + rest)
                self._pipe(conn, upstream)

    def _pipe(self, a: socket.socket, b: socket.socket) -> None:
        def copy(src, dst):
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
                    if src is a and data.startswith((b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ")):
                        # the next request on a kept-alive connection (absolute form: not tunnelled)
                        self.requests.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
            except OSError:
                pass
            finally:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
        t = threading.Thread(target=copy, args=(b, a), daemon=True)
        t.start()
        copy(a, b)
        t.join()
