"""The simulated `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`.

Renders GpuSamples (the demo fleet's) in the real driver's CSV: ", " between
values, `[N/A]` for what a GPU does not report, hex masks like
0x0000000000000001, units appended only without `nounits`, and for a field the
driver does not know its own message with rc 2. The field table below —
names, aliases, units and the values of fields the simulation does not model —
was taken from a real NVIDIA H200 (driver 580.159.04): tests/data/gpu/h200/
(help-query-gpu.txt, query-all.csv, query-all-header.csv); the camelCase fields
that recording did not capture, and the behaviours noted below, were checked on
a real H200 with benchmarks/sim_smi_check.py: the header names a field by its
canonical name (also when asked by an alias) and always with its [unit], even
with `nounits`; `--format` without `csv` still prints CSV; field names are
case-sensitive; an empty field list prints empty lines; an unknown --format
option gets "Format modifier is not recognized." and rc 2.
"""
from __future__ import annotations

import hashlib
import time

import msgspec

from console.telemetry.sample import CLOCK_EVENT_REASONS, GpuSample

DRIVER_VERSION = "580.159.04"
LOST = "[GPU is lost]"  # what the driver prints for a value of a GPU that fell off the bus
GPU_LOST_REASON = "gpu is lost"  # GpuSample.field_errors reason of such a GPU's values

