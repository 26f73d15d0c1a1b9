"""`:backup`: the 3-2-1 matrix first (per copy: kind, medium, status, age of
its newest complete set, RPO, RTO; a verdict per rule), and from it the
backup wizard (`b`: the generic wizard screen on the backup plan, with
restic's progress on its status line), `v` restic check of every copy, `d`
the restore drill of the selected copy. Blocking work runs in thread workers.

    open_backup_screen(app, session)   # what `:backup` opens
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from actions.runner import Runner
from console.backup.context import BackupContext
from console.backup.matrix import Matrix, render_age
from console.backup.progress import BackupProgress
from console.safe_text import visible
from screens import keymap
from screens.widgets.key_bar import KeyBar
from screens.wizard_screen import StepTable, WizardScreen

if TYPE_CHECKING:
    from textual.app import App

    from console.session_view import SessionView

_STATUS_STYLE = {"ok": "green", "warn": "yellow", "unverified": "yellow", "failed": "bold red",
                 "missing": "bold red", "unreachable": "bold red"}


class BackupScreen(Screen, inherit_bindings=False):
    BINDINGS = keymap.bindings("backup")
    DEFAULT_CSS = """
    BackupScreen #backup-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    BackupScreen StepTable { height: auto; max-height: 12; }
    BackupScreen #backup-rules { height: auto; padding: 0 1; border-top: solid $primary; }
    BackupScreen #backup-detail-box { height: 1fr; }
    BackupScreen #backup-status { height: 1; background: $panel; padding: 0 1; }
    """

    def __init__(self, context: Callable[[], BackupContext], runner: Runner) -> None:
        super().__init__()
        self._context_source = context
        self.ctx: BackupContext | None = None
        self.runner = runner
        self.matrix: Matrix | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        ro = "  [READ-ONLY]" if self.runner.read_only else ""
        yield Static(Text(f"Backup 3-2-1{ro}"), id="backup-title")
        yield StepTable(id="backup-copies", cursor_type="row", zebra_stripes=True)
        yield Static("", id="backup-rules")
        with VerticalScroll(id="backup-detail-box"):
            yield Static("", id="backup-detail")
        yield Static("reading the repositories...", id="backup-status")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(StepTable)
        for key, label in (("copy", "Copy"), ("kind", "Kind"), ("medium", "Medium"), ("status", "Status"),
                           ("age", "Newest set"), ("rpo", "RPO"), ("rto", "RTO (drill)")):
            table.add_column(label, key=key)
        self._refresh()

    def on_screen_resume(self) -> None:
        if self.ctx is not None and not self.busy:
            self._refresh()

    # -- workers ------------------------------------------------------------
    def _ensure_context(self) -> BackupContext:
        if self.ctx is None:
            self.ctx = self._context_source()
        return self.ctx

    @work(thread=True, exclusive=True, group="backup")
    def _refresh(self) -> None:
        from console.backup.matrix import build_matrix
        self.busy = True
        try:
            m = build_matrix(self._ensure_context())
        except Exception as e:   # no backup section, no password: say so, keep the screen
            self.app.call_from_thread(self._status, f"cannot read the backups: {e}", True)
            return
        finally:
            self.busy = False
        self.app.call_from_thread(self._show, m)

    @work(thread=True, exclusive=True, group="backup")
    def _verify(self, names: list[str], drill: bool) -> None:
        from console.backup import verify
        self.busy = True
        try:
            ctx = self._ensure_context()
            for n in names:
                self.app.call_from_thread(self._status, f"{'restore drill' if drill else 'restic check'}: {n}...")
                r = verify.drill(ctx, n) if drill else verify.check_copy(ctx, n)
                # open_backup_screen's Runner (runner_for_session) always has an audit log
                assert self.runner.audit is not None
                verify.audit_outcome(self.runner.audit, r)
                self.app.call_from_thread(self._status, f"{n}: {'ok' if r['ok'] else 'FAILED'}: {r['message']}",
                                          not r["ok"])
            from console.backup.matrix import build_matrix
            m = build_matrix(ctx)
        finally:
            self.busy = False
        self.app.call_from_thread(self._show, m, keep_status=True)

    # -- UI thread ------------------------------------------------------------------
    def _status(self, text: str, error: bool = False) -> None:
        # restic's and the hosts' words: control characters made visible
        self.query_one("#backup-status", Static).update(Text(visible(text), style="bold red" if error else ""))

    def _show(self, m: Matrix, keep_status: bool = False) -> None:
        self.matrix = m
        table = self.query_one(StepTable)
        cursor = table.cursor_row
        table.clear()
        for c in m.copies:
            rto = c.rto
            table.add_row(Text(c.name), Text(c.kind), Text(c.medium),
                          Text(c.status, style=_STATUS_STYLE.get(c.status, "")),
                          Text(render_age(c.age_s)), Text(render_age(c.rpo_s)),
                          Text(f"{rto['measured_s']:.1f} s" if rto else "-"), key=c.name)
        if m.copies:
            table.move_cursor(row=min(cursor, len(m.copies) - 1))
        rules = Text()
        for r in m.rules:
            rules.append("met      " if r.met else "NOT MET  ", style="green" if r.met else "bold red")
            rules.append(f"{r.name}: {r.detail}\n")
        self.query_one("#backup-rules", Static).update(rules)
        self._show_detail()
        if not keep_status:
            self._status("every rule met" if m.all_met else "a rule is not met", not m.all_met)

    def selected_copy(self) -> str | None:
        table = self.query_one(StepTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:
            return None

    def _show_detail(self) -> None:
        name = self.selected_copy()
        if self.matrix is None or name is None:
            return
        c = next(x for x in self.matrix.copies if x.name == name)
        out = Text(f"{c.name}: {c.repository}\n", style="bold")
        if c.set_id:
            out.append(f"  newest set {c.set_id} ({c.set_bytes or 0} bytes)\n")
        for label, v in (("last check", c.last_check), ("last drill", c.last_drill)):
            if v:
                out.append(f"  {label}: {'ok' if v.get('ok') else 'FAILED'}: {visible(v.get('message', ''))}\n",
                           style="" if v.get("ok") else "red")
        if c.rto:
            out.append(f"  RTO: measured {c.rto['measured_s']:.2f} s for {c.rto['restored_bytes']} bytes; "
                       f"extrapolated to the full set: {c.rto['extrapolated_s']:.2f} s\n")
        for n in c.notes:
            out.append(f"  ! {visible(n)}\n", style="yellow")
        self.query_one("#backup-detail", Static).update(out)

    def on_data_table_row_highlighted(self, event) -> None:
        self._show_detail()

    # -- keys -------------------------------------------------------------------------
    def _idle(self) -> bool:
        if self.busy or self.ctx is None:
            self.notify("busy: wait for the current action to finish", severity="warning")
            return False
        return True

    def action_refresh(self) -> None:
        if self._idle():
            self._refresh()

    def action_verify(self) -> None:
        if self._idle():
            self._verify([c.name for c in self._ensure_context().cfg.copies], False)

    def action_drill(self) -> None:
        name = self.selected_copy()
        if name and self._idle():
            self._verify([name], True)

    def action_backup(self) -> None:
        if not self._idle():
            return
        from actions.backup.plan import plan_for
        from actions.backup.steps import BackupSourceStep
        from console.backup import offline
        from console.backup.sets import new_set_id
        ctx = self._ensure_context()   # made before _idle() said yes
        names = [c.name for c in ctx.cfg.copies if not offline.is_detached(ctx, c.name)]
        plan = plan_for(ctx, new_set_id(), names)
        wizard = WizardScreen(plan, self.runner)

        def progress(copy: str, source: str, prog: BackupProgress) -> None:
            # restic's progress on the wizard's status line
            try:
                self.app.call_from_thread(
                    lambda: wizard.query_one("#wizard-status", Static).update(
                        Text(f"{copy}: {source}: {prog.line()}")))
            except Exception:   # the screen closed meanwhile
                pass
        for hp in plan.hosts:
            for step in hp.steps:
                if isinstance(step, BackupSourceStep):
                    step.on_progress = progress
        self.app.push_screen(wizard)

    def action_close(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()


def backup_context(session: SessionView) -> BackupContext:
    """The session's site with its backup section; on the demo site, the
    demo's local 3-2-1 setup (console.backup.demo) with the demo cluster."""
    from console.backup.password import read_password
    from console.site_config import load_site
    site = session.site
    if session.is_demo:
        from console.backup.demo import demo_site_file
        demo = session.demo_site
        site = load_site(demo_site_file(str(demo.kubeconfig_path) if demo is not None else None))
    if site is None or site.backup is None:
        raise ValueError("the site file has no backup: section (README.md, Backup)")
    return BackupContext(site, read_password(site.backup))


def open_backup_screen(app: App[object], session: SessionView) -> None:
    from actions.wizard_runner import runner_for_session
    app.push_screen(BackupScreen(lambda: backup_context(session), runner_for_session(session)))
