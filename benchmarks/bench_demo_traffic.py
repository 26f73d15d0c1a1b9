"""CPU cost of the demo site's synthetic traffic (console/sim/demo_traffic.py),
which runs in the console's own process: the process' CPU over a quiet window
with and without traffic, on an 8-node demo site at real time (time scale 1).
Prints figures; asserts nothing.

    python3 benchmarks/bench_demo_traffic.py [--seconds 20] [--nodes 8]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from console.sim.demo_site import start_demo_site  # noqa: E402


def cpu_share(traffic: bool, nodes: int, seconds: float) -> tuple[float, int]:
    site = start_demo_site(nodes=nodes, gpus_per_node=8, traffic=traffic)
    try:
        time.sleep(2.0)                       # past the start
        c0, t0 = time.process_time(), time.monotonic()
        time.sleep(seconds)
        share = (time.process_time() - c0) / (time.monotonic() - t0)
        ticks = site.traffic.ticks if site.traffic else 0
        return share, ticks
    finally:
        site.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--nodes", type=int, default=8)
    a = ap.parse_args()
    off, _ = cpu_share(False, a.nodes, a.seconds)
    on, ticks = cpu_share(True, a.nodes, a.seconds)
    print(f"demo site, {a.nodes} nodes x 8 GPUs, time scale 1, {a.seconds:.0f} s each")
    print(f"  process CPU without traffic: {off * 100:.2f} % of a core")
    print(f"  process CPU with traffic:    {on * 100:.2f} % of a core ({ticks} ticks)")
    print(f"  traffic's share:             {(on - off) * 100:+.2f} % of a core")


if __name__ == "__main__":
    main()
