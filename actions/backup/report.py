"""After a backup run: what each copy got (snapshot ids, sizes, durations) to
the audit log, one record per copy, beside the runner's own."""
from __future__ import annotations

from console.audit import AuditLog

from ..plan import Plan


def copy_results(plan: Plan) -> dict[str, dict]:
    """copy -> {"sources": {source: result}, "set": the complete step's result} of the steps that ran."""
    out: dict[str, dict] = {}
    for hp in plan.hosts:
        entry: dict = {"sources": {}}
        for step in hp.steps:
            res = getattr(step, "result", None)
            if not res:
                continue
            if step.id == "complete":
                entry["set"] = {k: res[k] for k in ("set", "bytes", "time", "complete") if k in res}
            else:
                entry["sources"][res["source"]] = {k: res[k] for k in
                                                   ("snapshot", "bytes", "files", "duration_s", "files_hashed")}
        out[hp.host] = entry
    return out


def audit_snapshots(audit: AuditLog, plan: Plan, run_id: str | None) -> None:
    for copy, entry in copy_results(plan).items():
        if entry["sources"] or "set" in entry:
            audit.append("backup.snapshots", host=copy,
                         args={"run_id": run_id, "set": plan.params.get("set"), **entry},
                         result="ok: set complete" if "set" in entry else "partial: set incomplete, it does not count")
