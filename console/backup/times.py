"""restic's timestamps (RFC 3339 with nanoseconds) as epoch seconds."""
from __future__ import annotations

import re
from datetime import datetime


def parse_restic_time(s: str) -> float:
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        raise ValueError(f"not a restic time: {s!r}")
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    base = datetime.fromisoformat(m.group(1) + zone).timestamp()
    return base + (float("0" + m.group(2)) if m.group(2) else 0.0)
