"""Runner: executes a plan's steps on its hosts (plan, apply, verify, resume,
rollback), with a journal for every change and an audit record for every
apply, resume, rollback, confirmation and refusal.

Hosts run in parallel (at most `max_parallel` at once); within a host the steps
run in order, and a failure stops that host's plan (and, with
`stop_all_on_failure`, every host's remaining steps). Progress is reported
through `on_progress(Progress)`, called from worker threads.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from console.audit import AuditLog

from . import journal as jr
from .confirm import ConfirmationRequired, ReadOnlyRefused
from .plan import HostPlan, Plan, build_plan
from .step import (
    APPLIED,
    ERROR,
    FAILED,
    NEEDED,
    OK,
    ROLLED_BACK,
    SKIPPED,
    UNCHANGED,
    BeforeState,
    CheckResult,
    Step,
    StepControl,
    StepError,
    VerifyResult,
)

# Overall statuses of a runner action.
DONE = "complete"
NO_CHANGE = "no-change"
RUN_FAILED = "failed"


@dataclass
class StepResult:
    id: str
    title: str
    status: str
    report_only: bool = False
    check: CheckResult | None = None
    verify: VerifyResult | None = None
    notes: tuple[str, ...] = ()
    error: str | None = None

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "status": self.status,
                "report_only": self.report_only,
                "check": self.check.to_dict() if self.check else None,
                "verify": self.verify.to_dict() if self.verify else None,
                "notes": list(self.notes), "error": self.error}


@dataclass
class HostResult:
    host: str
    status: str            # ok | changed | needed | failed | skipped
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"host": self.host, "status": self.status, "error": self.error,
                "steps": [s.to_dict() for s in self.steps]}


@dataclass
class RunResult:
    action: str
    status: str
    message: str
    hosts: dict[str, HostResult]
    run_id: str | None = None
    audit_missing: list[str] = field(default_factory=list)   # records the audit log refused
    notices: list[str] = field(default_factory=list)         # torn tails set aside meanwhile

    @property
    def ok(self) -> bool:
        return self.status != RUN_FAILED

    @property
    def changed(self) -> int:
        return sum(1 for h in self.hosts.values() for s in h.steps if s.status in (APPLIED, ROLLED_BACK))

    def to_dict(self) -> dict:
        return {"action": self.action, "status": self.status, "message": self.message,
                "run_id": self.run_id, "changed": self.changed, "audit_missing": list(self.audit_missing),
                "notices": list(self.notices),
                "hosts": {h: r.to_dict() for h, r in self.hosts.items()}}


@dataclass(frozen=True)
class Progress:
    kind: str              # run-start | step-start | step-progress | step-done | host-done | run-done
    action: str
    host: str | None = None
    step: str | None = None
    status: str | None = None
    message: str = ""
    run_id: str | None = None
    fraction: float | None = None   # step-progress of a long step: 0..1, None when unknown


def drift_notes(now: BeforeState, before: BeforeState, after: BeforeState) -> tuple[str, ...]:
    """What changed on the host since the run applied a step (neither what the
    run wrote nor what was there before): rollback overwrites it, and says so."""
    notes = []
    for path, data in now.files.items():
        if data != after.files.get(path, data) and data != before.files.get(path):
            notes.append(f"{path} was changed after this run wrote it; rollback restored the "
                         f"state from before the run over that change")
    for key, value in now.runtime.items():
        if value != after.runtime.get(key, value) and value != before.runtime.get(key):
            notes.append(f"{key} was {value} (changed after this run set {after.runtime[key]}); "
                         f"rollback restored {before.runtime[key]}")
    for key, obj in now.objects.items():
        if key in after.objects and _rv(obj) != _rv(after.objects[key]) and _rv(obj) != _rv(before.objects.get(key)):
            notes.append(f"{key} was changed after this run applied it (resourceVersion {_rv(obj)}); "
                         f"rollback restored the state from before the run over that change")
    return tuple(notes)


_DONE_EARLIER = {
    UNCHANGED: "done in an earlier attempt of this run (checked again: still in effect)",
    APPLIED: "journaled as done in an earlier attempt, but not in effect on the host: applied again",
}


def _audit_note(missing: list[str], notices: list[str]) -> str:
    """What the result's message says about records not written and torn
    tails set aside."""
    parts = [f"audit log: {len(missing)} record(s) NOT written: {missing[0]}"] if missing else []
    return "".join(f" ({p})" for p in parts + notices)


def _rv(obj: dict | None) -> str | None:
    return None if obj is None else (obj.get("metadata") or {}).get("resourceVersion")


def _err(e: BaseException) -> str:
    return str(e) or type(e).__name__


class Runner:
    def __init__(self, *, audit: AuditLog | None = None, operator: str | None = None,
                 site: str | None = None, read_only: bool = False, max_parallel: int = 8,
                 stop_all_on_failure: bool = False,
                 on_progress: Callable[[Progress], None] | None = None):
        self.audit = audit
        self.operator = operator
        self.site = site
        self.read_only = read_only
        self.max_parallel = max(1, max_parallel)
        self.stop_all_on_failure = stop_all_on_failure
        self.on_progress = on_progress
        self._audit_missing: list[str] = []
        self._control: StepControl | None = None

    # -- long steps: pause / abort the running action ---------------------------
    def pause(self) -> None:
        if self._control is not None:
            self._control.pause()

    @property
    def paused(self) -> bool:
        return self._control is not None and self._control.paused

    def unpause(self) -> None:
        if self._control is not None:
            self._control.unpause()

    def abort(self) -> None:
        """Abort the running apply/resume: a long step stops at its next
        checkpoint and fails; the run stays unfinished (resume or roll back)."""
        if self._control is not None:
            self._control.abort()

    # -- helpers -------------------------------------------------------------
    def _progress(self, kind: str, action: str, **kw: Any) -> None:
        if self.on_progress:
            try:
                self.on_progress(Progress(kind, action, **kw))
            except Exception:  # a broken progress view must not break a run
                pass

    def _audit(self, action: str, *, host: str | None, args: dict, result: str,
               required: bool = False) -> None:
        """Append an audit record. Only a `required` one (the confirmation of an
        apply or resume, written before anything changes) can stop an action;
        any other that cannot be written (a full disk) is reported with the
        action's result: a rollback in particular is never blocked by the log."""
        if self.audit is None:
            return
        try:
            self.audit.append(action, host=host, args=args, result=result,
                              site=self.site, operator=self.operator)
        except OSError as e:
            if required:
                raise
            self._audit_missing.append(f"{action} {host or ''} {result}: {e}".replace("  ", " "))

    def _audit_step(self, action: str, target: str, wizard: str, run_id: str, sr: StepResult) -> None:
        """One record per step the run ran (action "apply-step", "resume-step",
        "rollback-step"), written as it ends, before the target's summary
        record: a run killed mid-plan leaves in the log what it did so far."""
        self._audit(f"{action}-step", host=target,
                    args={"wizard": wizard, "run_id": run_id, "step": sr.id, "title": sr.title},
                    result=f"failed: {sr.error}" if sr.status == FAILED else sr.status)

    def _take_audit_missing(self) -> list[str]:
        missing, self._audit_missing = self._audit_missing, []
        return missing

    def _take_notices(self, journal: jr.Journal) -> list[str]:
        """Torn tails the journal and the audit log set aside during the action."""
        notices = list(journal.notices)
        if self.audit is not None:
            notices += self.audit.notices
            self.audit.notices = []
        return notices

    def refuse_if_read_only(self, action: str, hosts: list[str], args: dict | None = None) -> None:
        """Read-only sessions refuse every apply, rollback and resume (audited)."""
        if self.read_only:
            self._audit(action, host=",".join(hosts), args=args or {},
                        result="refused: read-only session")
            raise ReadOnlyRefused(action)

    def declined(self, action: str, hosts: list[str], args: dict | None = None) -> None:
        """The operator did not confirm (audited)."""
        self._audit("confirm", host=",".join(hosts), args={**(args or {}), "confirms": action},
                    result="declined")

    def requested(self, action: str, hosts: list[str], args: dict | None = None) -> None:
        """An action asked of a run another process is running (pause, resume,
        abort through its control file): audited here, done there."""
        self._audit(action, host=",".join(hosts), args=args or {}, result="requested from another process")

    def no_change(self, action: str, plan: Plan) -> None:
        """An apply that found every host compliant and so ran nothing (audited)."""
        for h in plan.host_names:
            self._audit(action, host=h, args={"wizard": plan.wizard, "params": plan.params},
                        result="ok: no change (already compliant)")

    def _guard(self, action: str, hosts: list[str], confirmation: str | None, args: dict) -> None:
        """Refuse in read-only mode; require and audit the confirmation (an apply
        or resume whose confirmation cannot be audited does not start; a
        rollback starts anyway)."""
        self._audit_missing = []
        self.refuse_if_read_only(action, hosts, args)
        if not confirmation:
            raise ConfirmationRequired(f"{action} on {', '.join(hosts)} needs a confirmation")
        self._audit("confirm", host=",".join(hosts), required=action != "rollback",
                    args={**args, "confirms": action, "how": confirmation}, result="confirmed")

    def _each_host(self, plan: Plan, fn: Callable[[HostPlan], HostResult]) -> dict[str, HostResult]:
        with ThreadPoolExecutor(max_workers=min(self.max_parallel, max(1, len(plan.hosts))),
                                thread_name_prefix="wizard") as pool:
            futures = {hp.host: pool.submit(self._guarded, fn, hp) for hp in plan.hosts}
            return {h: f.result() for h, f in futures.items()}

    @staticmethod
    def _guarded(fn: Callable[[HostPlan], HostResult], hp: HostPlan) -> HostResult:
        try:
            return fn(hp)
        except Exception as e:  # a bug in one host's path must not lose the others' results
            return HostResult(hp.host, FAILED, error=_err(e))

    @staticmethod
    def plan_for_run(run_id: str, transports: dict, auxiliary: dict | None = None) -> tuple[jr.RunState, Plan]:
        """Rebuild the plan of a journaled run for the given hosts' transports
        (and the `auxiliary` targets its steps reach: Plan.auxiliary)."""
        state = jr.load(run_id)
        missing = [h for h in state.hosts if h not in transports]
        if missing:
            raise KeyError(f"run {run_id} touched host(s) not available now: {', '.join(missing)}")
        plan = build_plan(state.wizard, {**(auxiliary or {}), **{h: transports[h] for h in state.hosts}},
                          state.params)
        return state, plan

    # -- plan (check) ----------------------------------------------------------
    def check(self, plan: Plan) -> RunResult:
        def host(hp: HostPlan) -> HostResult:
            steps = []
            for step in hp.steps:
                self._progress("step-start", "plan", host=hp.host, step=step.id)
                try:
                    r = step.check()
                    sr = StepResult(step.id, step.title, r.status, step.report_only, check=r)
                except Exception as e:
                    sr = StepResult(step.id, step.title, ERROR, step.report_only, error=_err(e))
                steps.append(sr)
                self._progress("step-done", "plan", host=hp.host, step=step.id, status=sr.status,
                               message=sr.error or (sr.check.summary if sr.check else ""))
            if any(s.status == ERROR for s in steps):
                status = FAILED
            elif any(s.status == NEEDED for s in steps):
                status = NEEDED
            else:
                status = OK
            res = HostResult(hp.host, status, steps,
                             error=next((s.error for s in steps if s.error), None))
            self._progress("host-done", "plan", host=hp.host, status=status)
            return res

        hosts = self._each_host(plan, host)
        needed = [h for h, r in hosts.items() if r.status == NEEDED]
        failed = [h for h, r in hosts.items() if r.status == FAILED]
        if failed:
            status, msg = RUN_FAILED, f"could not check {', '.join(failed)}"
        elif needed:
            status, msg = DONE, f"changes needed on {len(needed)} of {len(hosts)} host(s): {', '.join(needed)}"
        else:
            status, msg = NO_CHANGE, f"nothing to change: all {len(hosts)} host(s) compliant"
        self._progress("run-done", "plan", status=status, message=msg)
        return RunResult("plan", status, msg, hosts)

    # -- verify ------------------------------------------------------------------
    def verify(self, plan: Plan) -> RunResult:
        def host(hp: HostPlan) -> HostResult:
            steps = []
            for step in hp.steps:
                try:
                    if step.report_only:
                        r = step.check()
                        v = VerifyResult(ok=True, message=r.summary, notes=r.notes)
                        sr = StepResult(step.id, step.title, r.status, True, check=r, verify=v)
                    else:
                        v = step.verify()
                        sr = StepResult(step.id, step.title, OK if v.ok else FAILED, False, verify=v)
                except Exception as e:
                    sr = StepResult(step.id, step.title, FAILED, step.report_only, error=_err(e))
                steps.append(sr)
                self._progress("step-done", "verify", host=hp.host, step=step.id, status=sr.status,
                               message=sr.error or (sr.verify.message if sr.verify else ""))
            bad = [s for s in steps if s.status == FAILED]
            res = HostResult(hp.host, FAILED if bad else OK, steps,
                             error=bad[0].error or (bad[0].verify.message if bad[0].verify else None) if bad else None)
            self._progress("host-done", "verify", host=hp.host, status=res.status)
            return res

        hosts = self._each_host(plan, host)
        failed = [h for h, r in hosts.items() if r.status == FAILED]
        if failed:
            status, msg = RUN_FAILED, f"verify failed on {', '.join(failed)}"
        else:
            status, msg = DONE, f"verify passed on all {len(hosts)} host(s)"
        self._progress("run-done", "verify", status=status, message=msg)
        return RunResult("verify", status, msg, hosts)

    # -- apply / resume ------------------------------------------------------------
    def apply(self, plan: Plan, *, confirmation: str | None) -> RunResult:
        self._guard("apply", plan.host_names, confirmation, {"wizard": plan.wizard})
        journal = jr.Journal.create({"wizard": plan.wizard, "title": plan.title, "params": plan.params,
                                     "site": self.site, "hosts": plan.host_names,
                                     "operator": self.operator})
        try:
            return self._apply(plan, journal, None, "apply")
        finally:
            journal.close()

    def resume(self, run_id: str, plan: Plan, *, confirmation: str | None) -> RunResult:
        state = jr.load(run_id)
        self._guard("resume", state.hosts, confirmation, {"wizard": state.wizard, "run_id": run_id})
        if state.status == jr.RUNNING:
            raise jr.JournalBusy(f"run {run_id} is being run by another process")
        journal = jr.Journal.open(run_id)
        try:
            return self._apply(plan, journal, state, "resume")
        finally:
            journal.close()

    def _apply(self, plan: Plan, journal: jr.Journal, state: jr.RunState | None, action: str) -> RunResult:
        run_id = journal.run_id
        journal.write({"t": "begin", "action": action})
        self._progress("run-start", action, run_id=run_id, message=f"{action} run {run_id}")
        stop = threading.Event()
        self._control = StepControl(lambda target, step_id, fraction, message: self._progress(
            "step-progress", action, host=target, step=step_id, run_id=run_id,
            fraction=fraction, message=message))

        def host(hp: HostPlan) -> HostResult:
            steps: list[StepResult] = []
            failure: str | None = None
            for step in hp.steps:
                if failure or stop.is_set():
                    steps.append(StepResult(step.id, step.title, SKIPPED, step.report_only,
                                            error="not run: " + (failure and "an earlier step failed"
                                                                 or "another host failed")))
                    continue
                self._progress("step-start", action, host=hp.host, step=step.id, run_id=run_id)
                sr = self._apply_step(hp, step, journal, state)
                if state is not None and state.done(hp.host, step.id):
                    # The journal says an earlier attempt did it; the host decides.
                    # (A console killed mid-apply may have journaled a change the
                    # host never kept: the demo's hosts are saved on exit.)
                    note = _DONE_EARLIER.get(sr.status)
                    if note:
                        sr.notes = (note, *sr.notes)
                steps.append(sr)
                self._audit_step(action, hp.host, plan.wizard, run_id, sr)
                self._progress("step-done", action, host=hp.host, step=step.id, status=sr.status,
                               run_id=run_id, message=sr.error or (sr.check.summary if sr.check else ""))
                if sr.status == FAILED:
                    failure = f"step {step.id}: {sr.error}"
                    if self.stop_all_on_failure:
                        stop.set()
            applied = [s.id for s in steps if s.status == APPLIED]
            if failure:
                status = FAILED
            elif any(s.status == SKIPPED for s in steps):
                status = SKIPPED
            else:
                status = "changed" if applied else OK
            res = HostResult(hp.host, status, steps, error=failure)
            self._audit(action, host=hp.host,
                        args={"wizard": plan.wizard, "run_id": run_id, "applied": applied,
                              "params": plan.params},
                        result=(f"failed: {failure}" if failure else
                                "skipped: stopped after another host failed" if status == SKIPPED else
                                f"ok: applied {', '.join(applied)}" if applied else "ok: no change"))
            self._progress("host-done", action, host=hp.host, status=status, run_id=run_id,
                           message=failure or "")
            return res

        hosts = self._each_host(plan, host)
        bad = [h for h, r in hosts.items() if r.status in (FAILED, SKIPPED)]
        changed = sum(1 for r in hosts.values() for s in r.steps if s.status == APPLIED)
        if bad:
            status = RUN_FAILED
            msg = (f"{action} stopped on {', '.join(bad)}: "
                   + "; ".join(f"{h}: {hosts[h].error}" for h in bad if hosts[h].error)
                   + f". Resume or roll back run {run_id}")
        elif changed:
            status, msg = DONE, f"{action} complete: {changed} step(s) changed on {len(hosts)} host(s)"
        else:
            status, msg = NO_CHANGE, f"nothing changed: all {len(hosts)} host(s) were already compliant"
        journal.write({"t": "end", "action": action, "status": jr.COMPLETE if not bad else "failed"})
        missing, notices = self._take_audit_missing(), self._take_notices(journal)
        msg += _audit_note(missing, notices)
        self._progress("run-done", action, status=status, message=msg, run_id=run_id)
        return RunResult(action, status, msg, hosts, run_id=run_id, audit_missing=missing, notices=notices)

    def _apply_step(self, hp: HostPlan, step: Step, journal: jr.Journal,
                    state: jr.RunState | None) -> StepResult:
        chk = None
        try:
            chk = step.check()
            if step.report_only:
                return StepResult(step.id, step.title, chk.status, True, check=chk, notes=chk.notes)
            if not chk.needed:
                journal.write({"t": "outcome", "host": hp.host, "step": step.id, "status": UNCHANGED,
                               "summary": chk.summary})
                return StepResult(step.id, step.title, UNCHANGED, check=chk, notes=chk.notes)
            rec = state.steps.get(hp.host, {}).get(step.id) if state else None
            # On resume keep the ORIGINAL before-state: the interrupted attempt
            # may already have changed part of what capture() would see now.
            before = rec.before if rec and rec.before is not None and not rec.rolled_back else step.capture()
            journal.write({"t": "intent", "host": hp.host, "step": step.id,
                           "before": before.to_json(), "summary": chk.summary})
            if self._control is not None:
                step.control = self._control.bind(hp.host, step.id)
            notes = step.apply(before)
            v = step.verify()
            if not v.ok:
                raise StepError(f"not in effect after apply: {v.message}")
            # what the run left, so a later rollback can tell if someone changed it since
            after = step.capture()
            journal.write({"t": "outcome", "host": hp.host, "step": step.id, "status": APPLIED,
                           "summary": chk.summary, "notes": list(notes), "after": after.to_json()})
            return StepResult(step.id, step.title, APPLIED, check=chk, verify=v, notes=tuple(notes))
        except Exception as e:
            try:
                journal.write({"t": "outcome", "host": hp.host, "step": step.id, "status": FAILED,
                               "error": _err(e)})
            except OSError:
                pass
            return StepResult(step.id, step.title, FAILED, step.report_only, check=chk, error=_err(e))

    # -- rollback ------------------------------------------------------------------
    def rollback(self, run_id: str, plan: Plan, *, confirmation: str | None) -> RunResult:
        state = jr.load(run_id)
        self._guard("rollback", state.hosts, confirmation, {"wizard": state.wizard, "run_id": run_id})
        if state.status == jr.RUNNING:
            raise jr.JournalBusy(f"run {run_id} is being run by another process")
        journal = jr.Journal.open(run_id)
        journal.write({"t": "begin", "action": "rollback"})
        self._progress("run-start", "rollback", run_id=run_id, message=f"rollback run {run_id}")
        stop = threading.Event()

        def host(hp: HostPlan) -> HostResult:
            steps: list[StepResult] = []
            failure = None
            for step_id, rec in state.changed_steps(hp.host):
                step = hp.step(step_id)
                title = step.title if step else step_id
                if failure or stop.is_set() or step is None:
                    steps.append(StepResult(step_id, title, SKIPPED,
                                            error="unknown step" if step is None else "not run"))
                    failure = failure or (f"step {step_id} unknown to this plan" if step is None else None)
                    continue
                self._progress("step-start", "rollback", host=hp.host, step=step_id, run_id=run_id)
                journal.write({"t": "rb-intent", "host": hp.host, "step": step_id})
                notes: tuple[str, ...] = ()
                try:
                    if rec.before is None:   # (changed_steps lists steps with a recorded intent)
                        raise StepError("no recorded before-state to roll back to")
                    if rec.after is not None:
                        notes = drift_notes(step.capture(), rec.before, rec.after)
                    step.rollback(rec.before)
                    now = step.capture()
                    if not step.restored(now, rec.before):
                        raise StepError("host does not match the recorded before-state after rollback")
                    journal.write({"t": "rb-outcome", "host": hp.host, "step": step_id, "status": ROLLED_BACK,
                                   "notes": list(notes)})
                    steps.append(StepResult(step_id, title, ROLLED_BACK, notes=notes))
                except Exception as e:
                    journal.write({"t": "rb-outcome", "host": hp.host, "step": step_id, "status": FAILED,
                                   "error": _err(e)})
                    steps.append(StepResult(step_id, title, FAILED, error=_err(e)))
                    failure = f"step {step_id}: {_err(e)}"
                    if self.stop_all_on_failure:
                        stop.set()
                self._audit_step("rollback", hp.host, state.wizard, run_id, steps[-1])
                self._progress("step-done", "rollback", host=hp.host, step=step_id,
                               status=steps[-1].status, run_id=run_id, message=steps[-1].error or "")
            rolled = [s.id for s in steps if s.status == ROLLED_BACK]
            status = FAILED if failure else ("changed" if rolled else OK)
            drift = [n for s in steps for n in s.notes]
            self._audit("rollback", host=hp.host, args={"wizard": state.wizard, "run_id": run_id,
                                                        "rolled_back": rolled,
                                                        **({"changed_since_run": drift} if drift else {})},
                        result=f"failed: {failure}" if failure else
                        (f"ok: restored {', '.join(rolled)}" if rolled else "ok: nothing to restore"))
            self._progress("host-done", "rollback", host=hp.host, status=status, run_id=run_id)
            return HostResult(hp.host, status, steps, error=failure)

        try:
            hosts = self._each_host(plan, host)
            bad = [h for h, r in hosts.items() if r.status == FAILED]
            n = sum(1 for r in hosts.values() for s in r.steps if s.status == ROLLED_BACK)
            if bad:
                status = RUN_FAILED
                msg = "rollback failed on " + "; ".join(f"{h}: {hosts[h].error}" for h in bad)
            elif n:
                status, msg = DONE, f"rolled back {n} step(s) on {len(hosts)} host(s): hosts are as before run {run_id}"
            else:
                status, msg = NO_CHANGE, f"nothing to roll back in run {run_id}"
            journal.write({"t": "end", "action": "rollback", "status": jr.COMPLETE if not bad else "failed"})
        finally:
            journal.close()
        missing, notices = self._take_audit_missing(), self._take_notices(journal)
        msg += _audit_note(missing, notices)
        self._progress("run-done", "rollback", status=status, message=msg, run_id=run_id)
        return RunResult("rollback", status, msg, hosts, run_id=run_id, audit_missing=missing,
                         notices=notices)
