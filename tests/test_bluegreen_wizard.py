"""The blue-green wizard, mode service, on the demo site (issue 13): the
real `dsconsole bluegreen` in a subprocess against the simulator, read back
with the real kubectl; the console killed mid-switch and its run resumed or
rolled back; an abort from another process; a breach rolled back by itself;
bad bluegreen: sections."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from tests.bluegreen_site import MODEL, NS, bluegreen_spec, deploy_blue, site_file
from tests.sim_kube import kubectl


@pytest.fixture
def site(tmp_path):
    from console.kube.client import KubeHttp
    from console.kube.kubeconfig import resolve
    from console.sim.demo_site import start_demo_site
    s = start_demo_site(nodes=2, gpus_per_node=8, replicas=1, time_scale=40.0, model_load_s=40.0)
    kube = KubeHttp(resolve(str(s.kubeconfig_path), s.context))
    try:
        deploy_blue(kube, bluegreen_spec())
        s.kube = kube
        yield s
    finally:
        kube.close()
        s.stop()


def bg(site, tmp_path, *args, window_s=2, **kw):
    path = site_file(tmp_path / "site.yaml", site.kubeconfig_path, site.context, window_s=window_s)
    return [sys.executable, "-m", "console", "bluegreen", *args, "--site", str(path)]


def run(cmd, timeout=180):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def selector_colour(site) -> str:
    svc = json.loads(kubectl(site.kubeconfig_path, "get", "service", MODEL, "-n", NS, "-o", "json").stdout)
    return svc["spec"]["selector"]["dsconsole.io/colour"]


def replicas(site, colour) -> int | None:
    r = kubectl(site.kubeconfig_path, "get", "deployment", f"{MODEL}-{colour}", "-n", NS, "-o", "json", check=False)
    return json.loads(r.stdout)["spec"]["replicas"] if r.returncode == 0 else None


def managers(site) -> set[str]:
    svc = json.loads(kubectl(site.kubeconfig_path, "get", "service", MODEL, "-n", NS, "-o", "json",
                             "--show-managed-fields").stdout)
    return {m["manager"] for m in svc["metadata"].get("managedFields") or ()
            if "f:selector" in json.dumps(m.get("fieldsV1"))}


def test_plan_apply_status_rollback_json(site, tmp_path):
    p = run(bg(site, tmp_path, "plan", "--json"))
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    steps = [s["id"] for s in plan["hosts"]["cluster"]["steps"]]
    assert steps == ["preflight.blue", "green.up", "green.rollout", "green.warmup", "service.preview",
                     "gate.preview", "service.switch", "gate.switch", "drain", "blue.scale-zero"]
    assert plan["mode"] == "service" and selector_colour(site) == "blue"
    assert replicas(site, "green") is None       # plan changed nothing

    p = run(bg(site, tmp_path, "apply", "--yes", "--json"))
    assert p.returncode == 0, p.stderr
    done = json.loads(p.stdout)
    assert done["status"] == "complete", done["message"]
    assert done["weights"] == "blue 0 / green 100"
    # read back with kubectl: the selector names green, owned by dsconsole's server-side apply
    assert selector_colour(site) == "green"
    assert "dsconsole" in managers(site)
    assert replicas(site, "blue") == 0 and replicas(site, "green") == 1
    preview = json.loads(kubectl(site.kubeconfig_path, "get", "service", f"{MODEL}-preview", "-n", NS,
                                 "-o", "json").stdout)
    assert preview["spec"]["selector"]["dsconsole.io/colour"] == "green"

    st = json.loads(run(bg(site, tmp_path, "status", "--json")).stdout)
    assert st["weights"] == {"blue": 0, "green": 100} and st["unfinished"] == []
    assert st["colours"]["green"]["warm_ready"] == 1

    p = run(bg(site, tmp_path, "rollback", done["run_id"], "--yes", "--json"))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["status"] == "complete"
    assert selector_colour(site) == "blue"
    assert replicas(site, "blue") == 1 and replicas(site, "green") is None
    assert kubectl(site.kubeconfig_path, "get", "service", f"{MODEL}-preview", "-n", NS,
                   check=False).returncode != 0


def _journal_has(tmp_path, step: str, what: str) -> bool:
    runs = tmp_path / "xdg-state" / "dsconsole" / "runs"
    for p in runs.glob("*.jsonl") if runs.is_dir() else ():
        for line in p.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("step") == step and (rec.get("t") == what if what == "intent" else rec.get("status") == what):
                return True
    return False


def _wait(cond, what, proc, limit=3000):
    import time
    for _ in range(limit):
        if cond():
            return
        if proc.poll() is not None:
            raise AssertionError(f"apply ended (rc {proc.returncode}) before {what}: {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"never reached: {what}")


def _killed_mid_switch(site, tmp_path):
    """Starts an apply, SIGKILLs it while the gate after the selector switch runs."""
    proc = subprocess.Popen(bg(site, tmp_path, "apply", "--yes", window_s=30), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _journal_has(tmp_path, "gate.switch", "intent"), "the gate after the switch", proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    st = json.loads(run(bg(site, tmp_path, "status", "--json")).stdout)
    assert st["weights"] == {"blue": 0, "green": 100}      # read back from the Service
    (u,) = st["unfinished"]
    assert u["status"] == "interrupted" and "service.switch" in u["done"]
    text = run(bg(site, tmp_path, "status")).stdout
    assert f"unfinished run {u['run_id']} (interrupted" in text and "blue 0 / green 100" in text
    return u["run_id"]


def test_killed_mid_switch_then_resume(site, tmp_path):
    run_id = _killed_mid_switch(site, tmp_path)
    p = run(bg(site, tmp_path, "resume", "--yes", "--json"))
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["run_id"] == run_id and res["status"] == "complete", res["message"]
    assert selector_colour(site) == "green" and replicas(site, "blue") == 0
    assert json.loads(run(bg(site, tmp_path, "status", "--json")).stdout)["unfinished"] == []


def test_killed_mid_switch_then_rollback(site, tmp_path):
    run_id = _killed_mid_switch(site, tmp_path)
    p = run(bg(site, tmp_path, "rollback", "--yes", "--json"))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["run_id"] == run_id
    assert selector_colour(site) == "blue"
    assert replicas(site, "blue") == 1 and replicas(site, "green") is None


def test_abort_from_another_process_rolls_back(site, tmp_path):
    proc = subprocess.Popen(bg(site, tmp_path, "apply", "--yes", "--json", window_s=30),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _journal_has(tmp_path, "gate.switch", "intent"), "the gate after the switch", proc)
        assert selector_colour(site) == "green"
        p = run(bg(site, tmp_path, "abort", "--json"))
        assert p.returncode == 0 and json.loads(p.stdout)["status"] == "requested", p.stderr
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    res = json.loads(out)
    assert res["aborted"] is True and res["action"] == "rollback" and res["status"] == "complete"
    assert res["weights"] == "blue 100 / green 0"
    assert selector_colour(site) == "blue" and replicas(site, "green") is None


def test_breach_after_the_switch_rolls_back_and_keeps_green(site, tmp_path):
    """Green turns slow (P99 over the gate's 500 ms) once the Service selects
    it: the gate puts the selector back on blue by itself, green stays for
    inspection. (A green that stops answering is a halt: no data.)"""
    from actions.bluegreen.plan import live_of
    from actions.bluegreen.service_switch import live_colour
    from actions.plan import CLUSTER, build_plan
    from actions.runner import Runner
    spec = bluegreen_spec(window_s=3.0)
    plan = build_plan("bluegreen", {CLUSTER: site.kube}, {**spec.to_params(), "to": "green"})

    def fault(ev):
        if ev.kind == "step-start" and ev.step == "gate.switch":
            for pod in json.loads(kubectl(site.kubeconfig_path, "get", "pods", "-n", NS, "-l",
                                          "dsconsole.io/colour=green", "-o", "json").stdout)["items"]:
                site.model_servers.inject_latency(pod["status"]["podIP"], 40.0)   # 1 s at time scale 40
    result = Runner(on_progress=fault).apply(plan, confirmation="test")
    assert result.status == "failed"
    step = next(s for s in result.hosts["cluster"].steps if s.id == "gate.switch")
    assert "gate breached: latency above 500 ms: green P99" in step.error, step.error
    assert "selects blue again" in step.error
    assert live_colour(site.kube, spec) == "blue" == selector_colour(site)
    assert replicas(site, "green") == 1 and replicas(site, "blue") == 1     # green kept, blue never scaled
    view = live_of(plan).view()
    assert view.weights == (100, 0) and view.stats["green"].p99_ms > 500


def test_pause_and_resume_from_another_process(site, tmp_path):
    proc = subprocess.Popen(bg(site, tmp_path, "apply", "--yes", window_s=4),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: _journal_has(tmp_path, "gate.preview", "intent"), "the preview gate", proc)
        assert run(bg(site, tmp_path, "pause")).returncode == 0
        errs = []
        t = threading.Thread(target=lambda: errs.append(proc.stderr.read()), daemon=True)
        t.start()
        # paused: the switch does not happen while the pause holds (bounded look)
        import time
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            assert not _journal_has(tmp_path, "service.switch", "intent")
            time.sleep(0.2)
        assert run(bg(site, tmp_path, "resume")).returncode == 0
        proc.wait(120)
        t.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, errs
    assert selector_colour(site) == "green"


BAD = """name: t
hosts:
  - name: lb-0
    address: 10.0.0.5
models:
  - name: deepseek-r1-14b
balancer:
  host: lb-0
  url: http://10.0.0.5
bluegreen:
  model: deepseek-r1-4b
  mode: blue
  green: [10.0.2.1]
  steps: [[100, 0], [90, 20], [0, 100]]
  gate: {window_s: 0, p99: 5}
"""


def test_bad_bluegreen_section_file_line_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    for cmd in (["check-config", str(path)], ["bluegreen", "plan", "--site", str(path)]):
        p = run([sys.executable, "-m", "console", *cmd], timeout=60)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        for line, text in ((8, "balancer.host: host 'lb-0' has role gpu; expected a host with role lb"),
                           (11, "bluegreen.model: unknown model 'deepseek-r1-4b' (did you mean 'deepseek-r1-14b'?)"),
                           (12, "bluegreen.mode: expected one of nginx, service"),
                           (13, "bluegreen.green: expected HOST:PORT as nginx"),
                           (14, "bluegreen.steps[1]: weights 90 + 20 = 110; expected a sum of 100"),
                           (15, "bluegreen.gate: unknown key 'p99' (did you mean 'p99_ms'?)"),
                           (15, "bluegreen.gate.window_s: 0 is out of range")):
            assert f"{path}:{line}: {text}" in p.stderr, p.stderr


def test_site_section_parsed_with_its_load_balancer(tmp_path):
    from actions.bluegreen.spec import BlueGreenSpec, LoadBalancer
    from actions.model_load.spec import spec_for
    from console.site_config import load_site
    path = tmp_path / "ok.yaml"
    path.write_text(BAD.replace("    address: 10.0.0.5\n", "    address: 10.0.0.5\n    role: lb\n")
                    .replace("deepseek-r1-4b", "deepseek-r1-14b").replace("mode: blue", "mode: nginx")
                    .replace("[10.0.2.1]", "[10.0.2.1:8000]\n  blue: [10.0.1.1:8000]")
                    .replace("[90, 20]", "[90, 10]").replace("{window_s: 0, p99: 5}", "{window_s: 5}"))
    site = load_site(path)
    lb = LoadBalancer.from_site(site)
    assert lb == LoadBalancer(host="lb-0", url="http://10.0.0.5", blue=("10.0.1.1:8000",), green=("10.0.2.1:8000",))
    spec = BlueGreenSpec.from_site(site, spec_for("deepseek-r1-14b"))
    assert spec.mode == "nginx" and spec.steps == ((100, 0), (90, 10), (0, 100)) and spec.gate.window_s == 5
    assert BlueGreenSpec.from_params(spec.to_params()) == spec


def test_drain_adds_nginx_worker_shutdown_timeout(tmp_path):
    """Mode nginx: the drain reads worker_shutdown_timeout from a real
    nginx's `nginx -T` (the command as the site's lb.nginx names it)."""
    import shutil

    from actions.bluegreen.nginx_traffic import drain_extra, worker_shutdown_timeout_s
    from actions.bluegreen.spec import BlueGreenSpec, LoadBalancer
    from actions.model_load.spec import spec_for
    from console.hosts.local import LocalTransport
    from tests.nginx_lb import Nginx, upstream_block
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed (tests/install-deps.sh installs it)")
    ngx = Nginx(str(tmp_path), upstream_block({"127.0.0.1:1": 1}), shutdown_s=37)
    spec = BlueGreenSpec(model=spec_for(MODEL), mode="nginx",
                         lb=LoadBalancer(host="lb", nginx=ngx.cmd, include=ngx.include_path))
    assert worker_shutdown_timeout_s(LocalTransport(), ngx.cmd) == 37.0
    assert drain_extra(LocalTransport(), spec) == (37.0, "plus nginx's worker_shutdown_timeout 37 s")
    conf = open(ngx.conf_path).read().replace("worker_shutdown_timeout 37s;", "")
    open(ngx.conf_path, "w").write(conf)
    assert worker_shutdown_timeout_s(LocalTransport(), ngx.cmd) is None


def test_back_to_blue_after_a_switch(site, tmp_path):
    """After a complete switch, `apply --to blue` scales blue up, warms it and
    switches back through the same gates; green is drained and scaled to zero."""
    from actions.plan import CLUSTER, build_plan
    from actions.runner import Runner
    spec = bluegreen_spec()
    plan = build_plan("bluegreen", {CLUSTER: site.kube}, {**spec.to_params(), "to": "green"})
    assert Runner().apply(plan, confirmation="test").status == "complete"
    assert selector_colour(site) == "green" and replicas(site, "blue") == 0

    p = run(bg(site, tmp_path, "plan", "--to", "blue", "--json"))
    steps = [s["id"] for s in json.loads(p.stdout)["hosts"]["cluster"]["steps"]]
    assert steps[:4] == ["preflight.green", "blue.up", "blue.rollout", "blue.warmup"]
    assert steps[-1] == "green.scale-zero"
    p = run(bg(site, tmp_path, "apply", "--to", "blue", "--yes", "--json"))
    assert p.returncode == 0, p.stderr
    done = json.loads(p.stdout)
    assert done["status"] == "complete" and done["weights"] == "blue 100 / green 0", done["message"]
    assert selector_colour(site) == "blue"
    assert replicas(site, "blue") == 1 and replicas(site, "green") == 0
    pods = json.loads(kubectl(site.kubeconfig_path, "get", "pods", "-n", NS, "-l",
                              f"dsconsole.io/bluegreen={MODEL},dsconsole.io/colour=blue,dsconsole.io/warm=true",
                              "-o", "json").stdout)["items"]
    assert len(pods) == 1      # the new blue pod was warmed before it got traffic


def test_nginx_mode_plan_has_a_gate_after_every_weight_step(tmp_path):
    """Mode nginx builds a weight step and a gate per configured step, the
    drain and blue's scale-down (the nginx owner itself is bg-traffic's
    actions/bluegreen/nginx_upstream.py; these steps call it)."""
    from actions.bluegreen.spec import BlueGreenSpec, LoadBalancer
    from actions.model_load.spec import spec_for
    from actions.plan import CLUSTER, build_plan
    from console.hosts.local import LocalTransport
    spec = BlueGreenSpec(model=spec_for(MODEL), mode="nginx", steps=((100, 0), (50, 50), (0, 100)),
                         lb=LoadBalancer(host="lb-0", blue=("10.0.1.1:8000",), green=("10.0.2.1:8000",)))
    plan = build_plan("bluegreen", {CLUSTER: object(), "lb-0": LocalTransport()}, spec.to_params())
    steps = plan.hosts[0].steps
    assert [s.id for s in steps] == ["preflight.blue", "green.up", "green.rollout", "green.warmup",
                                     "traffic.100-0", "gate.100-0", "traffic.50-50", "gate.50-50",
                                     "traffic.0-100", "gate.0-100", "drain", "blue.scale-zero"]
    gates = {s.id: s.colours for s in steps if s.id.startswith("gate.")}
    assert gates == {"gate.100-0": ("blue",), "gate.50-50": ("blue", "green"), "gate.0-100": ("green",)}
    back = build_plan("bluegreen", {CLUSTER: object(), "lb-0": LocalTransport()}, {**spec.to_params(), "to": "blue"})
    assert [s.id for s in back.hosts[0].steps if s.id.startswith("traffic.")] == \
        ["traffic.0-100", "traffic.50-50", "traffic.100-0"]
    p = run([sys.executable, "-m", "console", "bluegreen", "plan", "--mode", "nginx", "--kubeconfig",
             str(tmp_path / "none")], timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "mode nginx needs the site's balancer: section" in p.stderr, p.stderr


def test_nginx_mode_on_the_demo_balancer(site, tmp_path):
    """Mode nginx on the demo site: the whole plan through lb-0 (the demo's
    simulated nginx, whose reloads route the demo balancer), the upstream
    servers read from each colour's warm pods, a gate per step through the
    balancer; nginx runs 0/100 at the end and blue is scaled to zero."""
    from dataclasses import replace

    from actions.bluegreen.plan import live_of, read_weights
    from actions.bluegreen.spec import LoadBalancer
    from actions.plan import CLUSTER, build_plan
    from actions.runner import Runner
    from console.sim.demo_site import LB_HOST
    spec = replace(bluegreen_spec(), mode="nginx", steps=((100, 0), (50, 50), (0, 100)),
                   lb=LoadBalancer(host=LB_HOST, url=site.balancer().url))
    transports = {CLUSTER: site.kube, LB_HOST: site.lb_host()}
    plan = build_plan("bluegreen", transports, {**spec.to_params(), "to": "green"})
    result = Runner().apply(plan, confirmation="test")
    assert result.status == "complete", result.message
    assert read_weights(spec, transports) == (0, 100)
    assert replicas(site, "blue") == 0
    view = live_of(plan).view()
    assert view.weights == (0, 100) and view.stats["green"].sent >= 10
    gate = next(s for s in result.hosts["cluster"].steps if s.id == "gate.50-50")
    assert gate.notes[0].startswith("passed") and gate.notes[1].startswith("colours from")
