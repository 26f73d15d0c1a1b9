"""A real nginx on loopback in front of real upstream HTTP servers, for the
blue-green tests and the load-balancer drill.

- `Upstream`: a threaded HTTP server on 127.0.0.1 answering like an
  OpenAI-compatible model server (GET /health, GET /v1/models, POST
  /v1/completions, GET /metrics) and naming its colour in the header
  `X-Dsconsole-Colour`. Its `mode` makes it misbehave: "error" (503 on
  completions, /health still 200, as a half-broken server does), "slow"
  (`delay_s` before each answer), "wrong" (a 200 with the wrong text).
  `stop()` closes its socket (connections are refused); `start()` binds the
  same port again.
- `Nginx`: Debian's nginx with its own prefix and config in a temporary
  directory (never /etc/nginx), listening on a free loopback port; its http
  block includes `include_path`, the upstream file the tests (and
  dsconsole) own. `cmd` is the command line a site file's `lb.nginx` names
  (`nginx -p PREFIX -c CONF`); append `-t`, `-s reload`, `-T`.
- `LoadGenerator`: a bounded number of workers sending completions through
  the balancer, a new connection per request (so a reload never meets a stale
  keep-alive connection: nginx closes idle ones on reload, and a client that
  reuses one sees a reset that is not the switch's fault). Every request is
  recorded: colour, status, whether the answer was right, latency.

Everything is bounded: the servers listen on loopback only, the generator
stops after `max_requests` or `stop()`, nginx is stopped at close.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = "blue and green agree"      # the right completion for PROMPT
PROMPT = "say the switchover phrase"
COLOUR_HEADER = "X-Dsconsole-Colour"
UPSTREAM_NAME = "deepseek"
# what a site adds to its server block for the probe to tell the colours apart (addr_header=False: not)
ADDR_HEADER = "add_header X-Upstream-Addr $upstream_addr always;"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


# ---------------------------------------------------------------- upstreams

class _Handler(BaseHTTPRequestHandler):
    server: _UpstreamServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet: tests read counters, not logs
        pass

    def _send(self, code: int, body: dict | str, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.server.upstream.colour_header:
            self.send_header(COLOUR_HEADER, self.server.upstream.colour)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        up = self.server.upstream
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": up.model, "object": "model"}]})
        elif self.path == "/metrics":
            self._send(200, up.metrics_text(), "text/plain; version=0.0.4")
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        up = self.server.upstream
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path not in ("/v1/completions", "/v1/chat/completions"):
            self._send(404, {"error": "not found"})
            return
        try:
            json.loads(body or b"{}")
        except ValueError:
            self._send(400, {"error": "body is not JSON"})
            return
        mode, delay = up.mode, up.delay_s
        if mode == "slow" and delay > 0:
            time.sleep(delay)
        if mode == "error":
            up.count("failed")
            self._send(503, {"error": "injected failure"})
            return
        text = "something else entirely" if mode == "wrong" else up.answer
        up.count("served")
        self._send(200, {"id": f"cmpl-{up.colour}", "object": "text_completion", "model": up.model,
                         "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8}})


class _UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5. When a starved accept thread lets
    # it fill, Linux drops the handshake's last ACK while nginx believes it is
    # connected and sends the request: it then waits for proxy_read_timeout
    # (a 504 after 30 s, seen under two busy loops). A real server's backlog.
    request_queue_size = 1024

    def __init__(self, address, upstream: Upstream):
        self.upstream = upstream
        super().__init__(address, _Handler)


class Upstream:
    """One upstream model server of a colour; see the module docstring."""

    def __init__(self, colour: str, *, answer: str = ANSWER, model: str = "deepseek-test", port: int = 0):
        self.colour = colour
        self.answer = answer
        self.model = model
        self.mode = "ok"
        self.delay_s = 0.0
        self.colour_header = True       # False: as a server that does not name its colour
        self.port = port or free_port()
        self._counts: dict[str, int] = {"served": 0, "failed": 0}
        self._lock = threading.Lock()
        self._server: _UpstreamServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def count(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def metrics_text(self) -> str:
        c = self.counts()
        label = f'model_name="{self.model}",colour="{self.colour}"'
        return (f"# TYPE vllm:request_success_total counter\n"
                f"vllm:request_success_total{{{label}}} {c['served']}\n"
                f"# TYPE vllm:num_requests_running gauge\n"
                f"vllm:num_requests_running{{{label}}} 0\n")

    def start(self) -> Upstream:
        if self._server is None:
            self._server = _UpstreamServer(("127.0.0.1", self.port), self)
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"upstream-{self.colour}-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: new connections are refused, as from a dead server."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            if self._thread is not None:
                self._thread.join(5)

    def set_mode(self, mode: str, delay_s: float = 0.0) -> None:
        if mode not in ("ok", "error", "slow", "wrong"):
            raise ValueError(f"unknown upstream mode {mode!r}")
        self.mode, self.delay_s = mode, delay_s


def upstream_block(servers: dict[str, int], *, name: str = UPSTREAM_NAME, extra: str = "") -> str:
    """A hand-written upstream block: address -> weight (0 = `down`), the way
    an operator's file looks before dsconsole adopts it."""
    lines = [f"upstream {name} {{"]
    for addr, weight in servers.items():
        lines.append(f"    server {addr} down;" if weight == 0 else f"    server {addr} weight={weight};")
    if extra:
        lines.append(f"    {extra}")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- nginx

