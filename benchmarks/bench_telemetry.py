"""GPU telemetry round across real sshd test hosts: the console vs Ansible.

Starts 20 test hosts (tests/testhosts.py: network namespaces with sshd and the
replaying nvidia-smi; needs root), then in the same run prints:
  - the console's refresh round across all 20 (NvidiaSmiSource over SshTransport,
    every host in parallel as TelemetryPoller does), cold (incl. connect) and in
    steady state (connections established), median of several rounds; also a
    query-only round (no compute-apps query) doing exactly what Ansible does, and
    the same steady round over plain SSH execs (one new SSH session per poll,
    the path before Transport.run_in_session) for comparison;
  - CPU per steady round: the console process, the test hosts' sshd and the
    commands they run (shell, nvidia-smi replays), and the whole machine (which
    includes anything else running): all share this machine's cores;
  - an Ansible ad-hoc command doing the same nvidia-smi query on the same hosts
    (ansible-core, forks=20, inventory + ssh options in a temp dir), first run
    and a second run (its ControlPersist connections then already open);
  - a single host's round (steady state);
  - the same two rounds again with every host's nvidia-smi --query-gpu
    answering --slow-smi seconds late (the replay's delay_s variant): nvidia-smi
    time that is the host's own, as on real GPU hosts, instead of CPU of this
    machine's 2 cores (an extra scenario; the figures above are the target's);
  - ratios against the targets: console <= 0.25x Ansible, <= 2x single host;
  - the console's memory (RSS) with 50 connected hosts, measured in a child
    process that only holds the 50 transports and polls them.

    sudo python3 benchmarks/bench_telemetry.py [--hosts 20] [--rss-hosts 50] [--rounds 5]

Needs `ansible` on PATH (pip install ansible-core); without it the Ansible
figures are skipped, said so.
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.telemetry.nvidia_smi import QUERIES, NvidiaSmiSource, query_command  # noqa: E402
from console.telemetry.poller import TelemetryPoller  # noqa: E402
from tests.testhosts import _pids_in_netns  # noqa: E402

QUERY = query_command([q.names[0] for q in QUERIES])


def rss_mib(pid: str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_cpu_s() -> float:
    """CPU seconds used by the whole machine so far (all cores; /proc/stat)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def host_cpu_s(hosts) -> dict[str, float]:
    """CPU seconds used so far by the test hosts' processes, by kind: "sshd"
    (each connection's sshd: crypto, channels), "sshd sessions" (what sshd
    forked and reaped: per-exec sessions with their login shell and commands),
    "session shells" (run_in_session's shells, with the commands they ran).
    Each counts its own CPU and its reaped children's."""
    tck = os.sysconf("SC_CLK_TCK")
    out = {"sshd": 0.0, "sshd sessions": 0.0, "session shells": 0.0}
    for h in hosts:
        for pid in _pids_in_netns(h.netns_inode):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            f = stat.rsplit(")", 1)[1].split()
            own, reaped = (int(f[11]) + int(f[12])) / tck, (int(f[13]) + int(f[14])) / tck
            if comm == "sshd":
                out["sshd"] += own
                out["sshd sessions"] += reaped
            elif comm == "sh":
                out["session shells"] += own + reaped
    return out


def steady_rounds(sources, hosts, rounds: int) -> dict:
    """Median wall time of `rounds` steady rounds and their CPU per round."""
    m0, c0, h0 = machine_cpu_s(), own_cpu_s(), host_cpu_s(hosts)
    walls = [console_round(sources)[0] for _ in range(rounds)]
    h1 = host_cpu_s(hosts)
    return {"warm_s": statistics.median(walls), "warm_all_s": walls,
            "machine_cpu_per_round_s": (machine_cpu_s() - m0) / rounds,
            "console_cpu_per_round_s": (own_cpu_s() - c0) / rounds,
            "host_cpu_per_round_s": {k: (h1[k] - h0[k]) / rounds for k in h1}}


