"""ModelServerPool: a simulated OpenAI-compatible model server for every demo pod.

All pods share ONE listening socket and ONE thread running an asyncio loop: the
socket listens on all addresses of a port, and a connection is routed by the
address it was made TO (getsockname). Every pod gets its own address in the
loopback range 127.0.0.0/8 (Linux routes the whole /8 to `lo`), so
`http://<podIP>:<port>/health` from this machine reaches that pod's server and
20,000 pods cost 20,000 small dict entries, not sockets or threads. Connections
whose destination is not a loopback address are reset unread, so the simulator
never serves the network; connections to an address of no (or a removed) pod
are reset too, as a real closed port would refuse them.

Each server behaves like a torch.compile'd vLLM server (see CompileProfile):
the first request of a new (batch, prompt-length) shape pays the compile time,
later ones are fast. Latencies are simulated seconds, slept through the clock's
time scale, without blocking other pods' requests. Faults can be injected per
pod: a latency regression (for the P99 alert), a wrong reply (for the
consistency check), a failing /health.

Endpoints: GET /health, GET /v1/models, POST /v1/completions,
POST /v1/chat/completions, GET /metrics (vLLM's metric names).
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import random
import socket
import struct
import threading
from typing import Any

import msgspec

from console.lazy_regex import LazyRegex
from console.sim.compile_profile import CompileProfile, Shape
from console.sim.vllm_metrics import ServerMetrics, render_metrics

MAX_BODY = 4 * 1024 * 1024
MAX_HEAD = 64 * 1024
_ROUTES = {"/health": ("GET",), "/v1/models": ("GET",), "/metrics": ("GET",),
           "/v1/completions": ("POST",), "/v1/chat/completions": ("POST",)}  # path -> methods
STREAM_STEPS = 8  # a streamed reply arrives in at most this many events after the first token
RATE_WINDOW_S = 10.0  # simulated seconds over which requests_per_s is measured
# Addresses per /24 usable for pods: last byte 1..254 (never .0 or .255).
_HOSTS_PER_24 = 254

_WORDS = ("the model answers that cluster nodes keep serving tokens while operators watch "
          "latency budgets and GPU memory stays within limits so every replica agrees on "
          "a stable reply for this prompt under a fixed seed which makes consistency checks "
          "simple to verify across blue and green deployments during switchover drills").split()


def default_clock():
    """A real-time simulation clock (time scale 1), when none is given."""
    from console.sim.clock import SimClock
    return SimClock(time_scale=1.0)


def wall_seconds(clock: Any, sim_s: float) -> float:
    """Real seconds to wait for `sim_s` simulated seconds on `clock`.

    A clock exposes its speed as `time_scale` (simulated seconds per real
    second); a frozen clock (SVG snapshots) never advances, so nothing waits.
    """
    if sim_s <= 0 or getattr(clock, "frozen", False):
        return 0.0
    scale = float(getattr(clock, "time_scale", 1.0) or 0.0)
    return sim_s / scale if scale > 0 else 0.0


class _Pod(msgspec.Struct, eq=False):
    ip: str
    name: str
    model: str
    node: str
    ready_at: float
    compiled: set[Shape] = msgspec.field(default_factory=set)
    compiling: dict[Shape, tuple[asyncio.Future, float]] = msgspec.field(default_factory=dict)
    compiles: int = 0     # compilations started (a request that finds one running waits for it)
    metrics: ServerMetrics | None = None
    running: int = 0
    waiting: int = 0
    kv_tokens: int = 0
    seq: int = 0
    done_times: collections.deque | None = None
    slots: asyncio.Semaphore | None = None
    background: int = 0  # requests in flight of the demo's synthetic traffic (record_background)
    # injected faults
    extra_latency_s: float = 0.0
    bad_reply: bool = False
    unhealthy: bool = False
    fail_after: int | None = None   # completions answered before every later one gets a 500 (/health stays 200)
    completions: int = 0            # answered or refused, in the server's life
    stopped: bool = False     # the server process is down: connections are reset
    colour: str | None = None  # the pod's dsconsole.io/colour label (blue-green), sent as X-Dsconsole-Colour


class ModelServerPool:
    """Simulated model servers of all pods behind one socket (see module doc)."""

    def __init__(self, profile: CompileProfile | None = None, clock: Any = None, *,
                 port: int = 0, bind: str = "0.0.0.0"):
        self.profile = profile or CompileProfile()
        self.clock = clock if clock is not None else default_clock()
        self._bind = bind
        self._port = port
        self._pods: dict[str, _Pod] = {}
        self._lock = threading.Lock()
        self._next_ip = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task] = set()  # requests in flight
        self._conns: set[_Connection] = set()   # open client connections (closed on stop)
        self._colour_faults: dict[str, dict[str, Any]] = {}  # colour -> faults its pods get (inject_colour_fault)

    # ---- lifecycle -------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    def start(self) -> None:
        if self._thread is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self._bind, self._port))
        sock.listen(4096)
        sock.setblocking(False)
        self._sock = sock
        self._port = sock.getsockname()[1]
        loop = self._loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._connection, sock=sock))
            except BaseException as e:  # pragma: no cover - reported to start()
                failure.append(e)
                started.set()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                self._server.close()
                for conn in list(self._conns):
                    conn.reset()
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="sim-model-servers", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._thread is None:
            return
        loop, thread = self._loop, self._thread
        self._thread = None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> ModelServerPool:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- pods ------------------------------------------------------------
    def allocate_ip(self) -> str:
        """A loopback address no pod of this pool uses: 127.a.b.c with a >= 1
        (127.0.0.x is left to the machine itself) and c in 1..254."""
        with self._lock:
            span = 254 * 256 * _HOSTS_PER_24
            for _ in range(span):
                n = self._next_ip % span
                self._next_ip += 1
                a = 1 + n // (256 * _HOSTS_PER_24)
                b = (n // _HOSTS_PER_24) % 256
                c = n % _HOSTS_PER_24 + 1
                ip = f"127.{a}.{b}.{c}"
                if ip not in self._pods:
                    return ip
        raise RuntimeError("no free loopback address left for a pod")

    def add(self, pod_ip: str, pod_name: str, model: str, node: str, *,
            load_s: float = 0.0, warm: bool = False, colour: str | None = None) -> None:
        """Start the server of a pod; /health turns 200 after `load_s` simulated
        seconds of model loading (0: at once). `warm`: every shape of the
        profile is already compiled, as after a completed compiled warmup (the
        demo site's initial, fully rolled-out pods); new pods start cold."""
        if not _is_loopback(pod_ip):
            raise ValueError(f"pod address {pod_ip!r} is not an address in 127.0.0.0/8")
        with self._lock:
            if pod_ip in self._pods:
                raise ValueError(f"pod address {pod_ip} is already used by {self._pods[pod_ip].name}")
            pod = _Pod(pod_ip, pod_name, model, node, ready_at=self.clock.now() + max(0.0, load_s))
            if warm:
                pod.compiled.update(self.profile.all_shapes())
            pod.colour = colour
            self._apply_faults(pod, self._colour_faults.get(colour or "", {}))
            self._pods[pod_ip] = pod

    def remove(self, pod_ip: str) -> None:
        with self._lock:
            self._pods.pop(pod_ip, None)

    def __len__(self) -> int:
        return len(self._pods)

    def __contains__(self, pod_ip: str) -> bool:
        return pod_ip in self._pods

    def url(self, pod_ip: str) -> str:
        return f"http://{pod_ip}:{self._port}"

    def healthy(self, pod_ip: str) -> bool:
        """What GET /health of the pod answers, without a request: True for 200."""
        pod = self._pods.get(pod_ip)
        return pod is not None and self._is_healthy(pod)

    def load(self, pod_ip: str) -> dict[str, float]:
        """Current load of a pod's server, for the GPU fleet's utilisation:
        requests_running, requests_waiting, requests_per_s (completions per
        simulated second over the last RATE_WINDOW_S)."""
        pod = self._pods.get(pod_ip)
        if pod is None:
            return {"requests_running": 0, "requests_waiting": 0, "requests_per_s": 0.0}
        rate = 0.0
        if pod.done_times is not None:
            horizon = self.clock.now() - RATE_WINDOW_S
            times = pod.done_times
            try:
                while times and times[0] < horizon:
                    times.popleft()
            except IndexError:  # emptied by the server thread meanwhile
                pass
            rate = len(times) / RATE_WINDOW_S
        return {"requests_running": pod.running + pod.background, "requests_waiting": pod.waiting,
                "requests_per_s": rate}

    def addresses(self, model: str | None = None) -> dict[str, str]:
        """pod address -> pod name, of every server (of `model` only, if given)."""
        return {ip: pod.name for ip, pod in list(self._pods.items()) if model is None or pod.model == model}

    def record_background(self, pod_ip: str, running: int, completed: int, *, prompt_tokens: int,
                          max_tokens: int, key: str, span_s: float = 0.0) -> None:
        """Synthetic traffic without sockets (console/sim/demo_traffic.py): `running`
        requests in flight now, and `completed` requests of `prompt_tokens` ->
        `max_tokens` that finished over the last `span_s` simulated seconds, recorded in the metrics and
        the request rate as served requests are (their latency: the compiled
        shape's, plus any injected latency). Applied on the server thread, where
        served requests are recorded, so no counter is updated from two threads."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._record_background, pod_ip, running, completed,
                                      prompt_tokens, max_tokens, key, span_s)
        except RuntimeError:  # the pool stopped meanwhile
            pass

    def _record_background(self, pod_ip: str, running: int, completed: int, prompt_tokens: int,
                           max_tokens: int, key: str, span_s: float) -> None:
        pod = self._pods.get(pod_ip)
        if pod is None:
            return
        pod.background = max(0, running)
        if completed <= 0:
            return
        if pod.metrics is None:
            pod.metrics = ServerMetrics()
        if pod.done_times is None:
            pod.done_times = collections.deque()
        shape = self.profile.shape(1, prompt_tokens)
        now = self.clock.now()
        step = max(0.0, span_s) / completed
        for i in range(completed):
            ttft, e2e = self.profile.fast_timing(shape, max_tokens, f"{key}/{i}")
            pod.metrics.record(prompt_tokens=prompt_tokens, generation_tokens=max_tokens,
                               finish_reason="length", ttft_s=ttft + pod.extra_latency_s,
                               e2e_s=e2e + pod.extra_latency_s)
            pod.done_times.append(now - (completed - 1 - i) * step)  # spread over the span

    def compiled_shapes(self, pod_ip: str) -> set[Shape]:
        pod = self._pods.get(pod_ip)
        return set(pod.compiled) if pod else set()

    def compile_count(self, pod_ip: str) -> int:
        """How many compilations the pod's server started."""
        pod = self._pods.get(pod_ip)
        return pod.compiles if pod else 0

    # ---- fault injection ---------------------------------------------------
    def inject_latency(self, pod_ip: str, extra_s: float) -> None:
        """Add `extra_s` simulated seconds to every request of the pod (0 clears)."""
        self._pod(pod_ip).extra_latency_s = max(0.0, float(extra_s))

    def inject_bad_reply(self, pod_ip: str, bad: bool = True) -> None:
        """Make the pod's completions differ from every other replica's."""
        self._pod(pod_ip).bad_reply = bad

    def set_unhealthy(self, pod_ip: str, unhealthy: bool = True) -> None:
        """Make /health answer 503 (and completions fail) while set."""
        self._pod(pod_ip).unhealthy = unhealthy

    def inject_colour_fault(self, colour: str, *, latency_s: float = 0.0, bad_reply: bool = False,
                            unhealthy: bool = False, fail_after: int | None = None) -> list[str]:
        """The faults above on every pod of a blue-green colour, now and on
        the colour's pods started later (the wizard creates green after the
        fault is set); all false/0/None clears them. `fail_after`: the server
        answers that many completions, then 500 to every one (its /health
        stays 200: a server that fails real prompts only). The addresses it
        applies to now."""
        faults = {"extra_latency_s": max(0.0, float(latency_s)), "bad_reply": bad_reply, "unhealthy": unhealthy,
                  "fail_after": fail_after}
        with self._lock:
            self._colour_faults[colour] = faults
            pods = [p for p in self._pods.values() if p.colour == colour]
            for pod in pods:
                self._apply_faults(pod, faults)
        return [p.ip for p in pods]

    @staticmethod
    def _apply_faults(pod: _Pod, faults: dict[str, Any]) -> None:
        for name, value in faults.items():
            setattr(pod, name, value)

    def colour(self, pod_ip: str) -> str | None:
        pod = self._pods.get(pod_ip)
        return pod.colour if pod else None

    def stop_server(self, pod_ip: str) -> None:
        """The pod's server process dies: open connections and new ones are
        reset (RST), as a port nobody listens on answers; start_server undoes it."""
        self._pod(pod_ip).stopped = True
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._reset_connections, pod_ip)

    def start_server(self, pod_ip: str) -> None:
        self._pod(pod_ip).stopped = False

    def refuses(self, address: str) -> bool:
        """Whether a connection to `address` (ip:port) would be refused: no
        server there, or it is stopped (the demo balancer asks: lb_proxy.py)."""
        ip, _, port = address.rpartition(":")
        pod = self._pods.get(ip)
        return pod is None or pod.stopped or port != str(self._port)

    def _reset_connections(self, pod_ip: str) -> None:
        for conn in list(self._conns):
            if conn.dest == pod_ip:
                conn.reset()

    def clear_faults(self, pod_ip: str) -> None:
        pod = self._pod(pod_ip)
        pod.extra_latency_s, pod.bad_reply, pod.unhealthy, pod.fail_after = 0.0, False, False, None

    def _pod(self, pod_ip: str) -> _Pod:
        pod = self._pods.get(pod_ip)
        if pod is None:
            raise KeyError(f"no model server at {pod_ip}")
        return pod

    def _is_healthy(self, pod: _Pod) -> bool:
        return not pod.unhealthy and self.clock.now() >= pod.ready_at

    # ---- HTTP ----------------------------------------------------------------
    def _connection(self) -> _Connection:
        return _Connection(self)

    def _route(self, pod: _Pod, method: str, path: str, body: bytes):
        """The response (status, body, content type) of a request, or a coroutine
        producing it for the requests that take simulated time (completions)."""
        allowed = _ROUTES.get(path)
        if allowed is None:
            return 404, b'{"detail":"Not Found"}', "application/json"
        if method not in allowed and not (method == "HEAD" and "GET" in allowed):
            return 405, b'{"detail":"Method Not Allowed"}', "application/json"
        if path == "/health":
            return (200, b"", "text/plain") if self._is_healthy(pod) else \
                (503, b'{"detail":"model is loading or unhealthy"}', "application/json")
        if path == "/metrics":
            text = render_metrics(pod.model, pod.metrics, running=pod.running + pod.background,
                                  waiting=pod.waiting,
                                  cache_usage=min(1.0, pod.kv_tokens / self.profile.kv_cache_tokens))
            return 200, text.encode(), "text/plain; version=0.0.4; charset=utf-8"
        if not self._is_healthy(pod):
            return _error(503, "The model server is loading or unhealthy.", "ServiceUnavailableError")
        if path == "/v1/models":
            now = int(self.clock.now())
            return 200, _json({"object": "list", "data": [{
                "id": pod.model, "object": "model", "created": now, "owned_by": "vllm",
                "root": pod.model, "parent": None, "max_model_len": self.profile.max_model_len}]}), \
                "application/json"
        pod.completions += 1
        if pod.fail_after is not None and pod.completions > pod.fail_after:
            return _error(500, "Internal server error (injected fault)", "InternalServerError")
        return self._complete(pod, body, chat=path == "/v1/chat/completions")

    async def _complete(self, pod: _Pod, body: bytes, *, chat: bool):
        """A (status, body, content type) answer, or for stream=true an async
        iterator of server-sent events (bytes) to send as they come."""
        try:
            req = json.loads(body or b"null")
            if not isinstance(req, dict):
                raise ValueError("the body must be a JSON object")
            model = req.get("model", pod.model)
            if model != pod.model:
                return _error(404, f"The model `{model}` does not exist.", "NotFoundError", param="model")
            prompts = _prompts(req, chat)
            max_tokens = req.get("max_tokens", 16)
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or not 1 <= max_tokens <= 8192:
                raise ValueError("max_tokens must be an integer between 1 and 8192")
            seed = req.get("seed", 0)
            stream = bool(req.get("stream"))
            usage_in_stream = bool((req.get("stream_options") or {}).get("include_usage")) \
                if isinstance(req.get("stream_options"), dict) else False
            prompt_tokens = [_count_tokens(p) for p in prompts]
            shape = self.profile.shape(len(prompts), max(prompt_tokens))
        except ValueError as e:  # also json.JSONDecodeError
            return _error(400, str(e), "BadRequestError")

        salt = "fault" if pod.bad_reply else ""
        words = [_generate(pod.model, p, seed, max_tokens, salt) for p in prompts]
        pod.seq += 1
        rid = hashlib.blake2b(f"{pod.ip}/{pod.seq}".encode(), digest_size=12).hexdigest()
        rid = f"chatcmpl-{rid}" if chat else f"cmpl-{rid}"
        usage = {"prompt_tokens": sum(prompt_tokens), "completion_tokens": max_tokens * len(prompts),
                 "total_tokens": sum(prompt_tokens) + max_tokens * len(prompts)}
        run = self._run(pod, prompt_tokens, shape, max_tokens, stream, f"{pod.name}/{pod.seq}")
        if stream:
            return self._events(pod, run, rid, chat, words, usage if usage_in_stream else None)
        async for _ in run:
            pass
        if self._pods.get(pod.ip) is not pod:  # removed while the request ran
            return _error(503, "The model server was stopped.", "ServiceUnavailableError")
        texts = ["".join(w) for w in words]
        created = int(self.clock.now())
        if chat:
            choices = [{"index": i, "message": {"role": "assistant", "content": t},
                        "logprobs": None, "finish_reason": "length"} for i, t in enumerate(texts)]
            resp = {"id": rid, "object": "chat.completion", "created": created,
                    "model": pod.model, "choices": choices, "usage": usage}
        else:
            choices = [{"index": i, "text": t, "logprobs": None, "finish_reason": "length",
                        "stop_reason": None} for i, t in enumerate(texts)]
            resp = {"id": rid, "object": "text_completion", "created": created,
                    "model": pod.model, "choices": choices, "usage": usage}
        return 200, _json(resp), "application/json"

    async def _run(self, pod: _Pod, prompt_tokens: list[int], shape: Shape, max_tokens: int,
                   stream: bool, key: str):
        """Spend a request's simulated time; yields how many tokens are out so far
        (streaming: first at the time to first token, then in a few steps;
        otherwise once at the end) and records the request in the metrics."""
        pod.waiting += 1
        if pod.slots is None:
            pod.slots = asyncio.Semaphore(self.profile.max_running)
        async with pod.slots:
            pod.waiting -= 1
            pod.running += 1
            kv = sum(prompt_tokens) + max_tokens * len(prompt_tokens)
            pod.kv_tokens += kv
            try:
                compile_s = await self._ensure_compiled(pod, shape)
                ttft, e2e = self.profile.fast_timing(shape, max_tokens, key)
                ttft += pod.extra_latency_s
                e2e += pod.extra_latency_s
                if stream:
                    await asyncio.sleep(wall_seconds(self.clock, ttft))
                    yield 1
                    steps = min(STREAM_STEPS, max_tokens - 1)
                    for k in range(1, steps + 1):
                        await asyncio.sleep(wall_seconds(self.clock, (e2e - ttft) / steps))
                        yield 1 + (max_tokens - 1) * k // steps
                else:
                    await asyncio.sleep(wall_seconds(self.clock, e2e))
                    yield max_tokens
            finally:
                pod.running -= 1
                pod.kv_tokens -= kv
        if pod.metrics is None:
            pod.metrics = ServerMetrics()
        for n in prompt_tokens:
            pod.metrics.record(prompt_tokens=n, generation_tokens=max_tokens, finish_reason="length",
                               ttft_s=compile_s + ttft, e2e_s=compile_s + e2e)
        if pod.done_times is None:
            pod.done_times = collections.deque()
        pod.done_times.append(self.clock.now())

    async def _events(self, pod: _Pod, run, rid: str, chat: bool, words: list[list[str]],
                      usage: dict | None):
        """Server-sent events of a streamed completion, as vLLM sends them."""
        created = int(self.clock.now())
        kind = "chat.completion.chunk" if chat else "text_completion"

        def event(choices: list[dict], **extra) -> bytes:
            return b"data: " + _json({"id": rid, "object": kind, "created": created, "model": pod.model,
                                      "choices": choices, **extra}) + b"\n\n"

        if chat:
            yield event([{"index": i, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                          "finish_reason": None} for i in range(len(words))])
        sent = 0
        async for out in run:
            last = out == len(words[0])
            choices = []
            for i, w in enumerate(words):
                piece = "".join(w[sent:out])
                reason = "length" if last else None
                choices.append({"index": i, "delta": {"content": piece}, "logprobs": None,
                                "finish_reason": reason} if chat else
                               {"index": i, "text": piece, "logprobs": None, "finish_reason": reason,
                                "stop_reason": None})
            sent = out
            yield event(choices)
        if usage is not None:
            yield event([], usage=usage)
        yield b"data: [DONE]\n\n"

    async def _ensure_compiled(self, pod: _Pod, shape: Shape) -> float:
        """Wait until `shape` is compiled on the pod; the simulated seconds waited."""
        if shape in pod.compiled:
            return 0.0
        pending = pod.compiling.get(shape)
        if pending is not None:  # another request is compiling this shape: wait for it
            fut, done_at = pending
            waited = max(0.0, done_at - self.clock.now())
            await asyncio.shield(fut)
            return waited
        fut = asyncio.get_running_loop().create_future()
        compile_s = self.profile.compile_s
        pod.compiling[shape] = (fut, self.clock.now() + compile_s)
        pod.compiles += 1
        try:
            await asyncio.sleep(wall_seconds(self.clock, compile_s))
            pod.compiled.add(shape)
        finally:
            pod.compiling.pop(shape, None)
            if not fut.done():
                fut.set_result(None)
        return compile_s


