#!/usr/bin/env python3
"""Compare the demo site's simulated nvidia-smi with the real one, on a GPU machine.

Runs the same invocations against the local (real) nvidia-smi and against a
SimulatedHost (console/sim/hosts.py) and prints, for each, whether the output
has the same shape: for --query-gpu with every field of the recorded
--help-query-gpu, field by field whether the value has the same form (number,
hex mask, [N/A], word...); the header with units; alias names in headers;
nounits headers; the unknown-field message, its stream and rc; field-name case;
--query-compute-apps headers; `journalctl -k -o short-unix` line form.
Prints findings; asserts nothing. With --out DIR it also saves the real outputs.

    python3 benchmarks/sim_smi_check.py [--out DIR]

Needs only the standard library and this repository (no third-party package).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from console.sim.clock import SimClock  # noqa: E402
from console.sim.gpu_fleet import SimGpuFleet  # noqa: E402
from console.sim.hosts import SimulatedHost  # noqa: E402
from console.sim.nvidia_smi_query import FIELDS  # noqa: E402


def kind(v: str) -> str:
    if v.startswith("[") or v in ("N/A", ""):
        return "missing"
    for k, rx in (("hex", r"0x[0-9A-Fa-f]+"), ("int", r"-?\d+"), ("dec", r"-?\d+\.\d+"),
                  ("time", r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}"), ("uuid", r"GPU-[0-9a-f-]{36}"),
                  ("busid", r"[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.\d"),
                  ("int+unit", r"-?\d+ \S+"), ("dec+unit", r"-?\d+\.\d+ \S+")):
        if re.fullmatch(rx, v):
            return k
    return "word"


def real(cmd: str) -> tuple[int, str, str]:
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="save the real outputs here")
    args = ap.parse_args()
    fleet = SimGpuFleet(seed=0, clock=SimClock(time_scale=1))
    fleet.add_node("sim")
    host = SimulatedHost("sim", fleet)

    def sim(cmd: str) -> tuple[int, str, str]:
        r = host.run(cmd)
        return r.rc, r.stdout, r.stderr

    saved: dict[str, str] = {}
    names = [n[0][0] for n in FIELDS]
    q = ",".join(names)
    for label, cmd in (("all fields, nounits", f"nvidia-smi --query-gpu={q} --format=csv,noheader,nounits"),
                       ("all fields, units", f"nvidia-smi --query-gpu={q} --format=csv,noheader")):
        (rr, ro, re_), (sr, so, _) = real(cmd), sim(cmd)
        saved[label] = ro + re_
        print(f"== {label}: rc real {rr} sim {sr}")
        if rr != 0:
            print("   real stderr/stdout:", (re_ or ro)[:500])
            continue
        rv, sv = ro.splitlines()[0].split(", "), so.splitlines()[0].split(", ")
        print(f"   columns real {len(rv)} sim {len(sv)}")
        for n, a, b in zip(names, rv, sv, strict=False):   # column counts printed above
            if kind(a) != kind(b):
                print(f"   DIFF {n}: real {a!r} sim {b!r}")
    for label, cmd in (
            ("header with units", f"nvidia-smi --query-gpu={q} --format=csv"),
            ("alias names in the header", "nvidia-smi --query-gpu=gpu_name,clocks.sm,gpu_uuid --format=csv"),
            ("nounits header", "nvidia-smi --query-gpu=index,memory.used,power.draw --format=csv,nounits"),
            ("unknown field", "nvidia-smi --query-gpu=index,bogus.field --format=csv,noheader,nounits"),
            ("field name case", "nvidia-smi --query-gpu=UUID,Index --format=csv,noheader"),
            ("format without csv", "nvidia-smi --query-gpu=index --format=noheader"),
            ("empty query", "nvidia-smi --query-gpu= --format=csv"),
            ("compute apps header", "nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory,process_name "
                                    "--format=csv"),
            ("compute apps aliases", "nvidia-smi --query-compute-apps=used_gpu_memory,name --format=csv"),
            ("compute apps unknown", "nvidia-smi --query-compute-apps=bogus --format=csv"),
            ("bad format option", "nvidia-smi --query-gpu=index --format=csv,bogus"),
            ("compute apps nounits header", "nvidia-smi --query-compute-apps=pid,used_memory --format=csv,nounits"),
            ("nvidia-smi -L", "nvidia-smi -L"),
            ("kernel log short-unix", "journalctl -k -b --no-pager -o short-unix -q -n 3"),
    ):
        (rr, ro, re_), (sr, so, se) = real(cmd), sim(cmd)
        saved[label] = f"rc={rr}\n--stdout--\n{ro}--stderr--\n{re_}"
        first = lambda s: s.splitlines()[0] if s.strip() else ""  # noqa: E731
        same = (rr == sr and bool(ro.strip()) == bool(so.strip()) and bool(re_.strip()) == bool(se.strip()))
        print(f"== {label}: {'same rc/streams' if same else 'DIFFERENT'}")
        print(f"   real rc {rr} out {first(ro)[:200]!r} err {first(re_)[:200]!r}")
        print(f"   sim  rc {sr} out {first(so)[:200]!r} err {first(se)[:200]!r}")
        if label == "header with units" and rr == 0 and sr == 0:
            rh, sh = ro.splitlines()[0].split(", "), so.splitlines()[0].split(", ")
            for a, b in zip(rh, sh, strict=False):
                if a != b:
                    print(f"   HEADER DIFF real {a!r} sim {b!r}")
    # -q -x: every element the simulated XML has must be where the real driver puts it
    import xml.etree.ElementTree as ET
    rr, ro, _ = real("nvidia-smi -q -x")
    saved["q-x"] = ro
    if rr == 0:
        def paths(root) -> set[str]:
            out, stack = set(), [(root, root.tag)]
            while stack:
                el, p = stack.pop()
                out.add(p)
                stack.extend((c, f"{p}/{c.tag}") for c in el)
            return out
        real_paths, sim_paths = paths(ET.fromstring(ro)), paths(ET.fromstring(sim("nvidia-smi -q -x")[1]))
        missing = sorted(sim_paths - real_paths)
        print(f"== -q -x: {len(sim_paths)} simulated element paths, {len(missing)} not in the real XML"
              + "".join(f"\n   {m}" for m in missing))
    else:
        print(f"== -q -x: real rc {rr}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for label, text in saved.items():
            (out / (re.sub(r"[^a-z0-9]+", "-", label) + ".txt")).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
