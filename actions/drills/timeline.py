"""A drill's timeline: every event timed from the drill's start (in site
seconds: x time_scale on the demo's scaled clock), journaled, handed to the
view (the CLI's printer, the :drills screen), and actions kept apart for the
report. Shared by the cluster drills (engine.py), restore and lb_loss."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

ACTION_KINDS = ("action", "429")


class Timeline:
    time_scale: float = 1.0

    def __init__(self, on_event: Callable[[dict], None] | None = None):
        self.on_event = on_event
        self.timeline: list[dict] = []
        self.actions: list[dict] = []
        self.journal: Any = None
        self.t_start = time.monotonic()

    def rel(self, t: float | None = None) -> float:
        return round(((time.monotonic() if t is None else t) - self.t_start) * self.time_scale, 3)

    def event(self, kind: str, text: str) -> None:
        ev = {"t_s": self.rel(), "kind": kind, "text": text}
        self.timeline.append(ev)
        if kind in ACTION_KINDS:
            self.actions.append(ev)
        if self.journal is not None:
            self.journal.write({"t": "event", **ev})
        if self.on_event:
            try:
                self.on_event(ev)
            except Exception:  # noqa: BLE001 - a broken view must not break a drill
                pass
