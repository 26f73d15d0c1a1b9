"""Prints the model-load wizard's wall time on the demo site from apply to
all pods warm, for 3 and for 30 replicas (the 14B distill, one GPU each),
pods warmed in parallel (at most --parallel at once), in one run.

    python3 benchmarks/bench_model_load.py [--replicas 3,30] [--parallel 4] [--time-scale 40]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--replicas", default="3,30")
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--time-scale", type=float, default=40.0)
    a = ap.parse_args()
    os.environ.setdefault("XDG_STATE_HOME", tempfile.mkdtemp(prefix="bench-model-"))
    from actions.model_load.spec import spec_for
    from actions.plan import CLUSTER, build_plan
    from actions.runner import Runner
    from console.kube.client import KubeHttp
    from console.kube.kubeconfig import resolve
    from console.sim.demo_site import start_demo_site
    print(f"demo site: model load 60 simulated s at time scale {a.time_scale:g} "
          f"({60 / a.time_scale:.1f} s real), warmup {a.parallel} pods at once, cpus {os.cpu_count()}")
    print(f"  {'replicas':>8} {'apply->all ready':>17} {'warmup':>9} {'total':>9}")
    for n in (int(x) for x in a.replicas.split(",")):
        # one node for the demo's own 671B replica (and its 14B pods beside it)
        nodes = max(2, (n + 7) // 8 + 2)
        with start_demo_site(nodes=nodes, gpus_per_node=8, replicas=1, time_scale=a.time_scale,
                             model_load_s=60.0, traffic=False) as site:
            kube = KubeHttp(resolve(str(site.kubeconfig_path), site.context))
            spec = spec_for("deepseek-r1-distill-qwen-14b", replicas=n, warmup_parallel=a.parallel)
            marks = {}

            def on(ev, marks=marks):
                if ev.kind == "step-done":
                    marks[ev.step] = time.perf_counter()
            t0 = time.perf_counter()
            res = Runner(on_progress=on).apply(build_plan("model-load", {CLUSTER: kube}, spec.to_params()),
                                               confirmation="bench")
            t1 = time.perf_counter()
            assert res.status == "complete", res.message
            ready = marks["rollout"] - marks["apply.workload"]
            warm = marks["warmup"] - marks["rollout"]
            print(f"  {n:>8} {ready:16.1f}s {warm:8.1f}s {t1 - t0:8.1f}s")
            kube.close()


if __name__ == "__main__":
    main()
