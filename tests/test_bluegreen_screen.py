"""Pilot tests of `:bluegreen` in the dashboard of the demo site: the demo's
own switch of deepseek-v3 through its balancer lb-0 (plan -> confirm ->
green up, warmed, weights moved step by step through the gates, drain, blue
scaled to zero), the live panel showing the weights and per-colour figures
as they change; pause and abort; an unfinished run reopened."""
from __future__ import annotations

from textual.widgets import DataTable

from screens.bluegreen_screen import BlueGreenScreen
from screens.wizard_screen import ConfirmScreen
from tests.bluegreen_site import bluegreen_spec, deploy_blue

V3 = "deepseek-v3"   # the demo's blue-green model (console/sim/site_objects.py)


async def until(pilot, cond, what, limit=3000):
    """Let the app run until cond() holds (bounded; not a timing assertion)."""
    for _ in range(limit):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"bluegreen screen never reached: {what() if callable(what) else what}")


def shorten(wizard, window_s: float) -> None:
    """The demo's gates (10 s) and drain (10 s plus nginx's 30 s
    worker_shutdown_timeout) shortened on the built plan."""
    from dataclasses import replace

    from actions.bluegreen.spec import BlueGreenSpec, Gate
    for s in wizard.loaded_plan.hosts[0].steps:
        if isinstance(getattr(s, "spec", None), BlueGreenSpec):
            s.spec = replace(s.spec, gate=Gate(window_s=window_s, min_requests=10), drain_s=1.0)
        if s.id == "drain":
            s.seconds, s.extra = 1.0, None


def _session():
    """One 671B replica in service on three 8-GPU nodes: a node left for green."""
    from console.site_session import SiteSession
    session = SiteSession.demo(nodes=3, gpus_per_node=8, replicas=1, time_scale=40.0, model_load_s=40.0)
    session.start()
    assert session.wait_ready(30), session.start_error
    return session


def _nginx_weights(session) -> tuple[int, int] | None:
    from actions.bluegreen.plan import read_weights
    from actions.bluegreen.spec import spec_for_site
    from actions.plan import CLUSTER
    from console.sim.demo_site import LB_HOST
    demo = session.demo_site
    spec = spec_for_site(demo.bluegreen_site())
    return read_weights(spec, {CLUSTER: session.kube_client(), LB_HOST: demo.lb_host()})


async def test_bluegreen_command_plan_to_done(tmp_path):
    from screens.app import DashboardApp
    session = _session()
    try:
        app = DashboardApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("colon", *"bluegreen", "enter")
            await until(pilot, lambda: isinstance(app.screen, BlueGreenScreen), ":bluegreen opens the wizard")
            wizard = app.screen
            await until(pilot, lambda: "plan" in wizard.results and not wizard.busy, "the plan")
            table = wizard.query_one(DataTable)
            assert str(table.get_cell("cluster/preflight.blue", "state")) == "ok"
            assert str(table.get_cell("cluster/green.up", "state")) == "needed"
            assert f"+++ Deployment/deepseek/{V3}-green" in wizard.detail_text("cluster").plain
            assert str(table.get_cell("cluster/traffic.100-0", "state")) == "needed"
            shorten(wizard, 2.0)
            seen: list = []
            live = wizard.live
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y", "e", "s", "enter")

            def panel() -> str:
                text = str(wizard.query_one("#bluegreen-live").render())
                if text not in seen:
                    seen.append(text)
                return text
            await until(pilot, lambda: (panel(), "apply" in wizard.results and not wizard.busy)[1],
                        "the apply result")
            assert wizard.results["apply"].status == "complete", wizard.results["apply"].message
            for step in ("green.up", "green.rollout", "green.warmup", "traffic.90-10", "gate.50-50",
                         "traffic.0-100", "blue.scale-zero"):
                assert str(table.get_cell(f"cluster/{step}", "state")) == "applied", step
            await until(pilot, lambda: "blue 0 / green 100" in panel(), "the panel's final weights")
            final = panel()
            assert "green:" in final and "success 100.0 %" in final and "P99" in final
            # the panel moved with the switch: a step where both colours answered
            assert any("weights: blue 50 / green 50" in t and "blue:" in t and "green:" in t for t in seen), seen
            assert live.view().weights == (0, 100)
        assert _nginx_weights(session) == (0, 100)      # read back from lb-0's nginx
    finally:
        session.stop()


