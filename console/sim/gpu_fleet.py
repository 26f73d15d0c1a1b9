"""SimGpuFleet: simulated GPU telemetry of every demo node, as GpuSamples.

Each node has H200-like GPUs (static values from the real recording in
tests/data/gpu/h200/: "NVIDIA H200", 143771 MiB, 700 W limit, slowdown at 89 C,
SM clock up to 1980 MHz, idle at 345 MHz with the gpu_idle reason bit). The
dynamics are calibrated on a real H200 under a bf16 matmul load
(benchmarks/gpu_load_profile.py): 99 % util, 57 C after a ~5 s time constant,
~690 W held at the 700 W limit with the sw_power_cap reason, SM ~1725 MHz.
Dynamic values follow what the demo site drives:
  - utilisation follows the load set by set_load (plus a little noise);
  - temperature follows utilisation with a lag (first order, TEMP_TAU_S);
  - memory used follows the models loaded by set_models;
  - power follows utilisation.
Noise is a function of (seed, node, GPU, simulated second), so a frozen clock
and a fixed seed give the same readings every time (SVG snapshots).

Faults (inject_fault): "xid79" — the GPU fell off the bus: its values become
missing with field_errors and an XID 79 is logged; "ecc" — an uncorrectable
DRAM ECC error: volatile and aggregate counts go up, a row remap is pending,
XID 94 (contained ECC error) is logged; "thermal" — the GPU runs hot, thermal
slowdown reason bits 0x20|0x40 set and the SM clock drops. clear_faults is a
GPU reset: faults gone, volatile ECC counts zeroed, pending remaps applied.
"""
from __future__ import annotations

import hashlib
import math
import threading
from typing import Any

import msgspec

from console.sim.nvidia_smi_query import GPU_LOST_REASON
from console.telemetry.sample import GpuProcess, GpuSample, HostTelemetry, XidEvent

NAME = "NVIDIA H200"
MEM_TOTAL_MIB = 143771
POWER_LIMIT_W = 700.0
SLOWDOWN_C = 89.0
SM_MAX_MHZ = 1980.0
SM_IDLE_MHZ = 345.0
SM_THERMAL_MHZ = 1140.0
IDLE_POWER_W = 78.9
AMBIENT_C = 32.0          # idle temperature of the recording
FULL_LOAD_C = 58.0        # steady temperature at 100 % utilisation (measured: 57 C)
THERMAL_FAULT_C = 93.0    # steady temperature of a GPU with a thermal fault
TEMP_TAU_S = 5.0          # time constant of the temperature lag (simulated s; measured: 5.3 s)
POWER_PER_UTIL_W = 640.0  # draw above idle at 100 % demand...
CAPPED_POWER_W = 690.0    # ...held here by the 700 W limit (measured: 688-693 W, reason sw_power_cap)
SM_CAPPED_MHZ = 1725.0    # SM clock while power-capped (measured: 1710-1740 MHz)
CUDA_CONTEXT_MIB = 512    # a process's CUDA context, on top of the model's memory
# PCI buses of the eight GPUs of an HGX H200 board.
PCI_BUSES = (0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB)
FAULTS = ("xid79", "ecc", "thermal")
XID_MESSAGES = {79: "GPU has fallen off the bus.", 94: "Contained ECC error."}
MAX_XIDS = 64  # kept per node (a kernel log of the current boot)

_DYNAMIC_FIELDS = ("util_pct", "mem_util_pct", "mem_used_mib", "mem_total_mib", "temp_c",
                   "power_w", "power_limit_w", "sm_clock_mhz", "sm_clock_max_mhz",
                   "clock_event_reasons", "ecc_mode", "ecc_uncorrected_volatile",
                   "ecc_uncorrected_aggregate", "remapped_rows_correctable",
                   "remapped_rows_uncorrectable", "remapped_rows_pending",
                   "remapped_rows_failure", "persistence_mode", "mig_mode",
                   "pcie_gen", "pcie_width")


class _Gpu(msgspec.Struct):
    index: int
    uuid: str
    pci_bus_id: str
    key: int  # seeds this GPU's noise
    temp: float
    t: float  # simulated time `temp` was last brought up to date
    load: float = 0.0
    model_mib: float = 0.0
    faults: set[str] = msgspec.field(default_factory=set)
    ecc_volatile: int = 0
    ecc_aggregate: int = 0
    remap_uncorrectable: int = 0
    remap_pending: bool = False


class _Node(msgspec.Struct):
    name: str
    gpus: list[_Gpu]
    xids: list[XidEvent] = msgspec.field(default_factory=list)
    reachable: bool = True


