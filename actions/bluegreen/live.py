"""What a switch looks like right now, for the wizard screen's live panel and
`bluegreen status`: the weights in force, the split the probes measured,
and success rate and P99 per colour over the last gate window. The traffic
and gate steps publish here (from the runner's worker thread); readers take
an immutable copy."""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ColourStats:
    sent: int = 0
    succeeded: int = 0
    p99_ms: float | None = None

    @property
    def success_rate(self) -> float | None:
        return None if not self.sent else self.succeeded / self.sent

    def to_dict(self) -> dict:
        return {"sent": self.sent, "succeeded": self.succeeded, "success_rate": self.success_rate,
                "p99_ms": self.p99_ms}


@dataclass(frozen=True)
class LiveView:
    weights: tuple[int, int] | None = None          # (blue, green) in force, read back
    stats: dict[str, ColourStats] = field(default_factory=dict)
    phase: str = ""                                  # what the switch is doing
    verdict: str = ""                                # the last gate's verdict

    @property
    def measured_split(self) -> tuple[float, float] | None:
        """The share of probe requests each colour answered (blue, green), in %."""
        total = sum(s.sent for s in self.stats.values())
        if not total:
            return None
        return (100 * self.stats.get("blue", ColourStats()).sent / total,
                100 * self.stats.get("green", ColourStats()).sent / total)

    def to_dict(self) -> dict:
        split = self.measured_split
        return {"weights": None if self.weights is None else {"blue": self.weights[0], "green": self.weights[1]},
                "measured_split": None if split is None else {"blue": split[0], "green": split[1]},
                "stats": {c: s.to_dict() for c, s in self.stats.items()}, "phase": self.phase,
                "verdict": self.verdict}

    def lines(self) -> list[str]:
        out = [f"phase: {self.phase or '-'}"]
        out.append("weights: " + ("unknown" if self.weights is None
                                  else f"blue {self.weights[0]} / green {self.weights[1]}"))
        split = self.measured_split
        out.append("measured split: " + ("no probe data yet" if split is None
                                         else f"blue {split[0]:.0f} % / green {split[1]:.0f} %"))
        for colour in ("blue", "green"):
            s = self.stats.get(colour)
            if s is None or not s.sent:
                out.append(f"{colour}: no requests")
                continue
            rate = f"{100 * (s.success_rate or 0):.1f} %"
            p99 = "-" if s.p99_ms is None else f"{s.p99_ms:.0f} ms"
            out.append(f"{colour}: {s.sent} requests, success {rate}, P99 {p99}")
        if self.verdict:
            out.append(f"gate: {self.verdict}")
        return out


class Live:
    """The mutable holder one plan's steps share (thread-safe)."""

    def __init__(self, read_back: Callable[[], tuple[int, int] | None] | None = None) -> None:
        self._lock = threading.Lock()
        self._view = LiveView()
        self.version = 0
        self._read_back = read_back     # the weights in force, read from the cluster or nginx

    def refresh(self) -> None:
        """Read the weights in force back (blocking: a worker thread's job)."""
        if self._read_back is not None:
            self.update(weights=self._read_back())

    def view(self) -> LiveView:
        with self._lock:
            return self._view

    def update(self, **changes: object) -> None:
        from dataclasses import replace
        with self._lock:
            self._view = replace(self._view, **changes)   # type: ignore[arg-type]
            self.version += 1
