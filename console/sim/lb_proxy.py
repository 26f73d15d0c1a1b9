"""The demo site's load balancer: an HTTP proxy on loopback in front of the
demo's model servers that behaves as nginx's upstream module does where the
console can see it:

- smooth weighted round robin (nginx's algorithm: each pick adds every
  eligible server's weight to its score, takes the highest, and takes the
  total off the winner), servers marked `down` skipped;
- passive health checks: a server whose connection fails `max_fails` times
  within `fail_timeout_s` is skipped for `fail_timeout_s` (nginx logs
  "upstream server temporarily disabled"), after which one request tries it;
- a request whose connection failed before it was sent goes to the next
  server (proxy_next_upstream error); one that failed after it was sent is
  answered 502, as nginx does for a POST (not idempotent);
- an error log in nginx's format with the lines the load-balancer drill reads
  (actions/drills/lb_loss.py).

Answers carry `X-Upstream-Addr` (what `add_header X-Upstream-Addr
$upstream_addr` gives) and the upstream's own headers (X-Dsconsole-Colour).
One thread per client connection (socketserver), one request per connection
to the upstream (nginx's default without `keepalive`)."""
from __future__ import annotations

import os
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from console import http1

MAX_BODY = 8 * 1024 * 1024
_PASSED = ("content-type", "x-dsconsole-colour")     # upstream headers handed to the client


@dataclass
class UpstreamServer:
    """One `server ADDRESS weight=N max_fails=N fail_timeout=Ns [down];` line,
    with nginx's per-worker state of it."""
    address: str                     # host:port
    weight: int = 1
    max_fails: int = 1
    fail_timeout_s: float = 10.0
    down: bool = False
    current: int = 0                 # smooth weighted round robin score
    fails: int = 0
    checked: float = 0.0             # when the failure count started
    disabled_until: float = 0.0

    def eligible(self, now: float) -> bool:
        return not self.down and self.weight > 0 and now >= self.disabled_until