class SimGpuFleet:
    def __init__(self, seed: int = 0, clock: Any = None):
        if clock is None:
            from console.sim.model_server import default_clock
            clock = default_clock()
        self.seed = seed
        self.clock = clock
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.Lock()

    # ---- topology ------------------------------------------------------------
    def add_node(self, node: str, gpus: int = 8) -> None:
        if not 1 <= gpus <= len(PCI_BUSES):
            raise ValueError(f"gpus: expected 1..{len(PCI_BUSES)}, got {gpus}")
        now = self.clock.now()
        with self._lock:
            gpu_list = []
            for i in range(gpus):
                key = int.from_bytes(hashlib.blake2b(f"{self.seed}/{node}/{i}".encode(), digest_size=8).digest(), "big")
                gpu_list.append(_Gpu(i, self._uuid(node, i), f"00000000:{PCI_BUSES[i]:02X}:00.0", key,
                                     temp=AMBIENT_C + _noise(key, 0, 1, 1.5), t=now))
            self._nodes[node] = _Node(node, gpu_list)

    def remove_node(self, node: str) -> None:
        with self._lock:
            self._nodes.pop(node, None)

    def nodes(self) -> list[str]:
        return list(self._nodes)

    def __contains__(self, node: str) -> bool:
        return node in self._nodes

    def gpu_count(self, node: str) -> int:
        return len(self._node(node).gpus)

    # ---- what the demo site drives ----------------------------------------------
    def set_models(self, node: str, models: dict[int, float]) -> None:
        """Memory (MiB) of the models loaded per GPU index; GPUs not named are emptied."""
        n = self._node(node)
        with self._lock:
            for g in n.gpus:
                g.model_mib = float(models.get(g.index, 0.0))

    def set_load(self, node: str, gpu_index: int, util: float) -> None:
        """Utilisation the GPU should show, 0..1."""
        g = self._gpu(node, gpu_index)
        util = min(1.0, max(0.0, float(util)))
        if util == g.load:  # the demo's sweep sets every GPU often; most do not change
            return
        with self._lock:
            self._advance(g, self.clock.now())
            g.load = util

    def set_reachable(self, node: str, reachable: bool) -> None:
        """An unreachable node reads as HostTelemetry state "unreachable"."""
        self._node(node).reachable = reachable

    def inject_fault(self, node: str, gpu_index: int, kind: str) -> None:
        if kind not in FAULTS:
            raise ValueError(f"fault: expected one of {', '.join(FAULTS)}, got {kind!r}")
        n = self._node(node)
        g = self._gpu(node, gpu_index)
        now = self.clock.now()
        with self._lock:
            self._advance(g, now)
            g.faults.add(kind)
            if kind == "ecc":
                g.ecc_volatile += 1
                g.ecc_aggregate += 1
                g.remap_uncorrectable += 1
                g.remap_pending = True
                self._log_xid(n, g, 94, now)
            elif kind == "xid79":
                self._log_xid(n, g, 79, now)

    def clear_faults(self, node: str, gpu_index: int | None = None) -> None:
        """A GPU reset (all GPUs of the node unless one is named)."""
        n = self._node(node)
        now = self.clock.now()
        with self._lock:
            for g in n.gpus:
                if gpu_index is None or g.index == gpu_index:
                    self._advance(g, now)
                    g.faults.clear()
                    g.ecc_volatile = 0
                    g.remap_pending = False

    def faults(self, node: str) -> dict[int, set[str]]:
        return {g.index: set(g.faults) for g in self._node(node).gpus if g.faults}

    def xids(self, node: str) -> tuple[XidEvent, ...]:
        return tuple(self._node(node).xids)

    # ---- reading ------------------------------------------------------------------
    def read(self, node: str) -> HostTelemetry:
        now = self.clock.now()
        n = self._nodes.get(node)
        if n is None:
            return HostTelemetry(node, now, "unreachable", error=f"{node}: no such host in the demo site")
        if not n.reachable:
            return HostTelemetry(node, now, "unreachable", error=f"{node}: host is down")
        with self._lock:
            samples = tuple(self._sample(node, g, now) for g in n.gpus)
            xids = tuple(n.xids)
        return HostTelemetry(node, now, "ok", samples=samples, xids=xids)

    def source(self, node: str) -> SimTelemetrySource:
        return SimTelemetrySource(self, node)

    # ---- model ----------------------------------------------------------------------
    def _sample(self, node: str, g: _Gpu, now: float) -> GpuSample:
        self._advance(g, now)
        tick = int(now)
        if "xid79" in g.faults:
            return GpuSample(node, g.index, now, "sim", uuid=g.uuid, name=NAME, pci_bus_id=g.pci_bus_id,
                             field_errors={f: GPU_LOST_REASON for f in _DYNAMIC_FIELDS})
        util = 0.0
        if g.load > 0:
            util = min(100.0, max(1.0, g.load * 100.0 + _noise(g.key, tick, 2, 2.0)))
        busy = util / 100.0
        thermal = "thermal" in g.faults
        reasons = 0x1 if util == 0 else 0x0
        sm = SM_IDLE_MHZ if util == 0 else SM_MAX_MHZ
        if thermal:
            reasons = (reasons & ~0x1) | 0x20 | 0x40
            sm = SM_THERMAL_MHZ
        # a throttled GPU draws less for the same work: its clock is down
        demand = IDLE_POWER_W + busy * POWER_PER_UTIL_W * (0.75 if thermal else 1.0)
        if demand >= CAPPED_POWER_W:  # full load runs into the power limit, as a real H200 does
            demand = CAPPED_POWER_W
            reasons |= 0x4
            if not thermal:
                sm = SM_CAPPED_MHZ
        power = demand + _noise(g.key, tick, 3, 4.0) * (0.2 + min(busy, 0.5))
        used = g.model_mib + CUDA_CONTEXT_MIB if g.model_mib > 0 else 0.0
        processes: tuple[GpuProcess, ...] = ()
        if used:
            pid = 2000 + int.from_bytes(hashlib.blake2b(f"{node}/{g.index}".encode(), digest_size=2).digest(), "big")
            processes = (GpuProcess(pid, "python3", int(used)),)
        return GpuSample(
            node, g.index, now, "sim", uuid=g.uuid, name=NAME, pci_bus_id=g.pci_bus_id,
            util_pct=round(util), mem_util_pct=round(util * 0.55),
            mem_used_mib=float(int(min(used, MEM_TOTAL_MIB - 616))), mem_total_mib=float(MEM_TOTAL_MIB),
            temp_c=float(round(g.temp + _noise(g.key, tick, 4, 0.6))),
            temp_slowdown_c=SLOWDOWN_C,
            power_w=round(min(POWER_LIMIT_W, max(60.0, power)), 2), power_limit_w=POWER_LIMIT_W,
            sm_clock_mhz=sm, sm_clock_max_mhz=SM_MAX_MHZ, clock_event_reasons=reasons,
            ecc_mode=True, ecc_uncorrected_volatile=g.ecc_volatile,
            ecc_uncorrected_aggregate=g.ecc_aggregate, remapped_rows_correctable=0,
            remapped_rows_uncorrectable=g.remap_uncorrectable, remapped_rows_pending=g.remap_pending,
            remapped_rows_failure=False, persistence_mode=True, mig_mode=False,
            pcie_gen=5, pcie_width=16, processes=processes,
            field_errors={"retired_pages": "not supported", "nvlink_active": "not supported"},
        )

    def _advance(self, g: _Gpu, now: float) -> None:
        """Bring the lagging temperature up to `now` (caller holds the lock)."""
        target = THERMAL_FAULT_C if "thermal" in g.faults else AMBIENT_C + g.load * (FULL_LOAD_C - AMBIENT_C)
        if getattr(self.clock, "frozen", False):
            g.temp = target  # a frozen clock shows the steady state
        else:
            dt = max(0.0, now - g.t)
            g.temp += (target - g.temp) * (1.0 - math.exp(-dt / TEMP_TAU_S))
        g.t = now

    def _log_xid(self, n: _Node, g: _Gpu, code: int, now: float) -> None:
        n.xids.append(XidEvent(n.name, now, g.pci_bus_id, g.index, code, XID_MESSAGES[code]))
        del n.xids[:-MAX_XIDS]

    def _uuid(self, node: str, index: int) -> str:
        h = hashlib.blake2b(f"{self.seed}/{node}/{index}".encode(), digest_size=16).hexdigest()
        return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def _node(self, node: str) -> _Node:
        n = self._nodes.get(node)
        if n is None:
            raise KeyError(f"no node {node!r} in the GPU fleet")
        return n

    def _gpu(self, node: str, index: int) -> _Gpu:
        gpus = self._node(node).gpus
        if not 0 <= index < len(gpus):
            raise KeyError(f"{node} has no GPU {index}")
        return gpus[index]


_M64 = (1 << 64) - 1


def _noise(key: int, tick: int, channel: int, amplitude: float) -> float:
    """Deterministic noise in [-amplitude, amplitude] for a GPU (key), a simulated
    second (tick) and a quantity (channel): a splitmix64 step, cheap enough for
    the 16,000 GPUs of a big demo site."""
    x = (key ^ (tick * 0x9E3779B97F4A7C15 + channel * 0xD1B54A32D192ED03)) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    x ^= x >> 31
    return amplitude * (x / _M64 * 2.0 - 1.0)


class SimTelemetrySource:
    """A TelemetrySource (console/telemetry/source.py) over one simulated node."""

    def __init__(self, fleet: SimGpuFleet, node: str):
        self.fleet = fleet
        self.name = node

    def read(self) -> HostTelemetry:
        try:
            return self.fleet.read(self.name)
        except Exception as e:  # a TelemetrySource never raises
            return HostTelemetry(self.name, self.fleet.clock.now(), "error", error=str(e))

    def __repr__(self) -> str:
        return f"SimTelemetrySource({self.name!r})"
