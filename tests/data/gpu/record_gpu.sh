#!/bin/bash
# Records real nvidia-smi / NVML output on a GPU machine, for the replaying
# nvidia-smi on test hosts and the parser tests. Run on a machine with a GPU.
set -u
O=${OUT:-/tmp/rec}; mkdir -p $O
nvidia-smi --help-query-gpu > $O/help-query-gpu.txt 2>&1
FIELDS=$(grep -oE '^"[a-z0-9_.]+"' $O/help-query-gpu.txt | tr -d '"' | paste -sd, -)
nvidia-smi --query-gpu=$FIELDS --format=csv,noheader,nounits > $O/query-all.csv 2> /tmp/qa.err; echo "rc=$?" >> /tmp/qa.err
nvidia-smi --query-gpu=$FIELDS --format=csv > $O/query-all-header.csv 2>&1
( nvidia-smi --query-gpu=index,bogus.field,utilization.gpu --format=csv,noheader,nounits; echo "rc=$?" ) > $O/query-unknown-field.txt 2>&1
( nvidia-smi --query-compute-apps=pid,process_name,used_memory,gpu_uuid --format=csv,noheader,nounits; echo "rc=$?"; nvidia-smi --version; nvidia-smi -q ) > $O/misc.txt 2>&1
nvidia-smi -q -x > $O/q-x.xml 2>&1
python3 - > $O/nvml-dump.txt 2>&1 <<'PY'
import pynvml as N
N.nvmlInit()
print("driver", N.nvmlSystemGetDriverVersion(), "nvml", N.nvmlSystemGetNVMLVersion())
h = N.nvmlDeviceGetHandleByIndex(0)
calls = {
 "name": lambda: N.nvmlDeviceGetName(h), "uuid": lambda: N.nvmlDeviceGetUUID(h),
 "util": lambda: N.nvmlDeviceGetUtilizationRates(h), "mem": lambda: N.nvmlDeviceGetMemoryInfo(h),
 "temp": lambda: N.nvmlDeviceGetTemperature(h, N.NVML_TEMPERATURE_GPU),
 "slowdown": lambda: N.nvmlDeviceGetTemperatureThreshold(h, N.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN),
 "power": lambda: N.nvmlDeviceGetPowerUsage(h), "plimit": lambda: N.nvmlDeviceGetEnforcedPowerLimit(h),
 "sm": lambda: N.nvmlDeviceGetClockInfo(h, N.NVML_CLOCK_SM), "smmax": lambda: N.nvmlDeviceGetMaxClockInfo(h, N.NVML_CLOCK_SM),
 "reasons": lambda: N.nvmlDeviceGetCurrentClocksEventReasons(h),
 "ecc": lambda: N.nvmlDeviceGetEccMode(h),
 "ecc_vol": lambda: N.nvmlDeviceGetTotalEccErrors(h, N.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, N.NVML_VOLATILE_ECC),
 "ecc_agg": lambda: N.nvmlDeviceGetTotalEccErrors(h, N.NVML_MEMORY_ERROR_TYPE_UNCORRECTED, N.NVML_AGGREGATE_ECC),
 "remap": lambda: N.nvmlDeviceGetRemappedRows(h),
 "retired": lambda: N.nvmlDeviceGetRetiredPages(h, N.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR),
 "persist": lambda: N.nvmlDeviceGetPersistenceMode(h), "mig": lambda: N.nvmlDeviceGetMigMode(h),
 "nvlink0": lambda: N.nvmlDeviceGetNvLinkState(h, 0),
 "pcie_gen": lambda: N.nvmlDeviceGetCurrPcieLinkGeneration(h), "pcie_w": lambda: N.nvmlDeviceGetCurrPcieLinkWidth(h),
 "procs": lambda: N.nvmlDeviceGetComputeRunningProcesses(h),
}
for k, f in calls.items():
    try: print(k, repr(f()))
    except Exception as e: print(k, "ERROR", type(e).__name__, e)
PY
(journalctl -k --no-pager 2>&1 | grep -i xid | tail -20; dmesg 2>&1 | tail -5) > /tmp/klog.txt 2>&1
( echo "== query-all stderr"; cat /tmp/qa.err; echo "== kernel log xid"; cat /tmp/klog.txt ) >> $O/misc.txt
ls -la $O
