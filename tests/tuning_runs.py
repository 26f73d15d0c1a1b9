"""Helpers for tests of tuning runs on the demo's simulated hosts: what host
tuning may touch, and a console killed mid-step (a real process, really killed)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SWAP_FILE = "/etc/sysctl.d/60-dsconsole-swappiness.conf"
THP = "/sys/kernel/mm/transparent_hugepage/enabled"


def host_state(h):
    """Everything host tuning may touch, byte for byte."""
    return {"files": {p: h.files.get(p) for p in (SWAP_FILE, "/etc/default/grub")},
            "swappiness": h.read("/proc/sys/vm/swappiness"), "thp": h.read(THP)}


KILLED_RUN = textwrap.dedent("""
    import json, os, sys
    from actions.plan import build_plan
    from actions.runner import Runner
    from console.sim import tuning_demo
    hosts = tuning_demo.new_hosts(3)
    victim = hosts["gpu-node-0001"]
    real_tee = victim.commands["tee"]
    def tee_then_die(host, argv, stdin):
        # the console is killed right after the kernel took the new THP mode,
        # with the step's intent journaled and its outcome not
        r = real_tee(host, argv, stdin)
        with open(sys.argv[1], "w") as f:
            json.dump({n: tuning_demo.snapshot(h) for n, h in hosts.items()}, f)
        os._exit(137)
    victim.register_command("tee", tee_then_die)
    Runner(max_parallel=1).apply(build_plan("host-tuning", hosts, {}), confirmation="--yes")
""")


def run_killed_apply(saved) -> subprocess.CompletedProcess:
    """Apply host tuning in a console that is killed mid-step; the hosts as it
    left them are saved (tuning_demo.snapshot) to `saved`."""
    return subprocess.run([sys.executable, "-c", KILLED_RUN, str(saved)], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))