NGINX_CONF = """\
# dsconsole test balancer: a private nginx on loopback (tests/nginx_lb.py)
worker_processes 1;
daemon off;
pid {prefix}/logs/nginx.pid;
error_log {prefix}/logs/error.log warn;
worker_shutdown_timeout {shutdown_s}s;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {include};
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            {addr_header}
        }}
    }}
}}
"""


class Nginx:
    """A private nginx on loopback; see the module docstring."""

    # worker_shutdown_timeout: longer than the load generator's 30 s request
    # timeout, so a reload's old worker never cuts off a request a slow (busy)
    # machine is still answering; it would then count as lost though nginx
    # itself would have finished it (seen: twice in 3,000 under two busy loops)
    def __init__(self, root: str, upstream_conf: str, *, upstream: str = UPSTREAM_NAME, shutdown_s: int = 40,
                 addr_header: bool = True):
        if shutil.which("nginx") is None:
            raise RuntimeError("nginx is not installed (tests/install-deps.sh installs it)")
        self.prefix = os.path.join(root, "nginx")
        for d in ("conf", "logs", "tmp"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        # nginx's workers run as nobody when the master is root: they must reach the temp dirs
        os.chmod(root, 0o755)
        os.chmod(self.prefix, 0o755)
        self.port = free_port()
        self.conf_path = os.path.join(self.prefix, "conf", "nginx.conf")
        self.include_path = os.path.join(self.prefix, "conf", "dsconsole-upstream.conf")
        self.error_log = os.path.join(self.prefix, "logs", "error.log")
        with open(self.include_path, "w") as f:
            f.write(upstream_conf)
        with open(self.conf_path, "w") as f:
            f.write(NGINX_CONF.format(prefix=self.prefix, include=self.include_path, port=self.port,
                                      upstream=upstream, shutdown_s=shutdown_s,
                                      addr_header=ADDR_HEADER if addr_header else "# no X-Upstream-Addr"))
        self.upstream = upstream
        self._proc: subprocess.Popen | None = None

    @property
    def cmd(self) -> str:
        """The command line a site file's `lb.nginx` names for this nginx."""
        return f"nginx -p {self.prefix} -c {self.conf_path}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nginx", "-p", self.prefix, "-c", self.conf_path, *args],
                              capture_output=True, text=True, timeout=30)

    def start(self) -> Nginx:
        self._proc = subprocess.Popen(["nginx", "-p", self.prefix, "-c", self.conf_path],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(self._listening, 10, "nginx to listen")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"nginx did not start: {self.error_log_text()[-2000:]}") from None
        return self

    def _listening(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {self._proc.returncode}: {self._proc.stderr.read()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def master_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def worker_pids(self) -> set[int]:
        """The master's worker processes now (a reload replaces them)."""
        pid = self.master_pid()
        if pid is None:
            return set()
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}

    def reload(self) -> None:
        r = self.run("-s", "reload")
        if r.returncode != 0:
            raise RuntimeError(f"nginx -s reload failed: {r.stderr.strip()}")

    def error_log_text(self) -> str:
        try:
            with open(self.error_log) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)    # graceful: finish what is in flight
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ---------------------------------------------------------------- load