def console_round(sources) -> tuple[float, list]:
    t0 = time.perf_counter()
    states = TelemetryPoller(sources).poll_once()
    dt = time.perf_counter() - t0
    return dt, [states[s.name].latest for s in sources]


def make_sources(hosts, **kw):
    return [NvidiaSmiSource(h.transport(), xid_interval_s=None, **kw) for h in hosts]


def check_ok(tel) -> None:
    bad = [t.host for t in tel if t.state != "ok"]
    if bad:
        raise SystemExit(f"console round failed on {bad}: {[t.error for t in tel if t.state != 'ok']}")


def bench_console(hosts, rounds: int) -> dict:
    out = {}
    sources = make_sources(hosts)
    cold, tel = console_round(sources)
    check_ok(tel)
    out["cold_s"] = cold
    out.update(steady_rounds(sources, hosts, rounds))
    # The same polls over plain SSH execs (a new SSH session on the host per
    # poll), as before run_in_session: its shell disabled on fresh transports.
    exec_sources = make_sources(hosts)
    for s in exec_sources:
        s.transport._shell = None
    check_ok(console_round(exec_sources)[1])  # connect
    out["exec"] = steady_rounds(exec_sources, hosts, rounds)
    q_sources = make_sources(hosts, processes=False)
    console_round(q_sources)  # connect
    out["query_only_warm_s"] = statistics.median(console_round(q_sources)[0] for _ in range(rounds))
    single = sources[:1]
    out["single_warm_s"] = statistics.median(console_round(single)[0] for _ in range(rounds))
    out["single_exec_warm_s"] = statistics.median(
        console_round(exec_sources[:1])[0] for _ in range(rounds))
    out["single_query_only_warm_s"] = statistics.median(
        console_round(q_sources[:1])[0] for _ in range(rounds))
    for s in sources + exec_sources + q_sources:
        s.transport.close()
    return out


def bench_slow_smi(hosts, rounds: int, delay: float) -> dict:
    """20-host and single-host steady rounds while each host's nvidia-smi
    --query-gpu answers `delay` seconds late."""
    variant = json.dumps({"delay_s": delay})
    for h in hosts:
        h.sh(f"echo '{variant}' > /etc/dsconsole-fake-gpu.json", check=True)
    sources = make_sources(hosts)
    try:
        check_ok(console_round(sources)[1])  # connect; the replay learns the late answers
        console_round(sources)
        return {"warm_s": statistics.median(console_round(sources)[0] for _ in range(rounds)),
                "single_warm_s": statistics.median(console_round(sources[:1])[0]
                                                   for _ in range(rounds))}
    finally:
        for s in sources:
            s.transport.close()
        for h in hosts:
            h.sh("rm -f /etc/dsconsole-fake-gpu.json")


def cpu_line(c: dict) -> str:
    h = c["host_cpu_per_round_s"]
    return (f"console {c['console_cpu_per_round_s']:.3f} s; test hosts: sshd {h['sshd']:.3f} s, "
            f"per-exec sshd sessions (fork, login shell, nvidia-smi) {h['sshd sessions']:.3f} s, "
            f"session shells (shell, nvidia-smi) {h['session shells']:.3f} s; "
            f"whole machine {c['machine_cpu_per_round_s']:.3f} s")


