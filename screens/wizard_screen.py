"""The one generic wizard screen: renders any actions.plan.Plan.

Top: a table of every host's steps with their state; below it the selected
host's diff (persistent and runtime apart, with notes) or the last result;
a status line with live progress. Keys: plan (check again), apply (after a
confirmation naming the hosts; typing the count for more than one), verify,
rollback, resume. Every blocking call runs in a thread worker; the runner's
progress callbacks come back through call_from_thread.

    WizardScreen(plan, runner)          # a Plan, or a callable returning one
    open_tuning_wizard(app, session)    # what `:tune` opens
    open_model_wizard(app, session)     # what `:model` opens (the cluster is one target)
    open_run_wizard(app, session, run_id)  # an unfinished run, to resume or roll back
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static

from actions import confirm, journal
from actions.plan import Plan
from actions.runner import Progress, Runner, RunResult
from actions.wizard_runner import runner_for_session
from console.safe_text import visible, visible_text
from screens import keymap
from screens.widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from console.hosts.transport import Transport
    from console.session_view import SessionView

_STYLE = {"ok": "green", "applied": "green", "unchanged": "green", "rolled-back": "cyan",
          "needed": "yellow", "warn": "yellow", "skipped": "dim", "error": "bold red",
          "failed": "bold red", "running": "bold cyan", "changed": "green"}


def _state(status: str) -> Text:
    return Text(status, style=_STYLE.get(status, ""))


class StepTable(DataTable, inherit_bindings=False):
    """The table of steps: a DataTable whose keys all come from the registry
    (DataTable's own ctrl+pageup/ctrl+home/... would be missing from `?`)."""
    BINDINGS = keymap.bindings("steps")


class ConfirmScreen(ModalScreen[bool], inherit_bindings=False):
    """Names the hosts; one host: type yes; several: type how many."""
    BINDINGS = keymap.bindings("confirm")

    def __init__(self, action: str, hosts: list[str]) -> None:
        super().__init__()
        self.action_name = action
        self.hosts = hosts

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(confirm.prompt(self.action_name, self.hosts)), id="confirm-text")
            yield Input(placeholder="yes" if len(self.hosts) == 1 else str(len(self.hosts)),
                        id="confirm-input")
            yield Static("", id="confirm-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if confirm.accepts(self.hosts, event.value):
            self.dismiss(True)
        else:
            want = "yes" if len(self.hosts) == 1 else str(len(self.hosts))
            self.query_one("#confirm-error", Static).update(f"type {want} to confirm, esc to cancel")

    def action_cancel(self) -> None:
        self.dismiss(False)


class WizardScreen(Screen, inherit_bindings=False):
    """Screen's own bindings (ctrl+c / super+c copy) are not inherited: every key
    here comes from the registry (the app's tab / shift+tab / ctrl+c apply)."""
    BINDINGS = keymap.bindings("wizard")

    def __init__(self, plan: Plan | Callable[[], Plan], runner: Runner, *, run_id: str | None = None,
                 name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.plan: Plan | None = plan if isinstance(plan, Plan) else None
        self._build_plan: Callable[[], Plan] | None = None if isinstance(plan, Plan) else plan
        self.runner = runner
        self.busy = True                              # until the first plan is shown
        self.last: RunResult | None = None            # the last plan/apply/verify/rollback result
        self.results: dict[str, RunResult] = {}       # by action
        # the run this screen applied or resumed, or was opened on (`run_id`):
        # resume and rollback act on it
        self.run_id: str | None = run_id
        self.unfinished: list[journal.RunState] = []
        self.row_host: dict[str, str] = {}
        self.aborting = False                         # the operator aborted the running action
        runner.on_progress = self._progress_from_thread

    # -- layout -------------------------------------------------------------
    def compose(self) -> ComposeResult:
        ro = "  [READ-ONLY]" if self.runner.read_only else ""
        yield Static(Text(f"Wizard{ro}"), id="wizard-title")
        yield Static("", id="wizard-banner", classes="-empty")
        table = StepTable(id="wizard-steps", cursor_type="row", zebra_stripes=True)
        yield table
        with VerticalScroll(id="wizard-detail-box"):
            yield Static("", id="wizard-detail")
        yield Static("loading the plan...", id="wizard-status")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Host", key="host")
        table.add_column("Step", key="step")
        table.add_column("State", key="state", width=len("rolled-back"))  # the longest state
        table.add_column("Detail", key="detail", width=72)
        self._load()

    @property
    def loaded_plan(self) -> Plan:
        """The plan, once built (_load builds it before any action can run)."""
        if self.plan is None:
            raise LookupError("the plan is not built yet")
        return self.plan

    # -- workers --------------------------------------------------------------
    @work(thread=True, exclusive=True, group="wizard")
    def _load(self) -> None:
        if self._build_plan is not None:
            try:
                self.plan = self._build_plan()
            except Exception as e:  # e.g. a journaled run's host is not in this site now
                self.app.call_from_thread(self._status, f"cannot build the plan: {e}", True)
                return
        self.app.call_from_thread(self._fill_table)
        self.unfinished = journal.unfinished_runs(self.loaded_plan.wizard)
        self.app.call_from_thread(self._show_banner)
        self._do("plan")

    @work(thread=True, exclusive=True, group="wizard")
    def _run_action(self, action: str, how: str | None) -> None:
        self._do(action, how)

    def _do(self, action: str, how: str | None = None) -> None:
        self.busy = True
        self.app.call_from_thread(self._status, f"{action}...")
        try:
            if action == "plan":
                result = self.runner.check(self.loaded_plan)
            elif action == "verify":
                result = self.runner.verify(self.loaded_plan)
            elif action == "apply":
                result = self.runner.apply(self.loaded_plan, confirmation=how)
                self.run_id = result.run_id
            elif action in ("rollback", "resume"):
                run_id = self._target_run(action)
                state, plan = Runner.plan_for_run(run_id, {h.host: h.transport for h in self.loaded_plan.hosts},
                                                  self.loaded_plan.auxiliary)
                if action == "rollback":
                    result = self.runner.rollback(run_id, plan, confirmation=how)
                else:
                    result = self.runner.resume(run_id, plan, confirmation=how)
                self.run_id = run_id
            else:
                return
        except Exception as e:  # refusals, busy journals, unknown hosts: say so, keep the screen
            self.app.call_from_thread(self._status, f"{action}: {e}", True)
            return
        finally:
            self.busy = False
        self.unfinished = journal.unfinished_runs(self.loaded_plan.wizard)
        self.app.call_from_thread(self._show_result, result)

    # -- progress and results (UI thread) ---------------------------------------
    def _progress_from_thread(self, ev: Progress) -> None:
        try:
            self.app.call_from_thread(self._progress, ev)
        except RuntimeError:  # called on the UI thread itself (not in practice) or app gone
            pass

    def _progress(self, ev: Progress) -> None:
        table = self.query_one(DataTable)
        if ev.kind == "step-start" and ev.host and ev.step:
            self._set_cell(f"{ev.host}/{ev.step}", "state", _state("running"))
        elif ev.kind == "step-progress" and ev.host and ev.step:
            # a long step (rollout, warmup): a bar and what it is doing
            bar = "" if ev.fraction is None else "#" * round(ev.fraction * 10) + "." * (10 - round(ev.fraction * 10))
            self._set_cell(f"{ev.host}/{ev.step}", "detail", Text(f"[{bar}] {ev.message}" if bar else ev.message))
            self._status(f"{ev.action}: {ev.step} {'' if ev.fraction is None else f'{ev.fraction:.0%} '}"
                         f"{ev.message}")
        elif ev.kind == "step-done" and ev.host and ev.step:
            self._set_cell(f"{ev.host}/{ev.step}", "state", _state(ev.status or ""))
            if ev.message:
                self._set_cell(f"{ev.host}/{ev.step}", "detail", Text(visible(ev.message)))
        if ev.kind in ("run-start", "host-done", "run-done"):
            what = f"{ev.action}: " + (f"{ev.host} {ev.status}" if ev.host else ev.message)
            self._status(what)
        table.refresh()

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.row_host.clear()
        self.query_one("#wizard-title", Static).update(Text(
            f"{self.loaded_plan.title}: {len(self.loaded_plan.hosts)} host(s)"
            + ("  [READ-ONLY]" if self.runner.read_only else "")))
        for hp in self.loaded_plan.hosts:
            for step in hp.steps:
                key = f"{hp.host}/{step.id}"
                self.row_host[key] = hp.host
                table.add_row(Text(hp.host), Text(step.title), _state("..."), Text(""), key=key)

    def _set_cell(self, row: str, col: str, value) -> None:
        try:
            self.query_one(DataTable).update_cell(row, col, value)
        except Exception:  # row not in this plan (e.g. rollback of an older run's step)
            pass

    def _show_banner(self) -> None:
        banner = self.query_one("#wizard-banner", Static)
        if self.unfinished:
            r = self._unfinished_target()
            assert r is not None   # (there are unfinished runs)
            banner.update(Text(f"Unfinished run {r.run_id} ({r.status}) on {', '.join(r.hosts)}: "
                               f"u resume, r roll back"))
            banner.remove_class("-empty")
        else:
            banner.update("")
            banner.add_class("-empty")

    def _status(self, text: str, error: bool = False) -> None:
        self.query_one("#wizard-status", Static).update(Text(visible_text(text), style="bold red" if error else ""))

    def _show_result(self, result: RunResult) -> None:
        self.last = result
        self.results[result.action] = result
        for host, hr in result.hosts.items():
            for s in hr.steps:
                key = f"{host}/{s.id}"
                self._set_cell(key, "state", _state(s.status))
                detail = s.error or (s.check.summary if s.check else s.verify.message if s.verify else "")
                self._set_cell(key, "detail", Text(visible(detail)))
        self._status(result.message, error=not result.ok)
        self._show_banner()
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def selected_host(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None
        return self.row_host.get(key) if key is not None else None

    def detail_text(self, host: str) -> Text:
        """The host's diff (from the last plan) and its latest results."""
        out = Text()

        def add(text: str, style: str = "") -> None:   # host output: control characters made visible
            out.append(visible_text(text), style=style)
        planned = self.results.get("plan")
        hr = planned.hosts.get(host) if planned else None
        add(f"{host}\n", style="bold")
        if hr:
            for s in hr.steps:
                if s.check is None:
                    add(f"  {s.title}: {s.error}\n", style="red")
                    continue
                add(f"  {s.check.summary}\n", style=_STYLE.get(s.check.status, ""))
                if s.check.persistent:
                    add("    persistent:\n", style="bold")
                    for line in s.check.persistent:
                        style = "green" if line.startswith("+") else "red" if line.startswith("-") else ""
                        add(f"      {line}\n", style=style)
                if s.check.runtime:
                    add("    runtime:\n", style="bold")
                    for line in s.check.runtime:
                        add(f"      {line}\n")
                for note in s.check.notes:
                    add(f"    ! {note}\n", style="yellow")
        for action in ("apply", "resume", "verify", "rollback"):
            res = self.results.get(action)
            if res and host in res.hosts:
                r = res.hosts[host]
                add(f"{action}: {r.status}" + (f" -- {r.error}" if r.error else "") + "\n",
                           style=_STYLE.get(r.status, "bold"))
                for s in r.steps:
                    for note in dict.fromkeys(s.notes):
                        add(f"    ! {s.id}: {note}\n", style="yellow")
        return out

    def _show_detail(self) -> None:
        host = self.selected_host()
        if host:
            self.query_one("#wizard-detail", Static).update(self.detail_text(host))

    # -- actions (keys) ------------------------------------------------------------
    def _unfinished_target(self) -> journal.RunState | None:
        """The unfinished run resume acts on: this screen's run while it is
        unfinished, else the latest one."""
        runs = self.unfinished
        mine = [r for r in runs if r.run_id == self.run_id]
        return (mine or runs)[-1] if (mine or runs) else None

    def _target_run(self, action: str) -> str:
        if action == "resume":
            if not self.unfinished:
                self.unfinished = journal.unfinished_runs(self.loaded_plan.wizard)
            run = self._unfinished_target()
            if run is None:
                raise LookupError("no unfinished run to resume")
            return run.run_id
        if self.run_id:
            return self.run_id
        runs = [r for r in journal.list_runs() if r.wizard == self.loaded_plan.wizard
                and any(r.changed_steps(h) for h in r.hosts)]
        if not runs:
            raise LookupError("no run to roll back")
        return runs[-1].run_id

    def _start(self, action: str) -> None:
        if self.busy or self.plan is None:
            self.notify("busy: wait for the current action to finish", severity="warning")
            return
        if action in ("plan", "verify"):
            self._run_action(action, None)
            return
        if action == "apply":
            hosts = self.plan.host_names
        else:
            try:
                hosts = journal.load(self._target_run(action)).hosts
            except (LookupError, FileNotFoundError) as e:
                self._status(f"{action}: {e}", True)
                return
        try:
            self.runner.refuse_if_read_only(action, hosts, {"wizard": self.loaded_plan.wizard})
        except confirm.ReadOnlyRefused as e:
            self._status(str(e), True)
            self.notify(visible(str(e)), severity="error", markup=False)
            return

        def after(ok: bool | None) -> None:
            if ok:
                how = "typed yes" if len(hosts) == 1 else f"typed {len(hosts)}"
                self._run_action(action, f"{how} in the wizard screen")
            else:
                self.runner.declined(action, hosts)
                self._status(f"{action}: not confirmed, nothing changed")
        self.app.push_screen(ConfirmScreen(f"{action.capitalize()} {self.loaded_plan.title.lower()}", hosts), after)

    def action_plan(self) -> None:
        self._start("plan")

    def action_apply(self) -> None:
        self._start("apply")

    def action_verify(self) -> None:
        self._start("verify")

    def action_rollback(self) -> None:
        self._start("rollback")

    def action_resume(self) -> None:
        self._start("resume")

    def action_pause(self) -> None:
        """Pause a running long step at its next checkpoint, or let it go on."""
        if not self.busy:
            self._status("pause: nothing is running")
        elif self.runner.paused:
            self.runner.unpause()
            self._status("continuing")
        else:
            self.runner.pause()
            self._status("paused: s continues, x aborts")

    def action_abort(self) -> None:
        if not self.busy:
            self._status("abort: nothing is running")
            return
        self.aborting = True
        self.runner.abort()
        self._status("aborting at the next checkpoint...", True)

    def action_close(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()


def open_run_wizard(app: App[object], session: SessionView, run_id: str) -> None:
    """The wizard screen on a journaled run, with its plan rebuilt for the
    session's hosts: `u` resumes it, `r` rolls it back."""
    def plan() -> Plan:
        from actions.plan import CLUSTER
        transports = session.transports()
        if CLUSTER in journal.load(run_id).hosts:   # a cluster wizard's run (model load)
            transports[CLUSTER] = cast("Transport", session.kube_client())
        return Runner.plan_for_run(run_id, transports)[1]
    app.push_screen(WizardScreen(plan, runner_for_session(session), run_id=run_id))


def open_tuning_wizard(app: App[object], session: SessionView) -> None:
    """What `:tune` does: the host-tuning wizard on the session's hosts."""
    from actions.host_tuning.targets import TuningTargets
    from actions.plan import build_plan

    runner = runner_for_session(session)
    site = session.site

    def plan() -> Plan:
        targets = TuningTargets.from_site(site.tuning if site is not None else None)
        return build_plan("host-tuning", session.transports(), targets.to_params())
    app.push_screen(WizardScreen(plan, runner))


def open_model_wizard(app: App[object], session: SessionView) -> None:
    """What `:model` does: the model-load wizard on the session's cluster,
    for the site's first model (or the 14B distill on the demo)."""
    from actions.model_load.spec import spec_for
    from actions.plan import CLUSTER, build_plan

    runner = runner_for_session(session)
    models = session.site.models if session.site is not None else ()
    entry = models[0] if models else None

    def plan() -> Plan:
        spec = spec_for(entry.name if entry else "deepseek-r1-distill-qwen-14b", entry)
        # the GPU hosts too: the plan's tuning check verifies them (a warning, never a refusal)
        # (the cluster's client stands where a Transport would: the plan's target CLUSTER)
        targets = {**session.transports(), CLUSTER: cast("Transport", session.kube_client())}
        return build_plan("model-load", targets, spec.to_params())
    app.push_screen(WizardScreen(plan, runner))
