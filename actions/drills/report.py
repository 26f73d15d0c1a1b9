"""A drill's report: JSON (every field an auditor asks for) and Markdown,
with the timeline and a verdict per target (recovery <= 30 s, availability
>= 99.95 %)."""
from __future__ import annotations

import time
from typing import Any

from console.safe_text import visible

from .outcomes import AVAILABILITY_TARGET, RECOVERY_TARGET_S


def _toleration_advice(m: dict) -> dict | None:
    tol = m.get("toleration_s")
    if "toleration_s" not in m:
        return None
    rec = m.get("recovery_s")
    out = {"toleration_s": tol, "default_toleration_s": 300.0}
    if rec is not None and tol is not None:
        rest = max(0.0, rec - tol)      # what recovery takes besides waiting out the toleration
        out["recovery_without_toleration_s"] = round(rest, 3)
        need = RECOVERY_TARGET_S - rest
        out["recommended_toleration_s"] = int(need) if need >= 0 else None
        out["advice"] = (f"tolerationSeconds {int(need)} or less would meet the {RECOVERY_TARGET_S:g} s target"
                         if need >= 0 else
                         f"no tolerationSeconds meets {RECOVERY_TARGET_S:g} s: rescheduling and model load "
                         f"alone take {rest:.1f} s")
    return out


def build_report(run: Any, *, status: str, error: str | None, radius: Any, steady: dict) -> dict:
    m = dict(run.measurements)
    m["time_scale"] = run.time_scale
    m["evictions_429"] = run.evictions_429
    during = steady.get("during") or {}
    rec = m.get("recovery_s")
    avail = during.get("success_rate")
    verdicts = {
        "recovery": {"target_s": RECOVERY_TARGET_S, "measured_s": rec,
                     "met": rec is not None and rec <= RECOVERY_TARGET_S},
        "availability": {"target": AVAILABILITY_TARGET, "measured": avail,
                         "sent": during.get("sent"), "succeeded": during.get("succeeded"),
                         "met": avail is not None and avail >= AVAILABILITY_TARGET},
    }
    if "alert_fired" in m:
        verdicts["alert"] = {"target": "the console alerts", "met": m["alert_fired"]}
    after_ok = (steady.get("after") or {}).get("ok")
    deviated = status != "completed" or not all(v["met"] for v in verdicts.values()) or after_ok is False
    notes = list(run.notes)
    if run.drill.bypasses_pdb:
        notes.append("pod delete bypasses the PodDisruptionBudget")
    return {
        "schema": 1, "run_id": run.run_id, "drill": run.drill.name, "title": run.drill.title,
        "site": run.site, "context": run.context, "production": run.production, "operator": run.operator,
        "started": run.started_wall, "ended": time.time(), "status": status, "error": error,
        "deviated": deviated, "pdb_bypassed": run.drill.bypasses_pdb,
        "blast_radius": radius.to_dict(), "hypothesis": run.hyp.to_dict(),
        "steady_state": {k: steady.get(k) for k in ("before", "during", "after")},
        "actions": run.actions, "rollbacks": run.rollbacks, "timeline": run.timeline,
        "measurements": m, "toleration": _toleration_advice(m), "verdicts": verdicts, "notes": notes,
    }


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4f}" if v < 1.5 else f"{v:.1f}"
    return visible(str(v))


def render_markdown(r: dict) -> str:
    lines = [f"# Drill {r['drill']}: {visible(r['title'])}", "",
             f"- run: {r['run_id']}", f"- site: {_fmt(r['site'])} (context {_fmt(r['context'])}"
             f"{', PRODUCTION' if r['production'] else ''})",
             f"- status: **{r['status']}**{' (deviated)' if r['deviated'] else ''}"
             + (f": {visible(r['error'])}" if r.get("error") else ""),
             f"- blast radius: nodes {', '.join(r['blast_radius']['nodes']) or '-'}; "
             f"pods {', '.join(r['blast_radius']['pods']) or '-'}"]
    if r["pdb_bypassed"]:
        lines.append("- a pod delete bypasses the PodDisruptionBudget")
    lines += ["", "## Verdicts", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for name, v in r["verdicts"].items():
        goal = v.get("target_s", v.get("target"))
        meas = v.get("measured_s", v.get("measured"))
        lines.append(f"| {name} | {_fmt(goal)} | {_fmt(meas)} | {'yes' if v['met'] else 'NO'} |")
    lines += ["", "## Steady state", ""]
    for phase, s in r["steady_state"].items():
        if s:
            if "sent" not in s:     # a drill without probe requests (restore): its own fields
                lines.append(f"- {phase}: " + ", ".join(f"{k} {_fmt(v)}" for k, v in s.items() if k != "phase"))
                continue
            lines.append(f"- {phase}: sent {s.get('sent')}, succeeded {s.get('succeeded')}, "
                         f"P99 {_fmt(s.get('p99_s'))} s"
                         + (f", serving {s['serving']}/{s['desired']}" if "serving" in s else "")
                         + (f", {'holds' if s['ok'] else 'FAILS'}" if "ok" in s else ""))
    lines += ["", "## Measurements", ""] + [f"- {k}: {_fmt(v)}" for k, v in r["measurements"].items()]
    if r.get("toleration"):
        lines += ["", "## Toleration", ""] + [f"- {k}: {_fmt(v)}" for k, v in r["toleration"].items()]
    lines += ["", "## Timeline (site seconds from the start)", ""]
    lines += [f"- {e['t_s']:8.1f}  {e['kind']:<12} {visible(e['text'])}" for e in r["timeline"]]
    lines += ["", "## Rollbacks", ""] + ([f"- {b['op']} {b.get('node') or ''}: "
                                          f"{'done' if b['ok'] else 'FAILED ' + visible(b['error'] or '')}"
                                          for b in r["rollbacks"]] or ["- none needed"])
    if r["notes"]:
        lines += ["", "## Notes", ""] + [f"- {visible(n)}" for n in r["notes"]]
    return "\n".join(lines) + "\n"