def bench_ansible(factory, hosts, tmp: Path) -> dict | None:
    ansible = shutil.which("ansible")
    if not ansible:
        print("ansible not found on PATH (pip install ansible-core): Ansible figures skipped")
        return None
    inv = tmp / "inventory.ini"
    lines = ["[gpus]"]
    for h in hosts:
        lines.append(f"{h.name} ansible_host={h.address} ansible_user={h.user} "
                     f"ansible_ssh_private_key_file={h.identity_file} "
                     "ansible_python_interpreter=/usr/bin/python3")
    inv.write_text("\n".join(lines) + "\n")
    ssh_args = (f"-o UserKnownHostsFile={factory.known_hosts_file} -o StrictHostKeyChecking=yes "
                "-o ControlMaster=auto -o ControlPersist=30s")
    env = dict(os.environ, ANSIBLE_SSH_ARGS=ssh_args, ANSIBLE_HOST_KEY_CHECKING="True",
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(tmp / "cp"), ANSIBLE_LOCAL_TEMP=str(tmp / "local"),
               ANSIBLE_REMOTE_TEMP="/tmp/.ansible", ANSIBLE_STDOUT_CALLBACK="minimal",
               ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
               ANSIBLE_CONFIG=str(tmp / "none.cfg"), HOME=str(tmp))
    out = {}
    for module in ("command", "raw"):
        for run in ("first", "second"):
            cmd = [ansible, "gpus", "-i", str(inv), "-f", "20", "-m", module, "-a", QUERY]
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
            dt = time.perf_counter() - t0
            ok = p.stdout.count("CHANGED") + p.stdout.count("SUCCESS")
            if p.returncode != 0 or ok != len(hosts):
                print(f"ansible -m {module} ({run}) rc={p.returncode}, {ok}/{len(hosts)} hosts ok:\n"
                      f"{p.stdout[-1500:]}\n{p.stderr[-1500:]}")
            out[f"{module}_{run}_s"] = dt
    return out


RSS_CHILD = r"""
import json, sys, time, gc
sys.path.insert(0, sys.argv[1])
from pathlib import Path
def rss():
    for l in Path("/proc/self/status").read_text().splitlines():
        if l.startswith("VmRSS:"): return int(l.split()[1]) / 1024
from console.hosts.ssh import SshTransport
from console.telemetry.nvidia_smi import NvidiaSmiSource
from console.telemetry.poller import TelemetryPoller
cfg = json.loads(sys.stdin.read())
base = rss()
sources = [NvidiaSmiSource(SshTransport(h["name"], h["address"], user=h["user"],
           identity_file=h["key"], known_hosts=[cfg["known_hosts"]], ssh_config=cfg["ssh_config"]),
           xid_interval_s=None) for h in cfg["hosts"]]
poller = TelemetryPoller(sources, interval_s=0.5, history=120)
poller.start()
deadline = time.time() + 120
while time.time() < deadline and not all(poller.polls(s.name) >= 3 for s in sources):
    time.sleep(0.2)
states = poller.snapshot()
ok = sum(1 for s in states.values() if s.state == "ok")
gc.collect()
print(json.dumps({"base_mib": base, "rss_mib": rss(), "ok": ok, "hosts": len(sources),
                  "connected": sum(1 for s in sources if s.transport.connected())}))
poller.stop()
for s in sources: s.transport.close()
"""


