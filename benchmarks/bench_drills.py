"""Drills on the demo site: measured recovery next to the simulator's
configured truth (model load time, container start, toleration), so the
measurement's own error is known; and the prober's overhead (requests/s it
sustains, this process's CPU). The restore drill's RTO next to the same
restore done by hand with restic (the demo's local repositories), and the
load-balancer drill on a real nginx (tests/nginx_lb.py) and on the demo's
balancer: errors seen and time out of rotation next to the configured
max_fails / fail_timeout. Prints
figures; run side by side in one run.

    PYTHONPATH=. python3 benchmarks/bench_drills.py [--scale 20] [--load 20] [--parts cluster,restore,lb]"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
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
    ap.add_argument("--parts", default="cluster,restore,lb")
    a = ap.parse_args()
    parts = a.parts.split(",")
    if "cluster" in parts:
        bench_cluster(a)
    if "restore" in parts:
        bench_restore()
    if "lb" in parts:
        bench_lb()


def bench_cluster(a: argparse.Namespace) -> None:
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


def bench_restore() -> None:
    from actions.drills.restore import RestoreDrill
    from console.backup.context import BackupContext
    from console.backup.demo import demo_site_file
    from console.backup.password import read_password
    from console.site_config import load_site
    site_file = demo_site_file()
    r = subprocess.run([sys.executable, "-m", "console", "backup", "run", "--site", str(site_file), "--copy",
                        "primary", "--yes", "--json"], capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        print(f"restore: the backup failed: {r.stderr.strip()[-300:]}")
        return
    site = load_site(site_file)
    ctx = BackupContext(site, read_password(site.backup))
    try:
        rep = RestoreDrill(ctx, "primary").run("bench")
    finally:
        ctx.close()
    m = rep["measurements"]
    repo = next(c.repository for c in site.backup.copies if c.name == "primary")
    env = dict(os.environ, RESTIC_PASSWORD_FILE=site.backup.password_file or "")
    snaps = json.loads(subprocess.run(["restic", "-r", repo, "snapshots", "--json"], env=env, check=True,
                                      capture_output=True, text=True).stdout)
    total = 0.0
    with tempfile.TemporaryDirectory() as d:
        from console.backup.sets import tag_value
        want = rep["blast_radius"]["set"]
        data = [x for x in snaps if tag_value(x, "part") == "data" and tag_value(x, "set") == want]
        ids = [x["short_id"] for x in data]   # the drill restores every source of the set: the same by hand
        for i, sid in enumerate(ids):
            t0 = time.monotonic()
            subprocess.run(["restic", "-r", repo, "restore", sid, "--target", f"{d}/{i}"], env=env, check=True,
                           capture_output=True)
            total += time.monotonic() - t0
    print(f"restore     drill restore {m['restore_s']:.3f} s (files {m['files']}, {m['bytes']} bytes), "
          f"drill end to end {m['duration_s']:.3f} s incl. manifest checks; restic restore by hand "
          f"{total:.3f} s for {len(ids)} snapshot(s)")


def bench_lb() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from actions.drills.lb_loss import Balancer, LbUpstreamLoss
    from tests.nginx_lb import Nginx, Upstream

    class Control:
        def __init__(self, nginx, ups):
            self.nginx, self.ups = nginx, {u.address: u for u in ups}

        def stop_upstream(self, a):
            self.ups[a].stop()

        def start_upstream(self, a):
            self.ups[a].start()

        def error_log(self):
            return self.nginx.error_log_text()
    for max_fails, fail_timeout in ((1, 10), (3, 5)):
        ups = [Upstream("blue").start(), Upstream("green").start()]
        try:
            block = "upstream deepseek {\n" + "".join(
                f"    server {u.address} max_fails={max_fails} fail_timeout={fail_timeout}s;\n" for u in ups) + "}\n"
            with tempfile.TemporaryDirectory() as d, Nginx(d, block) as nginx:
                rep = LbUpstreamLoss(Balancer("127.0.0.1", nginx.port), ups[1].address, Control(nginx, ups),
                                     max_fails=max_fails, fail_timeout_s=fail_timeout, observe_s=2.0).run("bench")
        finally:
            for u in ups:
                u.stop()
        _print_lb("real nginx", rep)
    # the same drill on the demo site's balancer (console/sim/lb_proxy.py, nginx's defaults)
    from actions.drills.lb_control import DemoBalancer, lb_drill
    site = start_demo_site(nodes=2, gpus_per_node=2, replicas=3, traffic=False)
    try:
        t0 = time.process_time()
        rep = lb_drill(DemoBalancer(site), None, observe_s=2.0).run("bench")
        cpu = time.process_time() - t0
    finally:
        site.stop()
    _print_lb("demo", rep)
    print(f"lb-loss     demo: the whole drill {rep['ended'] - rep['started']:.1f} s, {cpu:.2f} s CPU in this process "
          f"(prober, proxy, simulated servers)")


def _print_lb(where: str, rep: dict) -> None:
    m, dur = rep["measurements"], rep["steady_state"]["during"]
    print(f"lb-loss     {where}, max_fails {m['max_fails']} fail_timeout {m['fail_timeout_s']:g} s: out of rotation "
          f"after {m['out_of_rotation_s']} s (log poll {m['log_poll_s']} s) and {m['attempts_at_dead_upstream']} "
          f"failed attempt(s); errors seen {m['errors_seen']} of {dur['sent']} requests")


if __name__ == "__main__":
    main()
