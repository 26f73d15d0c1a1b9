"""Pilot test of the generic wizard screen on the model-load plan: `:model`
in the dashboard of the demo site opens it; plan -> confirm -> apply with the
long steps' progress shown in the table -> every pod Ready and warm."""
from __future__ import annotations

from textual.widgets import DataTable

from screens.wizard_screen import ConfirmScreen, WizardScreen

MODEL = "deepseek-r1-distill-qwen-14b"


async def until(pilot, cond, what, limit=3000):
    """Let the app run until cond() holds (bounded; not a timing assertion)."""
    for _ in range(limit):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"wizard screen never reached: {what}")


async def test_model_command_plan_to_warm():
    from console.kube.client import object_path
    from console.site_session import SiteSession
    from screens.app import DashboardApp
    session = SiteSession.demo(nodes=2, gpus_per_node=8, replicas=1, time_scale=40.0, model_load_s=40.0)
    session.start()
    try:
        assert session.wait_ready(30), session.start_error
        app = DashboardApp(session)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.press("colon", *"model", "enter")
            await until(pilot, lambda: isinstance(app.screen, WizardScreen), ":model opens the wizard")
            wizard = app.screen
            await until(pilot, lambda: "plan" in wizard.results and not wizard.busy, "the plan")
            table = wizard.query_one(DataTable)
            assert str(table.get_cell("cluster/preflight.fit", "state")) == "ok"
            assert str(table.get_cell("cluster/apply.workload", "state")) == "needed"
            # the demo's GPU hosts are verified by host tuning: untuned is a warning, not a refusal
            assert str(table.get_cell("cluster/preflight.tuning", "state")) == "warn"
            assert "+++ Deployment/deepseek/" + MODEL in wizard.detail_text("cluster").plain
            details = []
            wizard.runner.on_progress = (lambda orig: lambda ev: (details.append(ev), orig(ev)))(
                wizard.runner.on_progress)
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            await pilot.press("y", "e", "s", "enter")
            await until(pilot, lambda: "apply" in wizard.results and not wizard.busy, "the apply result")
            assert wizard.results["apply"].status == "complete", wizard.results["apply"].message
            for step in ("apply.workload", "rollout", "warmup", "apply.service"):
                assert str(table.get_cell(f"cluster/{step}", "state")) == "applied"
            assert any(ev.kind == "step-progress" and ev.step == "rollout" for ev in details)
            kube = session.kube_client()
            pods = kube.get_json(object_path("pods", "deepseek"),
                                 {"labelSelector": f"dsconsole.io/model={MODEL}"})["items"]
            assert len(pods) == 1 and pods[0]["metadata"]["labels"]["dsconsole.io/warm"] == "true"
            kube.close()
    finally:
        session.stop()