async def test_bluegreen_pause_then_abort_rolls_back(tmp_path):
    """`s` pauses the running gate, `x` aborts it: the weights go back to
    100/0 and the run is rolled back (green deleted)."""
    from actions.model_load import cluster_reads as cr
    from screens.app import DashboardApp
    session = _session()
    try:
        kube = session.kube_client()
        app = DashboardApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("colon", *"bluegreen", "enter")
            await until(pilot, lambda: isinstance(app.screen, BlueGreenScreen), ":bluegreen opens the wizard")
            wizard = app.screen
            await until(pilot, lambda: "plan" in wizard.results and not wizard.busy, "the plan")
            shorten(wizard, 60.0)
            started: list = []
            wizard.runner.on_progress = (lambda orig: lambda ev: (started.append(ev.step) if ev.kind ==
                                                                  "step-start" else None, orig(ev)))(
                wizard.runner.on_progress)
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y", "e", "s", "enter")
            await until(pilot, lambda: "gate.90-10" in started, "the 90/10 gate")
            await pilot.press("s")
            await until(pilot, lambda: wizard.runner.paused, "paused")
            assert "paused" in str(wizard.query_one("#wizard-status").render())
            await pilot.press("x")
            await until(pilot, lambda: "rollback" in wizard.results and not wizard.busy,
                        lambda: f"the rollback ({sorted(wizard.results)}, busy {wizard.busy}, "
                                f"{wizard.query_one('#wizard-status').render()})")
            assert wizard.results["apply"].status == "failed"
            step = next(s for s in wizard.results["apply"].hosts["cluster"].steps if s.id == "gate.90-10")
            assert "aborted by the operator" in (step.error or "")
            assert wizard.results["rollback"].status == "complete", wizard.results["rollback"].message
        assert _nginx_weights(session) == (100, 0)
        assert cr.get_or_none(kube, "deployments", "deepseek", f"{V3}-green") is None
    finally:
        session.stop()


async def test_unfinished_run_opens_with_weights_read_back(tmp_path):
    """A switch stopped by a breach is unfinished: `w` in the dashboard opens
    it in the blue-green screen, the panel shows the weights read back, and
    `r` rolls it back."""
    from actions.bluegreen.service_switch import live_colour
    from actions.model_load import cluster_reads as cr
    from actions.plan import CLUSTER, build_plan
    from actions.wizard_runner import runner_for_session
    from console.site_session import SiteSession
    from screens.app import DashboardApp
    session = SiteSession.demo(nodes=2, gpus_per_node=8, replicas=1, time_scale=40.0, model_load_s=40.0)
    session.start()
    try:
        assert session.wait_ready(30), session.start_error
        kube = session.kube_client()
        spec = bluegreen_spec()
        deploy_blue(kube, spec)
        # green slows down once the Service selects it: the gate switches back, the run stays unfinished
        plan = build_plan("bluegreen", {CLUSTER: kube}, {**spec.to_params(), "to": "green"})
        runner = runner_for_session(session)

        def slow_green(ev):
            if ev.kind == "step-start" and ev.step == "gate.switch":
                for p in cr.pods(kube, spec.namespace, spec.colour("green").selector):
                    session.demo_site.model_servers.inject_latency(p["status"]["podIP"], 40.0)
        runner.on_progress = slow_green
        result = runner.apply(plan, confirmation="test")
        assert result.status == "failed" and live_colour(kube, spec) == "blue"
        app = DashboardApp(session)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.unfinished_runs, "the unfinished run noticed")
            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, BlueGreenScreen), "w opens the blue-green screen")
            wizard = app.screen
            assert wizard.run_id == result.run_id
            await until(pilot, lambda: "plan" in wizard.results and not wizard.busy, "the plan")
            await until(pilot, lambda: "weights: blue 100 / green 0" in str(wizard.query_one("#bluegreen-live")
                                                                             .render()), "the weights read back")
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y", "e", "s", "enter")
            await until(pilot, lambda: "rollback" in wizard.results and not wizard.busy,
                        lambda: f"the rollback ({sorted(wizard.results)}, busy {wizard.busy}, "
                                f"{wizard.query_one('#wizard-status').render()})")
            assert wizard.results["rollback"].status == "complete", wizard.results["rollback"].message
            assert cr.get_or_none(kube, "deployments", spec.namespace, spec.colour("green").name) is None
    finally:
        session.stop()
