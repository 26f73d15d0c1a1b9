"""The blue-green wizard's traffic steps in mode nginx on a real Debian nginx
on loopback (tests/nginx_lb.py) in front of two real upstreams, through the
wizard engine (journaled): each weight step written, tested, reloaded and
read back, then its gate over completions sent through nginx; a green that
fails at 50/50 puts the weights back to 100/0 by itself; the drain adds
nginx's worker_shutdown_timeout. (The cluster half of the plan, green's
Deployment, rollout and warmup, is tested on the demo site in
test_bluegreen_wizard.py.)"""
from __future__ import annotations

import shutil

import pytest

from tests.nginx_lb import Nginx, Upstream, upstream_block

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed "
                                                                      "(tests/install-deps.sh installs it)")]


def traffic_plan(nginx: Nginx, blue: Upstream, green: Upstream):
    """The wizard's plan in mode nginx, its traffic part: weight steps, gates, drain."""
    from actions.bluegreen.spec import BlueGreenSpec, Gate, LoadBalancer
    from actions.model_load.spec import spec_for
    from actions.plan import CLUSTER, build_plan
    from console.hosts.local import LocalTransport
    spec = BlueGreenSpec(model=spec_for("deepseek-test"), mode="nginx", steps=((100, 0), (50, 50), (0, 100)),
                         lb=LoadBalancer(host="lb-0", include=nginx.include_path, nginx=nginx.cmd, url=nginx.url,
                                         blue=(blue.address,), green=(green.address,)),
                         gate=Gate(window_s=2.0, min_requests=20), drain_s=0.5)
    plan = build_plan("bluegreen", {CLUSTER: object(), "lb-0": LocalTransport("lb-0")}, spec.to_params())
    hp = plan.hosts[0]
    hp.steps = [s for s in hp.steps if s.id.startswith(("traffic.", "gate.")) or s.id == "drain"]
    return plan


def test_weight_steps_gated_through_nginx(tmp_path, pair):
    from actions.bluegreen.nginx_upstream import Weights
    from actions.bluegreen.plan import live_of
    from actions.runner import Runner
    blue, green = pair
    with Nginx(str(tmp_path), upstream_block({blue.address: 3, green.address: 0}), shutdown_s=1) as nginx:
        plan = traffic_plan(nginx, blue, green)
        checked = Runner().check(plan)
        first = next(s for s in checked.hosts["cluster"].steps if s.id == "traffic.100-0")
        # the first step shows what adopting the operator's block changes
        assert f"+    server {blue.address} weight=100;  # blue" in first.check.persistent
        result = Runner().apply(plan, confirmation="test")
        assert result.status == "complete", result.message
        steps = {s.id: s for s in result.hosts["cluster"].steps}
        assert all(steps[g].status == "applied" for g in ("gate.100-0", "gate.50-50", "gate.0-100"))
        assert "passed" in steps["gate.50-50"].notes[0]
        assert steps["gate.50-50"].notes[1] == "colours from the upstreams' X-Dsconsole-Colour header"
        assert steps["drain"].notes == ("plus nginx's worker_shutdown_timeout 1 s",)
        from actions.bluegreen.nginx_traffic import pool_for, upstream_for
        step = plan.hosts[0].steps[0]
        assert upstream_for(step.lb_transport, step.spec).running(pool_for(step.spec)) == Weights(0, 100)
        view = live_of(plan).view()
        assert view.weights == (0, 100) and view.stats["green"].sent >= 20 and "X-Dsconsole-Colour" in view.verdict


def test_green_failing_at_50_50_goes_back_to_100_0(tmp_path, pair):
    from actions.bluegreen.nginx_upstream import Weights
    from actions.runner import Runner
    blue, green = pair
    with Nginx(str(tmp_path), upstream_block({blue.address: 1, green.address: 0}), shutdown_s=1) as nginx:
        plan = traffic_plan(nginx, blue, green)

        def fault(ev):
            if ev.kind == "step-start" and ev.step == "gate.50-50":
                green.set_mode("error")     # 503 on completions, /health still fine
        result = Runner(on_progress=fault).apply(plan, confirmation="test")
        assert result.status == "failed"
        gate = next(s for s in result.hosts["cluster"].steps if s.id == "gate.50-50")
        assert "gate breached: success rate" in gate.error and "nginx runs blue 100 / green 0" in gate.error
        step = plan.hosts[0].steps[0]
        from actions.bluegreen.nginx_traffic import pool_for, upstream_for
        assert upstream_for(step.lb_transport, step.spec).running(pool_for(step.spec)) == Weights(100, 0)


def test_answers_that_name_no_colour_are_told_by_metrics(tmp_path, pair):
    """Upstreams without the colour header and an nginx without
    X-Upstream-Addr: the plan says how colours will be told, and the gates
    learn that green received traffic from the servers' /metrics counters."""
    from actions.runner import Runner
    blue, green = pair
    blue.colour_header = green.colour_header = False
    with Nginx(str(tmp_path), upstream_block({blue.address: 1, green.address: 0}), shutdown_s=1,
               addr_header=False) as nginx:
        plan = traffic_plan(nginx, blue, green)
        checked = Runner().check(plan)
        gate = next(s for s in checked.hosts["cluster"].steps if s.id == "gate.50-50")
        assert any("/metrics request counters" in n for n in gate.check.notes), gate.check.notes
        result = Runner().apply(plan, confirmation="test")
        assert result.status == "complete", result.message
        steps = {s.id: s for s in result.hosts["cluster"].steps}
        assert "served by /metrics" in steps["gate.50-50"].notes[0], steps["gate.50-50"].notes
        assert steps["gate.50-50"].notes[1].startswith("colours from the model servers' /metrics request counters")
        assert green.counts()["served"] >= 1