def bench_rss(factory, hosts) -> dict:
    cfg = {"known_hosts": str(factory.known_hosts_file), "ssh_config": str(factory.ssh_config_file),
           "hosts": [{"name": h.name, "address": h.address, "user": h.user, "key": h.identity_file}
                     for h in hosts]}
    p = subprocess.run([sys.executable, "-c", RSS_CHILD, str(ROOT)], input=json.dumps(cfg),
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise SystemExit(f"RSS child failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description="GPU telemetry round: console vs Ansible")
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--rss-hosts", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--slow-smi", type=float, default=0.1,
                    help="seconds nvidia-smi --query-gpu takes in the extra scenario (0: skip it)")
    args = ap.parse_args()
    from tests.testhosts import TestHostFactory, _Session, require_test_hosts
    try:
        require_test_hosts()
    except BaseException as e:  # pytest.skip outside pytest
        print(f"cannot start test hosts: {e}")
        return 1
    session = _Session()
    factory = TestHostFactory(session)
    tmp = Path(tempfile.mkdtemp(prefix="bench-telemetry-"))
    try:
        t0 = time.perf_counter()
        hosts = factory.start(args.hosts)
        print(f"started {len(hosts)} test hosts in {time.perf_counter() - t0:.1f} s "
              f"({os.cpu_count()} CPUs)")
        c = bench_console(hosts, args.rounds)
        a = bench_ansible(factory, hosts, tmp)
        n = len(hosts)
        print(f"\nGPU telemetry round across {n} hosts (median of {args.rounds} where warm):")
        print(f"  console, cold (incl. SSH connect):      {c['cold_s']:.3f} s")
        print(f"  console, steady state (query + apps):   {c['warm_s']:.3f} s   "
              f"rounds: {', '.join(f'{x:.3f}' for x in c['warm_all_s'])}")
        print(f"  console, steady state (query only):     {c['query_only_warm_s']:.3f} s")
        print(f"  console, steady, plain SSH exec a poll: {c['exec']['warm_s']:.3f} s   "
              f"rounds: {', '.join(f'{x:.3f}' for x in c['exec']['warm_all_s'])}")
        print(f"  single host, steady state (query+apps): {c['single_warm_s']:.3f} s")
        print(f"  single host, plain SSH exec a poll:     {c['single_exec_warm_s']:.3f} s")
        print(f"  single host, steady state (query only): {c['single_query_only_warm_s']:.3f} s")
        if a:
            print(f"  ansible -m command, first run:          {a['command_first_s']:.3f} s")
            print(f"  ansible -m command, second run (cp):    {a['command_second_s']:.3f} s")
            print(f"  ansible -m raw, first run:              {a['raw_first_s']:.3f} s")
            print(f"  ansible -m raw, second run (cp):        {a['raw_second_s']:.3f} s")
            best_ansible = min(a.values())
            print(f"\n  console steady / fastest Ansible run:   {c['warm_s'] / best_ansible:.3f}x "
                  f"(target <= 0.25x)")
            print(f"  console cold / ansible -m command first: {c['cold_s'] / a['command_first_s']:.3f}x")
        cores = os.cpu_count() or 1
        print(f"\n  CPU per steady round across {n} hosts, all on these {cores} cores:")
        print(f"    session (product path):\n      {cpu_line(c)}")
        print(f"    plain SSH exec a poll:\n      {cpu_line(c['exec'])}")
        print(f"  (the whole machine also counts the kernel's network work and anyone else's "
              f"load; no round can be\n  shorter than its CPU / {cores} cores: "
              f"{c['machine_cpu_per_round_s'] / cores:.3f} s here)")
        print(f"  console round / single host round:      {c['warm_s'] / c['single_warm_s']:.2f}x "
              f"(target <= 2x); query only: "
              f"{c['query_only_warm_s'] / c['single_query_only_warm_s']:.2f}x; plain exec: "
              f"{c['exec']['warm_s'] / c['single_exec_warm_s']:.2f}x")
        if args.slow_smi > 0:
            s = bench_slow_smi(hosts, args.rounds, args.slow_smi)
            print(f"\n  extra scenario: nvidia-smi --query-gpu answering {args.slow_smi:g} s late on "
                  f"every host (its time the\n  host's own, as on real GPU hosts, not CPU of "
                  f"these {cores} cores):")
            print(f"    {n} hosts {s['warm_s']:.3f} s, single host {s['single_warm_s']:.3f} s: "
                  f"{s['warm_s'] / s['single_warm_s']:.2f}x")
        if args.rss_hosts:
            more = factory.start(max(0, args.rss_hosts - n))
            r = bench_rss(factory, (hosts + more)[:args.rss_hosts])
            print(f"\nconsole memory with {r['hosts']} hosts connected and polled "
                  f"({r['ok']} ok, {r['connected']} connected): RSS {r['rss_mib']:.1f} MiB "
                  f"(after imports {r['base_mib']:.1f} MiB; "
                  f"{(r['rss_mib'] - r['base_mib']) / r['hosts'] * 1024:.0f} KiB per host)")
    finally:
        factory._teardown()
        session.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