# ((canonical name, aliases...), unit, value recorded on the idle H200 with nounits)
FIELDS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (('timestamp',), '', '2026/11/28 18:15:03.954'),
    (('driver_version',), '', '580.159.04'),
    (('vgpu_driver_capability.heterogenous_multivGPU',), '', '[N/A]'),
    (('count',), '', '1'),
    (('name', 'gpu_name'), '', 'NVIDIA H200'),
    (('serial', 'gpu_serial'), '', '1654024076864'),
    (('uuid', 'gpu_uuid'), '', 'GPU-945c4619-c4a7-9f3b-a6fd-cbe31d515b2c'),
    (('pci.bus_id', 'gpu_bus_id'), '', '00000000:00:06.0'),
    (('pci.domain',), '', '0x0000'),
    (('pci.bus',), '', '0x00'),
    (('pci.device',), '', '0x06'),
    (('pci.baseClass',), '', '0x3'),
    (('pci.subClass',), '', '0x2'),
    (('pci.device_id',), '', '0x233510DE'),
    (('pci.sub_device_id',), '', '0x18BF10DE'),
    (('vgpu_device_capability.fractional_multiVgpu',), '', '[N/A]'),
    (('vgpu_device_capability.heterogeneous_timeSlice_profile',), '', '[N/A]'),
    (('vgpu_device_capability.heterogeneous_timeSlice_sizes',), '', '[N/A]'),
    (('vgpu_device_capability.homogeneous_placements',), '', '[N/A]'),
    (('vgpu_device_capability.mig_timeSlicing',), '', '[N/A]'),
    (('vgpu_device_capability.mig_timeSlicing_mode',), '', '[N/A]'),
    (('pcie.link.gen.current',), '', '5'),
    (('pcie.link.gen.gpucurrent',), '', '5'),
    (('pcie.link.gen.max',), '', '5'),
    (('pcie.link.gen.gpumax',), '', '5'),
    (('pcie.link.gen.hostmax',), '', '[N/A]'),
    (('pcie.link.width.current',), '', '16'),
    (('pcie.link.width.max',), '', '16'),
    (('index',), '', '0'),
    (('display_mode',), '', '[Requested functionality has been deprecated]'),
    (('display_attached',), '', 'Yes'),
    (('display_active',), '', 'Disabled'),
    (('persistence_mode',), '', 'Enabled'),
    (('addressing_mode',), '', 'None'),
    (('accounting.mode',), '', 'Disabled'),
    (('accounting.buffer_size',), '', '4000'),
    (('driver_model.current',), '', '[N/A]'),
    (('driver_model.pending',), '', '[N/A]'),
    (('vbios_version',), '', '96.00.A5.00.1A'),
    (('inforom.img', 'inforom.image'), '', 'G520.0282.02.02'),
    (('inforom.oem',), '', '2.1'),
    (('inforom.ecc',), '', '7.16'),
    (('inforom.pwr', 'inforom.power'), '', '[N/A]'),
    (('inforom.checksum_validation',), '', 'valid'),
    (('gpu_recovery_action',), '', 'None'),
    (('gom.current', 'gpu_operation_mode.current'), '', '[N/A]'),
    (('gom.pending', 'gpu_operation_mode.pending'), '', '[N/A]'),
    (('fan.speed',), '%', '[N/A]'),
    (('pstate',), '', 'P0'),
    (('clocks_event_reasons.supported', 'clocks_throttle_reasons.supported'), '', '0x00000000000001FF'),
    (('clocks_event_reasons.active', 'clocks_throttle_reasons.active'), '', '0x0000000000000001'),
    (('clocks_event_reasons.gpu_idle', 'clocks_throttle_reasons.gpu_idle'), '', 'Active'),
    (('clocks_event_reasons.applications_clocks_setting', 'clocks_throttle_reasons.applications_clocks_setting'),
     '', 'Not Active'),
    (('clocks_event_reasons.sw_power_cap', 'clocks_throttle_reasons.sw_power_cap'), '', 'Not Active'),
    (('clocks_event_reasons.hw_slowdown', 'clocks_throttle_reasons.hw_slowdown'), '', 'Not Active'),
    (('clocks_event_reasons.hw_thermal_slowdown', 'clocks_throttle_reasons.hw_thermal_slowdown'), '', 'Not Active'),
    (('clocks_event_reasons.hw_power_brake_slowdown', 'clocks_throttle_reasons.hw_power_brake_slowdown'),
     '', 'Not Active'),
    (('clocks_event_reasons.sw_thermal_slowdown', 'clocks_throttle_reasons.sw_thermal_slowdown'), '', 'Not Active'),
    (('clocks_event_reasons.sync_boost', 'clocks_throttle_reasons.sync_boost'), '', 'Not Active'),
    (('clocks_event_reasons_counters.sw_power_cap',), 'us', '0'),
    (('clocks_event_reasons_counters.sync_boost',), 'us', '0'),
    (('clocks_event_reasons_counters.sw_thermal_slowdown',), 'us', '0'),
    (('clocks_event_reasons_counters.hw_thermal_slowdown',), 'us', '0'),
    (('clocks_event_reasons_counters.hw_power_brake_slowdown',), 'us', '0'),
    (('memory.total',), 'MiB', '143771'),
    (('memory.reserved',), 'MiB', '616'),
    (('memory.used',), 'MiB', '0'),
    (('memory.free',), 'MiB', '143156'),
    (('compute_mode',), '', 'Default'),
    (('compute_cap',), '', '9.0'),
    (('utilization.gpu',), '%', '0'),
    (('utilization.memory',), '%', '0'),
    (('utilization.encoder',), '%', '0'),
    (('utilization.decoder',), '%', '0'),
    (('utilization.jpeg',), '%', '0'),
    (('utilization.ofa',), '%', '0'),
    (('encoder.stats.sessionCount',), '', '0'),
    (('encoder.stats.averageFps',), '', '0'),
    (('encoder.stats.averageLatency',), '', '0'),
    (('dramEncryption.mode.current',), '', '[N/A]'),
    (('dramEncryption.mode.pending',), '', '[N/A]'),
    (('ecc.mode.current',), '', 'Enabled'),
    (('ecc.mode.pending',), '', 'Enabled'),
    (('ecc.errors.corrected.volatile.device_memory',), '', '0'),
    (('ecc.errors.corrected.volatile.dram',), '', '0'),
    (('ecc.errors.corrected.volatile.register_file',), '', '[N/A]'),
    (('ecc.errors.corrected.volatile.l1_cache',), '', '[N/A]'),
    (('ecc.errors.corrected.volatile.l2_cache',), '', '[N/A]'),
    (('ecc.errors.corrected.volatile.texture_memory',), '', '[N/A]'),
    (('ecc.errors.corrected.volatile.cbu',), '', '[N/A]'),
    (('ecc.errors.corrected.volatile.sram',), '', '0'),
    (('ecc.errors.corrected.volatile.total',), '', '0'),
    (('ecc.errors.corrected.aggregate.device_memory',), '', '0'),
    (('ecc.errors.corrected.aggregate.dram',), '', '0'),
    (('ecc.errors.corrected.aggregate.register_file',), '', '[N/A]'),
    (('ecc.errors.corrected.aggregate.l1_cache',), '', '[N/A]'),
    (('ecc.errors.corrected.aggregate.l2_cache',), '', '[N/A]'),
    (('ecc.errors.corrected.aggregate.texture_memory',), '', '[N/A]'),
    (('ecc.errors.corrected.aggregate.cbu',), '', '[N/A]'),
    (('ecc.errors.corrected.aggregate.sram',), '', '0'),
    (('ecc.errors.corrected.aggregate.total',), '', '0'),
    (('ecc.errors.uncorrected.volatile.device_memory',), '', '0'),
    (('ecc.errors.uncorrected.volatile.dram',), '', '0'),
    (('ecc.errors.uncorrected.volatile.register_file',), '', '[N/A]'),
    (('ecc.errors.uncorrected.volatile.l1_cache',), '', '[N/A]'),
    (('ecc.errors.uncorrected.volatile.l2_cache',), '', '[N/A]'),
    (('ecc.errors.uncorrected.volatile.texture_memory',), '', '[N/A]'),
    (('ecc.errors.uncorrected.volatile.cbu',), '', '[N/A]'),
    (('ecc.errors.uncorrected.volatile.sram',), '', '0'),
    (('ecc.errors.uncorrected.volatile.total',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.device_memory',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.dram',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.register_file',), '', '[N/A]'),
    (('ecc.errors.uncorrected.aggregate.l1_cache',), '', '[N/A]'),
    (('ecc.errors.uncorrected.aggregate.l2_cache',), '', '[N/A]'),
    (('ecc.errors.uncorrected.aggregate.texture_memory',), '', '[N/A]'),
    (('ecc.errors.uncorrected.aggregate.cbu',), '', '[N/A]'),
    (('ecc.errors.uncorrected.aggregate.sram',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.total',), '', '0'),
    (('ecc.errors.uncorrected.volatile.sram.parity',), '', '0'),
    (('ecc.errors.uncorrected.volatile.sram.secded',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.sram.parity',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.sram.secded',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.sram.thresholdExceeded',), '', 'No'),
    (('ecc.errors.uncorrected.aggregate.sram.l2',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.sram.sm',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.sram.mcu',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.sram.pcie',), '', '0'),
    (('ecc.errors.uncorrected.aggregate.sram.other',), '', '0'),
    (('retired_pages.single_bit_ecc.count', 'retired_pages.sbe'), '', '[N/A]'),
    (('retired_pages.double_bit.count', 'retired_pages.dbe'), '', '[N/A]'),
    (('retired_pages.pending',), '', '[N/A]'),
    (('remapped_rows.correctable', 'remapped_rows.sbe'), '', '0'),
    (('remapped_rows.correctable_inactive',), '', '0'),
    (('remapped_rows.uncorrectable', 'remapped_rows.dbe'), '', '0'),
    (('remapped_rows.uncorrectable_inactive',), '', '0'),
    (('remapped_rows.pending',), '', 'No'),
    (('remapped_rows.failure',), '', 'No'),
    (('remapped_rows.histogram.max',), '', '3072'),
    (('remapped_rows.histogram.high',), '', '0'),
    (('remapped_rows.histogram.partial',), '', '0'),
    (('remapped_rows.histogram.low',), '', '0'),
    (('remapped_rows.histogram.none',), '', '0'),
    (('temperature.gpu',), '', '32'),
    (('temperature.gpu.tlimit',), '', '55'),
    (('temperature.memory',), '', '33'),
    (('power.management',), '', 'Enabled'),
    (('power.draw',), 'W', '78.85'),
    (('power.draw.average', 'gpu.power.draw.average'), 'W', '78.85'),
    (('power.draw.instant', 'gpu.power.draw.instant'), 'W', '79.15'),
    (('power.limit', 'gpu.power.requested_limit'), 'W', '700.00'),
    (('enforced.power.limit', 'gpu.power.current_limit'), 'W', '700.00'),
    (('power.default_limit', 'gpu.power.default_limit'), 'W', '700.00'),
    (('power.min_limit', 'gpu.power.min_limit'), 'W', '200.00'),
    (('power.max_limit', 'gpu.power.max_limit'), 'W', '700.00'),
    (('module.power.draw.average',), 'W', '[N/A]'),
    (('module.power.draw.instant',), 'W', '[N/A]'),
    (('module.power.limit', 'module.power.requested_limit'), 'W', '[N/A]'),
    (('module.enforced.power.limit', 'module.power.current_limit'), 'W', '[N/A]'),
    (('module.power.default_limit',), 'W', '[N/A]'),
    (('module.power.min_limit',), 'W', '[N/A]'),
    (('module.power.max_limit',), 'W', '[N/A]'),
    (('power_smoothing.delayed_power_smoothing_supported',), '', '[N/A]'),
    (('power_smoothing.primary_power_floor',), 'W', '[N/A]'),
    (('power_smoothing.secondary_power_floor',), 'W', '[N/A]'),
    (('power_smoothing.min_primary_floor_activation_offset',), 'W', '[N/A]'),
    (('power_smoothing.min_primary_floor_activation_point',), 'W', '[N/A]'),
    (('power_smoothing.window_multiplier',), 'ms', '[N/A]'),
    (('power_smoothing.curr_profile.secondary_power_floor',), 'W', '[N/A]'),
    (('power_smoothing.curr_profile.primary_floor_act_window_multiplier',), '', '[N/A]'),
    (('power_smoothing.curr_profile.primary_floor_tar_window_multiplier',), '', '[N/A]'),
    (('power_smoothing.curr_profile.primary_floor_act_offset',), 'W', '[N/A]'),
    (('power_smoothing.admin_override.secondary_power_floor',), 'W', '[N/A]'),
    (('power_smoothing.admin_override.primary_floor_act_window_multiplier',), '', '[N/A]'),
    (('power_smoothing.admin_override.primary_floor_tar_window_multiplier',), '', '[N/A]'),
    (('power_smoothing.admin_override.primary_floor_act_offset',), 'W', '[N/A]'),
    (('clocks.current.graphics', 'clocks.gr'), 'MHz', '345'),
    (('clocks.current.sm', 'clocks.sm'), 'MHz', '345'),
    (('clocks.current.memory', 'clocks.mem'), 'MHz', '3201'),
    (('clocks.current.video', 'clocks.video'), 'MHz', '765'),
    (('clocks.applications.graphics', 'clocks.applications.gr'), 'MHz', '1980'),
    (('clocks.applications.memory', 'clocks.applications.mem'), 'MHz', '3201'),
    (('clocks.default_applications.graphics', 'clocks.default_applications.gr'), 'MHz', '1980'),
    (('clocks.default_applications.memory', 'clocks.default_applications.mem'), 'MHz', '3201'),
    (('clocks.max.graphics', 'clocks.max.gr'), 'MHz', '1980'),
    (('clocks.max.sm', 'clocks.max.sm'), 'MHz', '1980'),
    (('clocks.max.memory', 'clocks.max.mem'), 'MHz', '3201'),
    (('mig.mode.current',), '', 'Disabled'),
    (('mig.mode.pending',), '', 'Disabled'),
    (('gsp.mode.current',), '', 'Enabled'),
    (('gsp.mode.default',), '', 'Enabled'),
    (('c2c.mode',), '', 'Disabled'),
    (('protected_memory.total',), 'MiB', '0'),
    (('protected_memory.used',), 'MiB', '0'),
    (('protected_memory.free',), 'MiB', '0'),
    (('fabric.state',), '', 'N/A'),
    (('fabric.status',), '', 'N/A'),
    (('fabric.cliqueId',), '', 'N/A'),
    (('fabric.clusterUuid',), '', 'N/A'),
    (('fabric.health.summary',), '', 'N/A'),
    (('fabric.health.bandwidth',), '', 'N/A'),
    (('fabric.health.route_recovery_in_progress',), '', 'N/A'),
    (('fabric.health.route_unhealthy',), '', 'N/A'),
    (('fabric.health.access_timeout_recovery',), '', 'N/A'),
    (('fabric.health.incorrect_configuration',), '', 'N/A'),
    (('fabric.health.partition_assigned',), '', 'N/A'),
    (('platform.chassis_serial_number',), '', ''),
    (('platform.slot_number',), '', '0'),
    (('platform.tray_index',), '', '0'),
    (('platform.host_id',), '', '1'),
    (('platform.peer_type',), '', 'Direct Connected'),
    (('platform.module_id',), '', '3'),
    (('platform.gpu_fabric_guid',), '', '0x0000000000000000'),
    (('hostname',), '', '[N/A]'),
)

CANONICAL: dict[str, str] = {alias: names[0] for names, _, _ in FIELDS for alias in names}
UNIT: dict[str, str] = {names[0]: unit for names, unit, _ in FIELDS}
RECORDED: dict[str, str] = {names[0]: value for names, _, value in FIELDS}

# Fields that still answer for a lost GPU: the driver knows them without asking it.
_IDENTITY = frozenset({"timestamp", "driver_version", "count", "name", "serial", "uuid", "index",
                       "pci.bus_id", "pci.domain", "pci.bus", "pci.device", "pci.device_id",
                       "pci.sub_device_id", "pci.baseClass", "pci.subClass", "vbios_version",
                       "hostname"})

_REASON_FIELDS = {
    "gpu_idle": 0x1, "applications_clocks_setting": 0x2, "sw_power_cap": 0x4,
    "hw_slowdown": 0x8, "sync_boost": 0x10, "sw_thermal_slowdown": 0x20,
    "hw_thermal_slowdown": 0x40, "hw_power_brake_slowdown": 0x80,
}
assert all(bit in CLOCK_EVENT_REASONS for bit in _REASON_FIELDS.values())


class QueryResult(msgspec.Struct, frozen=True):
    rc: int
    stdout: str
    stderr: str = ""


def serial_of(uuid: str | None) -> str:
    """A stable 13-digit board serial for a simulated GPU."""
    digest = hashlib.blake2b((uuid or "").encode(), digest_size=8).digest()
    return str(1650000000000 + int.from_bytes(digest, "big") % 9999999999)


def sample_values(s: GpuSample, count: int) -> dict[str, str]:
    """Every field of one GPU, as printed with `nounits`."""
    v = dict(RECORDED)
    v["timestamp"] = _timestamp(s.time)
    v["driver_version"] = DRIVER_VERSION
    v["count"] = str(count)
    v["index"] = str(s.index)
    if s.name:
        v["name"] = s.name
    if s.uuid:
        v["uuid"] = s.uuid
        v["serial"] = serial_of(s.uuid)
    if s.pci_bus_id:
        v["pci.bus_id"] = s.pci_bus_id  # 00000000:18:00.0
        domain, bus, devfn = s.pci_bus_id.split(":")
        v["pci.domain"] = f"0x{int(domain, 16):04X}"
        v["pci.bus"] = f"0x{int(bus, 16):02X}"
        v["pci.device"] = f"0x{int(devfn.split('.')[0], 16):02X}"
    lost = {k: LOST for k in v if k not in _IDENTITY}
    if GPU_LOST_REASON in s.field_errors.values():
        v.update(lost)
        return v

    def put(name: str, value, fmt: str = "{}") -> None:
        v[name] = "[N/A]" if value is None else fmt.format(value)

    put("persistence_mode", _enabled(s.persistence_mode))
    put("pcie.link.gen.current", s.pcie_gen)
    put("pcie.link.gen.gpucurrent", s.pcie_gen)
    put("pcie.link.width.current", s.pcie_width)
    mask = s.clock_event_reasons
    put("clocks_event_reasons.active", mask, "0x{:016X}")
    for name, bit in _REASON_FIELDS.items():
        v[f"clocks_event_reasons.{name}"] = "[N/A]" if mask is None else \
            ("Active" if mask & bit else "Not Active")
    if s.mem_total_mib is not None:
        reserved = int(RECORDED["memory.reserved"])
        used = int(s.mem_used_mib or 0)
        v["memory.total"] = str(int(s.mem_total_mib))
        v["memory.used"] = str(used)
        v["memory.free"] = str(max(0, int(s.mem_total_mib) - reserved - used))
    put("utilization.gpu", None if s.util_pct is None else round(s.util_pct))
    put("utilization.memory", None if s.mem_util_pct is None else round(s.mem_util_pct))
    put("ecc.mode.current", _enabled(s.ecc_mode))
    put("ecc.mode.pending", _enabled(s.ecc_mode))
    for scope, n in (("volatile", s.ecc_uncorrected_volatile), ("aggregate", s.ecc_uncorrected_aggregate)):
        put(f"ecc.errors.uncorrected.{scope}.dram", n)
        put(f"ecc.errors.uncorrected.{scope}.total", n)
    put("remapped_rows.correctable", s.remapped_rows_correctable)
    put("remapped_rows.uncorrectable", s.remapped_rows_uncorrectable)
    put("remapped_rows.pending", _yes(s.remapped_rows_pending))
    put("remapped_rows.failure", _yes(s.remapped_rows_failure))
    if s.temp_c is not None:
        t = round(s.temp_c)
        v["temperature.gpu"] = str(t)
        v["temperature.memory"] = str(t + 1)
        v["temperature.gpu.tlimit"] = str(87 - t)  # margin to the max operating temperature
    else:
        v["temperature.gpu"] = v["temperature.memory"] = v["temperature.gpu.tlimit"] = "[N/A]"
    for name in ("power.draw", "power.draw.average", "power.draw.instant"):
        put(name, s.power_w, "{:.2f}")
    for name in ("power.limit", "enforced.power.limit"):
        put(name, s.power_limit_w, "{:.2f}")
    if s.sm_clock_mhz is not None:
        sm = round(s.sm_clock_mhz)
        v["clocks.current.graphics"] = v["clocks.current.sm"] = str(sm)
        v["clocks.current.video"] = str(round(765 + (1545 - 765) * max(0, sm - 345) / (1980 - 345)))
        v["pstate"] = "P0"
    if s.sm_clock_max_mhz is not None:
        v["clocks.max.sm"] = v["clocks.max.graphics"] = str(round(s.sm_clock_max_mhz))
    put("mig.mode.current", _enabled(s.mig_mode))
    put("mig.mode.pending", _enabled(s.mig_mode))
    return v


def query_gpu(spec: str, fmt: str, samples: list[GpuSample]) -> QueryResult:
    """`nvidia-smi --query-gpu=<spec> --format=<fmt>` over these GPUs."""
    opts = _format_options(fmt)
    if opts is None:
        return QueryResult(2, _BAD_FORMAT)
    header, nounits = "noheader" not in opts, "nounits" in opts
    fields = [f.strip() for f in spec.split(",") if f.strip()]
    for f in fields:
        if f not in CANONICAL:
            # The driver names the first field it does not know, on stdout, rc 2.
            return QueryResult(2, f'Field "{f}" is not a valid field to query.\n\n')
    canon = [CANONICAL[f] for f in fields]
    lines = []
    if header:  # units in the header even with nounits, as the driver prints it
        lines.append(", ".join(f"{c} [{UNIT[c]}]" if UNIT[c] else c for c in canon))
    for s in samples:
        vals = sample_values(s, len(samples))
        row = []
        for c in canon:
            value = vals[c]
            if not nounits and UNIT[c] and not value.startswith("[") and value != "N/A":
                value = f"{value} {UNIT[c]}"
            row.append(value)
        lines.append(", ".join(row))
    return QueryResult(0, "".join(line + "\n" for line in lines))


_BAD_FORMAT = "Format modifier is not recognized.\n\n"  # first line as a real H200 driver says it


def _format_options(fmt: str) -> set[str] | None:
    """The --format options (CSV is the only output, named or not); None if unknown."""
    opts = {o.strip() for o in fmt.split(",") if o.strip()}
    return opts if opts <= {"csv", "noheader", "nounits"} else None


def _timestamp(t: float) -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"


def _enabled(b: bool | None) -> str | None:
    return None if b is None else ("Enabled" if b else "Disabled")


def _yes(b: bool | None) -> str | None:
    return None if b is None else ("Yes" if b else "No")


# ---- nvidia-smi --query-compute-apps ---------------------------------------------------
# Valid fields -> canonical column (`nvidia-smi --help-query-compute-apps`).
COMPUTE_APP_FIELDS = {
    "timestamp": "timestamp", "gpu_name": "gpu_name", "gpu_bus_id": "gpu_bus_id",
    "gpu_serial": "gpu_serial", "gpu_uuid": "gpu_uuid", "pid": "pid",
    "process_name": "process_name", "name": "process_name",
    "used_gpu_memory": "used_memory", "used_memory": "used_memory",
}


def query_compute_apps(spec: str, fmt: str, samples: list[GpuSample]) -> QueryResult:
    opts = _format_options(fmt)
    if opts is None:
        return QueryResult(2, _BAD_FORMAT)
    fields = [f.strip() for f in spec.split(",") if f.strip()]
    for f in fields:
        if f not in COMPUTE_APP_FIELDS:
            return QueryResult(2, f'Field "{f}" is not a valid field to query.\n\n')
    nounits = "nounits" in opts
    lines = []
    if "noheader" not in opts:
        lines.append(", ".join(
            "used_gpu_memory [MiB]" if COMPUTE_APP_FIELDS[f] == "used_memory"
            else COMPUTE_APP_FIELDS[f] for f in fields))
    for s in samples:
        for p in s.processes:
            mem = "[N/A]" if p.used_memory_mib is None else \
                f"{p.used_memory_mib}" + ("" if nounits else " MiB")
            row = {"timestamp": _timestamp(s.time), "gpu_name": s.name or "[N/A]",
                   "gpu_bus_id": s.pci_bus_id or "[N/A]", "gpu_serial": serial_of(s.uuid),
                   "gpu_uuid": s.uuid or "[N/A]", "pid": str(p.pid), "process_name": p.name,
                   "used_memory": mem}
            lines.append(", ".join(row[COMPUTE_APP_FIELDS[f]] for f in fields))
    return QueryResult(0, "".join(line + "\n" for line in lines))


# ---- nvidia-smi -q -x -------------------------------------------------------------------
def query_xml(samples: list[GpuSample]) -> QueryResult:
    """`nvidia-smi -q -x`: the recording's document structure and tag names, with
    the sections the simulation models (identity, memory, utilization, ECC mode,
    remapped rows, temperature with its T.Limit thresholds, power, clocks,
    clock event reasons, processes)."""
    from xml.sax.saxutils import escape

    def el(tag: str, value: object, indent: int) -> str:
        return "\t" * indent + f"<{tag}>{escape(str(value))}</{tag}>\n"

    t = samples[0].time if samples else time.time()
    out = ['<?xml version="1.0" ?>\n', '<!DOCTYPE nvidia_smi_log SYSTEM "nvsmi_device_v13.dtd">\n',
           "<nvidia_smi_log>\n", el("timestamp", time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t)), 1),
           el("driver_version", DRIVER_VERSION, 1), el("cuda_version", "13.0", 1),
           el("attached_gpus", len(samples), 1)]
    for s in samples:
        v = sample_values(s, len(samples))

        def unit(name: str, u: str, v: dict[str, str] = v) -> str:
            raw = v[name]
            return raw.strip("[]") if raw.startswith("[") else f"{raw} {u}"

        out.append(f'\t<gpu id="{escape(v["pci.bus_id"])}">\n')
        out += [el("product_name", v["name"], 2), el("product_brand", "NVIDIA", 2),
                el("product_architecture", "Hopper", 2), el("persistence_mode", v["persistence_mode"], 2),
                "\t\t<mig_mode>\n", el("current_mig", v["mig.mode.current"], 3),
                el("pending_mig", v["mig.mode.pending"], 3), "\t\t</mig_mode>\n",
                el("serial", v["serial"], 2), el("uuid", v["uuid"], 2), el("minor_number", s.index, 2),
                "\t\t<pci>\n", el("pci_bus", v["pci.bus"][2:], 3), el("pci_device", v["pci.device"][2:], 3),
                el("pci_domain", v["pci.domain"][2:], 3), el("pci_bus_id", v["pci.bus_id"], 3),
                "\t\t</pci>\n", el("performance_state", v["pstate"].strip("[]"), 2),
                "\t\t<clocks_event_reasons>\n"]
        for name in ("gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_slowdown",
                     "hw_thermal_slowdown", "hw_power_brake_slowdown", "sync_boost", "sw_thermal_slowdown"):
            out.append(el(f"clocks_event_reason_{name}", v[f"clocks_event_reasons.{name}"].strip("[]"), 3))
        out += ["\t\t</clocks_event_reasons>\n", "\t\t<fb_memory_usage>\n",
                el("total", unit("memory.total", "MiB"), 3), el("reserved", unit("memory.reserved", "MiB"), 3),
                el("used", unit("memory.used", "MiB"), 3), el("free", unit("memory.free", "MiB"), 3),
                "\t\t</fb_memory_usage>\n", "\t\t<utilization>\n",
                el("gpu_util", unit("utilization.gpu", "%"), 3),
                el("memory_util", unit("utilization.memory", "%"), 3), "\t\t</utilization>\n",
                "\t\t<ecc_mode>\n", el("current_ecc", v["ecc.mode.current"].strip("[]"), 3),
                el("pending_ecc", v["ecc.mode.pending"].strip("[]"), 3), "\t\t</ecc_mode>\n",
                "\t\t<remapped_rows>\n", el("remapped_row_corr", v["remapped_rows.correctable"].strip("[]"), 3),
                el("remapped_row_unc", v["remapped_rows.uncorrectable"].strip("[]"), 3),
                el("remapped_row_pending", v["remapped_rows.pending"].strip("[]"), 3),
                el("remapped_row_failure", v["remapped_rows.failure"].strip("[]"), 3), "\t\t</remapped_rows>\n",
                "\t\t<temperature>\n", el("gpu_temp", unit("temperature.gpu", "C"), 3),
                el("gpu_temp_tlimit", unit("temperature.gpu.tlimit", "C"), 3),
                # thresholds relative to T.Limit, as the H200 recording prints them
                el("gpu_temp_max_tlimit_threshold", "-8 C", 3),
                el("gpu_temp_slow_tlimit_threshold", "-2 C", 3),
                el("gpu_temp_max_gpu_tlimit_threshold", "0 C", 3),
                el("memory_temp", unit("temperature.memory", "C"), 3), "\t\t</temperature>\n",
                "\t\t<gpu_power_readings>\n", el("power_state", v["pstate"].strip("[]"), 3),
                el("average_power_draw", unit("power.draw.average", "W"), 3),
                el("instant_power_draw", unit("power.draw.instant", "W"), 3),
                el("current_power_limit", unit("enforced.power.limit", "W"), 3),
                el("requested_power_limit", unit("power.limit", "W"), 3),
                el("default_power_limit", unit("power.default_limit", "W"), 3),
                el("min_power_limit", unit("power.min_limit", "W"), 3),
                el("max_power_limit", unit("power.max_limit", "W"), 3), "\t\t</gpu_power_readings>\n",
                "\t\t<clocks>\n", el("graphics_clock", unit("clocks.current.graphics", "MHz"), 3),
                el("sm_clock", unit("clocks.current.sm", "MHz"), 3),
                el("mem_clock", unit("clocks.current.memory", "MHz"), 3),
                el("video_clock", unit("clocks.current.video", "MHz"), 3), "\t\t</clocks>\n",
                "\t\t<max_clocks>\n", el("graphics_clock", unit("clocks.max.graphics", "MHz"), 3),
                el("sm_clock", unit("clocks.max.sm", "MHz"), 3),
                el("mem_clock", unit("clocks.max.memory", "MHz"), 3), "\t\t</max_clocks>\n",
                "\t\t<processes>\n"]
        for p in s.processes:
            out += ["\t\t\t<process_info>\n", el("gpu_instance_id", "N/A", 4), el("compute_instance_id", "N/A", 4),
                    el("pid", p.pid, 4), el("type", "C", 4), el("process_name", p.name, 4),
                    el("used_memory", f"{p.used_memory_mib} MiB", 4), "\t\t\t</process_info>\n"]
        out += ["\t\t</processes>\n", "\t</gpu>\n"]
    out.append("</nvidia_smi_log>\n")
    return QueryResult(0, "".join(out))
