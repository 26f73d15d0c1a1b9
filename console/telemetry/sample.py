"""GpuSample: one reading of one GPU, the common type of every telemetry source.

NVML, nvidia-smi over SSH and the demo site's simulator all produce this type, so
the dashboard, alerts and `dsconsole gpus` never care where a reading came from.
A value the source could not read is None; why it is missing (if known) is in
`field_errors` (field name -> short reason, e.g. "n/a", "not supported").
"""
from __future__ import annotations

from typing import Any

import msgspec

# Clock event ("throttle") reason bits as NVML and nvidia-smi report them.
CLOCK_EVENT_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}

# XID codes that mean the GPU (or its memory) needs attention now.
CRITICAL_XIDS = frozenset({48, 63, 64, 74, 79, 94, 95})


def decode_clock_event_reasons(mask: int | None) -> tuple[str, ...]:
    """Names of the bits set in a clock event reasons mask (unknown bits as hex)."""
    if mask is None:
        return ()
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    if unknown:
        names.append(f"unknown_0x{unknown:x}")
    return tuple(names)


# The record types are msgspec Structs, not dataclasses: a dataclass compiles its
# generated methods at import (~1-4 ms each, ~40 ms over the modules on the way
# to the dashboard's first frame); a Struct class is made in ~0.05 ms. Structs are
# frozen value objects like frozen dataclasses (fields, ==, repr), and
# msgspec.structs.replace / asdict stand in for dataclasses.replace / asdict.
class GpuProcess(msgspec.Struct, frozen=True):
    pid: int
    name: str
    used_memory_mib: int | None = None


class XidEvent(msgspec.Struct, frozen=True):
    host: str
    time: float  # unix seconds (best effort from the kernel log)
    pci_bus_id: str | None
    gpu_index: int | None
    code: int
    message: str = ""

    @property
    def critical(self) -> bool:
        return self.code in CRITICAL_XIDS


class GpuSample(msgspec.Struct, frozen=True):
    host: str
    index: int
    time: float  # unix seconds when read
    source: str  # "nvml" | "nvidia-smi" | "sim"
    uuid: str | None = None
    name: str | None = None
    pci_bus_id: str | None = None
    util_pct: float | None = None
    mem_util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    temp_c: float | None = None
    temp_slowdown_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    sm_clock_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    clock_event_reasons: int | None = None  # raw mask
    ecc_mode: bool | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    remapped_rows_correctable: int | None = None
    remapped_rows_uncorrectable: int | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    retired_pages: int | None = None  # older GPUs without row remapping
    persistence_mode: bool | None = None
    mig_mode: bool | None = None
    nvlink_active: int | None = None  # number of links up
    nvlink_total: int | None = None
    pcie_gen: int | None = None
    pcie_width: int | None = None
    processes: tuple[GpuProcess, ...] = ()
    field_errors: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def clock_event_names(self) -> tuple[str, ...]:
        return decode_clock_event_reasons(self.clock_event_reasons)

    @property
    def thermal_slowdown(self) -> bool:
        return bool((self.clock_event_reasons or 0) & (0x20 | 0x40))

    @property
    def health_flags(self) -> tuple[str, ...]:
        """Short flags for the GPU panel; empty when the GPU looks healthy."""
        flags = []
        if self.ecc_uncorrected_volatile:
            flags.append("ECC")
        if self.remapped_rows_pending or self.remapped_rows_failure:
            flags.append("REMAP")
        if self.thermal_slowdown:
            flags.append("THERMAL")
        if (self.clock_event_reasons or 0) & 0x88:
            flags.append("HW-SLOW")
        return tuple(flags)

    def to_dict(self) -> dict[str, Any]:
        d = msgspec.to_builtins(self)  # nested processes become dicts, as in JSON
        d["clock_event_names"] = list(self.clock_event_names)
        d["health_flags"] = list(self.health_flags)
        return d


class HostTelemetry(msgspec.Struct, frozen=True):
    """One telemetry round of one host: its GPUs, or why there are none."""
    host: str
    time: float
    state: str  # "ok" | "unreachable" | "untrusted-key" | "no-driver" | "error"
    samples: tuple[GpuSample, ...] = ()
    error: str | None = None
    xids: tuple[XidEvent, ...] = ()
    # Non-fatal problems of an "ok" round, e.g. "kernel log not readable" (no XIDs).
    notes: tuple[str, ...] = ()
