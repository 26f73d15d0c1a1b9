#!/usr/bin/env python3
"""Record how a real GPU's telemetry follows load, to calibrate the demo site's
simulated fleet (console/sim/gpu_fleet.py): idle, then full load, then idle again,
sampling `nvidia-smi` twice a second (utilisation, temperature, power, SM clock,
clock event reasons, memory). Prints the samples as CSV and a summary: idle and
loaded steady values and the time constant of the temperature rise.

The load is torch matmuls when torch is installed, else a spinning PTX kernel
launched through the CUDA driver with ctypes (no package needed).

    python3 benchmarks/gpu_load_profile.py [--idle 10] [--load 60] [--cool 30]
"""
from __future__ import annotations

import argparse
import ctypes
import math
import subprocess
import sys
import threading
import time

QUERY = "utilization.gpu,temperature.gpu,power.draw,clocks.sm,clocks_event_reasons.active,memory.used"

PTX = rb"""
.version 7.0
.target sm_80
.address_size 64
.visible .entry spin(.param .u64 out, .param .u32 iters)
{
  .reg .u32 %r<4>;
  .reg .f32 %f<4>;
  .reg .pred %p;
  .reg .u64 %rd<2>;
  ld.param.u64 %rd1, [out];
  ld.param.u32 %r1, [iters];
  mov.u32 %r2, 0;
  mov.f32 %f1, 0f3F800000;
  mov.f32 %f2, 0f3F000000;
LOOP:
  fma.rn.f32 %f1, %f1, %f2, %f2;
  fma.rn.f32 %f2, %f2, %f1, %f1;
  add.u32 %r2, %r2, 1;
  setp.lt.u32 %p, %r2, %r1;
  @%p bra LOOP;
  st.global.f32 [%rd1], %f1;
  ret;
}
"""


def sampler(samples: list, stop: threading.Event, t0: float) -> None:
    while not stop.is_set():
        r = subprocess.run(["nvidia-smi", "-i", "0", f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            samples.append((time.monotonic() - t0, *[v.strip() for v in r.stdout.strip().split(",")]))
        stop.wait(0.5)


def load_torch(seconds: float) -> str:
    import torch
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(20):
            a = (a @ b).clamp_(-1, 1)
        torch.cuda.synchronize()
    return "torch bf16 matmul 8192^2"


def load_ptx(seconds: float) -> str:
    cu = ctypes.CDLL("libcuda.so.1")

    def check(rc, what):
        if rc != 0:
            raise RuntimeError(f"{what}: CUDA error {rc}")

    check(cu.cuInit(0), "cuInit")
    dev = ctypes.c_int()
    check(cu.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
    ctx = ctypes.c_void_p()
    check(cu.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
    check(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
    sms = ctypes.c_int()
    check(cu.cuDeviceGetAttribute(ctypes.byref(sms), 16, dev), "SM count")  # MULTIPROCESSOR_COUNT
    mod = ctypes.c_void_p()
    check(cu.cuModuleLoadData(ctypes.byref(mod), ctypes.c_char_p(PTX)), "cuModuleLoadData")
    fn = ctypes.c_void_p()
    check(cu.cuModuleGetFunction(ctypes.byref(fn), mod, b"spin"), "cuModuleGetFunction")
    out = ctypes.c_uint64()
    check(cu.cuMemAlloc_v2(ctypes.byref(out), ctypes.c_size_t(64)), "cuMemAlloc")
    iters = ctypes.c_uint32(4_000_000)
    params = (ctypes.c_void_p * 2)(ctypes.cast(ctypes.byref(out), ctypes.c_void_p),
                                   ctypes.cast(ctypes.byref(iters), ctypes.c_void_p))
    end = time.monotonic() + seconds
    launches = 0
    while time.monotonic() < end:
        check(cu.cuLaunchKernel(fn, sms.value * 16, 1, 1, 128, 1, 1, 0, None, params, None), "cuLaunchKernel")
        check(cu.cuCtxSynchronize(), "cuCtxSynchronize")
        launches += 1
    return f"PTX FMA spin kernel, {sms.value} SMs, {launches} launches"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=float, default=10)
    ap.add_argument("--load", type=float, default=60)
    ap.add_argument("--cool", type=float, default=30)
    args = ap.parse_args()
    samples: list = []
    stop = threading.Event()
    t0 = time.monotonic()
    th = threading.Thread(target=sampler, args=(samples, stop, t0), daemon=True)
    th.start()
    time.sleep(args.idle)
    load_start = time.monotonic() - t0
    try:
        how = load_torch(args.load)
    except Exception as e:  # noqa: BLE001 - no torch here: the driver API needs nothing
        print(f"# torch load unavailable ({type(e).__name__}: {e}); using PTX", flush=True)
        how = load_ptx(args.load)
    load_end = time.monotonic() - t0
    time.sleep(args.cool)
    stop.set()
    th.join()
    print(f"# load: {how}; from {load_start:.1f}s to {load_end:.1f}s")
    print("t_s,util_pct,temp_c,power_w,sm_mhz,reasons,mem_used_mib")
    for s in samples:
        print(",".join([f"{s[0]:.1f}", *s[1:]]))

    def steady(lo, hi, col):
        vals = [float(s[col]) for s in samples if lo <= s[0] <= hi and s[col].replace(".", "").isdigit()]
        return sum(vals) / len(vals) if vals else float("nan")

    idle_t, idle_p = steady(0, load_start, 2), steady(0, load_start, 3)
    hot_t = steady(load_end - 10, load_end, 2)
    print(f"# idle: temp {idle_t:.1f} C, power {idle_p:.1f} W")
    print(f"# loaded (last 10 s): util {steady(load_end - 10, load_end, 1):.0f} %, temp {hot_t:.1f} C, "
          f"power {steady(load_end - 10, load_end, 3):.1f} W, SM {steady(load_end - 10, load_end, 4):.0f} MHz")
    # first-order fit: time until 63 % of the idle->loaded temperature step
    target = idle_t + (hot_t - idle_t) * (1 - math.exp(-1))
    tau = next((s[0] - load_start for s in samples if s[0] >= load_start and float(s[2]) >= target), float("nan"))
    print(f"# temperature time constant (63 % of the step): {tau:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
