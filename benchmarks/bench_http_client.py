"""CPU per request of console/http1.py's client, as the model-server probes use
it (one connection per request, a small JSON answer), and per request on a
kept-alive connection (the ClusterCache's heartbeat and gets).

A server subprocess answers every request on loopback with a fixed ~300-byte
JSON body; a client subprocess per measurement imports console.http1 from the
tree given (this one, and --compare-tree's, alternating in one run) and makes
--requests requests, reporting its own CPU time. Figures only; nothing is
asserted.

    python3 benchmarks/bench_http_client.py [--requests 3000] [--runs 5] [--compare-tree DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = r"""
import socket, threading
body = b'{"object":"list","data":[{"id":"deepseek-v3","object":"model","owned_by":"vllm","max_model_len":131072,'\
       b'"root":"/models/deepseek-v3","permission":[]}],"note":"' + b"x" * 120 + b'"}'
head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
srv = socket.create_server(("127.0.0.1", 0), backlog=512)
print(srv.getsockname()[1], flush=True)
def serve(c):
    with c:
        f = c.makefile("rb")
        while True:
            close = False
            while True:
                line = f.readline(65536)
                if not line:
                    return
                if line.lower().startswith(b"connection: close"):
                    close = True
                if line in (b"\r\n", b"\n"):
                    break
            c.sendall(head + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)
            if close:
                return
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

CLIENT = r"""
import json, sys, time
from console import http1
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = {"Accept": "*/*", "User-Agent": "dsconsole"}
t0 = time.process_time()
if mode == "probe":                       # model_probe.request: a connection per request
    for _ in range(n):
        conn = http1.Connection("127.0.0.1", port, timeout=5)
        conn.connect()
        conn.request("GET", "/v1/models", {**headers, "Connection": "close"})
        resp = conn.getresponse()
        assert resp.status == 200 and len(resp.read()) > 100
        conn.close()
else:                                     # kept alive: one connection for all
    conn = http1.Connection("127.0.0.1", port, timeout=5)
    for _ in range(n):
        conn.request("GET", "/version", headers)
        resp = conn.getresponse()
        assert resp.status == 200 and len(resp.read()) > 100
    conn.close()
print(json.dumps({"cpu_us": (time.process_time() - t0) / n * 1e6, "file": http1.__file__}))
"""


def measure(tree: Path, port: int, n: int, mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", CLIENT, str(port), str(n), mode], cwd=tree, text=True,
                         capture_output=True, env={**os.environ, "PYTHONPATH": str(tree)}, timeout=600)
    if out.returncode:
        sys.exit(f"client failed ({tree}): {out.stderr[-2000:]}")
    return json.loads(out.stdout)["cpu_us"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--compare-tree", metavar="DIR", type=Path)
    a = ap.parse_args()
    trees = [ROOT] + ([a.compare_tree.resolve()] if a.compare_tree else [])
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        figures: dict[tuple[Path, str], list[float]] = {(t, m): [] for t in trees for m in ("probe", "keep-alive")}
        for i in range(a.runs):
            for mode in ("probe", "keep-alive"):
                for tree in trees:
                    figures[(tree, mode)].append(measure(tree, port, a.requests, mode))
            print(f"run {i + 1}: " + " | ".join(f"{t.name} {m} {v[-1]:.0f} us" for (t, m), v in figures.items()))
        print(f"\nclient CPU per request, median of {a.runs} alternating runs of {a.requests} requests:")
        for (tree, mode), values in figures.items():
            print(f"  {str(tree):<40} {mode:<11} {statistics.median(values):6.0f} us")
        with open("/proc/loadavg") as f:
            print(f"(load average at the end: {f.read().split()[0]})")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
