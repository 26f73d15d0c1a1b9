"""NvmlSource: the mapping from raw NVML values (recorded on a real H200) to a
GpuSample, and the real pynvml on this GPU-less machine."""
import ast
import re

import pynvml
import pytest

from console.telemetry.nvml import NvmlSource, error_reason, no_driver_message, sample_from_raw
from tests.gpu_recordings import H200


def recorded_raw() -> dict:
    """nvml-dump.txt as NvmlSource's raw dict: values as recorded, errors as the
    real pynvml exception classes. The recorder printed the utilization and
    memory structs as bare reprs, so those two are rebuilt as the real pynvml
    structs from the same GPU's nvidia-smi recording (query-all.csv: 0 % / 0 %,
    used 0 MiB of 143771 MiB) and say so."""
    raw = {}
    for line in (H200 / "nvml-dump.txt").read_text().splitlines()[1:]:
        key, _, rest = line.partition(" ")
        m = re.fullmatch(r"ERROR (NVMLError_\w+) .*", rest)
        if m:
            raw[key] = getattr(pynvml, m.group(1))(
                {"NVMLError_NotSupported": pynvml.NVML_ERROR_NOT_SUPPORTED}[m.group(1)])
        elif rest.startswith("<pynvml."):
            raw[key] = None  # not recorded, see below
        else:
            raw[key] = ast.literal_eval(rest)
    util = pynvml.c_nvmlUtilization_t()
    util.gpu, util.memory = 0, 0
    mem = pynvml.c_nvmlMemory_t()
    mem.total, mem.used, mem.free = 143771 * 2**20, 0, 143156 * 2**20
    raw["util"], raw["mem"] = util, mem
    raw["nvlink"] = [raw.pop("nvlink0")]  # the source asks link by link until one errors
    return raw


def test_recorded_h200_nvml_values_map_to_gpu_sample():
    raw = recorded_raw()
    s = sample_from_raw(raw, host="gpu-1", index=0, now=5.0)
    assert (s.name, s.uuid) == ("NVIDIA H200", "GPU-945c4619-c4a7-9f3b-a6fd-cbe31d515b2c")
    assert (s.util_pct, s.mem_util_pct, s.mem_used_mib, s.mem_total_mib) == (0.0, 0.0, 0.0, 143771.0)
    assert (s.temp_c, s.temp_slowdown_c) == (32.0, 89.0)
    assert (s.power_w, s.power_limit_w) == (78.904, 700.0)           # mW -> W
    assert (s.sm_clock_mhz, s.sm_clock_max_mhz) == (345.0, 1980.0)
    assert s.clock_event_reasons == 1 and s.clock_event_names == ("gpu_idle",)
    assert (s.ecc_mode, s.ecc_uncorrected_volatile, s.ecc_uncorrected_aggregate) == (True, 0, 0)
    assert (s.remapped_rows_correctable, s.remapped_rows_uncorrectable,
            s.remapped_rows_pending, s.remapped_rows_failure) == (0, 0, False, False)
    assert (s.persistence_mode, s.mig_mode, s.pcie_gen, s.pcie_width) == (True, False, 5, 16)
    assert s.processes == ()
    # what this H200 (a PCIe pass-through VM) lacks is "n/a", field by field
    assert s.retired_pages is None and s.nvlink_active is None and s.nvlink_total is None
    assert s.field_errors == {"retired_pages": "n/a", "nvlink_active": "n/a", "nvlink_total": "n/a"}
    assert s.source == "nvml" and s.health_flags == ()


def test_same_gpu_same_reading_from_nvml_and_nvidia_smi():
    """The two sources agree on the recorded GPU where they measure the same thing."""
    from console.telemetry.nvidia_smi import QUERIES, parse_query_output, parse_slowdown_thresholds
    from tests.gpu_recordings import recorded_row
    nv = sample_from_raw(recorded_raw(), host="h", index=0, now=0)
    [smi] = parse_query_output(recorded_row([q.names[0] for q in QUERIES]),
                               [(q.key, q.kind) for q in QUERIES], host="h", now=0,
                               slowdown=parse_slowdown_thresholds((H200 / "q-x.xml").read_text()))
    for f in ("name", "uuid", "util_pct", "mem_total_mib", "temp_c", "temp_slowdown_c",
              "power_limit_w", "sm_clock_mhz", "sm_clock_max_mhz", "clock_event_reasons",
              "ecc_mode", "ecc_uncorrected_volatile", "remapped_rows_pending",
              "persistence_mode", "mig_mode", "pcie_gen", "pcie_width"):
        assert getattr(nv, f) == getattr(smi, f), f


