"""Text and JSON renderings of telemetry rounds (`dsconsole gpus`)."""
from __future__ import annotations

import json
import time
from collections.abc import Sequence

import msgspec

from console.telemetry.sample import GpuSample, HostTelemetry

_COLUMNS = ("HOST", "GPU", "NAME", "UTIL", "MEMORY", "TEMP", "POWER", "SM MHZ", "ECC", "FLAGS")


def _num(v: float | None, fmt: str = "{:.0f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def _gpu_cells(host: str, s: GpuSample) -> list[str]:
    if "gpu" in s.field_errors:  # a lost or unparseable GPU: its reason is the row
        return [host, str(s.index), s.field_errors["gpu"][:60], "", "", "", "", "", "", "ERROR"]
    mem = "n/a"
    if s.mem_total_mib is not None:
        used = "?" if s.mem_used_mib is None else f"{s.mem_used_mib / 1024:.1f}"
        mem = f"{used}/{s.mem_total_mib / 1024:.1f} GiB"
    temp = _num(s.temp_c, "{:.0f}C")
    if s.temp_slowdown_c is not None and s.temp_c is not None:
        temp += f" (slow {s.temp_slowdown_c:.0f}C)"
    power = f"{_num(s.power_w)}/{_num(s.power_limit_w)} W"
    clock = f"{_num(s.sm_clock_mhz)}/{_num(s.sm_clock_max_mhz)}"
    ecc = "off" if s.ecc_mode is False else _num(s.ecc_uncorrected_volatile, "{}")
    flags = list(s.health_flags)
    if s.persistence_mode is False:
        flags.append("no-persist")
    if s.mig_mode:
        flags.append("MIG")
    return [host, str(s.index), s.name or "?", _num(s.util_pct, "{:.0f}%"), mem, temp, power,
            clock, ecc, ",".join(flags) or "-"]


def render_table(rounds: Sequence[HostTelemetry], now: float | None = None) -> str:
    now = time.time() if now is None else now
    rows: list[list[str]] = []
    notes: list[str] = []
    for r in rounds:
        if r.state != "ok":
            notes.append(f"{r.host}: {r.state}: {r.error or 'no detail'}")
            rows.append([r.host, "-", r.state.upper(), "", "", "", "", "", "", ""])
            continue
        if not r.samples:
            rows.append([r.host, "-", "no GPUs", "", "", "", "", "", "", ""])
        rows.extend(_gpu_cells(r.host, s) for s in r.samples)
        for x in r.xids:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(x.time))
            gpu = f"GPU {x.gpu_index}" if x.gpu_index is not None else f"PCI {x.pci_bus_id}"
            notes.append(f"{r.host}: XID {x.code}{' (CRITICAL)' if x.critical else ''} on {gpu} "
                         f"at {when}: {x.message[:80]}")
        notes.extend(f"{r.host}: note: {n}" for n in r.notes)
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c)
              for i, c in enumerate(_COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(_COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    failed = sum(1 for r in rounds if r.state != "ok")
    summary = f"{len(rounds) - failed}/{len(rounds)} host(s) answered"
    return "\n".join(lines + ([""] + notes if notes else []) + ["", summary])


def render_json(rounds: Sequence[HostTelemetry]) -> str:
    hosts = []
    for r in rounds:
        hosts.append({
            "host": r.host, "state": r.state, "error": r.error, "time": r.time,
            "notes": list(r.notes),
            "gpus": [s.to_dict() for s in r.samples],
            "xids": [dict(msgspec.structs.asdict(x), critical=x.critical) for x in r.xids],
        })
    return json.dumps({"ok": all(r.state == "ok" for r in rounds), "hosts": hosts}, indent=2)
