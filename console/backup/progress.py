"""Progress of a restic backup, from its --json status lines."""
from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class BackupProgress:
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int
    elapsed_s: float
    eta_s: float | None

    @property
    def rate(self) -> float:
        """Bytes per second so far."""
        return self.bytes_done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def line(self) -> str:
        pct = 100 * self.bytes_done / self.bytes_total if self.bytes_total else 0
        eta = "?" if self.eta_s is None else f"{self.eta_s:.0f} s"
        return (f"{human_bytes(self.bytes_done)} of {human_bytes(self.bytes_total)} ({pct:.0f} %), "
                f"{self.files_done}/{self.files_total} files, {human_bytes(self.rate)}/s, ETA {eta}")


def parse_status(line: str | None) -> BackupProgress | None:
    """A restic `backup --json` status line -> BackupProgress (None for any other line)."""
    if not line:
        return None
    try:
        msg = json.loads(line)
    except ValueError:
        return None
    if not isinstance(msg, dict) or msg.get("message_type") != "status":
        return None
    eta = msg.get("seconds_remaining")
    return BackupProgress(bytes_done=int(msg.get("bytes_done") or 0),
                          bytes_total=int(msg.get("total_bytes") or 0),
                          files_done=int(msg.get("files_done") or 0),
                          files_total=int(msg.get("total_files") or 0),
                          elapsed_s=float(msg.get("seconds_elapsed") or 0),
                          eta_s=None if eta is None else float(eta))


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
