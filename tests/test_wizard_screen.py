"""Pilot test of the generic wizard screen on the host-tuning plan over the demo's
simulated hosts: plan (per-host diff) -> confirm by typing the count -> apply
with live state -> verify -> rollback; a read-only session refuses."""

from textual.app import App
from textual.widgets import DataTable, Input, Static

from actions.plan import build_plan
from actions.runner import Runner
from console import audit
from console.sim import tuning_demo
from screens.wizard_screen import ConfirmScreen, WizardScreen

THP = "/sys/kernel/mm/transparent_hugepage/enabled"


class WizardApp(App):
    def __init__(self, screen):
        super().__init__()
        self.wizard = screen

    def on_mount(self):
        self.push_screen(self.wizard)


async def until(pilot, cond, what, limit=400):
    """Let the app run until cond() holds (bounded; not a timing assertion)."""
    for _ in range(limit):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"wizard screen never reached: {what}")


def _cell(screen, row, col):
    return str(screen.query_one(DataTable).get_cell(row, col))


def _state(h):
    return (h.files.get("/etc/sysctl.d/60-dsconsole-swappiness.conf"), h.files.get("/etc/default/grub"),
            h.read("/proc/sys/vm/swappiness"), h.read(THP))


async def test_wizard_screen_plan_apply_verify_rollback():
    hosts = tuning_demo.new_hosts(3)
    originals = {n: _state(h) for n, h in hosts.items()}
    runner = Runner(audit=audit.AuditLog(site="demo"), site="demo")
    screen = WizardScreen(lambda: build_plan("host-tuning", hosts, {}), runner)
    app = WizardApp(screen)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: "plan" in screen.results and not screen.busy, "the plan")
        assert _cell(screen, "gpu-node-0001/swappiness", "state") == "needed"
        assert _cell(screen, "gpu-node-0002/swappiness", "state") == "ok"
        assert _cell(screen, "gpu-node-0003/report.tuned", "state") == "warn"
        detail = screen.detail_text("gpu-node-0001").plain
        assert "persistent:" in detail and "+vm.swappiness = 1" in detail
        assert "runtime:" in detail and "vm.swappiness: 60 -> 1" in detail
        assert "[madvise] -> [never]" in detail
        assert "no /etc/default/grub" in screen.detail_text("gpu-node-0003").plain

        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        prompt = str(app.screen.query_one("#confirm-text", Static).render())
        assert "gpu-node-0001, gpu-node-0002, gpu-node-0003" in prompt and "(3)" in prompt
        await pilot.press("y", "e", "s", "enter")          # "yes" is not the count
        assert isinstance(app.screen, ConfirmScreen)
        assert "type 3" in str(app.screen.query_one("#confirm-error", Static).render())
        app.screen.query_one(Input).value = ""
        await pilot.press("3", "enter")
        await until(pilot, lambda: "apply" in screen.results and not screen.busy, "the apply result")
        assert screen.results["apply"].status == "complete"
        assert _cell(screen, "gpu-node-0001/thp", "state") == "applied"
        assert _cell(screen, "gpu-node-0002/thp", "state") == "unchanged"
        assert all(h.read(THP) == b"always madvise [never]\n" for h in hosts.values())
        assert "apply: changed" in screen.detail_text("gpu-node-0001").plain

        await pilot.press("v")
        await until(pilot, lambda: "verify" in screen.results and not screen.busy, "verify")
        assert screen.results["verify"].status == "complete"
        assert "verify passed" in str(screen.query_one("#wizard-status", Static).render())

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the rollback confirmation")
        await pilot.press("3", "enter")
        await until(pilot, lambda: "rollback" in screen.results and not screen.busy, "rollback")
        assert screen.results["rollback"].status == "complete"
        assert _cell(screen, "gpu-node-0001/swappiness", "state") == "rolled-back"
        assert {n: _state(h) for n, h in hosts.items()} == originals
    actions = [r["action"] for r in audit.AuditLog().records()]
    assert actions.count("confirm") == 2 and "apply" in actions and "rollback" in actions


async def test_wizard_screen_read_only_refuses_apply():
    hosts = tuning_demo.new_hosts(2)
    originals = {n: _state(h) for n, h in hosts.items()}
    runner = Runner(audit=audit.AuditLog(site="demo"), site="demo", read_only=True)
    screen = WizardScreen(build_plan("host-tuning", hosts, {}), runner)
    app = WizardApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "plan" in screen.results and not screen.busy, "the plan")
        assert "READ-ONLY" in str(screen.query_one("#wizard-title", Static).render())
        await pilot.press("a")
        # the refusal and the confirmation are the two ends of the key's one path
        await until(pilot, lambda: "read-only" in str(screen.query_one("#wizard-status", Static).render()),
                    "the read-only refusal")
        assert not isinstance(app.screen, ConfirmScreen)
    assert {n: _state(h) for n, h in hosts.items()} == originals
    assert [r["result"] for r in audit.AuditLog().records()] == ["refused: read-only session"]


