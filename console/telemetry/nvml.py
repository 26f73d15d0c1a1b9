"""NvmlSource: GPU telemetry of the machine the console runs on, through NVML
(`pynvml`, package nvidia-ml-py).

Two layers, so the mapping can be tested without a GPU:
- `read_raw(nvml, handle)`: the thin layer. It calls NVML and returns, per call,
  the raw return value or the exception NVML raised (never raises itself).
  Keys match tests/data/gpu/h200/nvml-dump.txt, recorded on a real H200.
- `sample_from_raw(raw, host, index, now)`: a pure function from those raw
  values to a GpuSample. An NVML "not supported" / "function not found" (the
  driver lacks it) becomes None with field_errors "n/a"; any other NVML error
  its text; a value of an unexpected shape "unexpected value ...".
A missing driver (library not found, driver not loaded, library/kernel module
version mismatch) is the host state "no-driver" with a clear message.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from console.hosts.local import LocalTransport
from console.telemetry.sample import GpuProcess, GpuSample, HostTelemetry
from console.telemetry.xid import KernelLogXids

_MIB = 1024 * 1024
# NVML error classes (by name, so this module's pure half needs no pynvml).
_NA_ERRORS = {"NVMLError_NotSupported", "NVMLError_FunctionNotFound"}
_NO_DRIVER = {
    "NVMLError_LibraryNotFound":
        "no NVIDIA driver: the NVML library (libnvidia-ml.so.1) was not found on this machine",
    "NVMLError_DriverNotLoaded":
        "NVIDIA driver not loaded (NVML: Driver Not Loaded); is the kernel module loaded?",
    "NVMLError_LibRmVersionMismatch":
        "NVIDIA driver/library version mismatch: the loaded kernel module and libnvidia-ml differ "
        "(reload the module or reboot after a driver upgrade)",
}
# NVML reports "no value" for a process's memory as this (NVML_VALUE_NOT_AVAILABLE)
_NOT_AVAILABLE_ULL = (1 << 64) - 1


def no_driver_message(exc: BaseException) -> str | None:
    """The "no-driver" text for an NVML error that means there is no usable driver."""
    return _NO_DRIVER.get(type(exc).__name__)


def error_reason(exc: BaseException) -> str:
    """A field's reason for an NVML error: "n/a" when the driver lacks the function."""
    if type(exc).__name__ in _NA_ERRORS:
        return "n/a"
    text = str(exc).strip() or type(exc).__name__
    return text.lower()[:80]


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, str):
        return v
    raise TypeError(type(v).__name__)


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(type(v).__name__)
    return float(v)


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(type(v).__name__)
    return v


def _attr(v: Any, name: str, pos: int) -> Any:
    """Field of an NVML struct, or of its dict/tuple form (as a recording may hold it)."""
    if isinstance(v, dict):
        return v[name]
    if isinstance(v, (tuple, list)):
        return v[pos]
    return getattr(v, name)


def _current_of_pair(v: Any) -> bool:
    """[current, pending] feature states (ECC mode, MIG mode) -> current enabled."""
    return _int(_attr(v, "current", 0)) == 1


# GpuSample field(s) <- raw key, converter. A converter may return several fields.
_FIELDS: tuple[tuple[str, tuple[str, ...], Callable[[Any], tuple]], ...] = (
    ("name", ("name",), lambda v: (_text(v),)),
    ("uuid", ("uuid",), lambda v: (_text(v),)),
    ("pci", ("pci_bus_id",), lambda v: (_text(_attr(v, "busId", 0) if not isinstance(v, (str, bytes)) else v),)),
    ("util", ("util_pct", "mem_util_pct"),
     lambda v: (_num(_attr(v, "gpu", 0)), _num(_attr(v, "memory", 1)))),
    ("mem", ("mem_used_mib", "mem_total_mib"),
     lambda v: (_num(_attr(v, "used", 1)) / _MIB, _num(_attr(v, "total", 0)) / _MIB)),
    ("temp", ("temp_c",), lambda v: (_num(v),)),
    ("slowdown", ("temp_slowdown_c",), lambda v: (_num(v),)),
    ("power", ("power_w",), lambda v: (_num(v) / 1000.0,)),          # mW
    ("plimit", ("power_limit_w",), lambda v: (_num(v) / 1000.0,)),   # mW
    ("sm", ("sm_clock_mhz",), lambda v: (_num(v),)),
    ("smmax", ("sm_clock_max_mhz",), lambda v: (_num(v),)),
    ("reasons", ("clock_event_reasons",), lambda v: (_int(v),)),
    ("ecc", ("ecc_mode",), lambda v: (_current_of_pair(v),)),
    ("ecc_vol", ("ecc_uncorrected_volatile",), lambda v: (_int(v),)),
    ("ecc_agg", ("ecc_uncorrected_aggregate",), lambda v: (_int(v),)),
    ("remap", ("remapped_rows_correctable", "remapped_rows_uncorrectable",
               "remapped_rows_pending", "remapped_rows_failure"),
     lambda v: (_int(v[0]), _int(v[1]), bool(_int(v[2])), bool(_int(v[3])))),
    ("persist", ("persistence_mode",), lambda v: (_int(v) == 1,)),
    ("mig", ("mig_mode",), lambda v: (_current_of_pair(v),)),
    ("pcie_gen", ("pcie_gen",), lambda v: (_int(v),)),
    ("pcie_w", ("pcie_width",), lambda v: (_int(v),)),
)