class LbProxy:
    def __init__(self, servers: list[UpstreamServer], *, upstream: str = "deepseek",
                 clock: Callable[[], float] = time.monotonic, upstream_timeout_s: float = 60.0,
                 refuses: Callable[[str], bool] | None = None) -> None:
        """refuses(address): whether a connection to that server would be
        refused now. The demo's model servers share one listening socket, so a
        stopped one cannot refuse by itself (it resets what it accepted); this
        stands in for the kernel of a host whose server process is gone."""
        self.upstream = upstream
        self._refuses = refuses
        self._servers = list(servers)
        self.reloaded = False            # whether a reload has set the servers (shares())
        self._clock = clock
        self._timeout = upstream_timeout_s
        self._lock = threading.Lock()
        self._log: list[str] = []
        self._conn_seq = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------
    def start(self) -> LbProxy:
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sim-lb-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ---- configuration (a reload) -------------------------------------------
    def set_servers(self, servers: list[UpstreamServer]) -> None:
        """What `nginx -s reload` with a new upstream block does: new workers,
        new servers, their failure counts start afresh."""
        with self._lock:
            self._servers = list(servers)
            self.reloaded = True

    def shares(self) -> dict[str, float] | None:
        """Each upstream host's share of the traffic by the running weights
        (down servers 0), keyed by IP; None until a reload has configured the
        upstream (the demo's traffic keeps its own per-pod rates until then)."""
        with self._lock:
            if not self.reloaded:
                return None
            live = {s.address.rpartition(":")[0]: (0 if s.down else s.weight) for s in self._servers}
        total = sum(live.values())
        return {ip: (w / total if total else 0.0) for ip, w in live.items()}

    def servers(self) -> list[UpstreamServer]:
        with self._lock:
            return list(self._servers)

    def error_log(self) -> str:
        with self._lock:
            return "".join(self._log)

    # ---- the upstream module ---------------------------------------------------
    def pick(self, tried: set[str]) -> UpstreamServer | None:
        """The next server by smooth weighted round robin, or None if none is left."""
        now = self._clock()
        with self._lock:
            best, total = None, 0
            for s in self._servers:
                if s.address in tried or not s.eligible(now):
                    continue
                s.current += s.weight
                total += s.weight
                if best is None or s.current > best.current:
                    best = s
            if best is not None:
                best.current -= total
            return best

    def _failed(self, s: UpstreamServer, conn: int, what: str, request: str) -> None:
        now = self._clock()
        with self._lock:
            if now - s.checked > s.fail_timeout_s:
                s.fails, s.checked = 0, now
            s.fails += 1
            self._line("error", conn, what, request, s)
            if s.max_fails and s.fails >= s.max_fails:
                s.disabled_until = now + s.fail_timeout_s
                s.fails = 0
                self._line("warn", conn, "upstream server temporarily disabled while connecting to upstream",
                           request, s)

    def _line(self, level: str, conn: int, what: str, request: str, s: UpstreamServer) -> None:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        pid = os.getpid()
        self._log.append(f'{stamp} [{level}] {pid}#{pid}: *{conn} {what}, client: 127.0.0.1, server: , '
                         f'request: "{request}", upstream: "http://{s.address}{request.split(" ")[1]}"\n')

    def forward(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        """One client request through the upstream: (status, headers, body)."""
        with self._lock:
            self._conn_seq += 1
            conn_id = self._conn_seq
        request = f"{method} {target} HTTP/1.1"
        tried: set[str] = set()
        while (s := self.pick(tried)) is not None:
            tried.add(s.address)
            host, _, port = s.address.rpartition(":")
            up = http1.Connection(host, int(port), timeout=self._timeout)
            try:
                try:
                    if self._refuses is not None and self._refuses(s.address):
                        raise ConnectionRefusedError(111, os.strerror(111))
                    up.connect()
                except OSError as e:
                    self._failed(s, conn_id, f"connect() failed ({e.errno}: {e.strerror}) while connecting "
                                             "to upstream", request)
                    continue          # not sent yet: the next server (proxy_next_upstream error)
                try:
                    up.request(method, target, {k: v for k, v in headers.items()
                                                if k.lower() in ("content-type", "accept")}, body or None)
                    resp = up.getresponse()
                    data = resp.read()
                except (OSError, http1.ProtocolError) as e:
                    errno = getattr(e, "errno", None) or 104
                    self._failed(s, conn_id, f"recv() failed ({errno}: Connection reset by peer) while reading "
                                             "response header from upstream", request)
                    return 502, {"X-Upstream-Addr": s.address}, b'{"error": "502 Bad Gateway"}'
            finally:
                up.close()
            out = {k: v for k, v in resp.headers.items() if k.lower() in _PASSED}
            out["X-Upstream-Addr"] = s.address
            return resp.status, out, data
        with self._lock:
            self._log.append(f'{time.strftime("%Y/%m/%d %H:%M:%S")} [error] {os.getpid()}#{os.getpid()}: '
                             f'*{conn_id} no live upstreams while connecting to upstream, client: 127.0.0.1, '
                             f'request: "{request}", upstream: "http://{self.upstream}{target}"\n')
        return 502, {}, b'{"error": "502 Bad Gateway: no live upstreams"}'


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024     # socketserver's 5 overflows under load (tests/nginx_lb.py says how)

    def __init__(self, addr: tuple[str, int], handler: type, proxy: LbProxy) -> None:
        self.proxy = proxy
        super().__init__(addr, handler)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            try:
                head = http1.read_request_head(self.rfile)
            except (OSError, http1.ProtocolError, ValueError):
                return
            if head is None:
                return
            method, target, version, headers = head
            length = int(headers.get("content-length", "0") or 0)
            if length < 0 or length > MAX_BODY:
                self._answer(413, {}, b"", close=True)
                return
            body = self.rfile.read(length) if length else b""
            status, out, data = self.server.proxy.forward(method, target, dict(headers), body)
            close = not http1.keeps_alive(version, headers)
            try:
                self._answer(status, out, data, close)
            except OSError:
                return
            if close:
                return

    def _answer(self, status: int, headers: dict, body: bytes, close: bool) -> None:
        lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}", "Server: dsconsole-sim-lb",
                 f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if close:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        self.wfile.flush()

