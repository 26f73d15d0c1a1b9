"""`:drills`: the disaster-recovery drills of the session's cluster (the same
engine as `dsconsole drill`, actions/drills/): the drills and the saved
reports listed, `r` runs the selected drill after its blast radius is typed
by name (and, on a context the site file marks production, the context's
name as well: actions/drills/confirm.py), the timeline drawn as it happens,
`x` aborts it (its rollbacks run), and unfinished drills (a console killed
mid-drill) are shown at start with `u` to run their rollbacks. The restore
drill (actions/drills/restore.py) runs here too, on the site's first backup
copy (the demo's local 3-2-1 setup on the demo site); it writes only to a
scratch directory, so it has nothing to abort or roll back. So does the
load-balancer drill (actions/drills/lb_control.py): the demo's balancer, or
the site file's balancer: section; its first stoppable upstream.

The engine never imports textual: this screen feeds it a callback that hands
each event to the UI thread."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static

from actions.drills import store
from actions.drills.catalog import DRILLS, OTHER_DRILLS
from actions.drills.lb_loss import LbUpstreamLoss
from actions.drills.restore import RestoreDrill
from console.safe_text import visible
from screens import keymap
from screens.widgets.key_bar import KeyBar
from screens.wizard_screen import StepTable

if TYPE_CHECKING:
    from textual.app import App

    from actions.drills.catalog import BlastRadius
    from actions.drills.engine import DrillRun
    from actions.drills.faults import FaultInjector
    from console.session_view import SessionView


class NameConfirmScreen(ModalScreen[str | None], inherit_bindings=False):
    """Asks for one of `names` typed; dismisses with it, or None (esc)."""
    BINDINGS = keymap.bindings("confirm")
    DEFAULT_CSS = """
    NameConfirmScreen { align: center middle; }
    NameConfirmScreen > Vertical { width: 90%; height: auto; border: thick $error; background: $surface;
                                   padding: 1 2; }
    """

    def __init__(self, text: str, names: list[str]) -> None:
        super().__init__()
        self.text, self.names = text, names

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(visible(self.text)), id="drill-confirm-text")
            yield Input(placeholder=self.names[0] if len(self.names) == 1 else "a name above",
                        id="drill-confirm-input")
            yield Static("", id="drill-confirm-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        typed = event.value.strip()
        if typed in self.names:
            self.dismiss(typed)
        else:
            self.query_one("#drill-confirm-error", Static).update(
                Text(f"type {' or '.join(self.names)} to confirm, esc to cancel"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class DrillsScreen(Screen, inherit_bindings=False):
    BINDINGS = keymap.bindings("drills")
    DEFAULT_CSS = """
    DrillsScreen #drills-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    DrillsScreen StepTable { height: auto; max-height: 10; }
    DrillsScreen #drills-reports { height: auto; max-height: 8; padding: 0 1; border-top: solid $primary; }
    DrillsScreen #drills-timeline-box { height: 1fr; border-top: solid $primary; }
    DrillsScreen #drills-status { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, session: SessionView) -> None:
        super().__init__()
        self.session = session
        self.running: DrillRun | RestoreDrill | LbUpstreamLoss | None = None
        self.last_report: dict | None = None
        self.unfinished: list[dict] = []
        self.timeline: list[dict] = []

    def compose(self) -> ComposeResult:
        ro = "  [READ-ONLY]" if self.session.read_only else ""
        yield Static(Text(f"Disaster-recovery drills{ro}"), id="drills-title")
        yield StepTable(id="drills-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="drills-reports")
        with VerticalScroll(id="drills-timeline-box"):
            yield Static("", id="drills-timeline")
        yield Static("", id="drills-status")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(StepTable)
        table.add_column("Drill", key="drill")
        table.add_column("What it does", key="title")
        for d in DRILLS.values():
            table.add_row(Text(d.name), Text(d.title), key=d.name)
        for name, title in OTHER_DRILLS.items():
            table.add_row(Text(name), Text(title.split(" (")[0]), key=name)
        self._show_reports()
        self.unfinished = store.unfinished()
        if self.unfinished:
            u = self.unfinished[0]
            self._status(f"unfinished drill {u['run_id']} ({u['drill']}): {len(u['pending'])} rollback(s) "
                         f"not run; press u to run them", True)
        else:
            self._status("select a drill, r to run it")

    # -- UI thread -----------------------------------------------------------------
    def _status(self, text: str, error: bool = False) -> None:
        self.query_one("#drills-status", Static).update(Text(visible(text), style="bold red" if error else ""))

    def _show_reports(self) -> None:
        out = Text("Reports:\n" if store.reports() else "No reports yet\n", style="bold")
        for r in store.reports()[-6:]:
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.get("started") or 0))
            out.append(f"  {r['run_id']}  {r['drill']:<12} {when}  {r['status']}"
                       f"{' (deviated)' if r.get('deviated') else ''}\n",
                       style="yellow" if r.get("deviated") else "")
        self.query_one("#drills-reports", Static).update(out)

    def _event(self, ev: dict) -> None:
        self.timeline.append(ev)
        text = Text()
        for e in self.timeline[-200:]:
            style = {"error": "bold red", "429": "yellow", "rollback": "cyan", "recovered": "green"}.get(e["kind"], "")
            text.append(f"{e['t_s']:8.1f}  {e['kind']:<12} {visible(e['text'])}\n", style=style)
        self.query_one("#drills-timeline", Static).update(text)
        self.query_one("#drills-timeline-box", VerticalScroll).scroll_end(animate=False)

    def _selected(self) -> str | None:
        table = self.query_one(StepTable)
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None

    # -- keys ------------------------------------------------------------------------
    def action_run(self) -> None:
        if self.running is not None:
            self.notify("a drill is running: x aborts it", severity="warning")
            return
        if self.session.read_only:
            self._status("read-only session: drills refused (started with --read-only)", True)
            return
        name = self._selected()
        if name == "restore":
            self._plan_restore()
        elif name == "lb-upstream-loss":
            self._plan_lb()
        elif name:
            self._plan(name)

    def action_abort(self) -> None:
        if isinstance(self.running, RestoreDrill):
            self.notify("the restore drill writes only to a scratch directory: it runs to its end",
                        severity="warning")
        elif self.running is not None:
            self.running.abort()
            self._status("aborting: the rollbacks run...", True)

    def action_rollback(self) -> None:
        if self.running is None and self.unfinished:
            self._rollback(self.unfinished[0]["run_id"])

    def action_close(self) -> None:
        if self.running is not None:
            self.notify("a drill is running: x aborts it first", severity="warning")
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    # -- the drill ---------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="drills")
    def _plan(self, name: str) -> None:
        from actions.drills.engine import DrillRun
        try:
            parts = drill_parts(self.session)
            run = DrillRun(name, parts["ops"], faults=parts["faults"], site=parts["site"],
                           context=parts["context"], production=parts["production"],
                           time_scale=parts["time_scale"], operator=self.session.operator,
                           on_event=lambda ev: self.app.call_from_thread(self._event, ev))
            radius = run.plan()
        except Exception as e:   # noqa: BLE001 - DrillRefused and the rest: said, the screen stays
            self.app.call_from_thread(self._status, f"{name}: {e}", True)
            return
        self.app.call_from_thread(self._confirm, f"Drill {run.drill.name} will disrupt {radius.describe()}.",
                                  radius.names, run.production, run.site, run.context,
                                  lambda how, production_ok: self._start(run, radius, how, production_ok))

    def _confirm(self, text: str, names: list[str], production: bool, site: str | None,
                 context: str | None, start: Callable[[str, bool], None]) -> None:
        """The blast radius typed by name (and a production context's name
        after it); then start(how it was confirmed, production confirmed)."""
        from actions.drills.confirm import production_name

        def radius_typed(typed: str | None) -> None:
            if typed is None:
                self._status("not confirmed: nothing changed")
                return
            how = f"typed {typed!r} in the console"
            if not production:
                start(how, False)
                return
            name = production_name(site, context)

            def production_typed(p: str | None) -> None:
                if p is None:
                    self._status("production not confirmed: nothing changed")
                else:
                    start(how + ", production name typed", True)
            self.app.push_screen(NameConfirmScreen(
                f"Context {name} is marked PRODUCTION in the site file. Type {name} to drill it anyway.",
                [name]), production_typed)
        self.app.push_screen(NameConfirmScreen(f"{text}\nType the target's name ({', '.join(names)}) to confirm.",
                                               names), radius_typed)

    def _start(self, run: DrillRun, radius: BlastRadius, how: str, production_ok: bool) -> None:
        self.running = run
        self.timeline = []
        self._status(f"{run.drill.name} running: x aborts it (rollbacks run)")
        # a node typed in the blast radius prompt is the node named (stops_real_node)
        self._run_to_report(lambda: run.run(radius, how, production_confirmed=production_ok,
                                            confirmed_node=radius.nodes[0] if radius.nodes else None))

    @work(thread=True, exclusive=True, group="drills")
    def _run_to_report(self, run: Callable[[], dict], after: Callable[[], None] | None = None) -> None:
        """A drill run to its report on a worker; `after` cleans up either way."""
        try:
            report = run()
        except Exception as e:  # noqa: BLE001 - refused before it started: said, the screen stays
            self.app.call_from_thread(self._done, None, str(e))
            return
        finally:
            if after is not None:
                after()
        self.app.call_from_thread(self._done, report, None)

    @work(thread=True, exclusive=True, group="drills")
    def _plan_restore(self) -> None:
        from screens.backup_screen import backup_context
        try:
            ctx = backup_context(self.session)
            copy = ctx.cfg.copies[0].name
            site = self.session.site
            production = bool(site and site.cluster.production)
            drill = RestoreDrill(ctx, copy, context=self.session.context, production=production,
                                 operator=self.session.operator,
                                 on_event=lambda ev: self.app.call_from_thread(self._event, ev))
        except Exception as e:   # noqa: BLE001 - no backup section, no password: said, the screen stays
            self.app.call_from_thread(self._status, f"restore: {e}", True)
            return

        def start(how: str, _production_ok: bool) -> None:
            self.running = drill
            self.timeline = []
            self._status(f"restore drill running from copy {copy}")
            self._run_to_report(lambda: drill.run(how), ctx.close)
        self.app.call_from_thread(
            self._confirm, f"Drill restore will restore copy {copy} into {ctx.cfg.policy.scratch_dir} on its host.",
            [copy], production, ctx.name, self.session.context, start)

    @work(thread=True, exclusive=True, group="drills")
    def _plan_lb(self) -> None:
        from actions.drills.lb_control import DemoBalancer, SiteBalancer, lb_drill
        session = self.session
        site, demo = session.site, session.demo_site
        try:
            control: DemoBalancer | SiteBalancer
            if session.is_demo and demo is not None:
                control, site_name, production = DemoBalancer(demo), "demo", False
            elif site is not None and site.balancer is not None:
                control = SiteBalancer(site.balancer, lambda h: session.transports()[h])
                site_name, production = site.name, site.cluster.production
            else:
                raise ValueError("the site file has no balancer: section (README.md, Site file)")
            drill = lb_drill(control, None, site=site_name, context=session.context, production=production,
                             operator=session.operator,
                             on_event=lambda ev: self.app.call_from_thread(self._event, ev))
            url = control.target().url
        except Exception as e:   # noqa: BLE001 - no balancer, nothing to stop: said, the screen stays
            self.app.call_from_thread(self._status, f"lb-upstream-loss: {e}", True)
            return

        def start(how: str, production_ok: bool) -> None:
            self.running = drill
            self.timeline = []
            self._status(f"lb-upstream-loss running: upstream {drill.upstream} stopped; x aborts it (it restarts)")
            self._run_to_report(lambda: drill.run(how, production_confirmed=production_ok))
        self.app.call_from_thread(
            self._confirm, f"Drill lb-upstream-loss will stop upstream {drill.upstream} behind the balancer {url}.",
            [drill.upstream], production, site_name, session.context, start)

    def _done(self, report: dict | None, error: str | None) -> None:
        self.running = None
        self.last_report = report
        self._show_reports()
        if report is None:
            self._status(f"refused: {error}", True)
            return
        verdicts = ", ".join(f"{k} {'met' if v['met'] else 'NOT met'}" for k, v in report["verdicts"].items())
        self._status(f"{report['drill']} {report['status']}{' (deviated)' if report['deviated'] else ''}: "
                     f"{verdicts}; report {report['run_id']}", report["deviated"])

    @work(thread=True, exclusive=True, group="drills")
    def _rollback(self, run_id: str) -> None:
        try:
            parts = drill_parts(self.session)
            done = store.rollback_run(run_id, parts["ops"], parts["faults"])
        except Exception as e:  # noqa: BLE001
            self.app.call_from_thread(self._status, f"rollback of {run_id} failed: {e}", True)
            return
        ok = all(b["ok"] for b in done)
        self.unfinished = store.unfinished()
        self.app.call_from_thread(
            self._status, f"{run_id}: {len(done)} rollback(s) " + ("done" if ok else "FAILED in part"), not ok)


def drill_parts(session: SessionView) -> dict:
    """What a drill needs from the session: the cluster, the fault injector
    (the demo's simulator, or the site file's hosts for node loss), names."""
    from actions.drills.cluster_ops import ClusterOps
    ops = ClusterOps(session.kube_client(), namespace=session.namespace)
    site = session.site
    faults: FaultInjector | None = None
    scale = 1.0
    demo = session.demo_site
    if session.is_demo and demo is not None:
        from actions.drills.faults import DemoFaults
        faults, scale = DemoFaults(demo), demo.clock.time_scale
    elif site is not None and site.hosts:
        from actions.drills.host_faults import HostFaults
        faults = HostFaults(site.hosts, lambda h: session.transports()[h.name])
    return {"ops": ops, "faults": faults, "time_scale": scale,
            "site": "demo" if session.is_demo else (site.name if site else None),
            "context": session.context, "production": bool(site and site.cluster.production)}


def open_drills_screen(app: App[object], session: SessionView) -> None:
    app.push_screen(DrillsScreen(session))
