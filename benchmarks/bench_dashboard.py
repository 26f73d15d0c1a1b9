"""Dashboard benchmark: prints figures (it asserts nothing).

What it measures, each in a real pseudo-terminal (the console process sees a
TTY, 160x48, and renders for real; its output is read and discarded):

1. Default demo site (plain `dsconsole`): process start -> first complete
   dashboard frame. "Complete" = the cache synced, nodes, pods and GPU panels
   filled from data, alerts evaluated, and the frame showing that written to
   the terminal (DashboardApp logs it after the refresh, via
   DSCONSOLE_FRAME_LOG). The clock starts just before the process is spawned.
   With PYTHONDONTWRITEBYTECODE set it is measured both ways: as configured
   (every module compiled at each start) and with a .pyc cache (as installed).
2. Scale: `dsconsole sim serve --nodes 2000 --gpus-per-node 8` (~20,000 pods) as
   a separate process; `dsconsole --kubeconfig` on it:
   - first complete frame (as above; no GPU panel: a kubeconfig alone has no
     GPU hosts; like the demo's, with and without a bytecode cache when
     PYTHONDONTWRITEBYTECODE is set), and side by side `kubectl get pods -A -o
     json` on the same simulator (wall time, and the ratio);
   - resident memory (VmRSS, and the peak VmHWM) of the console;
   - key press -> frame showing the moved cursor without load (Down/Up
     alternately on the 20,000-row pods table; from the write to the pty to
     the app's after-refresh callback), p50/p99;
   - then on a second simulator started with `--churn 500` (its built-in
     churn: 500 pod changes/s, each one MODIFIED watch event to the console;
     once with invisible changes only, once with every change bumping a
     restart count the pods table shows: --churn-visible 0,1):
     the watch events/s actually delivered to a separate watcher during the
     window, key press -> frame p50/p99, the console's CPU use and the
     simulator's (utime+stime from /proc over the window, % of one core).

Usage: python3 benchmarks/bench_dashboard.py [--runs 5] [--skip-scale] [--skip-demo]
       [--nodes 2000] [--rate 500] [--seconds 15] [--churn-visible 0,1] [--skip-load]
       [--compare-tree DIR]
(--skip-load: the scale part without the two simulators under churn.
--compare-tree DIR: the first frames also with DIR's code, runs alternating.)
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.sim_kube (the kubectl lookup the tests use)
DOWN, UP = b"\x1b[B", b"\x1b[A"


def dsconsole_exe() -> str | None:
    """The `dsconsole` entry point installed for this interpreter (the one a user
    runs), else the first on PATH. A version manager's shim on PATH (pyenv's is a
    bash script running `pyenv exec`, ~0.1 s a start) is not part of the console's
    start-up, so the script next to sys.executable comes first."""
    beside = Path(sys.executable).parent / "dsconsole"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("dsconsole")


def console_cmd(*args: str) -> list[str]:
    exe = dsconsole_exe()
    return ([exe] if exe else [sys.executable, "-m", "console"]) + list(args)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds(pid: int) -> float:
    """CPU time of a process' children that have ended and been waited for (the
    console's list decoder helper, console/kube/list_decoder.py)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


class ConsoleInPty:
    """The console in a pseudo-terminal; output drained on a thread."""

    def __init__(self, args: list[str], env: dict, cols: int = 160, rows: int = 48,
                 cmd: list[str] | None = None) -> None:
        self.frame_log = Path(tempfile.mkstemp(prefix="dsconsole-frames-")[1])
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(env, TERM="xterm-256color", DSCONSOLE_FRAME_LOG=str(self.frame_log),
                   COLUMNS=str(cols), LINES=str(rows))
        self.started = time.time()
        self.proc = subprocess.Popen(cmd or console_cmd(*args), stdin=slave, stdout=slave, stderr=slave,
                                     env=env, cwd=str(ROOT), start_new_session=True)
        os.close(slave)
        self.master = master
        self.output = bytearray()
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            if len(self.output) < 200_000:
                self.output += data

    def log_lines(self, what: str) -> list[float]:
        out = []
        for line in self.frame_log.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == what:
                out.append(float(value.split()[-1]))
        return out

    def wait_first_frame(self, timeout: float) -> float | None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            frames = self.log_lines("first_frame")
            if frames:
                return frames[0] - self.started
            if self.proc.poll() is not None:   # ended: it may have logged just before
                frames = self.log_lines("first_frame")
                return frames[0] - self.started if frames else None
            time.sleep(0.01)
        return None

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def memory_mb(self) -> tuple[float, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        vals = {}
        for line in status.splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                vals[line.split(":")[0]] = int(line.split()[1]) / 1024
        return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)

    def press(self, data: bytes) -> None:
        os.write(self.master, data)

    def quit(self) -> tuple[float, float] | None:
        """Quit with `q` (kill if it hangs); returns (snapshots applied, seconds
        spent applying them) from the app's log."""
        try:
            os.write(self.master, b"q")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        finally:
            try:
                os.close(self.master)
            except OSError:
                pass
            applies = None
            for line in self.frame_log.read_text().splitlines():
                if line.startswith("applies "):
                    applies = tuple(float(x) for x in line.split()[1:3])
            self.frame_log.unlink(missing_ok=True)
        return applies


