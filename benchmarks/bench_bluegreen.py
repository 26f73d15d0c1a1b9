"""Blue-green switch 100/0 -> 90/10 -> 50/50 -> 0/100 on a real nginx
(tests/nginx_lb.py: Debian's nginx on loopback, two real upstream servers),
under the same bounded client load, done four ways side by side in one run:

  gated        dsconsole's switch: write, nginx -t, reload, read back, a gate
               window of probes through the balancer after every step
  reload-only  the same writes and reloads, no gates
  naive        edit the upstream file and restart nginx (stop, start), as
               `systemctl restart nginx` would
  gated+fault  the gated switch with green answering 503 from 50/50 on:
               what clients lose before the automatic rollback

For each: the clients' failed requests (out of those sent while it ran) and
the total duration. A fresh nginx per procedure; the load runs from the
first step until 0.5 s after the last.

    PYTHONPATH=. python3 benchmarks/bench_bluegreen.py [--window 2] [--workers 4]"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from actions.bluegreen.balancer_probe import BalancerProber  # noqa: E402
from actions.bluegreen.gate import GateRule  # noqa: E402
from actions.bluegreen.nginx_upstream import NginxUpstream, Pool, Weights, render  # noqa: E402
from actions.bluegreen.switch import run_steps  # noqa: E402
from actions.bluegreen.traffic_mode import NginxSwitch  # noqa: E402
from console.hosts.local import LocalTransport  # noqa: E402
from tests.nginx_lb import PROMPT, LoadGenerator, Nginx, Upstream, upstream_block, wait_until  # noqa: E402

STEPS = ((100, 0), (90, 10), (50, 50), (0, 100))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--window", type=float, default=2.0, help="gate window, seconds")
    ap.add_argument("--workers", type=int, default=4, help="client load: concurrent requests")
    a = ap.parse_args()
    blue, green = Upstream("blue").start(), Upstream("green").start()
    pool = Pool(blue=[blue.address], green=[green.address])
    rule = GateRule(window_s=a.window, min_requests=20, p99_ms=500.0)
    rows = []
    try:
        for name, proc in (("gated", lambda n: gated(n, pool, rule)),
                           ("reload-only", lambda n: reload_only(n, pool)),
                           ("naive restart", lambda n: naive(n, pool)),
                           ("gated+fault", lambda n: gated(n, pool, rule, green=green))):
            green.set_mode("ok")
            rows.append((name, *measure(proc, pool, a.workers)))
    finally:
        blue.stop()
        green.stop()
    print(f"blue-green switch {' -> '.join(f'{b}/{g}' for b, g in STEPS)} on real nginx, "
          f"{a.workers} client workers, gate window {a.window:g} s")
    print(f"{'procedure':<15}{'failed':>8}{'sent':>8}{'failed %':>10}{'duration s':>12}  outcome")
    for name, failed, sent, secs, note in rows:
        print(f"{name:<15}{failed:>8}{sent:>8}{100 * failed / max(1, sent):>10.2f}{secs:>12.2f}  {note}")


def measure(proc: Callable[[Nginx], str], pool: Pool, workers: int) -> tuple[int, int, float, str]:
    with tempfile.TemporaryDirectory(prefix="bench-bg-") as root, \
            Nginx(root, upstream_block({pool.blue[0]: 100, pool.green[0]: 0})) as nginx:
        load = LoadGenerator(nginx.url, workers=workers, pause_s=0.005).start()
        try:
            wait_until(lambda: len(load.results) >= 50, 60, "the load to flow")
            mark, t0 = load.mark(), time.monotonic()
            note = proc(nginx)
            secs = time.monotonic() - t0
            time.sleep(0.5)
        finally:
            load.stop()
        done = load.since(mark)
        return sum(r.failed for r in done), len(done), secs, note


def _owner(nginx: Nginx) -> NginxUpstream:
    return NginxUpstream(LocalTransport("local"), include_path=nginx.include_path, upstream="deepseek",
                         nginx_cmd=nginx.cmd)


def gated(nginx: Nginx, pool: Pool, rule: GateRule, green: Upstream | None = None) -> str:
    inner = NginxSwitch(_owner(nginx), pool)

    class Switch:                       # green turns to 503 once 50/50 is in force (gated+fault)
        def set_weights(self, b: int, g: int) -> Weights:
            w = inner.set_weights(b, g)
            if green is not None and (b, g) == (50, 50):
                green.set_mode("error")
            return w

        def read_weights(self) -> Weights | None:
            return inner.read_weights()

    prober = BalancerProber(nginx.url, pool, prompt={"model": "deepseek-test", "prompt": PROMPT, "max_tokens": 8,
                                                     "temperature": 0}, rate=40.0, workers=4).start()
    try:
        out = run_steps(Switch(), prober, rule, STEPS)
    finally:
        prober.stop()
    if out.rolled_back:
        at = out.steps[-1].weights
        return (f"rolled back at {at.blue}/{at.green} to {out.weights.blue if out.weights else '?'}/"
                f"{out.weights.green if out.weights else '?'}; probes: {out.failed_requests} failed")
    return f"completed, probes: {len(prober.results)} sent, {out.failed_requests} failed"


def reload_only(nginx: Nginx, pool: Pool) -> str:
    switch = NginxSwitch(_owner(nginx), pool)
    for b, g in STEPS:
        switch.set_weights(b, g)
    w = switch.read_weights()
    return f"completed, nginx runs {w.blue}/{w.green}" if w else "completed, weights unknown"


def naive(nginx: Nginx, pool: Pool) -> str:
    for b, g in STEPS:
        with open(nginx.include_path, "w") as f:
            f.write(render("deepseek", pool, Weights(b, g)))
        nginx.stop()       # graceful (QUIT), as Debian's unit stops it; new connections refused meanwhile
        nginx.start()
    return "completed (no test before the restart, no read-back)"


if __name__ == "__main__":
    main()
