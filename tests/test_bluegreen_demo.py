"""The demo site's own blue-green switch (issue 13): its deepseek-v3-blue is
what the wizard expects of blue (the colour labels, warm pods), so the plan
of `bluegreen --demo` passes its first check; a whole switch through the
simulated balancer lb-0 moves the demo's traffic to green, and a fault
injected into green is rolled back by the gate. Read back with kubectl and
with `nginx -T` on lb-0."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from tests.sim_kube import kubectl

pytestmark = pytest.mark.timeout(300)


def test_demo_colour_labels_are_the_wizards():
    from actions.bluegreen.spec import colour_spec
    from actions.model_load.spec import WARM_LABEL, spec_for
    from console.sim import site_objects as so
    for colour in ("blue", "green"):
        want = colour_spec(spec_for(so.MODEL), colour)
        dep = so.model_deployment(1, so.MODEL_PORT, "2026-01-01T00:00:00Z", model=so.V3_671B, colour=colour)
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["metadata"]["name"] == want.name
        assert want.selector == dep["spec"]["selector"]["matchLabels"]
        assert want.labels.items() <= pod_labels.items() and pod_labels[WARM_LABEL] == "true"


def test_bluegreen_plan_on_the_demo_passes_its_first_check():
    r = subprocess.run([sys.executable, "-m", "console", "bluegreen", "plan", "--demo", "--json"],
                       capture_output=True, text=True, timeout=240)
    doc = json.loads(r.stdout)
    steps = {s["id"]: s for h in doc["hosts"].values() for s in h["steps"]}
    assert steps["preflight.blue"]["status"] == "ok", steps["preflight.blue"]
    assert doc["mode"] == "nginx"
    assert any(i.startswith("traffic.") for i in steps)


@pytest.fixture
def demo():
    from console.sim.demo_site import start_demo_site
    site = start_demo_site(nodes=4, gpus_per_node=8, replicas=1, time_scale=30.0, model_load_s=60.0)
    try:
        yield site
    finally:
        site.stop()


def _switch(demo):
    """The demo's switch to green through lb-0, with short gates and drain."""
    from actions.bluegreen.spec import spec_for_site
    from actions.plan import CLUSTER, build_plan
    from actions.wizard_runner import build_runner
    from console.kube.client import KubeHttp
    from console.kube.kubeconfig import resolve
    from console.sim.demo_site import LB_HOST
    spec = spec_for_site(demo.bluegreen_site())
    spec = replace(spec, gate=replace(spec.gate, window_s=3.0, min_requests=10), drain_s=0.5)
    transports = {CLUSTER: KubeHttp(resolve(str(demo.kubeconfig_path), demo.context)), LB_HOST: demo.lb_host()}
    plan = build_plan("bluegreen", transports, {**spec.to_params(), "to": "green"})
    runner = build_runner(site="demo", operator="test", read_only=False)
    return runner.apply(plan, confirmation="test")


def _replicas(demo, name: str) -> int:
    out = kubectl(demo.kubeconfig_path, "get", "deployment", name, "-n", "deepseek", "-o", "json").stdout
    return json.loads(out)["spec"]["replicas"]


def _nginx_servers(demo) -> str:
    r = demo.lb_host().run("nginx -T", timeout=10)
    assert r.ok, r.stderr
    return "\n".join(line.strip() for line in r.stdout.splitlines() if line.strip().startswith("server "))


def test_a_whole_switch_on_the_demo_moves_its_traffic_to_green(demo):
    result = _switch(demo)
    assert result.ok, result.to_dict()
    servers = _nginx_servers(demo)   # blue's servers down, green's weighted
    pool = demo.model_servers
    green_ips = [ip for ip in pool.addresses() if pool.colour(ip) == "green"]
    assert green_ips and all(f"server {ip}:{pool.port} weight=" in servers for ip in green_ips), servers
    assert " down;" in servers, servers
    assert _replicas(demo, "deepseek-v3-blue") == 0 and _replicas(demo, "deepseek-v3-green") == 1
    shares = demo._balancer_shares()
    green = [a for a in shares if demo.model_servers.colour(a.split(":")[0]) == "green"]
    assert green and sum(shares[a] for a in green) == pytest.approx(1.0)


def test_a_green_fault_on_the_demo_is_rolled_back_by_the_gate(demo):
    demo.inject_green_fault("5xx")
    result = _switch(demo)
    assert not result.ok
    failed = [s for h in result.to_dict()["hosts"].values() for s in h["steps"] if s["status"] == "failed"]
    assert failed and failed[0]["id"].startswith("gate."), failed
    # traffic back on blue, green kept for inspection
    shares = demo._balancer_shares()
    blue = [a for a in shares if demo.model_servers.colour(a.split(":")[0]) == "blue"]
    assert sum(shares[a] for a in blue) == pytest.approx(1.0)
    assert _replicas(demo, "deepseek-v3-blue") == 1 and _replicas(demo, "deepseek-v3-green") == 1
