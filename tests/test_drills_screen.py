"""Pilot test of `:drills` on the demo site: the drills listed, a pod kill
confirmed by typing the pod's name (a wrong name refused), its timeline drawn
while it runs, a node drain aborted with `x` whose rollbacks leave the nodes
as before (kubectl read-back), and an unfinished drill (a killed console's
journal) shown at start and rolled back with `u`; the restore drill run from
the screen with real restic on the demo's local copies: stopped by its
steady state before any backup exists, completed with its RTO after one; the
load-balancer drill through the demo's balancer, once to its end and once
aborted with `x` (its upstream started again either way)."""
from __future__ import annotations

import subprocess
import sys

from textual.widgets import Input

from actions.drills import store
from console.site_session import SiteSession
from screens.app import DashboardApp
from tests.dashboard_pilot import wait_for
from tests.sim_kube import kubectl


async def until(pilot, cond, what, limit=3000):
    await wait_for(pilot, cond, what, timeout=limit * 0.05)


def _nodes(kubeconfig) -> str:
    return kubectl(kubeconfig, "get", "nodes", "-o",
                   "custom-columns=NAME:.metadata.name,UNSCHED:.spec.unschedulable").stdout


async def test_drills_screen_on_the_demo_site():
    session = SiteSession.demo(nodes=3, gpus_per_node=2, replicas=4, time_scale=10.0, model_load_s=2.0, seed=3)
    session.start()
    assert session.wait_synced(30), session.start_error
    try:
        await _drive(session)
    finally:
        session.stop()


async def _type(pilot, app, text):
    app.screen.query_one(Input).value = text
    await pilot.press("enter")


async def _drive(session):
    from screens.drills_screen import DrillsScreen, NameConfirmScreen
    kubeconfig = session.demo_site.kubeconfig_path
    before = _nodes(kubeconfig)
    app = DashboardApp(session)
    async with app.run_test(size=(140, 44)) as pilot:
        app.run_command("drills")
        await until(pilot, lambda: isinstance(app.screen, DrillsScreen), "the drills screen")
        screen = app.screen
        table = screen.query_one("#drills-table")
        assert [table.get_row_at(i)[0].plain for i in range(table.row_count)] == \
            ["pod-kill", "node-drain", "node-loss", "gpu-fault", "restore", "lb-upstream-loss"]
        # pod kill: the pod's name typed; a wrong name is refused and keeps the prompt
        table.move_cursor(row=0)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, NameConfirmScreen), "the confirmation")
        names = app.screen.names
        await _type(pilot, app, "not-the-pod")
        assert isinstance(app.screen, NameConfirmScreen)
        assert "type" in str(app.screen.query_one("#drill-confirm-error").render())
        await _type(pilot, app, names[0])
        await until(pilot, lambda: app.screen is screen and screen.running is not None, "the drill running")
        # the timeline is drawn while it runs
        await until(pilot, lambda: screen.running is None or any(e["kind"] == "action" for e in screen.timeline),
                    "the first action on the timeline")
        await until(pilot, lambda: screen.running is None, "the pod kill's end", limit=6000)
        rep = screen.last_report
        assert rep["drill"] == "pod-kill" and rep["status"] == "completed", rep["error"]
        assert rep["blast_radius"]["pods"] == names
        assert "deleted pod" in str(screen.query_one("#drills-timeline").render())
        assert rep["run_id"] in str(screen.query_one("#drills-reports").render())

        # node drain aborted with x once the node is cordoned: the rollback uncordons it
        table.move_cursor(row=1)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, NameConfirmScreen), "the drain's confirmation")
        await _type(pilot, app, app.screen.names[0])
        await until(pilot, lambda: screen.running is None
                    or any("cordoned node" in e["text"] for e in screen.timeline), "the cordon")
        await pilot.press("x")
        await until(pilot, lambda: screen.running is None, "the aborted drain's end", limit=6000)
        rep = screen.last_report
        assert rep["status"] == "aborted" and rep["deviated"]
        assert [(b["op"], b["ok"]) for b in rep["rollbacks"]] == [("uncordon", True)]
        assert _nodes(kubeconfig) == before
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DrillsScreen), "the screen closed")

        # a killed console's drill: its journal has the undo and no end; the screen offers it
        node = before.split()[2]
        j = store.new_journal({"drill": "node-drain", "title": "t", "site": "demo", "context": None,
                               "blast_radius": {"nodes": [node], "pods": []}, "time_scale": 10.0})
        j.write({"t": "undo", "id": 1, "op": "uncordon", "node": node})
        kubectl(kubeconfig, "cordon", node)
        j.close()
        assert _nodes(kubeconfig) != before
        app.run_command("drills")
        await until(pilot, lambda: isinstance(app.screen, DrillsScreen), "the drills screen again")
        screen = app.screen
        assert "unfinished drill" in str(screen.query_one("#drills-status").render())
        await pilot.press("u")
        await until(pilot, lambda: "rollback(s) done" in str(screen.query_one("#drills-status").render()),
                    "the rollback")
        assert _nodes(kubeconfig) == before and store.unfinished() == []
        # ? shows the drills keys in the help
        await pilot.press("question_mark")
        await until(pilot, lambda: "HelpScreen" in type(app.screen).__name__, "the help")


