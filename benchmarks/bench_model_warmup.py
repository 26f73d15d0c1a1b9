"""Prints the compiled-warmup figures of the torch reference server
(tests/refserver/): per shape, the first and the settled latency and the
speed-up; the total warmup time; and compiled vs eager throughput on the same
shapes, measured side by side in one run (two servers, one compiled, one
eager, asked in turn). On CPU unless a GPU is there (--device cuda).

    python3 benchmarks/bench_model_warmup.py [--shapes 1x32,4x32,1x128] [--requests 20] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from actions.model_load.warmup import SettleRule, completion, warm_endpoint  # noqa: E402
from tests.refserver.server import MODEL_ID, serve  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="1x32,4x32,1x128,4x128")
    ap.add_argument("--requests", type=int, default=20, help="timed requests per shape for throughput")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    shapes = [tuple(int(x) for x in s.split("x")) for s in a.shapes.split(",")]
    compiled, eager = serve(0, True, a.device), serve(0, False, a.device)
    cport, eport = compiled.server_address[1], eager.server_address[1]
    import torch
    print(f"torch {torch.__version__}, device {a.device}, threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}")
    t0 = time.perf_counter()
    reports = warm_endpoint("127.0.0.1", cport, MODEL_ID, shapes, SettleRule(3, 10.0, 40))
    total = time.perf_counter() - t0
    print("\nwarmup of the compiled server (settle rule: last 3 within 10 % or 5 ms)")
    for r in reports:
        print("  " + r.line() + f"  ({len(r.latencies)} requests)")
    print(f"  total warmup: {total:.1f} s")
    for b, p in shapes:          # the eager server's first request is not a compile: warm it the same way
        completion("127.0.0.1", eport, MODEL_ID, b, p)
    print(f"\nthroughput, compiled vs eager, {a.requests} requests per shape, alternating (tokens/s of prompt)")
    print(f"  {'shape':>12} {'compiled':>12} {'eager':>12} {'ratio':>7}")
    for b, p in shapes:
        tc = te = 0.0
        for _ in range(a.requests):
            tc += completion("127.0.0.1", cport, MODEL_ID, b, p)
            te += completion("127.0.0.1", eport, MODEL_ID, b, p)
        rc, re_ = b * p * a.requests / tc, b * p * a.requests / te
        print(f"  {f'{b}x{p}':>12} {rc:12,.0f} {re_:12,.0f} {rc / re_:7.2f}")
    compiled.shutdown()
    eager.shutdown()


if __name__ == "__main__":
    main()
