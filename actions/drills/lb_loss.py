"""The load-balancer upstream loss drill: one upstream of the nginx balancer
stops; real completions are sent through the balancer all along (the drills'
Prober, aimed at the balancer), so the errors a client sees are counted, not
inferred; the time until nginx takes the upstream out of rotation is read
from nginx's own error log, polled every `poll_s` (its measurement error):
nginx logs "upstream server temporarily disabled" when the upstream's
failures reach max_fails within fail_timeout (passive health checks).

What it needs (`UpstreamControl`): stop / start one upstream (on a real site
a command on that upstream's host through its Transport; in the tests the
fixture's server) and the text of the balancer's error log. The stop is
journaled with its rollback (start_upstream) before it is made, so a killed
console's `drill rollback RUN` starts the upstream again."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from . import store
from .confirm import ProductionRefused, production_refusal
from .outcomes import ABORTED, AVAILABILITY_TARGET, COMPLETED, FAILED, NOT_STARTED
from .prober import Prober
from .rollbacks import run_undos
from .timeline import Timeline

NAME = "lb-upstream-loss"
TITLE = "Load-balancer upstream loss: one nginx upstream stops"
DISABLED = "upstream server temporarily disabled"


class UpstreamControl(Protocol):
    def stop_upstream(self, address: str) -> None: ...
    def start_upstream(self, address: str) -> None: ...
    def error_log(self) -> str: ...


@dataclass(frozen=True)
class Balancer:
    """The balancer as one probe target (the Prober's pod interface)."""
    ip: str
    model_port: int
    name: str = "balancer"
    serving: bool = True

    @property
    def key(self) -> str:
        return self.name


class LbUpstreamLoss(Timeline):
    def __init__(self, balancer: Balancer, upstream: str, control: UpstreamControl, *, max_fails: int = 1,
                 fail_timeout_s: float = 10.0, observe_s: float = 3.0, poll_s: float = 0.05,
                 site: str | None = None, context: str | None = None, production: bool = False,
                 operator: str | None = None, prober: Prober | None = None, window_s: float = 2.0,
                 on_event: Callable[[dict], None] | None = None):
        super().__init__(on_event)
        self.balancer, self.upstream, self.control = balancer, upstream, control
        self.max_fails, self.fail_timeout_s = max_fails, fail_timeout_s
        self.observe_s, self.poll_s, self.window_s = observe_s, poll_s, window_s
        self.site, self.context, self.production, self.operator = site, context, production, operator
        self.prober = prober or Prober(lambda: [balancer], rate=40.0, workers=4)
        self.aborted = threading.Event()

    def abort(self) -> None:
        """From any thread (the screen's x): the observation ends, the rollback runs."""
        self.aborted.set()

    def _steady(self, phase: str) -> dict:
        since = time.monotonic()
        time.sleep(self.window_s)
        w = self.prober.window(since=since)
        ok = w.sent >= 10 and (w.success_rate or 0.0) >= 0.99
        self.event("steady-state", f"{phase}: {'holds' if ok else 'FAILS'} "
                                   f"({w.succeeded}/{w.sent} ok through the balancer)")
        return {"phase": phase, "ok": ok, **w.to_dict(),
                "reasons": [] if ok else [f"{w.succeeded}/{w.sent} requests succeeded through the balancer"]}

    def _dead_lines(self, offset: int) -> tuple[int, bool]:
        """(failed attempts at the upstream, whether nginx disabled it) in the log since offset."""
        lines = [ln for ln in self.control.error_log()[offset:].splitlines() if self.upstream in ln]
        return sum(1 for ln in lines if "failed" in ln), any(DISABLED in ln for ln in lines)

    def run(self, confirmation: str, *, production_confirmed: bool = False) -> dict:
        if self.production and not production_confirmed:
            raise ProductionRefused(production_refusal(self.site, self.context))
        started = time.time()
        self.journal = store.new_journal({"drill": NAME, "title": TITLE, "site": self.site,
                                          "context": self.context, "blast_radius": {"upstream": self.upstream},
                                          "time_scale": 1.0})
        self.event("info", f"confirmed: {confirmation}")
        undos: list[dict] = []
        steady: dict = {}
        m: dict = {"max_fails": self.max_fails, "fail_timeout_s": self.fail_timeout_s,
                   "log_poll_s": self.poll_s}
        status, error = COMPLETED, None
        rollbacks: list[dict] = []
        self.prober.start()
        try:
            steady["before"] = self._steady("before")
            if not steady["before"]["ok"]:
                status, error = NOT_STARTED, "steady state does not hold: the drill did not start"
            else:
                try:
                    self._disrupt(undos, m, steady)
                except KeyboardInterrupt:
                    status, error = FAILED, "interrupted (Ctrl-C)"
                except Exception as e:  # noqa: BLE001 - any failure still rolls back
                    status, error = FAILED, f"{type(e).__name__}: {e}"
                if self.aborted.is_set() and status == COMPLETED:
                    status, error = ABORTED, "aborted by the operator"
        finally:
            rollbacks = run_undos(None, self.control, undos, self.journal, self.event)
        if status != NOT_STARTED:
            steady["after"] = self._steady("after")
        self.prober.stop()
        report = self._report(status, error, steady, m, rollbacks, started)
        self.journal.write({"t": "end", "status": status, "deviated": report["deviated"]})
        self.journal.close()
        store.save_report(report)
        return report

    def _disrupt(self, undos: list[dict], m: dict, steady: dict) -> None:
        offset = len(self.control.error_log())
        rec = {"t": "undo", "id": 1, "op": "start_upstream", "upstream": self.upstream}
        self.journal.write(rec)
        undos.append(rec)
        t_stop = time.monotonic()
        self.control.stop_upstream(self.upstream)
        self.event("action", f"upstream {self.upstream} stopped")
        out_at = None
        end = t_stop + max(self.observe_s, 0.0)
        limit = t_stop + self.fail_timeout_s + self.observe_s    # nginx must have decided by then
        while time.monotonic() < (end if out_at else limit) and not self.aborted.is_set():
            attempts, disabled = self._dead_lines(offset)
            if disabled and out_at is None:
                out_at = time.monotonic()
                self.event("out-of-rotation", f"nginx took {self.upstream} out of rotation after "
                                              f"{attempts} failed attempt(s)")
            time.sleep(self.poll_s)
        w = self.prober.window(since=t_stop)
        steady["during"] = w.to_dict()
        m["errors_seen"] = w.sent - w.succeeded
        m["attempts_at_dead_upstream"] = self._dead_lines(offset)[0]
        m["out_of_rotation_s"] = None if out_at is None else round(out_at - t_stop, 3)
        if out_at is None and not self.aborted.is_set():
            self.event("error", f"nginx never took {self.upstream} out of rotation")

    def _report(self, status: str, error: str | None, steady: dict, m: dict, rollbacks: list[dict],
                started: float) -> dict:
        during = steady.get("during") or {}
        avail = during.get("success_rate")
        out_s = m.get("out_of_rotation_s")
        verdicts = {
            "availability": {"target": AVAILABILITY_TARGET, "measured": avail, "sent": during.get("sent"),
                             "succeeded": during.get("succeeded"),
                             "met": avail is not None and avail >= AVAILABILITY_TARGET},
            # passive health: out once max_fails attempts failed, at most within fail_timeout
            "out_of_rotation": {"target_s": self.fail_timeout_s, "measured_s": out_s,
                                "met": out_s is not None and out_s <= self.fail_timeout_s},
        }
        deviated = status != COMPLETED or not all(v["met"] for v in verdicts.values()) \
            or (steady.get("after") or {}).get("ok") is False
        return {
            "schema": 1, "run_id": self.journal.run_id, "drill": NAME, "title": TITLE, "site": self.site,
            "context": self.context, "production": self.production, "operator": self.operator,
            "started": started, "ended": time.time(), "status": status, "error": error, "deviated": deviated,
            "pdb_bypassed": False, "blast_radius": {"nodes": [], "pods": [], "upstream": self.upstream},
            "hypothesis": {"min_success_rate": 0.99, "through": "the balancer", "window_s": self.window_s},
            "steady_state": {k: steady.get(k) for k in ("before", "during", "after")},
            "actions": self.actions, "rollbacks": rollbacks,
            "timeline": self.timeline, "measurements": m, "toleration": None, "verdicts": verdicts,
            "notes": [f"out of rotation is read from nginx's error log every {self.poll_s:g} s "
                      f"(the measurement's error); max_fails {self.max_fails}, fail_timeout "
                      f"{self.fail_timeout_s:g} s"],
        }
