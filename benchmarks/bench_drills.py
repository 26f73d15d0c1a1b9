"""Drills on the demo site: measured recovery next to the simulator's
configured truth (model load time, container start, toleration), so the
measurement's own error is known; and the prober's overhead (requests/s it
sustains, this process's CPU). Prints figures; run side by side in one run.

    PYTHONPATH=. python3 benchmarks/bench_drills.py [--scale 20] [--load 20]"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("XDG_STATE_HOME", tempfile.mkdtemp(prefix="bench-drills-"))

from actions.drills.cluster_ops import ClusterOps  # noqa: E402
from actions.drills.engine import DrillRun  # noqa: E402
from actions.drills.faults import DemoFaults  # noqa: E402
from actions.drills.prober import Prober  # noqa: E402
from console.kube.client import KubeHttp  # noqa: E402
from console.kube.kubeconfig import resolve  # noqa: E402
from console.sim.demo_site import start_demo_site  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=20.0)
    ap.add_argument("--load", type=float, default=20.0)
    a = ap.parse_args()
    site = start_demo_site(nodes=3, gpus_per_node=2, replicas=4, time_scale=a.scale, model_load_s=a.load,
                           traffic=False, hosts=False)
    try:
        start = site.cluster.container_start_s
        ops = ClusterOps(KubeHttp(resolve(str(site.kubeconfig_path))), namespace="deepseek",
                         deployment="deepseek-v3")
        print(f"demo site: scale {a.scale:g}, model load {a.load:g} s, container start {start:g} s (sim)")
        for name, truth in (("pod-kill", a.load + start), ("node-drain", 2 * (a.load + start)),
                            ("node-loss", 300.0 + a.load + start), ("gpu-fault", 2 * (a.load + start))):
            run = DrillRun(name, ops, faults=DemoFaults(site), site="demo", time_scale=a.scale)
            rep = run.run(run.plan(), "bench")
            m = rep["measurements"]
            print(f"{name:<11} status {rep['status']:<9} ready {m.get('ready_s', float('nan')):7.1f} s  "
                  f"warm {m.get('recovery_s', float('nan')):7.1f} s  configured truth >= {truth:6.1f} s  "
                  f"ready error {m.get('ready_s', float('nan')) - truth:+6.1f} s  "
                  f"availability {rep['verdicts']['availability']['measured']}")
        for rate in (20.0, 100.0):
            p = Prober(ops.model_pods, rate=rate, workers=8).start()
            c0, t0 = time.process_time(), time.monotonic()
            time.sleep(5.0)
            c1, t1 = time.process_time(), time.monotonic()
            p.stop()
            w = p.window()
            print(f"prober asked {rate:5.0f}/s: sent {w.sent / (t1 - t0):6.1f}/s, ok {w.succeeded}/{w.sent}, "
                  f"process CPU {100 * (c1 - c0) / (t1 - t0):5.1f} % of a core (site in the same process)")
    finally:
        site.stop()


if __name__ == "__main__":
    main()
