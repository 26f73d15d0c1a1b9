"""A tiny reference model server for the warmup tests: a small transformer
built with torch, wrapped in torch.compile, served over HTTP with the
OpenAI-compatible endpoints the wizard uses (/health, /v1/models,
/v1/completions, /metrics with inductor's compile-cache counters).
torch.compile specialises on input shapes
(dynamic=False), so the first request of a (batch, prompt-length) shape
really compiles and is much slower than the next ones, as on vLLM.

Tokens are counted like the servers the console talks to: about 4 bytes a
token; a prompt is padded or cut to exactly that many byte-tokens.

    python3 -m tests.refserver.server --port 0 [--eager]   # prints "ready http://127.0.0.1:PORT"
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import torch
from torch import nn

MODEL_ID = "ref-tiny"
VOCAB = 256


class TinyTransformer(nn.Module):
    def __init__(self, d: int = 64, layers: int = 2, heads: int = 4, max_len: int = 4096):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(max_len, d)
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, batch_first=True, dropout=0.0)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, VOCAB)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.head(self.blocks(self.embed(ids) + self.pos(pos)))[:, -1, :]


class Engine:
    def __init__(self, compiled: bool = True, device: str = "cpu", threads: int = 1):
        torch.manual_seed(0)
        if device == "cpu":
            torch.set_num_threads(threads)   # a small model gains nothing from more; less noise
        self.device = device
        self.model = TinyTransformer().to(device).eval()
        # one graph per shape, as vLLM's compiled buckets: no dynamic shapes
        self.forward = torch.compile(self.model, dynamic=False) if compiled else self.model
        self.lock = threading.Lock()      # one batch at a time, like one GPU
        self.requests = 0
        self.latency_sum = 0.0

    def complete(self, prompts: list[str], max_tokens: int) -> list[str]:
        n = max(1, max((len(p.encode()) + 3) // 4 for p in prompts))
        rows = [list(p.encode()[:n].ljust(n, b" ")) for p in prompts]
        ids = torch.tensor(rows, dtype=torch.long, device=self.device)
        out: list[list[int]] = [[] for _ in prompts]
        t0 = time.perf_counter()
        with self.lock, torch.inference_mode():
            for _ in range(max_tokens):
                nxt = self.forward(ids).argmax(-1)
                for i, t in enumerate(nxt.tolist()):
                    out[i].append(t)
                ids = torch.cat([ids[:, 1:], nxt[:, None]], dim=1)   # same shape every step
        self.requests += 1
        self.latency_sum += time.perf_counter() - t0
        return [bytes(x % 94 + 32 for x in o).decode() for o in out]


def compile_cache_counts() -> tuple[int, int]:
    """(graphs inductor loaded from its FX-graph cache, graphs it compiled) in
    this process: torch's own counters. The cache lives in
    TORCHINDUCTOR_CACHE_DIR, so a restarted server with the same directory
    loads what an earlier one compiled."""
    from torch._dynamo.utils import counters
    c = counters["inductor"]
    return int(c["fxgraph_cache_hit"]), int(c["fxgraph_cache_miss"])


class Handler(BaseHTTPRequestHandler):
    engine: Engine

    def log_message(self, *a):
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self._send(200, b"")
        elif self.path == "/v1/models":
            self._send(200, json.dumps({"object": "list", "data": [{"id": MODEL_ID, "object": "model"}]}).encode())
        elif self.path == "/metrics":
            e = self.engine
            hits, misses = compile_cache_counts()
            self._send(200, (f"vllm:e2e_request_latency_seconds_count {e.requests}\n"
                             f"vllm:e2e_request_latency_seconds_sum {e.latency_sum}\n"
                             "# HELP inductor_fxgraph_cache_hits_total compiled graphs loaded from the cache\n"
                             "# TYPE inductor_fxgraph_cache_hits_total counter\n"
                             f"inductor_fxgraph_cache_hits_total {hits}\n"
                             "# HELP inductor_fxgraph_cache_misses_total graphs compiled (not in the cache)\n"
                             "# TYPE inductor_fxgraph_cache_misses_total counter\n"
                             f"inductor_fxgraph_cache_misses_total {misses}\n").encode(), "text/plain")
        else:
            self._send(404, b'{"error":"not found"}')

    def do_POST(self):
        if self.path != "/v1/completions":
            self._send(404, b'{"error":"not found"}')
            return
        try:
            req = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            prompts = req["prompt"] if isinstance(req["prompt"], list) else [req["prompt"]]
            max_tokens = int(req.get("max_tokens", 4))
        except (ValueError, KeyError, TypeError) as e:
            self._send(400, json.dumps({"error": str(e)}).encode())
            return
        texts = self.engine.complete(prompts, max_tokens)
        self._send(200, json.dumps({"object": "text_completion", "model": MODEL_ID,
                                    "choices": [{"index": i, "text": t, "finish_reason": "length"}
                                                for i, t in enumerate(texts)]}).encode())


def serve(port: int = 0, compiled: bool = True, device: str = "cpu") -> ThreadingHTTPServer:
    handler = type("H", (Handler,), {"engine": Engine(compiled, device)})
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def spawn(cache_dir: str, compiled: bool = True, timeout: float = 120.0):
    """The server in a process of its own whose inductor cache is `cache_dir`
    (a restart with the same directory finds the graphs an earlier one
    compiled): (Popen, port). Stop it with .terminate()."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache_dir, TRITON_CACHE_DIR=os.path.join(cache_dir, "triton"),
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "tests.refserver.server", "--port", "0", "--device", "cpu",
                             *(() if compiled else ("--eager",))], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=root)
    import selectors
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        proc.kill()
        raise RuntimeError(f"reference server did not start within {timeout:g} s")
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        raise RuntimeError(f"reference server did not start: {line!r}")
    return proc, int(line.rsplit(":", 1)[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--eager", action="store_true")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args()
    srv = serve(a.port, not a.eager, a.device)
    print(f"ready http://127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.shutdown()


if __name__ == "__main__":
    main()
