"""DrillRun: one drill from start to report.

  1. steady-state hypothesis (serving pods == desired replicas, success rate,
     P99, from real probe requests); if it fails, nothing is touched;
  2. the blast radius is named and confirmed by the caller (confirm callback);
  3. the fault, each change preceded by its rollback in the journal ("undo");
  4. observation until every disrupted pod is replaced by a serving one that
     answered a request (recovery), probing all along (availability);
  5. rollbacks, ALWAYS (finally: also on abort, Ctrl-C, an error); a killed
     console leaves "undo" records without "undone": `rollback_run` runs them;
  6. steady state after, the journal's end record and the report.

Times are measured on this machine's monotonic clock and reported in the
site's seconds (x time_scale: the demo site's scaled clock)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from console.audit import AuditLog

from . import store
from .catalog import DRILLS, BlastRadius, DrillRefused
from .confirm import ProductionRefused, node_refusal, production_refusal
from .outcomes import ABORTED, COMPLETED, FAILED, NOT_STARTED
from .prober import Prober
from .rollbacks import run_undos
from .timeline import Timeline


class Aborted(Exception):
    pass


REAL_P99_FLOOR_S = 0.2   # see DrillRun.p99_budget_real_s


@dataclass(frozen=True)
class Hypothesis:
    """Tolerances of the steady state."""
    min_success_rate: float = 0.99
    max_p99_s: float = 2.0
    window_s: float = 2.0        # real seconds of probing for one check
    min_requests: int = 10

    def to_dict(self) -> dict:
        return {"pods_ready": "serving pods == desired replicas", "min_success_rate": self.min_success_rate,
                "max_p99_s": self.max_p99_s, "window_s": self.window_s}


class DrillRun(Timeline):
    def __init__(self, drill: str, ops: Any, *, faults: Any = None, site: str | None, context: str | None = None,
                 production: bool = False, operator: str | None = None, time_scale: float = 1.0,
                 max_wait_s: float = 900.0, hypothesis: Hypothesis | None = None,
                 prober: Prober | None = None, on_event: Callable[[dict], None] | None = None,
                 audit: AuditLog | None = None):
        super().__init__(on_event)
        if drill not in DRILLS:
            raise DrillRefused(f"unknown drill {drill!r} (known: {', '.join(DRILLS)})")
        self.drill = DRILLS[drill]
        if self.drill.needs_faults and (faults is None or self.drill.fault_kind not in faults.kinds):
            raise DrillRefused(f"{drill} needs fault injection: the demo site (--demo) has it; a real site "
                               f"has node loss through the node's host (--site FILE naming the host)"
                               if self.drill.fault_kind == "node" else
                               f"{drill} needs fault injection, which only the demo site has (--demo)")
        self.ops = ops
        self.faults = faults
        self.site, self.context, self.production, self.operator = site, context, production, operator
        self.time_scale = time_scale
        self.max_wait_real_s = max_wait_s / time_scale
        self.hyp = hypothesis or Hypothesis()
        self.prober = prober or Prober(ops.model_pods)
        self.audit = audit
        self.abort_event = threading.Event()
        self.notes: list[str] = []
        self.rollbacks: list[dict] = []
        self.measurements: dict = {}
        self.evictions_429 = 0
        self.started_wall = time.time()
        self.t_disrupted: float | None = None
        self._undos: list[dict] = []
        self.deadline = float("inf")
        self.before_pods: list = []
        self.run_id: str | None = None
        self._undo_seq = 0

    # ---- used by the drills ------------------------------------------------
    def note(self, text: str) -> None:
        self.notes.append(text)

    def undo(self, op: dict) -> None:
        """Journal a rollback BEFORE the change it undoes is made."""
        self._undo_seq += 1
        rec = {"t": "undo", "id": self._undo_seq, **op}
        self.journal.write(rec)
        self._undos.append(rec)

    def mark_disrupted(self) -> None:
        if self.t_disrupted is None:
            self.t_disrupted = time.monotonic()

    def check_abort(self) -> None:
        if self.abort_event.is_set():
            raise Aborted("aborted by the operator")

    def sleep(self, s: float) -> None:
        if self.abort_event.wait(s):
            raise Aborted("aborted by the operator")

    def abort(self) -> None:
        self.abort_event.set()

    # ---- steady state --------------------------------------------------------
    def p99_budget_real_s(self) -> float:
        """The P99 budget in real seconds. A scaled clock compresses the model
        servers' simulated time but not this machine's own delays, which the
        scale would multiply: on a 100x clock the 2 s budget is 20 ms of real
        time, and a loaded machine's scheduling delays alone reach that
        (measured: P99 of 1.0-2.0 "simulated" seconds under eight busy loops).
        So the budget is never tighter than REAL_P99_FLOOR_S of real time."""
        return max(self.hyp.max_p99_s / self.time_scale, REAL_P99_FLOOR_S)

    def steady_state(self, phase: str) -> dict:
        since = time.monotonic()
        self.prober.wait_for(len(self.prober.results) + self.hyp.min_requests, self.hyp.window_s * 3)
        remaining = self.hyp.window_s - (time.monotonic() - since)
        if remaining > 0:
            self.abort_event.wait(remaining)
        w = self.prober.window(since=since)
        desired = self.ops.desired_replicas()
        serving = sum(1 for p in self.ops.model_pods() if p.serving)
        reasons = []
        if serving < desired:
            reasons.append(f"{serving} of {desired} model-server pods serving")
        if w.sent < self.hyp.min_requests:
            reasons.append(f"only {w.sent} probe requests in the window")
        elif (w.success_rate or 0.0) < self.hyp.min_success_rate:
            reasons.append(f"success rate {w.success_rate:.4f} < {self.hyp.min_success_rate}")
        if w.p99_s is not None and w.p99_s > self.p99_budget_real_s():
            reasons.append(f"P99 {w.p99_s * self.time_scale:.3f} s > {self.p99_budget_real_s() * self.time_scale:g} s")
        res = {"phase": phase, "ok": not reasons, "serving": serving, "desired": desired, **w.to_dict(),
               "p99_s": None if w.p99_s is None else round(w.p99_s * self.time_scale, 4), "reasons": reasons}
        self.event("steady-state", f"{phase}: {'holds' if not reasons else 'FAILS: ' + '; '.join(reasons)} "
                                   f"({serving}/{desired} serving, {w.succeeded}/{w.sent} ok)")
        return res

    # ---- the run ---------------------------------------------------------------
    def plan(self, target: str | None = None) -> BlastRadius:
        """Look at the cluster and name the blast radius (changes nothing)."""
        self.before_pods = self.ops.model_pods()
        return self.drill.blast_radius(self, target)

    @property
    def stops_real_node(self) -> bool:
        return self.drill.fault_kind == "node" and bool(getattr(self.faults, "real", False))

    def run(self, radius: BlastRadius, confirmation: str, *, production_confirmed: bool = False,
            confirmed_node: str | None = None) -> dict:
        """Run the drill on a confirmed blast radius; returns the report dict
        (also saved under the state dir). On a production site the caller must
        also have had the production confirmation (confirm.py): checked here,
        before anything is written or touched, so no front end can skip it."""
        if self.production and not production_confirmed:
            raise ProductionRefused(production_refusal(self.site, self.context))
        if self.stops_real_node and confirmed_node != radius.nodes[0]:
            raise DrillRefused(node_refusal(radius.nodes[0], confirmed_node))
        self._undos = []
        self.journal = store.new_journal({"drill": self.drill.name, "title": self.drill.title,
                                          "site": self.site, "context": self.context,
                                          "blast_radius": radius.to_dict(), "time_scale": self.time_scale})
        self.run_id = self.journal.run_id
        self._audit("drill-start", radius, f"confirmed: {confirmation}")
        status, error = COMPLETED, None
        steady = {}
        budget_s = self.p99_budget_real_s() * self.time_scale
        if budget_s > self.hyp.max_p99_s:
            self.note(f"on a {self.time_scale:g}x clock the P99 budget is {budget_s:g} s simulated "
                      f"({REAL_P99_FLOOR_S:g} s of real time): this machine's own delays are not compressed")
        self.prober.start()
        try:
            try:
                steady["before"] = self.steady_state("before")
                if not steady["before"]["ok"]:
                    status = NOT_STARTED
                    return self._finish(status, "steady state does not hold: the drill did not start ("
                                        + "; ".join(steady["before"]["reasons"]) + ")", radius, steady)
                self.deadline = time.monotonic() + self.max_wait_real_s
                t_fault_probe = time.monotonic()
                self.drill.inject(self, radius)
                self.mark_disrupted()
                self._observe(radius)
                steady["during"] = self.prober.window(since=t_fault_probe).to_dict()
            except Aborted as e:
                status, error = ABORTED, str(e)
            except KeyboardInterrupt:
                status, error = ABORTED, "interrupted (Ctrl-C)"
            except TimeoutError as e:
                status, error = FAILED, str(e)
            except Exception as e:  # noqa: BLE001 - any failure still rolls back
                status, error = FAILED, f"{type(e).__name__}: {e}"
            if self.t_disrupted is not None and "during" not in steady:
                steady["during"] = self.prober.window(since=self.t_disrupted).to_dict()
            if error:
                self.event("error", error)
        finally:
            # rollbacks ALWAYS run, whatever happened above
            self.rollbacks = run_undos(self.ops, self.faults, self._undos, self.journal, self.event)
        if status != NOT_STARTED:
            self.abort_event.clear()
            self._wait_serving(min(self.max_wait_real_s, 120.0 / self.time_scale + 5))
            steady["after"] = self.steady_state("after")
        return self._finish(status, error, radius, steady)

    def _wait_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for p in self.ops.model_pods() if p.serving) >= self.ops.desired_replicas():
                return
            time.sleep(0.2)

    def _observe(self, radius: BlastRadius) -> None:
        """Until every disrupted pod is replaced by serving pods that answered."""
        t_dis = self.t_disrupted or time.monotonic()
        gone = set(radius.pods)
        before = {p.name for p in self.before_pods}
        desired = self.ops.desired_replicas()
        t_ready = None
        while True:
            self.check_abort()
            pods = self.ops.model_pods()
            serving = [p for p in pods if p.serving and p.name not in gone]
            new = {p.name for p in serving if p.name not in before}
            if t_ready is None and len(serving) >= desired and len(new) >= len(gone):
                t_ready = time.monotonic()
                self.event("ready", f"replacement pod(s) Ready: {', '.join(sorted(new))}")
            if t_ready is not None:
                answered = {r.pod for r in self.prober.results[-2000:] if r.ok and r.t >= t_dis}
                if new <= answered:
                    t_warm = time.monotonic()
                    self.event("recovered", "every replacement answered a completion")
                    self.measurements.update(
                        ready_s=round((t_ready - t_dis) * self.time_scale, 3),
                        recovery_s=round((t_warm - t_dis) * self.time_scale, 3))
                    return
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"not recovered within {self.max_wait_real_s * self.time_scale:g} s")
            self.sleep(0.1)

    def _audit(self, action: str, radius: BlastRadius, result: str) -> None:
        if self.audit is None:
            return
        try:
            self.audit.append(action, host=",".join(radius.names), result=result, site=self.site,
                              operator=self.operator, args={"drill": self.drill.name, "run_id": self.run_id})
        except OSError as e:
            self.note(f"audit record not written: {e}")

    def _finish(self, status: str, error: str | None, radius: BlastRadius, steady: dict) -> dict[str, Any]:
        self.prober.stop()
        from .report import build_report
        report = build_report(self, status=status, error=error, radius=radius, steady=steady)
        self.journal.write({"t": "end", "status": status, "deviated": report["deviated"]})
        self.journal.close()
        store.save_report(report)
        self._audit("drill-end", radius, status)
        return report