# ---- helpers --------------------------------------------------------------------
_LOOPBACK_RE = LazyRegex(r"127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def _is_loopback(ip: str) -> bool:
    # cheaper than ipaddress.ip_address() for the 20,000 pods of a big demo site
    m = _LOOPBACK_RE.fullmatch(ip)
    return m is not None and max(map(int, m.groups())) <= 255


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(lines[0])
    headers = {}
    for line in lines[1:]:
        if line:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(line)
            headers[name.strip().lower()] = value.strip()
    return parts[0], parts[1], parts[2], headers


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            413: "Payload Too Large", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 503: "Service Unavailable"}


def _colour_header(pod: _Pod) -> str:
    """The header telling a balancer's client which colour answered."""
    return f"x-dsconsole-colour: {pod.colour}\r\n" if pod.colour else ""


def _response(status: int, payload: bytes, ctype: str = "application/json", *, close: bool = False,
              head_only: bool = False, extra: str = "") -> bytes:
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"server: dsconsole-sim\r\ncontent-type: {ctype}\r\ncontent-length: {len(payload)}\r\n{extra}"
            f"{'connection: close' + chr(13) + chr(10) if close else ''}\r\n")
    return head.encode() + (b"" if head_only else payload)


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 with keep-alive, routed to the pod whose
    address it was made to. Quick answers (/health, /metrics, /v1/models) are
    written from data_received without a task; completions run as a task, and
    the connection reads its next request only when that one is answered."""

    def __init__(self, pool: ModelServerPool):
        self.pool = pool
        self.buf = bytearray()
        self.dest = ""
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.pool._conns.add(self)
        sockname = transport.get_extra_info("sockname")
        self.dest = sockname[0] if sockname else ""
        pod = self.pool._pods.get(self.dest)
        if not self.dest.startswith("127.") or pod is None or pod.stopped:
            self.reset()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self.process()

    def connection_lost(self, exc) -> None:
        self.transport = None
        self.pool._conns.discard(self)

    def reset(self) -> None:
        """Close with RST, as a port nobody listens on would answer."""
        t = self.transport
        if t is None:
            return
        sock = t.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, AttributeError):
            pass
        t.abort()
        self.transport = None

    def send(self, data: bytes, close: bool) -> None:
        if self.transport is None:
            return
        self.transport.write(data)
        if close:
            self.transport.close()
            self.transport = None

    def process(self) -> None:
        while self.transport is not None and not self.busy:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    self.send(_response(431, b'{"detail":"Request Header Fields Too Large"}', close=True), True)
                return
            try:
                method, path, version, headers = _parse_head(bytes(self.buf[:end + 4]))
                length = int(headers.get("content-length", "0") or 0)
            except ValueError:
                self.send(_response(400, b'{"detail":"Bad Request"}', close=True), True)
                return
            if length > MAX_BODY or "chunked" in headers.get("transfer-encoding", "") or length < 0:
                self.send(_response(413, b'{"detail":"Request body too large or chunked"}', close=True), True)
                return
            if len(self.buf) < end + 4 + length:
                return  # the rest of the body is still coming
            body = bytes(self.buf[end + 4:end + 4 + length])
            del self.buf[:end + 4 + length]
            conn = headers.get("connection", "").lower()
            close = conn == "close" or (version == "HTTP/1.0" and conn != "keep-alive")
            pod = self.pool._pods.get(self.dest)
            if pod is None or pod.stopped:  # removed or stopped while the connection was open
                self.reset()
                return
            result = self.pool._route(pod, method, path.split("?", 1)[0], body)
            if isinstance(result, tuple):
                status, payload, ctype = result
                self.send(_response(status, payload, ctype, close=close, head_only=method == "HEAD",
                                    extra=_colour_header(pod)), close)
            else:
                self.busy = True
                task = asyncio.ensure_future(self.finish(result, close, _colour_header(pod)))
                # the loop keeps only weak references to tasks: hold it until done
                self.pool._tasks.add(task)
                task.add_done_callback(self.pool._tasks.discard)

    async def finish(self, coro, close: bool, extra: str = "") -> None:
        try:
            result = await coro
            if isinstance(result, tuple):
                status, payload, ctype = result
                self.send(_response(status, payload, ctype, close=close, extra=extra), close)
            else:  # server-sent events, chunked
                self.send(b"HTTP/1.1 200 OK\r\nserver: dsconsole-sim\r\ncontent-type: text/event-stream; "
                          b"charset=utf-8\r\ntransfer-encoding: chunked\r\n" + extra.encode()
                          + (b"connection: close\r\n" if close else b"") + b"\r\n", False)
                async for event in result:
                    self.send(b"%x\r\n%s\r\n" % (len(event), event), False)
                self.send(b"0\r\n\r\n", close)
        except Exception as e:  # noqa: BLE001 - a simulator bug must not kill the loop
            status, payload, ctype = _error(500, f"{type(e).__name__}: {e}", "InternalServerError")
            self.send(_response(status, payload, ctype, close=True), True)
        self.busy = False
        self.process()


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error(status: int, message: str, kind: str, param: str | None = None) -> tuple[int, bytes, str]:
    # vLLM's OpenAI-compatible error object
    return status, _json({"object": "error", "message": message, "type": kind, "param": param,
                          "code": status}), "application/json"


def _prompts(req: dict, chat: bool) -> list[str]:
    if chat:
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages or not all(
                isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages):
            raise ValueError("messages must be a non-empty list of {role, content} objects")
        return ["\n".join(f"{m.get('role', 'user')}: {m['content']}" for m in messages)]
    prompt = req.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return prompt
    raise ValueError("prompt must be a string or a non-empty list of strings")


def _count_tokens(text: str) -> int:
    # About 4 bytes per token, as BPE tokenizers average on English text.
    return max(1, (len(text.encode()) + 3) // 4)


def _generate(model: str, prompt: str, seed: Any, max_tokens: int, salt: str) -> list[str]:
    """The tokens of the reply: the same for the same model, prompt, seed and
    length on every replica (what the console's consistency check relies on)."""
    digest = hashlib.sha256(f"{model}\0{seed}\0{salt}\0{max_tokens}\0{prompt}".encode()).digest()
    rng = random.Random(digest)
    return [" " + rng.choice(_WORDS) for _ in range(max_tokens)]
