"""Pause, resume and abort of a running switch from another process
(`dsconsole bluegreen pause|resume|abort` beside the `apply` that runs it):
a small file next to the run's journal, `<run>.control`, holding `pause`,
`run` or `abort`, which the running process watches and hands to its
Runner (the same StepControl the wizard screen's keys use)."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from .. import journal as jr

WORDS = ("pause", "run", "abort")


def control_path(run_id: str) -> Path:
    return jr.runs_dir() / f"{run_id}.control"


def request(run_id: str, word: str) -> None:
    if word not in WORDS:
        raise ValueError(f"control: expected one of {', '.join(WORDS)}, got {word!r}")
    path = control_path(run_id)
    tmp = path.with_suffix(".control.tmp")
    tmp.write_text(word + "\n")
    os.replace(tmp, path)   # the watcher never reads half a word


def read(run_id: str) -> str | None:
    try:
        word = control_path(run_id).read_text().strip()
    except FileNotFoundError:
        return None
    return word if word in WORDS else None


class ControlWatcher:
    """Polls the control file of the run the runner is running (its id comes
    with the runner's run-start progress event) and pauses, unpauses or
    aborts the runner accordingly."""

    def __init__(self, runner: Any, poll_s: float = 0.2):
        self.runner = runner
        self.poll_s = poll_s
        self.run_id: str | None = None
        self.seen: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bluegreen-control", daemon=True)

    def start(self) -> ControlWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self.run_id:
            try:
                control_path(self.run_id).unlink()
            except FileNotFoundError:
                pass

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self.run_id is None:
                continue
            word = read(self.run_id)
            if word == self.seen:
                continue
            self.seen = word
            if word == "pause":
                self.runner.pause()
            elif word == "run":
                self.runner.unpause()
            elif word == "abort":
                self.runner.abort()
