"""Servers and helpers the Kubernetes access tests share (real sockets on
loopback): a server answering scripted raw bytes, one that accepts and never
answers, stand-ins of the API that echo the credentials they got (plain and
TLS, with openssl certificates), a kubeconfig writer, and `dsconsole status`
run as a subprocess."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading


class ScriptedServer:
    """Accepts connections on loopback; for each request it reads (up to the
    blank line) it sends the next scripted answer; None closes the connection.
    close_after_answer: each connection is closed right after its first answer
    (as an API server's idle timeout closes a kept-alive one); .closed counts them."""

    def __init__(self, answers: list[bytes | None], *, close_after_answer: bool = False) -> None:
        self.answers = list(answers)
        self.close_after_answer = close_after_answer
        self.requests: list[bytes] = []
        self.connections = 0
        self.closed = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                buf = b""
                while self.answers:
                    while b"\r\n\r\n" not in buf:
                        data = conn.recv(65536)
                        if not data:
                            break
                        buf += data
                    if b"\r\n\r\n" not in buf:
                        break
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    self.requests.append(head)
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer)
                    if self.close_after_answer:
                        break
            self.closed += 1

    def close(self) -> None:
        self.sock.close()


def status(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "console", "status", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def write_kubeconfig(path, server: str, user: dict | None = None, cluster: dict | None = None):
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": user or {}}]}))
    return path


class SilentServer:
    """Accepts connections and never answers; counts them, and sees them closed."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.closed_by_client = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    def _drain(self, c):
        try:
            while c.recv(65536):
                pass
            self.closed_by_client += 1
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class EchoAuth:
    """An API stand-in that answers /version with the Authorization it got."""

    def __init__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                body = json.dumps({"auth": self.headers.get("Authorization")}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def tls_cert(tmp_path, name: str, cn: str, sans: str) -> tuple[bytes, bytes]:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / f"{name}.key",
                    "-out", tmp_path / f"{name}.crt", "-days", "1", "-subj", f"/CN={cn}",
                    "-addext", f"subjectAltName={sans}"], check=True, capture_output=True)
    return (tmp_path / f"{name}.crt").read_bytes(), (tmp_path / f"{name}.key").read_bytes()


class TlsEcho:
    """A TLS API stand-in answering /version with the client certificate's CN
    (when `client_ca` is given, a client certificate signed by it is required)."""

    def __init__(self, tmp_path, client_ca: list[bytes] | None = None):
        import ssl
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        self.crt, _ = tls_cert(tmp_path, "server", "kube-api.internal", "DNS:kube-api.internal")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                peer = self.connection.getpeercert() or {}
                cn = dict(x[0] for x in peer.get("subject", ())).get("commonName")
                body = json.dumps({"gitVersion": "v1.37.0", "client": cn,
                                   "auth": self.headers.get("Authorization")}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
        if client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata="".join(c.decode() for c in client_ca))
        self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
