"""Where drills keep their journals and reports: <state dir>/drills/
<run>.jsonl (the journal, actions/journal.Journal's append-only lines and
lock), <run>.json and <run>.md (the report). An unfinished drill is a journal
without an "end" record or with rollbacks not done; `rollback_run` runs them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actions.journal import Journal, new_run_id
from console import paths


def drills_dir() -> Path:
    return paths.state_dir() / "drills"


def new_journal(header: dict) -> Journal:
    run_id = new_run_id()
    j = Journal(drills_dir() / f"{run_id}.jsonl")
    j.write({"t": "run", "run_id": run_id, **header})
    return j


def save_report(report: dict) -> tuple[Path, Path]:
    from .report import render_markdown
    d = drills_dir()
    d.mkdir(parents=True, exist_ok=True)
    js, md = d / f"{report['run_id']}.json", d / f"{report['run_id']}.md"
    for path, text in ((js, json.dumps(report, indent=2) + "\n"), (md, render_markdown(report))):
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return js, md


def reports() -> list[dict]:
    out = []
    for p in sorted(drills_dir().glob("*.json")):
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    return out


def load_report(run_id: str) -> dict:
    p = drills_dir() / f"{run_id}.json"
    if not p.exists():
        raise FileNotFoundError(f"no drill report {run_id} in {drills_dir()}")
    return json.loads(p.read_text())


def records(run_id: str) -> list[dict]:
    p = drills_dir() / f"{run_id}.jsonl"
    out = []
    for raw in p.read_bytes().splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:   # a torn line of a killed console: skipped
            continue
    return out


def pending_undos(recs: list[dict]) -> list[dict]:
    done = {r["id"] for r in recs if r.get("t") == "undone" and r.get("ok")}
    return [r for r in recs if r.get("t") == "undo" and r["id"] not in done]


def unfinished() -> list[dict]:
    """Drills whose console died (or whose rollbacks failed): header + pending rollbacks."""
    out = []
    for p in sorted(drills_dir().glob("*.jsonl")):
        recs = records(p.stem)
        ended = any(r.get("t") == "end" for r in recs)
        pending = pending_undos(recs)
        if (not ended or pending) and recs and recs[0].get("t") == "run":
            try:   # a drill running now holds the journal's lock: not unfinished
                Journal(p).close()
            except Exception:  # noqa: BLE001 - JournalBusy
                continue
            out.append({**recs[0], "pending": pending, "ended": ended})
    return out


def rollback_run(run_id: str, ops: Any, faults: Any = None) -> list[dict]:
    """Run the pending rollbacks of a drill (a killed console's) and close its journal."""
    from .outcomes import INTERRUPTED
    from .rollbacks import run_undos
    j = Journal(drills_dir() / f"{run_id}.jsonl")
    try:
        recs = records(run_id)
        done = run_undos(ops, faults, pending_undos(recs), j)
        if not any(r.get("t") == "end" for r in recs):
            j.write({"t": "end", "status": INTERRUPTED, "deviated": True, "rolled_back_later": True})
        return done
    finally:
        j.close()