@dataclass(frozen=True)
class Result:
    started: float            # time.monotonic() when the request was sent
    latency_s: float
    status: int               # 0: no HTTP answer (refused, reset, timeout)
    colour: str | None        # from X-Dsconsole-Colour
    right: bool               # a 200 with the expected completion
    error: str = ""

    @property
    def failed(self) -> bool:
        return not self.right


@dataclass
class LoadGenerator:
    """Bounded load through the balancer; see the module docstring."""

    url: str
    workers: int = 4
    max_requests: int = 20_000
    # Generous: a busy 2-core CI machine can stall a loopback request for
    # seconds; only a request that never answers should count as lost.
    timeout_s: float = 30.0
    pause_s: float = 0.0                    # per worker between requests (0: as fast as it goes)
    results: list[Result] = field(default_factory=list)

    def __post_init__(self) -> None:
        host_port = self.url.split("://", 1)[1].rstrip("/")
        host, _, port = host_port.partition(":")
        self._host, self._port = host, int(port or 80)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent = 0

    def request(self) -> Result:
        """One completion through the balancer, on a new connection."""
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
        try:
            body = json.dumps({"model": "deepseek-test", "prompt": PROMPT, "max_tokens": 8, "temperature": 0})
            conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            colour = resp.getheader(COLOUR_HEADER)
            right = False
            if resp.status == 200:
                try:
                    right = json.loads(data)["choices"][0]["text"] == ANSWER
                except (ValueError, KeyError, IndexError, TypeError):
                    right = False
            return Result(t0, time.monotonic() - t0, resp.status, colour, right)
        except OSError as e:
            return Result(t0, time.monotonic() - t0, 0, None, False, f"{type(e).__name__}: {e}")
        finally:
            conn.close()

    def _take(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self._sent >= self.max_requests:
                return False
            self._sent += 1
            return True

    def _work(self) -> None:
        while self._take():
            r = self.request()
            with self._lock:
                self.results.append(r)
            if self.pause_s:
                self._stop.wait(self.pause_s)

    def start(self) -> LoadGenerator:
        self._stop.clear()
        self._threads = [threading.Thread(target=self._work, name=f"load-{i}", daemon=True)
                         for i in range(self.workers)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout_s + 5)

    def mark(self) -> int:
        """An index into results: `since(mark)` gives what came after."""
        with self._lock:
            return len(self.results)

    def since(self, mark: int) -> list[Result]:
        with self._lock:
            return self.results[mark:]

    def wait_for(self, mark: int, count: int, timeout: float) -> list[Result]:
        """At least `count` results after `mark` (bounded by `timeout`)."""
        wait_until(lambda: len(self.since(mark)) >= count, timeout, f"{count} requests through the balancer")
        return self.since(mark)

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def green_share(results: list[Result]) -> float:
    """The share of answered requests that green served, in percent."""
    answered = [r for r in results if r.colour is not None]
    if not answered:
        return 0.0
    return 100.0 * sum(r.colour == "green" for r in answered) / len(answered)


def serve_upstream(colour: str, port: int) -> None:
    """Run one Upstream in this process until SIGTERM: an upstream a site
    file's stop_command can kill and start_command can start again
    (`python3 tests/nginx_lb.py COLOUR PORT`)."""
    # SIGTERM blocked in every thread (the server's threads inherit the mask)
    # and taken by sigwait in this one. With a Python handler instead, the
    # kernel may deliver the signal to a server thread while this thread
    # sleeps in a lock wait that nothing then interrupts: the handler never
    # runs and the upstream outlives its stop_command (seen: still serving
    # 20 s after the kill, in a full run under two busy loops).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    up = Upstream(colour, port=port).start()
    try:
        signal.sigwait({signal.SIGTERM})
    finally:
        up.stop()


if __name__ == "__main__":
    import sys
    serve_upstream(sys.argv[1], int(sys.argv[2]))