def isolated_env() -> tuple[dict, tempfile.TemporaryDirectory]:
    tmp = tempfile.TemporaryDirectory(prefix="dsconsole-bench-")
    env = dict(os.environ, XDG_STATE_HOME=f"{tmp.name}/state", XDG_CONFIG_HOME=f"{tmp.name}/config")
    env.pop("KUBECONFIG", None)
    env.pop("DSCONSOLE_SITE", None)
    return env, tmp


def med(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "n/a"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


# --------------------------------------------------------------- 1. demo site
def first_frames(env: dict, runs: int) -> tuple[list[float], list[float]]:
    """`runs` starts of plain `dsconsole`: (seconds to the first complete frame,
    CPU seconds the console used until then)."""
    times, cpus = [], []
    for _ in range(runs):
        c = ConsoleInPty([], env)
        t = c.wait_first_frame(30)
        if t is not None:
            cpus.append(c.cpu_seconds())
        c.quit()
        if t is None:
            print("  demo: no complete frame within 30 s; output tail:", bytes(c.output[-400:]))
            continue
        times.append(t)
    return times, cpus


def bytecode_variants(env: dict, tmpdir: str, warm_up: Callable[[dict], object]) -> dict[str, dict]:
    """The environments to measure a start in: as configured and, when
    PYTHONDONTWRITEBYTECODE is set, also with a bytecode cache.

    PYTHONDONTWRITEBYTECODE (set in some sandboxes and CI images) makes every
    start compile all the project's modules again (~0.6 MB of source before the
    first frame, ~0.25 s of CPU here). An installed package has its .pyc files
    (pip compiles them), so the start a user sees is measured with a bytecode
    cache too: PYTHONPYCACHEPREFIX in the temporary directory (the working tree
    is not written), warmed by one uncounted start (`warm_up(env)`). Callers
    alternate runs between the variants so that a change in the machine's load
    hits both alike."""
    if not env.get("PYTHONDONTWRITEBYTECODE"):
        return {"as configured": env}
    cached = dict(env, PYTHONPYCACHEPREFIX=f"{tmpdir}/pycache")
    cached.pop("PYTHONDONTWRITEBYTECODE")
    warm_up(cached)
    return {"no bytecode cache (PYTHONDONTWRITEBYTECODE is set)": env,
            "with a bytecode cache (.pyc, as installed)": cached}


# Another source tree to measure beside this one (--compare-tree), e.g. a
# worktree of an older commit: set by main().
COMPARE_TREE: str | None = None


def per_tree(variants: dict[str, dict], warm_up: Callable[[dict], object]) -> dict[str, dict]:
    """With --compare-tree, each variant twice: this tree's code and the other
    tree's (PYTHONPATH; the installed entry point honours it), warmed once each,
    so that runs alternate between old and new code in one run of the machine."""
    if not COMPARE_TREE:
        return variants
    out = {}
    for name, env in variants.items():
        for label, tree in (("this tree", str(ROOT)), (COMPARE_TREE, COMPARE_TREE)):
            e = dict(env, PYTHONPATH=tree)
            warm_up(e)
            out[f"{name}, {label}"] = e
    return out


def bench_demo(runs: int) -> None:
    env, tmp = isolated_env()
    variants = per_tree(bytecode_variants(env, tmp.name, lambda e: first_frames(e, 1)),
                        lambda e: first_frames(e, 1))
    results: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in variants}
    load_before = os.getloadavg()[0]
    for _ in range(runs):
        for name, e in variants.items():
            t, c = first_frames(e, 1)
            results[name][0].extend(t)
            results[name][1].extend(c)
    reference = reference_starts(list(variants.values())[-1], runs)
    tmp.cleanup()
    print("demo site (plain `dsconsole`, 8 nodes x 8 GPUs): process start -> first complete frame "
          "(target <= 0.8 s)")
    for name, (times, cpus) in results.items():
        print(f"  {name}: runs {', '.join(f'{t:.3f}' for t in times)} s; median {med(times)} s; "
              f"CPU used until then (all threads) median {med(cpus)} s")
    print("  for reference, on this machine (same interpreter and bytecode cache): "
          + "; ".join(f"{what} median {med(ts)} s" for what, ts in reference.items()))
    print(f"  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")


