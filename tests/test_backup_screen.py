"""Pilot test of `:backup` on the demo site: the matrix first, then the backup
wizard (plan, confirm by typing the copy count, apply), the restic check of
every copy and a restore drill, each changing the matrix; real restic into
local repositories (console.backup.demo), the demo cluster's objects."""
from __future__ import annotations

from textual.widgets import DataTable, Input

from console.site_session import SiteSession
from screens.app import DashboardApp


async def until(pilot, cond, what, limit=3000):
    """Let the app run until cond() holds (bounded; not a timing assertion)."""
    for _ in range(limit):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"never reached: {what}")


def _statuses(screen):
    return {c.name: c.status for c in screen.matrix.copies} if screen.matrix else {}


async def test_backup_screen_on_the_demo_site():
    session = SiteSession.demo(nodes=2, gpus_per_node=8, seed=3)
    session.start()
    assert session.wait_synced(30), session.start_error
    try:
        await _drive(session)
    finally:
        session.stop()


async def _drive(session):
    from screens.backup_screen import BackupScreen
    from screens.wizard_screen import ConfirmScreen, WizardScreen
    app = DashboardApp(session)
    async with app.run_test(size=(120, 40)) as pilot:
        app.run_command("backup")
        await until(pilot, lambda: isinstance(app.screen, BackupScreen) and app.screen.matrix, "the matrix")
        screen = app.screen
        assert set(_statuses(screen).values()) == {"missing"}
        assert not screen.matrix.all_met
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, WizardScreen) and "plan" in app.screen.results
                    and not app.screen.busy, "the backup plan")
        wizard = app.screen
        assert wizard.results["plan"].status == "complete"    # changes needed on every copy
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        app.screen.query_one(Input).value = "4"
        await pilot.press("enter")
        await until(pilot, lambda: "apply" in wizard.results and not wizard.busy, "the backup")
        assert wizard.results["apply"].ok, wizard.results["apply"].message
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen and not screen.busy
                    and set(_statuses(screen).values()) == {"unverified"}, "the matrix after the backup")
        await pilot.press("v")
        await until(pilot, lambda: not screen.busy and set(_statuses(screen).values()) == {"ok"}, "verified")
        assert screen.matrix.all_met
        screen.query_one(DataTable).move_cursor(row=1)
        await pilot.press("d")
        await until(pilot, lambda: not screen.busy and screen.matrix.copies[1].rto, "the drill's RTO")
        assert "RTO: measured" in str(screen.query_one("#backup-detail").render())
