"""The restore drill: the backup wizard's restore drill (console/backup/verify:
restore a set into a scratch directory on the copy's host, compare every file
with its SHA-256 manifest, time it) run as a drill: a steady state checked
first (restic check of the copy and a complete set in it; if it fails,
nothing is restored), journaled, and reported like the cluster drills with a
verdict against the site's RTO target (backup.policy.rto_target_s).

The restore touches nothing live: it writes only to the scratch directory,
which verify.drill removes itself (also when it fails); a console killed in
the middle can leave that directory behind (named dsconsole-drill.* under the
policy's scratch_dir), which the report's note says."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from . import store
from .outcomes import COMPLETED, FAILED, NOT_STARTED
from .timeline import Timeline

NAME = "restore"
TITLE = "Restore: restore a backup set and prove it, timed against the RTO"


class RestoreDrill(Timeline):
    def __init__(self, ctx: Any, copy: str, *, set_id: str | None = None, context: str | None = None,
                 production: bool = False, operator: str | None = None,
                 on_event: Callable[[dict], None] | None = None):
        super().__init__(on_event)
        self.ctx, self.copy, self.set_id = ctx, copy, set_id
        self.ctx.copy(copy)     # KeyError for an unknown copy, before anything starts
        self.context, self.production, self.operator = context, production, operator

    def _steady(self, phase: str) -> dict:
        from console.backup.verify import check_copy
        c = check_copy(self.ctx, self.copy)
        res = {"phase": phase, "ok": bool(c["ok"]), "set": c.get("set"), "message": c["message"],
               "reasons": [] if c["ok"] else [c["message"]]}
        self.event("steady-state", f"{phase}: {'holds' if c['ok'] else 'FAILS'}: restic check of copy "
                                   f"{self.copy}: {c['message']}")
        return res

    def run(self, confirmation: str) -> dict:
        from console.backup.verify import drill as restore_and_prove
        started = time.time()
        self.journal = store.new_journal({"drill": NAME, "title": TITLE, "site": self.ctx.name,
                                          "context": self.context, "blast_radius": {"copy": self.copy},
                                          "time_scale": 1.0})
        self.event("info", f"confirmed: {confirmation}")
        steady: dict = {"before": self._steady("before")}
        out: dict = {}
        status, error = COMPLETED, None
        if not steady["before"]["ok"]:
            status, error = NOT_STARTED, "steady state does not hold: the drill did not start"
        else:
            self.event("action", f"restore of set {self.set_id or 'newest'} from copy {self.copy} "
                                 f"into {self.ctx.cfg.policy.scratch_dir}")
            try:
                out = restore_and_prove(self.ctx, self.copy, set_id=self.set_id)
            except KeyboardInterrupt:
                status, error = FAILED, "interrupted (Ctrl-C)"
            if out:
                self.event("restored" if out["ok"] else "error", out["message"])
                if not out["ok"]:
                    status, error = FAILED, out["message"]
            steady["after"] = self._steady("after")
        report = self._report(status, error, steady, out, started)
        self.journal.write({"t": "end", "status": status, "deviated": report["deviated"]})
        self.journal.close()
        store.save_report(report)
        return report

    def _report(self, status: str, error: str | None, steady: dict, out: dict, started: float) -> dict:
        target = self.ctx.cfg.policy.rto_target_s
        rto = out.get("rto") or {}
        measured = rto.get("extrapolated_s")
        verdicts = {
            "rto": {"target_s": target, "measured_s": measured,
                    "met": measured is not None and (target is None or measured <= target)},
            "integrity": {"target": "every file matches its manifest", "measured": out.get("message"),
                          "met": bool(out.get("ok"))},
        }
        notes = ["the restore writes only to a scratch directory on the copy's host, removed after it"]
        if target is None:
            notes.append("no RTO target in the site file (backup.policy.rto_target_s): the verdict only "
                         "says the restore completed")
        deviated = status != COMPLETED or not all(v["met"] for v in verdicts.values()) \
            or (steady.get("after") or {}).get("ok") is False
        return {
            "schema": 1, "run_id": self.journal.run_id, "drill": NAME, "title": TITLE,
            "site": self.ctx.name, "context": self.context, "production": self.production,
            "operator": self.operator, "started": started, "ended": time.time(), "status": status,
            "error": error, "deviated": deviated, "pdb_bypassed": False,
            "blast_radius": {"nodes": [], "pods": [], "copy": self.copy, "set": out.get("set")},
            "hypothesis": {"copy_checked": "restic check of the copy passes and it holds a complete set"},
            "steady_state": {k: steady.get(k) for k in ("before", "during", "after")} | {"during": {
                "restore_s": out.get("restore_s"), "files": out.get("files")} if out else None},
            "actions": self.actions, "rollbacks": [],
            "timeline": self.timeline,
            "measurements": {"restore_s": out.get("restore_s"), "rto": rto or None, "files": out.get("files"),
                             "bytes": out.get("bytes"), "duration_s": out.get("duration_s")},
            "toleration": None, "verdicts": verdicts, "notes": notes,
        }
