"""Plain-text rendering of a runner result for the headless CLI of any wizard
(the wizard screen renders the same objects with widgets). Host output in
checks, errors and notes is shown with control characters made visible."""
from __future__ import annotations

from console.safe_text import visible, visible_text

from .journal import RunState
from .runner import RunResult, StepResult

_MARK = {"ok": "ok", "needed": "CHANGE", "warn": "warn", "error": "ERROR", "applied": "applied",
         "unchanged": "unchanged", "failed": "FAILED", "skipped": "skipped",
         "rolled-back": "rolled back"}


def _step_lines(s: StepResult, verbose: bool) -> list[str]:
    out = [f"  [{_MARK.get(s.status, s.status)}] {s.check.summary if s.check else s.title}"]
    if s.verify and not s.check:
        out[0] = f"  [{_MARK.get(s.status, s.status)}] {s.title}: {s.verify.message}"
    if s.error:
        out.append(f"      error: {s.error}")
    if s.check and verbose and s.check.needed:
        if s.check.persistent:
            out.append("      persistent:")
            out += [f"        {line}" for line in s.check.persistent]
        if s.check.runtime:
            out.append("      runtime:")
            out += [f"        {line}" for line in s.check.runtime]
    notes = list(s.notes) or (list(s.check.notes) if s.check else []) or \
        (list(s.verify.notes) if s.verify else [])
    out += [f"      ! {n}" for n in dict.fromkeys(notes)]
    return out


def render(result: RunResult, *, title: str = "", verbose: bool = True) -> str:
    lines = []
    head = f"{title}: {result.action}" if title else result.action
    if result.run_id:
        head += f" (run {result.run_id})"
    lines.append(head)
    for host, hr in result.hosts.items():
        lines.append(f"== {host}: {hr.status}" + (f" -- {hr.error}" if hr.error else ""))
        for s in hr.steps:
            lines += _step_lines(s, verbose)
    lines.append(result.message)
    return visible_text("\n".join(lines))


def render_run(state: RunState) -> str:
    return visible(f"{state.run_id}  {state.status:<16} {state.title or state.wizard}  "
                   f"hosts: {', '.join(state.hosts)}  last: {state.last_action or '-'}")