# The smallest Textual app: one Static, its first frame marked like the console's
# (after the refresh that paints it), in the same pseudo-terminal.
HELLO_APP = """
import os, time
from textual.app import App
from textual.widgets import Static

class Hello(App):
    def compose(self):
        yield Static("hello")

    def on_mount(self):
        self.call_after_refresh(self.painted)

    def painted(self):
        with open(os.environ["DSCONSOLE_FRAME_LOG"], "a") as f:
            f.write(f"first_frame {time.time()}\\n")
        self.exit()

Hello().run()
"""


def reference_starts(env: dict, runs: int) -> dict[str, list[float]]:
    """Wall time of the interpreter's own start, of importing Textual alone, and
    of a one-widget Textual app to its first frame: the part of the console's
    first frame that is not its own code."""
    out: dict[str, list[float]] = {}
    for what, code in (("`python3 -c pass`", "pass"), ("`python3 -c 'import textual.app'`", "import textual.app")):
        subprocess.run([sys.executable, "-c", code], env=env, check=True)  # warm the cache
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            times.append(time.perf_counter() - t0)
        out[what] = times
    hello = []
    for _ in range(runs):
        c = ConsoleInPty([], env, cmd=[sys.executable, "-c", HELLO_APP])
        t = c.wait_first_frame(30)
        c.quit()
        if t is not None:
            hello.append(t)
    out["a one-widget Textual app's first frame"] = hello
    return out


# --------------------------------------------------------------- 2. scale
def start_simulator(nodes: int, gpus: int, env: dict, workdir: str,
                    churn: float = 0.0, visible: float = 0.0) -> tuple[subprocess.Popen, str, str]:
    kubeconfig = f"{workdir}/sim-kubeconfig"
    proc = subprocess.Popen(console_cmd("sim", "serve", "--nodes", str(nodes), "--gpus-per-node", str(gpus),
                                        "--kubeconfig", kubeconfig, "--churn", str(churn),
                                        "--churn-visible", str(visible)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    t0 = time.time()
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"sim serve did not get ready: {line!r} {proc.stderr.read()[-2000:]}")
    _, url, path = line.split()
    print(f"simulator: {nodes} nodes x {gpus} GPUs{f', churn {churn:g}/s ({visible:.0%} visible)' if churn else ''} "
          f"ready in {time.time() - t0:.1f} s at {url}")
    return proc, url, path


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def kubectl_get_pods(kubeconfig: str, env: dict) -> float | None:
    from tests.sim_kube import kubectl_path
    try:
        kubectl = kubectl_path()   # the PyPI kubectl first, as the tests use
    except RuntimeError:
        return None
    t0 = time.time()
    p = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "pods", "-A", "-o", "json"],
                       capture_output=True, env=env, timeout=300)
    took = time.time() - t0
    if p.returncode != 0:
        print("  kubectl failed:", p.stderr.decode()[-500:])
        return None
    n = len(json.loads(p.stdout)["items"])
    print(f"  kubectl get pods -A -o json: {n} pods in {took:.3f} s")
    return took


WATCHER = r"""
import http.client, json, sys, time, urllib.parse
# counts the watch events (lines) a client receives from the simulator; on
# stdin's line "mark" prints the count so far and the time (one window = two marks)
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("GET", "/api/v1/pods?limit=1")
rv = json.loads(c.getresponse().read())["metadata"]["resourceVersion"]
c.request("GET", f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=600")
r = c.getresponse()
import threading
n = 0
def marks():
    for _ in sys.stdin:
        print(n, time.time(), flush=True)
threading.Thread(target=marks, daemon=True).start()
print("started", flush=True)
while r.readline():
    n += 1
"""


