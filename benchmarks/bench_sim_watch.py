#!/usr/bin/env python3
"""Watch fan-out of the simulated API server: pod changes made inside the
simulator at a target rate, streamed to several watchers (separate
processes reading /api/v1/pods?watch=1 over HTTP, as a client would).
Also times a full chunked list of all pods (limit=500 + continue, raw bytes,
keep-alive) against the same site. Prints figures; asserts nothing.

    python3 benchmarks/bench_sim_watch.py [--nodes 2000] [--rate 500] [--watchers 4] [--seconds 10]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WATCHER = r"""
import http.client, sys, time
port, rv, seconds, expected = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port)
c.request("GET", f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds={int(seconds) + 30}")
r = c.getresponse()
print("started", flush=True)
n, first, last = 0, None, None
deadline = None
while True:
    line = r.readline()
    if not line:
        break
    n += 1
    now = time.monotonic()
    first = first or now
    last = now
    if n == 1:
        deadline = now + seconds + 10
    if n >= expected or now > deadline:
        break
print(n, (last - first) if first else 0.0, flush=True)
"""


LISTER = r"""
import http.client, json, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
t = time.perf_counter()
token, items, nbytes, parse = "", 0, 0, 0.0
while True:
    c.request("GET", "/api/v1/pods?limit=500" + (f"&continue={token}" if token else ""))
    body = c.getresponse().read()
    nbytes += len(body)
    t1 = time.perf_counter()
    doc = json.loads(body)
    parse += time.perf_counter() - t1
    items += len(doc["items"])
    token = doc["metadata"].get("continue")
    if not token:
        break
print(time.perf_counter() - t, parse, items, nbytes)
"""


def chunked_list(port: int) -> tuple[float, float, int, int]:
    """In a separate process (a client does not share the server's GIL)."""
    out = subprocess.run([sys.executable, "-c", LISTER, str(port)], capture_output=True, text=True,
                         timeout=300).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=500.0, help="pod changes per second")
    ap.add_argument("--watchers", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()

    from console.sim.churn import PodChurn
    from console.sim.demo_site import start_demo_site

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        site = start_demo_site(nodes=a.nodes, kubeconfig=Path(tmp) / "kubeconfig", model_load_s=60)
        ready_s = time.perf_counter() - t0
        try:
            port = site.server.port
            n_pods = site.store.count("pods")
            print(f"bench_sim_watch: {a.nodes} nodes, {n_pods} pods; site started in process in {ready_s:.2f}s")
            for i in range(2):
                secs, parse, items, nbytes = chunked_list(port)
                print(f"  full chunked list #{i + 1} (limit=500 + continue, keep-alive): {items} pods, "
                      f"{nbytes / 1e6:.1f} MB in {secs:.2f}s (of which the client's json.loads {parse:.2f}s)")
            rv = str(site.store.resource_version)
            expected = int(a.rate * a.seconds)
            procs = [subprocess.Popen([sys.executable, "-c", WATCHER, str(port), rv, str(a.seconds), str(expected)],
                                      stdout=subprocess.PIPE, text=True) for _ in range(a.watchers)]
            for p in procs:
                p.stdout.readline()
            # the simulator's own churn generator, over every pod
            churn = PodChurn(site.store, a.rate).start()
            time.sleep(a.seconds)
            churn.stop()
            write_s = time.monotonic() - churn.started_at
            total = churn.changed
            print(f"  writes: {total} pod changes in {write_s:.2f}s = {total / write_s:.0f}/s")
            for k, p in enumerate(procs):
                try:
                    out = p.communicate(timeout=a.seconds + 30)[0].split()
                except subprocess.TimeoutExpired:
                    p.kill()
                    out = p.communicate()[0].split()
                got, span = (int(out[0]), float(out[1])) if len(out) >= 2 else (0, 0.0)
                rate = got / span if span else 0.0
                print(f"  watcher {k + 1}: {got} events ({got * 100 / total:.0f}% of the changes) "
                      f"at {rate:.0f}/s")
        finally:
            site.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