def test_nvlink_processes_and_retired_pages_mapping():
    nse = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
    proc = pynvml.c_nvmlProcessInfo_t()
    proc.pid, proc.usedGpuMemory = 4242, 70000 * 2**20
    raw = {"nvlink": [1, 1, 0, 1, pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)],
           "procs": [proc], "proc_names": {4242: b"python3"},
           "remap": nse, "retired": [0x1000, 0x2000], "retired_sbe": []}
    s = sample_from_raw(raw, host="h", index=3, now=0)
    assert (s.nvlink_active, s.nvlink_total) == (3, 4)
    assert [(p.pid, p.name, p.used_memory_mib) for p in s.processes] == [(4242, "python3", 70000)]
    assert s.retired_pages == 2
    assert s.field_errors["remapped_rows_pending"] == "n/a"


def test_a_function_the_driver_lacks_is_na_for_that_field_only():
    raw = recorded_raw()
    raw["slowdown"] = pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
    raw["power"] = pynvml.NVMLError(pynvml.NVML_ERROR_NO_PERMISSION)
    raw["temp"] = "32 C"  # a shape NVML never returns
    s = sample_from_raw(raw, host="h", index=0, now=0)
    assert s.temp_slowdown_c is None and s.field_errors["temp_slowdown_c"] == "n/a"
    assert s.power_w is None and s.field_errors["power_w"] == "insufficient permissions"
    assert s.field_errors["temp_c"] == "unexpected value '32 C'"
    assert s.power_limit_w == 700.0 and s.util_pct == 0.0


@pytest.mark.parametrize("cls,state_text", [
    ("NVMLError_LibraryNotFound", "libnvidia-ml.so.1"),
    ("NVMLError_DriverNotLoaded", "not loaded"),
    ("NVMLError_LibRmVersionMismatch", "version mismatch"),
])
def test_no_driver_errors(cls, state_text):
    code = {"NVMLError_LibraryNotFound": pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
            "NVMLError_DriverNotLoaded": pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
            "NVMLError_LibRmVersionMismatch": pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH}[cls]
    err = pynvml.NVMLError(code)
    assert type(err).__name__ == cls
    assert state_text in no_driver_message(err)
    assert no_driver_message(pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)) is None
    assert error_reason(pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)) == "n/a"


def test_real_pynvml_on_this_gpu_less_machine_reports_no_driver():
    try:  # the premise: this machine really has no NVIDIA driver
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        pass
    else:  # pragma: no cover - on a GPU machine this test has nothing to prove
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver")
    src = NvmlSource("this-machine")
    for _ in range(2):  # and again: it retries the driver each round, still cleanly
        tel = src.read()
        assert tel.host == "this-machine"
        assert tel.state == "no-driver"
        assert tel.error == ("no NVIDIA driver: the NVML library (libnvidia-ml.so.1) "
                             "was not found on this machine")
        assert tel.samples == ()
    src.close()


def test_raw_values_read_on_a_real_h200_by_the_thin_layer_map_as_there():
    """tests/data/gpu/h200-nvml-raw.json: read_raw() on a real H200 (every struct
    as its fields) and the GpuSample NvmlSource made there."""
    import json
    rec = json.loads((H200.parent / "h200-nvml-raw.json").read_text())
    raw = {}
    for key, v in rec["raw_gpu0"].items():
        if isinstance(v, str) and v.startswith("ERROR NVMLError_NotSupported"):
            v = pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        elif key == "nvlink":
            v = [pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED) if str(x).startswith("ERROR")
                 else x for x in v]
        raw[key] = v
    s = sample_from_raw(raw, host="vm", index=0, now=0).to_dict()
    there = rec["sample"]
    assert s["mem_used_mib"] == 644939776 / 2**20 == 615.0625
    assert s["power_w"] == 123.67
    for f in ("name", "uuid", "pci_bus_id", "util_pct", "mem_util_pct", "mem_total_mib",
              "temp_slowdown_c", "power_limit_w", "sm_clock_max_mhz", "clock_event_reasons",
              "ecc_mode", "ecc_uncorrected_volatile", "ecc_uncorrected_aggregate",
              "remapped_rows_correctable", "remapped_rows_uncorrectable", "remapped_rows_pending",
              "remapped_rows_failure", "persistence_mode", "mig_mode", "nvlink_active",
              "nvlink_total", "pcie_gen", "pcie_width", "processes", "field_errors"):
        assert json.loads(json.dumps(s[f])) == there[f], f
    smi = rec["nvidia_smi_same_moment"]
    for f in ("uuid", "pci_bus_id", "mem_total_mib", "temp_slowdown_c", "power_limit_w",
              "sm_clock_max_mhz", "ecc_mode", "persistence_mode", "mig_mode", "pcie_gen"):
        assert there[f] == smi[f], f
