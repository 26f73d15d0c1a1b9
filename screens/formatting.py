"""Small pure formatters shared by the tables and the header (no Textual)."""
from __future__ import annotations

from collections.abc import Iterable

_SPARKS = "▁▂▃▄▅▆▇█"


def format_age(seconds: float | None) -> str:
    """kubectl-style age: 42s, 7m, 3h12m, 5d3h (at most 5 characters)."""
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m}m" if h < 10 and m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d{h}h" if d < 10 and h else f"{d}d"


def sparkline(values: Iterable[float | None], width: int = 12, top: float = 100.0) -> str:
    """The last `width` values as block characters (0..top); None as a space."""
    vals = list(values)[-width:]
    out = []
    for v in vals:
        if v is None:
            out.append(" ")
        else:
            frac = min(max(v / top, 0.0), 1.0)
            out.append(_SPARKS[min(int(frac * len(_SPARKS)), len(_SPARKS) - 1)])
    return "".join(out).rjust(width)


def fmt_num(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def fmt_gib(used_mib: float | None, total_mib: float | None) -> str:
    """'812/1128G' from MiB (GiB, no decimals: it has to fit a narrow column)."""
    if used_mib is None or total_mib is None:
        return "-"
    return f"{used_mib / 1024:.0f}/{total_mib / 1024:.0f}G"
