"""Run journal: one JSON-lines file per run in the XDG state directory.

Every step's intent (with the before-state rollback needs) is written and
fsync'ed BEFORE the step changes anything, and its outcome AFTER, so a run
survives a killed console or a dropped SSH session: the next start reads the
journal, sees the unfinished run and offers resume or rollback.

Records ("t" is the type):
  run      header: run_id, wizard, title, params, site, hosts, time
  begin    an action starts on the run: apply | resume | rollback
  intent   host, step, before (BeforeState JSON)       -- written before apply
  outcome  host, step, status, summary, error, notes, after (what the step left)
                                                        -- written after apply
  rb-intent / rb-outcome   the same for a step's rollback
  end      action, status (complete | failed)
A process running the run holds an exclusive flock on the file, so a reader
can tell a live run from an abandoned one.

Lines are appended whole or not at all (console/append_only.py): a line cut
short by a full disk is cut back; a torn line left by a killed process is set
aside in `<run>.jsonl.torn` when the run is opened again, so it never merges
with the next record, and a reader skips one rather than stopping there.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from console import paths
from console.append_only import append_whole, set_aside_torn_tail

from .step import APPLIED, ROLLED_BACK, UNCHANGED, BeforeState

# Run states derived from the records.
RUNNING = "running"              # a process holds the run now
INTERRUPTED = "interrupted"      # an action began and never ended (killed)
PARTIAL = "partial"              # apply/resume ended with a failed host
COMPLETE = "complete"
ROLLED_BACK_RUN = "rolled-back"
ROLLBACK_PARTIAL = "rollback-partial"
UNFINISHED = (INTERRUPTED, PARTIAL, ROLLBACK_PARTIAL)


def runs_dir() -> Path:
    return paths.state_dir() / "runs"


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class JournalBusy(Exception):
    """Another process is running this run right now."""


class Journal:
    """Append-only writer for one run. Keep it open for the whole action."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise JournalBusy(f"run {path.stem} is being run by another process") from None
        try:
            torn = set_aside_torn_tail(self._fd, path)   # a killed writer's half line
        except OSError:
            self.close()
            raise
        self.notices = [] if torn is None else [
            f"journal of run {path.stem}: a torn line ({len(torn)} bytes, a write cut short) "
            f"was set aside in {path.name}.torn"]
        self._lock = threading.Lock()

    @classmethod
    def create(cls, header: dict) -> Journal:
        run_id = header.get("run_id") or new_run_id()
        j = cls(runs_dir() / f"{run_id}.jsonl")
        j.write({"t": "run", **header, "run_id": run_id})
        return j

    @classmethod
    def open(cls, run_id: str) -> Journal:
        path = runs_dir() / f"{run_id}.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"no run {run_id} in {runs_dir()}")
        return cls(path)

    @property
    def run_id(self) -> str:
        return self.path.stem

    def write(self, record: dict) -> None:
        line = (json.dumps({"time": time.time(), **record}, separators=(",", ":")) + "\n").encode()
        with self._lock:
            append_whole(self._fd, line)

    def close(self) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


@dataclass
class StepRecord:
    before: BeforeState | None = None     # the FIRST intent's: the original state
    after: BeforeState | None = None      # what the run left (outcome "applied")
    status: str | None = None             # latest outcome of apply/resume
    error: str | None = None
    order: int = -1                       # when the intent was written (rollback goes in reverse)
    rolled_back: bool = False