def key_latencies(c: ConsoleInPty, presses: int, gap: float) -> list[float]:
    out = []
    for i in range(presses):
        seen = len(c.log_lines("cursor_painted"))
        sent = time.time()
        c.press(DOWN if i % 2 == 0 else UP)
        deadline = sent + 2.0
        while time.time() < deadline:
            painted = c.log_lines("cursor_painted")
            if len(painted) > seen:
                out.append(painted[seen] - sent)
                break
            time.sleep(0.002)
        else:
            out.append(float("inf"))
        time.sleep(gap)
    return out


def bench_scale(runs: int, nodes: int, rate: float, seconds: float, visibles: list[float],
                load: bool = True) -> None:
    env, tmp = isolated_env()
    sim, url, kubeconfig = start_simulator(nodes, 8, env, tmp.name)
    try:
        kubectl = [t for t in (kubectl_get_pods(kubeconfig, env) for _ in range(max(1, runs // 2))) if t]

        def start(e: dict) -> tuple[float | None, tuple[float, float] | None, tuple[float, float] | None]:
            """One console start: (seconds to the first complete frame, (CPU seconds
            the console used until then, CPU seconds of its helper processes that
            had ended by then), (RSS, peak) half a second later)."""
            c = ConsoleInPty(["--kubeconfig", kubeconfig], e)
            t = c.wait_first_frame(60)
            cpu = mem = None
            if t is None:
                print("  console: no complete frame within 60 s; output tail:", bytes(c.output[-400:]))
            else:
                cpu = c.cpu_seconds(), children_cpu_seconds(c.proc.pid)
                time.sleep(0.5)
                mem = c.memory_mb()
            c.quit()
            return t, cpu, mem

        variants = per_tree(bytecode_variants(env, tmp.name, start), start)
        results: dict[str, tuple[list[float], list[tuple[float, float]]]] = {k: ([], []) for k in variants}
        rss = []
        load_before = os.getloadavg()[0]
        for _ in range(runs):
            for name, e in variants.items():
                t, cpu, mem = start(e)
                if t is not None:
                    results[name][0].append(t)
                    results[name][1].append(cpu)
                    rss.append(mem)
        print("console --kubeconfig on it: process start -> first complete frame (target <= 2.5 s)")
        for name, (frames, cpus) in results.items():
            print(f"  {name}: runs {', '.join(f'{t:.3f}' for t in frames)} s; median {med(frames)} s; "
                  f"CPU used until then: console (all threads) median {med([c[0] for c in cpus])} s, "
                  f"its list decoder helper process median {med([c[1] for c in cpus])} s")
            if kubectl and frames:
                print(f"    ratio console first frame / kubectl get pods -A -o json: "
                      f"{statistics.median(frames) / statistics.median(kubectl):.2f}")
        print(f"  load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
        if rss:
            print(f"  console memory after the first frame: RSS median {med([r[0] for r in rss])} MB, "
                  f"peak (VmHWM) max {max(r[1] for r in rss):.0f} MB (target <= 350 MB)")

        # key latency without load, on this simulator (no watch events flowing)
        c = ConsoleInPty(["--kubeconfig", kubeconfig], env)
        quiet = []
        try:
            if c.wait_first_frame(60) is not None:
                time.sleep(1.0)
                quiet = key_latencies(c, 30, gap=0.08)
        finally:
            c.quit()
        quiet_ok = [x for x in quiet if x != float("inf")]
        if quiet_ok:
            print(f"  without load, key press -> frame with the moved cursor: n={len(quiet)}, "
                  f"p50 {pct(quiet_ok, .5) * 1000:.0f} ms, p99 {pct(quiet, .99) * 1000:.0f} ms")
    finally:
        stop(sim)
    try:
        for visible in visibles if load else ():
            bench_load(nodes, rate, seconds, env, tmp.name, visible)
    finally:
        tmp.cleanup()


def bench_load(nodes: int, rate: float, seconds: float, env: dict, workdir: str, visible: float) -> None:
    """A simulator with its built-in churn at `rate` (`visible`: the fraction of
    changes the pods table shows, restart counts): watch events delivered, key
    latency and CPU of the console and of the simulator under it."""
    sim, url, kubeconfig = start_simulator(nodes, 8, env, workdir, churn=rate, visible=visible)
    c = watcher = None
    try:
        c = ConsoleInPty(["--kubeconfig", kubeconfig], env)
        if c.wait_first_frame(60) is None:
            print("  console did not come up for the load test; output tail:", bytes(c.output[-400:]))
            return
        watcher = subprocess.Popen([sys.executable, "-c", WATCHER, url], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        watcher.stdout.readline()
        time.sleep(2.0)  # the console's post-sync work done; the event stream in steady state

        def mark() -> tuple[int, float]:
            watcher.stdin.write("mark\n")
            watcher.stdin.flush()
            n, t = watcher.stdout.readline().split()
            return int(n), float(t)

        n0, t0 = mark()
        cpu0, sim0, w0 = c.cpu_seconds(), cpu_seconds(sim.pid), time.time()
        presses = max(20, int((seconds - 1) / 0.1))
        lat = key_latencies(c, presses, gap=0.08)
        cpu1, sim1, w1 = c.cpu_seconds(), cpu_seconds(sim.pid), time.time()
        n1, t1 = mark()
        mem = c.memory_mb()
    finally:
        if watcher is not None:
            watcher.kill()
            watcher.wait()
        applies = c.quit() if c is not None else None
        stop(sim)
    finite = [x for x in lat if x != float("inf")]
    print(f"under load (simulator --churn {rate:g} --churn-visible {visible:g}): "
          f"{(n1 - n0) / (t1 - t0):.0f} watch events/s delivered to a separate watcher over the {w1 - w0:.0f} s window")
    if finite:
        print(f"  under load, key press -> frame with the moved cursor: n={len(lat)}, "
              f"p50 {pct(finite, .5) * 1000:.0f} ms, "
              f"p99 {pct(lat, .99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms (target p99 <= 100 ms)")
    print(f"  console CPU during the window: {100 * (cpu1 - cpu0) / (w1 - w0):.0f} % of one core (target <= 50 %)")
    print(f"  simulator CPU during the window (churn, watch streams to the console and the watcher): "
          f"{100 * (sim1 - sim0) / (w1 - w0):.0f} % of one core")
    print(f"  console memory at the end: RSS {mem[0]:.0f} MB, peak {mem[1]:.0f} MB")
    if applies:
        n, total = applies
        print(f"  snapshots applied to the screen: {n:.0f}, {1000 * total / max(n, 1):.1f} ms each on average")


def calibration() -> str:
    """How fast this machine is right now: shared 2-core machines vary several-fold
    with what else runs, so every figure above should be read against these."""
    walls = []
    for _ in range(3):
        t0 = time.time()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        walls.append(time.time() - t0)
    t0 = time.process_time()
    x = 0
    for i in range(2_000_000):
        x += i
    loop = time.process_time() - t0
    return (f"calibration: `python -c pass` {statistics.median(walls) * 1000:.0f} ms, 2M-step Python loop "
            f"{loop * 1000:.0f} ms CPU (an idle modern x86 core typically: ~20 ms and ~80 ms); "
            f"load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nodes", type=int, default=2000)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--churn-visible", default="0,1",
                    help="comma-separated fractions of churn changes the pods table shows (restart "
                         "counts); one load run each (default 0,1: invisible heartbeats, then all visible)")
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument("--skip-load", action="store_true", help="scale part: no runs under churn")
    ap.add_argument("--compare-tree", metavar="DIR",
                    help="also measure the first frames with the code of this source tree (e.g. "
                         "`git worktree add /tmp/old OLD_COMMIT`), alternating with this tree's")
    a = ap.parse_args()
    global COMPARE_TREE
    COMPARE_TREE = a.compare_tree and str(Path(a.compare_tree).resolve())
    print(f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print(calibration())
    if not a.skip_demo:
        bench_demo(a.runs)
    if not a.skip_scale:
        bench_scale(a.runs, a.nodes, a.rate, a.seconds, [float(v) for v in a.churn_visible.split(",")],
                    load=not a.skip_load)
    print(calibration())


if __name__ == "__main__":
    main()
