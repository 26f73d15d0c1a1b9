"""`:bluegreen`: the generic wizard screen on the blue-green plan, with a
live panel under the steps: the weights in force (read back), the split
the gate's probe requests measured, success rate and P99 per colour, as
they change (the plan's steps publish them, actions/bluegreen/live.py).
An abort (`x`) stops the running step, which puts traffic back on the old
colour, and then rolls the run back."""
from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Static

from actions.bluegreen.live import Live
from actions.bluegreen.plan import live_of
from actions.plan import Plan
from actions.wizard_runner import runner_for_session
from console.safe_text import visible_text
from screens.wizard_screen import WizardScreen

if TYPE_CHECKING:
    from console.hosts.transport import Transport
    from console.session_view import SessionView
    from console.site_config import Site

_COLOUR = {"blue": "bold blue", "green": "bold green"}


class BlueGreenScreen(WizardScreen):
    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if widget.id == "wizard-status":
                yield Static("", id="bluegreen-live")
            yield widget

    def on_mount(self) -> None:
        # (Textual runs WizardScreen.on_mount too: handlers run along the MRO)
        self._shown_version = -1
        self.set_interval(0.25, self._refresh_live)

    @property
    def live(self) -> Live | None:
        return live_of(self.plan) if self.plan is not None else None

    def live_text(self) -> Text:
        live = self.live
        out = Text()
        if live is None:
            return out
        for line in live.view().lines():
            colour = line.split(":", 1)[0]
            out.append(visible_text(line) + "\n", style=_COLOUR.get(colour, ""))
        return out

    def _refresh_live(self) -> None:
        live = self.live
        if live is None or live.version == self._shown_version:
            return
        self._shown_version = live.version
        self.query_one("#bluegreen-live", Static).update(self.live_text())

    def _do(self, action: str, how: str | None = None) -> None:
        self._read_back()
        super()._do(action, how)
        self._read_back()
        if action in ("apply", "resume") and self.aborting and self.run_id:
            self.aborting = False   # an abort ends in a rollback of the run
            super()._do("rollback", "abort in the wizard screen")


    def _read_back(self) -> None:
        """The weights in force, read from the cluster or nginx (worker thread)."""
        live = self.live
        if live is not None:
            try:
                live.refresh()
            except Exception as e:  # noqa: BLE001 - an unreachable balancer: said in the panel, not fatal
                live.update(phase=f"weights not read back: {e}")


def _site_of(session: SessionView) -> Site | None:
    """The site whose bluegreen: section `:bluegreen` switches: the site file,
    or the demo's own section (deepseek-v3 through its balancer lb-0)."""
    demo = session.demo_site
    return demo.bluegreen_site() if demo is not None and session.site is None else session.site


def _hosts(session: SessionView) -> dict[str, Transport]:
    """The site's hosts, and on the demo its balancer host lb-0 too."""
    hosts = dict(session.transports())
    demo = session.demo_site
    if demo is not None:
        from console.sim.demo_site import LB_HOST
        hosts[LB_HOST] = demo.lb_host()
    return hosts


def open_bluegreen_wizard(app: App[object], session: SessionView) -> None:
    """What `:bluegreen` does: the switch of the site's bluegreen: section (on
    the demo: deepseek-v3 through lb-0, mode nginx) on the session's cluster."""
    from actions.bluegreen.spec import spec_for_site
    from actions.plan import CLUSTER, build_plan

    runner = runner_for_session(session)
    site = _site_of(session)

    def plan() -> Plan:
        spec = spec_for_site(site)
        targets: dict[str, Transport] = {CLUSTER: cast("Transport", session.kube_client())}
        if spec.mode == "nginx" and spec.lb is not None:
            targets[spec.lb.host] = _hosts(session)[spec.lb.host]
        return build_plan("bluegreen", targets, {**spec.to_params(), "to": "green"})
    app.push_screen(BlueGreenScreen(plan, runner))


def open_bluegreen_run(app: App[object], session: SessionView, run_id: str) -> None:
    """An unfinished blue-green run (a console killed mid-switch), its plan
    rebuilt from the journal on the session's cluster: `u` resumes it, `r`
    rolls it back, the panel shows the weights as they are read back."""
    from actions import journal
    from actions.plan import CLUSTER, build_plan

    def plan() -> Plan:
        state = journal.load(run_id)
        targets: dict[str, Transport] = {**_hosts(session), CLUSTER: cast("Transport", session.kube_client())}
        return build_plan(state.wizard, targets, state.params)
    app.push_screen(BlueGreenScreen(plan, runner_for_session(session), run_id=run_id))