@dataclass
class RunState:
    run_id: str
    path: Path
    wizard: str
    title: str
    params: dict
    site: str | None
    hosts: list[str]
    started: float
    status: str
    last_action: str | None
    steps: dict[str, dict[str, StepRecord]] = field(default_factory=dict)  # host -> step -> record

    def record(self, host: str, step: str) -> StepRecord:
        return self.steps.setdefault(host, {}).setdefault(step, StepRecord())

    def done(self, host: str, step: str) -> bool:
        r = self.steps.get(host, {}).get(step)
        return bool(r and r.status in (APPLIED, UNCHANGED) and not r.rolled_back)

    def changed_steps(self, host: str) -> list[tuple[str, StepRecord]]:
        """Steps that may have changed the host (an intent was written), not yet
        rolled back, latest first."""
        recs = [(s, r) for s, r in self.steps.get(host, {}).items()
                if r.before is not None and not r.rolled_back]
        return sorted(recs, key=lambda sr: -sr[1].order)

    @property
    def unfinished(self) -> bool:
        return self.status in UNFINISHED

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "wizard": self.wizard, "title": self.title,
                "site": self.site, "hosts": self.hosts, "started": self.started,
                "status": self.status, "last_action": self.last_action,
                "steps": {h: {s: {"status": r.status, "error": r.error, "rolled_back": r.rolled_back}
                              for s, r in steps.items()} for h, steps in self.steps.items()}}


def _is_live(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def load(path_or_id: Path | str) -> RunState:
    path = Path(path_or_id) if isinstance(path_or_id, Path) else runs_dir() / f"{path_or_id}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"no run {path.stem} in {path.parent}")
    state: RunState | None = None
    open_action: str | None = None
    end_status: dict[str, str] = {}
    with open(path, "rb") as f:
        for n, raw in enumerate(f):
            rec = _record(raw)
            if rec is None:   # a torn line: skipped, the records after it still count
                continue
            t = rec.get("t")
            if t == "run":
                state = RunState(run_id=rec["run_id"], path=path, wizard=rec.get("wizard", ""),
                                 title=rec.get("title", ""), params=rec.get("params") or {},
                                 site=rec.get("site"), hosts=list(rec.get("hosts") or []),
                                 started=rec.get("time", 0.0), status=INTERRUPTED, last_action=None)
                continue
            if state is None:
                raise ValueError(f"{path}:{n + 1}: journal does not start with a run record")
            if t == "begin":
                open_action = rec["action"]
                state.last_action = open_action
            elif t == "intent":
                r = state.record(rec["host"], rec["step"])
                if r.before is None or r.rolled_back:
                    r.before = BeforeState.from_json(rec["before"])
                    r.rolled_back = False
                r.order = n
            elif t == "outcome":
                r = state.record(rec["host"], rec["step"])
                r.status, r.error = rec["status"], rec.get("error")
                if rec.get("after") is not None:
                    r.after = BeforeState.from_json(rec["after"])
            elif t == "rb-outcome":
                r = state.record(rec["host"], rec["step"])
                if rec["status"] == ROLLED_BACK:
                    r.rolled_back = True
                    r.status = ROLLED_BACK
                else:
                    r.error = rec.get("error")
            elif t == "end":
                end_status[rec["action"]] = rec["status"]
                if rec["action"] == "rollback":
                    state.status = ROLLED_BACK_RUN if rec["status"] == COMPLETE else ROLLBACK_PARTIAL
                else:
                    state.status = COMPLETE if rec["status"] == COMPLETE else PARTIAL
                open_action = None
    if state is None:
        raise ValueError(f"{path}: empty journal")
    if open_action is not None:
        state.status = INTERRUPTED
    if _is_live(path):
        state.status = RUNNING
    return state


def _record(raw: bytes) -> dict | None:
    """The record on a journal line, or None for a torn one. A journal written
    before torn tails were set aside may hold a torn line with the next record
    glued to it: that record (each starts with its "time") is recovered."""
    try:
        rec = json.loads(raw)
    except ValueError:
        i = raw.rfind(b'{"time":')
        if i <= 0:
            return None
        try:
            rec = json.loads(raw[i:])
        except ValueError:
            return None
    return rec if isinstance(rec, dict) else None


def list_runs() -> list[RunState]:
    d = runs_dir()
    if not d.is_dir():
        return []
    out = []
    for p in sorted(d.glob("*.jsonl")):
        try:
            out.append(load(p))
        except (ValueError, KeyError):
            continue
    return sorted(out, key=lambda r: r.started)


def unfinished_runs(wizard: str | None = None) -> list[RunState]:
    return [r for r in list_runs() if r.unfinished and (wizard is None or r.wizard == wizard)]