async def test_wizard_screen_offers_and_resumes_an_unfinished_run():
    hosts = tuning_demo.new_hosts(2)
    hosts["gpu-node-0002"].set_reachable(False)
    partial = Runner().apply(build_plan("host-tuning", hosts, {}), confirmation="--yes")
    assert partial.status == "failed"
    hosts["gpu-node-0002"].set_reachable(True)
    screen = WizardScreen(build_plan("host-tuning", hosts, {}), Runner())
    app = WizardApp(screen)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "plan" in screen.results and not screen.busy, "the plan")
        banner = str(screen.query_one("#wizard-banner", Static).render())
        assert f"Unfinished run {partial.run_id} (partial)" in banner and "u resume" in banner
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the resume confirmation")
        await pilot.press("2", "enter")
        await until(pilot, lambda: "resume" in screen.results and not screen.busy, "resume")
        # gpu-node-0001's steps are checked again and found in effect, gpu-node-0002
        # was compliant all along: the resume finishes the run and changes nothing
        assert screen.results["resume"].status == "no-change"
        assert screen.query_one("#wizard-banner", Static).has_class("-empty")
    assert hosts["gpu-node-0002"].read("/proc/sys/vm/swappiness") == b"1\n"


async def test_tune_command_opens_the_wizard_on_the_demo_sites_hosts():
    from console.site_session import SiteSession
    from screens import keymap
    from screens.app import DashboardApp
    session = SiteSession.demo(nodes=2, gpus_per_node=8, seed=3)
    session.start()
    try:
        assert session.wait_ready(30), session.start_error
        app = DashboardApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("colon", *"tune", "enter")
            await until(pilot, lambda: isinstance(app.screen, WizardScreen), ":tune opens the wizard")
            wizard = app.screen
            await until(pilot, lambda: "plan" in wizard.results and not wizard.busy, "the plan", limit=1000)
            assert set(wizard.results["plan"].hosts) == set(session.transports())
            assert all(r.status == "needed" for r in wizard.results["plan"].hosts.values())
            registry = {part for k in keymap.KEYS for part in k.key.split(",")}
            for key in ("p", "a", "v", "r", "u", "escape"):
                assert key in wizard.active_bindings and key in registry
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, WizardScreen), "esc closes it")
    finally:
        session.stop()


async def test_dashboard_start_shows_an_unfinished_run_and_opens_it():
    """Issue 5: the console was killed (or the connection dropped) mid-run; the
    next start names the run (wizard, hosts, when) and a key opens the wizard on
    it, where it is resumed."""
    from console.site_session import SiteSession
    from screens import keymap
    from screens.app import DashboardApp
    session = SiteSession.demo(nodes=2, gpus_per_node=8, seed=3)
    session.start()
    try:
        assert session.wait_ready(30), session.start_error
        hosts = session.transports()
        names = sorted(hosts)
        hosts[names[1]].set_reachable(False)          # the connection drops mid-run
        partial = Runner(site="demo").apply(build_plan("host-tuning", hosts, {}), confirmation="--yes")
        assert partial.status == "failed"
        hosts[names[1]].set_reachable(True)
        notices: list[str] = []

        class NoticeRecordingApp(DashboardApp):
            def notify(self, message: str, **kw) -> None:
                notices.append(message)
                super().notify(message, **kw)
        app = NoticeRecordingApp(session)
        async with app.run_test(size=(100, 32)) as pilot:
            await until(pilot, lambda: app.unfinished_runs is not None, "the journal read at start", limit=1000)
            assert len(notices) == 1, notices
            notice = notices[0]
            assert f"host-tuning run {partial.run_id} (partial)" in notice
            assert f"on {names[0]}, {names[1]}, started " in notice and "UTC" in notice
            assert "Press w to open it: resume or roll back" in notice
            assert any(k.key == "w" and k.action == "app.unfinished_run" for k in keymap.KEYS)

            await pilot.press("w")
            await until(pilot, lambda: isinstance(app.screen, WizardScreen), "w opens the wizard on the run")
            wizard = app.screen
            assert wizard.run_id == partial.run_id
            await until(pilot, lambda: "plan" in wizard.results and not wizard.busy, "the plan", limit=1000)
            banner = str(wizard.query_one("#wizard-banner", Static).render())
            assert f"Unfinished run {partial.run_id} (partial)" in banner
            await pilot.press("u")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the resume confirmation")
            await pilot.press("2", "enter")
            await until(pilot, lambda: "resume" in wizard.results and not wizard.busy, "resume", limit=1000)
            assert wizard.results["resume"].status == "complete"
            assert wizard.results["resume"].run_id == partial.run_id
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, WizardScreen), "esc closes it")
            await pilot.press("w")                      # nothing left to resume
            await until(pilot, lambda: app.unfinished_runs == [], "the journal read again")
            assert not isinstance(app.screen, WizardScreen)
        assert hosts[names[1]].read("/proc/sys/vm/swappiness") == b"1\n"
    finally:
        session.stop()