def _garbage(v: Any) -> str:
    shown = repr(v)
    return f"unexpected value {shown[:40]}"


def sample_from_raw(raw: dict[str, Any], *, host: str, index: int, now: float) -> GpuSample:
    """Pure: raw NVML results (value or exception per call) -> GpuSample. Never raises."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, fields, convert in _FIELDS:
        if key not in raw:
            continue  # not asked (e.g. an older recording)
        v = raw[key]
        if isinstance(v, BaseException):
            for f in fields:
                errors[f] = error_reason(v)
            continue
        try:
            converted = convert(v)
        except Exception:  # noqa: BLE001 - any odd shape is a field error
            for f in fields:
                errors[f] = _garbage(v)
            continue
        values.update(zip(fields, converted, strict=True))
    _retired(raw, values, errors)
    _nvlink(raw.get("nvlink"), values, errors)
    procs, err = _processes(raw.get("procs", ()), raw.get("proc_names") or {})
    if err:
        errors["processes"] = err
    return GpuSample(host=host, index=index, time=now, source="nvml", processes=procs,
                     field_errors=errors, **values)


def _retired(raw: dict[str, Any], values: dict[str, Any], errors: dict[str, str]) -> None:
    """Retired pages (GPUs before row remapping): double-bit plus multiple single-bit."""
    total, reason = 0, None
    seen = False
    for key in ("retired", "retired_sbe"):
        if key not in raw:
            continue
        v = raw[key]
        if isinstance(v, BaseException):
            reason = reason or error_reason(v)
        elif isinstance(v, (list, tuple)):
            total, seen = total + len(v), True
        else:
            reason = reason or _garbage(v)
    if seen:
        values["retired_pages"] = total
    elif reason:
        errors["retired_pages"] = reason


def _nvlink(results: Any, values: dict[str, Any], errors: dict[str, str]) -> None:
    """Per-link state results (1 = active) up to the first link that errors."""
    if results is None:
        return
    if not isinstance(results, (list, tuple)):
        errors["nvlink_active"] = errors["nvlink_total"] = _garbage(results)
        return
    states = []
    first_error = None
    for r in results:
        if isinstance(r, BaseException):
            first_error = first_error or r
            break
        if isinstance(r, bool) or not isinstance(r, int):
            errors["nvlink_active"] = errors["nvlink_total"] = _garbage(r)
            return
        states.append(r)
    if not states:
        reason = error_reason(first_error) if first_error else "no links"
        errors["nvlink_active"] = errors["nvlink_total"] = reason
        return
    values["nvlink_total"] = len(states)
    values["nvlink_active"] = sum(1 for s in states if s == 1)


def _processes(procs: Any, names: dict) -> tuple[tuple[GpuProcess, ...], str | None]:
    if isinstance(procs, BaseException):
        return (), error_reason(procs)
    out = []
    try:
        for p in procs:
            pid = _int(_attr(p, "pid", 0))
            mem = _attr(p, "usedGpuMemory", 1)
            mem_mib = None if mem in (None, _NOT_AVAILABLE_ULL) else int(_num(mem) // _MIB)
            name = names.get(pid)
            name = _text(name) if isinstance(name, (str, bytes)) else "?"
            out.append(GpuProcess(pid=pid, name=name, used_memory_mib=mem_mib))
    except Exception:  # noqa: BLE001
        return tuple(out), _garbage(procs)
    return tuple(out), None


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - recorded as the field's error
        return e


def read_raw(nvml: Any, handle: Any) -> dict[str, Any]:
    """The thin layer: every NVML call NvmlSource makes for one GPU, as
    key -> return value or the exception it raised. Never raises."""
    N = nvml
    reasons_fn = getattr(N, "nvmlDeviceGetCurrentClocksEventReasons", None) \
        or N.nvmlDeviceGetCurrentClocksThrottleReasons
    raw: dict[str, Any] = {
        "name": _call(N.nvmlDeviceGetName, handle),
        "uuid": _call(N.nvmlDeviceGetUUID, handle),
        "pci": _call(N.nvmlDeviceGetPciInfo, handle),
        "util": _call(N.nvmlDeviceGetUtilizationRates, handle),
        # v2 counts driver-reserved memory apart, so "used" is what nvidia-smi shows
        # (the v1 call adds the ~616 MiB an idle H200 reserves); v1 on older drivers.
        "mem": _call(N.nvmlDeviceGetMemoryInfo, handle, getattr(N, "nvmlMemory_v2", None)),
        "temp": _call(N.nvmlDeviceGetTemperature, handle, N.NVML_TEMPERATURE_GPU),
        "slowdown": _call(N.nvmlDeviceGetTemperatureThreshold, handle,
                          N.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN),
        "power": _call(N.nvmlDeviceGetPowerUsage, handle),
        "plimit": _call(N.nvmlDeviceGetEnforcedPowerLimit, handle),
        "sm": _call(N.nvmlDeviceGetClockInfo, handle, N.NVML_CLOCK_SM),
        "smmax": _call(N.nvmlDeviceGetMaxClockInfo, handle, N.NVML_CLOCK_SM),
        "reasons": _call(reasons_fn, handle),
        "ecc": _call(N.nvmlDeviceGetEccMode, handle),
        "ecc_vol": _call(N.nvmlDeviceGetTotalEccErrors, handle,
                         N.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, N.NVML_VOLATILE_ECC),
        "ecc_agg": _call(N.nvmlDeviceGetTotalEccErrors, handle,
                         N.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, N.NVML_AGGREGATE_ECC),
        "remap": _call(N.nvmlDeviceGetRemappedRows, handle),
        "persist": _call(N.nvmlDeviceGetPersistenceMode, handle),
        "mig": _call(N.nvmlDeviceGetMigMode, handle),
        "pcie_gen": _call(N.nvmlDeviceGetCurrPcieLinkGeneration, handle),
        "pcie_w": _call(N.nvmlDeviceGetCurrPcieLinkWidth, handle),
        "procs": _call(N.nvmlDeviceGetComputeRunningProcesses, handle),
    }
    if isinstance(raw["mem"], BaseException):
        raw["mem"] = _call(N.nvmlDeviceGetMemoryInfo, handle)
    # Page retirement only matters on GPUs without row remapping (before Ampere).
    if isinstance(raw["remap"], BaseException):
        raw["retired"] = _call(N.nvmlDeviceGetRetiredPages, handle,
                               N.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
        raw["retired_sbe"] = _call(N.nvmlDeviceGetRetiredPages, handle,
                                   N.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
    links = []
    for link in range(getattr(N, "NVML_NVLINK_MAX_LINKS", 18)):
        r = _call(N.nvmlDeviceGetNvLinkState, handle, link)
        links.append(r)
        if isinstance(r, BaseException):
            break
    raw["nvlink"] = links
    if isinstance(raw["procs"], (list, tuple)):
        raw["proc_names"] = {p.pid: _call(N.nvmlSystemGetProcessName, p.pid) for p in raw["procs"]}
    return raw


class NvmlSource:
    """TelemetrySource for the local machine's GPUs."""

    def __init__(self, host_name: str = "localhost", *, xid_interval_s: float | None = 30.0):
        self.name = host_name
        # XIDs come from this machine's kernel log (NVML's event API would need a
        # thread blocked in nvmlEventSetWait; the log also has the ones from before we started).
        self.xids = KernelLogXids(LocalTransport(host_name), host_name, interval_s=xid_interval_s)
        self._lock = threading.Lock()
        self._nvml: Any = None  # the pynvml module once nvmlInit succeeded

    def _init(self) -> Any:
        if self._nvml is None:
            import pynvml  # type: ignore[import-untyped]  # (no stubs, no py.typed); only where NVML is used
            pynvml.nvmlInit()  # raises NVMLError_LibraryNotFound & co. without a driver
            self._nvml = pynvml
        return self._nvml

    def read(self) -> HostTelemetry:
        with self._lock:
            now = time.time()
            try:
                N = self._init()
                count = N.nvmlDeviceGetCount()
            except ImportError:
                return HostTelemetry(self.name, now, "error",
                                     error="pynvml is not installed (pip package nvidia-ml-py)")
            except Exception as e:  # noqa: BLE001 - never raise
                msg = no_driver_message(e)
                if msg:
                    self._nvml = None  # try again next round: the driver may be loaded later
                    return HostTelemetry(self.name, now, "no-driver", error=msg)
                return HostTelemetry(self.name, now, "error", error=f"NVML: {error_reason(e)}")
            samples = []
            for i in range(count):
                handle = _call(N.nvmlDeviceGetHandleByIndex, i)
                if isinstance(handle, BaseException):  # e.g. GPU is lost
                    samples.append(GpuSample(self.name, i, now, "nvml",
                                             field_errors={"gpu": error_reason(handle)}))
                    continue
                samples.append(sample_from_raw(read_raw(N, handle), host=self.name, index=i, now=now))
            xids = self.xids.read(samples)
            notes = (self.xids.problem,) if self.xids.problem else ()
            return HostTelemetry(self.name, now, "ok", samples=tuple(samples), xids=xids, notes=notes)

    def close(self) -> None:
        with self._lock:
            if self._nvml is not None:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:  # noqa: BLE001
                    pass
                self._nvml = None