async def _lb_once(pilot, app, screen, *, abort: bool) -> dict:
    from screens.drills_screen import NameConfirmScreen
    screen.query_one("#drills-table").move_cursor(row=5)
    await pilot.press("r")
    await until(pilot, lambda: isinstance(app.screen, NameConfirmScreen), "the LB drill's confirmation")
    upstream = app.screen.names[0]
    await _type(pilot, app, upstream)
    if abort:
        await until(pilot, lambda: screen.running is None or any(e["kind"] == "action" for e in screen.timeline),
                    "the upstream stopped")
        await pilot.press("x")
    await until(pilot, lambda: screen.running is None and screen.last_report is not None, "the LB drill's end",
                limit=6000)
    rep, screen.last_report = screen.last_report, None
    assert rep["blast_radius"]["upstream"] == upstream
    assert [(b["op"], b["ok"]) for b in rep["rollbacks"]] == [("start_upstream", True)]
    return rep


async def test_restore_and_lb_drills_from_the_screen():
    session = SiteSession.demo(nodes=2, gpus_per_node=2, replicas=2, seed=5)
    session.start()
    assert session.wait_synced(30), session.start_error
    try:
        await _drive_restore(session)
    finally:
        session.stop()


async def _restore_once(pilot, app, screen) -> dict:
    from screens.drills_screen import NameConfirmScreen
    screen.query_one("#drills-table").move_cursor(row=4)
    await pilot.press("r")
    await until(pilot, lambda: isinstance(app.screen, NameConfirmScreen), "the restore's confirmation")
    assert app.screen.names == ["primary"]      # the demo's first copy, named to confirm
    await _type(pilot, app, "primary")
    await until(pilot, lambda: app.screen is screen and screen.running is None and screen.last_report is not None,
                "the restore drill's end", limit=6000)
    rep, screen.last_report = screen.last_report, None
    return rep


async def _drive_restore(session):
    from screens.drills_screen import DrillsScreen
    app = DashboardApp(session)
    async with app.run_test(size=(140, 44)) as pilot:
        app.run_command("drills")
        await until(pilot, lambda: isinstance(app.screen, DrillsScreen), "the drills screen")
        screen = app.screen
        # no backup yet: restic check finds no complete set, nothing is restored
        rep = await _restore_once(pilot, app, screen)
        assert rep["drill"] == "restore" and rep["status"] == "not-started", rep
        assert not rep["steady_state"]["before"]["ok"]
        # a backup of the demo's copy (its cluster objects too), then the drill restores and proves it
        from console.backup.demo import demo_site_file
        site_file = demo_site_file(str(session.demo_site.kubeconfig_path))
        b = subprocess.run([sys.executable, "-m", "console", "backup", "run", "--site", str(site_file),
                            "--copy", "primary", "--yes", "--json"], capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)
        assert b.returncode == 0, b.stderr
        rep = await _restore_once(pilot, app, screen)
        assert rep["status"] == "completed" and rep["verdicts"]["integrity"]["met"], rep
        assert rep["measurements"]["files"] >= 3 and rep["measurements"]["restore_s"] > 0
        assert any(e["kind"] == "restored" for e in screen.timeline)
        assert "restored" in str(screen.query_one("#drills-timeline").render())
        assert rep["run_id"] in str(screen.query_one("#drills-reports").render())
        assert store.unfinished() == []
        # the load-balancer drill through the demo's balancer: to its end, then aborted
        rep = await _lb_once(pilot, app, screen, abort=False)
        assert rep["status"] == "completed" and rep["measurements"]["out_of_rotation_s"] is not None, rep
        assert any(e["kind"] == "out-of-rotation" for e in screen.timeline)
        rep = await _lb_once(pilot, app, screen, abort=True)
        assert rep["status"] == "aborted" and rep["deviated"], rep
        assert store.unfinished() == []
