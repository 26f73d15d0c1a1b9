"""Run NvmlSource (and, with --smi, NvidiaSmiSource on the local nvidia-smi) on a
machine with an NVIDIA GPU: prints one round as JSON, the raw NVML values of
GPU 0, how the two sources compare field by field, and the time of 100 NVML
reads (10 nvidia-smi reads).

    python3 benchmarks/nvml_check.py [--smi] [--reads 100]

Needs only the standard library, pynvml (nvidia-ml-py) and this repository on
PYTHONPATH. On a machine without a driver it prints the "no-driver" round.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from console.telemetry.nvml import NvmlSource, read_raw  # noqa: E402

COMPARED = ("name", "uuid", "pci_bus_id", "mem_total_mib", "temp_c", "temp_slowdown_c",
            "power_limit_w", "sm_clock_max_mhz", "ecc_mode", "ecc_uncorrected_volatile",
            "ecc_uncorrected_aggregate", "remapped_rows_pending", "remapped_rows_failure",
            "persistence_mode", "mig_mode", "pcie_gen", "pcie_width")


def round_json(tel) -> dict:
    return {"host": tel.host, "state": tel.state, "error": tel.error, "notes": list(tel.notes),
            "gpus": [s.to_dict() for s in tel.samples],
            "xids": [vars(x) if hasattr(x, "__dict__") else str(x) for x in tel.xids]}


def raw_repr(v) -> object:
    if isinstance(v, BaseException):
        return f"ERROR {type(v).__name__} {v}"
    fields = getattr(v, "_fields_", None)
    if fields:  # a ctypes struct: its fields, not its address
        return {name: raw_repr(getattr(v, name)) for name, *_ in fields}
    if isinstance(v, (list, tuple)):
        return [raw_repr(x) for x in v]
    if isinstance(v, dict):
        return {str(k): raw_repr(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v if isinstance(v, (int, float, str, bool, type(None))) else repr(v)


def timed(fn, n: int) -> dict:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"reads": n, "total_s": round(sum(times), 4),
            "mean_ms": round(1000 * statistics.mean(times), 3),
            "p50_ms": round(1000 * statistics.median(times), 3),
            "max_ms": round(1000 * max(times), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smi", action="store_true", help="also NvidiaSmiSource on the local nvidia-smi")
    ap.add_argument("--reads", type=int, default=100)
    args = ap.parse_args()
    out: dict = {}
    src = NvmlSource(os.uname().nodename)
    tel = src.read()
    out["nvml_round"] = round_json(tel)
    if tel.state == "ok" and tel.samples:
        import pynvml
        out["nvml_raw_gpu0"] = raw_repr(read_raw(pynvml, pynvml.nvmlDeviceGetHandleByIndex(0)))
        src.xids.interval_s = None  # time the NVML reads, not the kernel log
        out["nvml_timing"] = timed(src.read, args.reads)
    if args.smi:
        from console.hosts.local import LocalTransport
        from console.telemetry.nvidia_smi import NvidiaSmiSource
        smi = NvidiaSmiSource(LocalTransport(os.uname().nodename))
        st = smi.read()
        out["smi_round"] = round_json(st)
        out["smi_rejected_fields"] = smi.rejected
        smi.xids.interval_s = None
        out["smi_timing"] = timed(smi.read, max(1, args.reads // 10))
        if tel.state == "ok" and st.state == "ok":
            diffs = {}
            # (strict=False: a GPU count that differs between the two sources is not a crash here)
            for a, b in zip(tel.samples, st.samples, strict=False):
                for f in COMPARED:
                    va, vb = getattr(a, f), getattr(b, f)
                    if va != vb and not (isinstance(va, float) and isinstance(vb, float)
                                         and abs(va - vb) < 1.0):
                        diffs[f"gpu{a.index}.{f}"] = {"nvml": va, "nvidia-smi": vb}
            out["nvml_vs_smi_differences"] = diffs
    src.close()
    print(json.dumps(out, indent=2, default=str))
    return 0 if tel.state == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
