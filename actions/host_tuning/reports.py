"""Report-only checks of host tuning: they look, say what they found, and
never change anything (apply and rollback are no-ops for them).

Each finding is OK or WARN; "could not look" (command missing) is a WARN with
the reason, since these are things a person has to install or fix by hand.
"""
from __future__ import annotations

import json
import re

from console.hosts.transport import CommandResult, Transport

from ..step import OK, WARN, CheckResult, Step
from .targets import TuningTargets

# tuned profiles known to set what host tuning sets, at every tuned start
# (values from the profiles shipped with tuned; hpc-compute includes
# latency-performance and sets transparent_hugepages=always).
TUNED_CONFLICTS: dict[str, dict[str, str]] = {
    "hpc-compute": {"thp": "always", "swappiness": "10"},
    "throughput-performance": {"thp": "always", "swappiness": "10"},
    "latency-performance": {"swappiness": "10"},
    "virtual-guest": {"thp": "always", "swappiness": "30"},
    "virtual-host": {"thp": "always", "swappiness": "10"},
}


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


class ReportStep(Step):
    report_only = True

    def __init__(self, host: Transport, targets: TuningTargets):
        super().__init__(host)
        self.targets = targets

    def _ok(self, fact: str, *notes: str) -> CheckResult:
        return CheckResult(False, f"{self.title}: {fact}", facts=(fact,), notes=notes, status=OK)

    def _warn(self, fact: str, *notes: str) -> CheckResult:
        return CheckResult(False, f"{self.title}: {fact}", facts=(fact,), notes=notes, status=WARN)

    def _run(self, cmd: str) -> CommandResult:
        return self.host.run(cmd, timeout=20)

    def _read(self, path: str) -> bytes | None:
        try:
            return self.host.read(path)
        except (FileNotFoundError, PermissionError, IsADirectoryError):
            return None


class DriverCheck(ReportStep):
    id = "report.driver"
    title = "NVIDIA driver"

    def check(self) -> CheckResult:
        r = self._run("nvidia-smi --query-gpu=driver_version --format=csv,noheader")
        if r.rc == 127:
            return self._warn("nvidia-smi not found", "install the NVIDIA driver")
        if not r.ok:
            return self._warn(f"nvidia-smi failed: {(r.stderr or r.stdout).strip()[:200]}")
        versions = sorted({v.strip() for v in r.stdout.splitlines() if v.strip()})
        if not versions:
            return self._warn("nvidia-smi reported no GPU")
        fact = f"driver {', '.join(versions)}"
        if len(versions) > 1:
            return self._warn(fact, "GPUs report different driver versions")
        if self.targets.driver_min and _version_tuple(versions[0]) < _version_tuple(self.targets.driver_min):
            return self._warn(fact, f"older than the site's minimum {self.targets.driver_min}")
        return self._ok(fact)


class CudaCheck(ReportStep):
    id = "report.cuda"
    title = "CUDA toolkit"

    def check(self) -> CheckResult:
        version = None
        data = self._read("/usr/local/cuda/version.json")
        if data is not None:
            try:
                version = json.loads(data)["cuda"]["version"]
            except (ValueError, KeyError, TypeError):
                version = None
        if version is None:
            for cmd in ("nvcc --version", "/usr/local/cuda/bin/nvcc --version"):
                r = self._run(cmd)
                m = re.search(r"release (\d+\.\d+)(?:, V([\d.]+))?", r.stdout) if r.ok else None
                if m:
                    version = m.group(2) or m.group(1)
                    break
        if version is None:
            return self._warn("not found (no /usr/local/cuda/version.json, no nvcc)",
                              f"install CUDA {self.targets.cuda_major}.x")
        major = _version_tuple(version)[:1]
        if major != (self.targets.cuda_major,):
            return self._warn(f"CUDA {version}", f"the deployment needs CUDA {self.targets.cuda_major}.x")
        return self._ok(f"CUDA {version}")


class NcclCheck(ReportStep):
    id = "report.nccl"
    title = "NCCL"

    def _from_header(self) -> str | None:
        for path in ("/usr/include/nccl.h", "/usr/local/cuda/include/nccl.h"):
            data = self._read(path)
            if data:
                parts = dict(re.findall(rb"#define\s+NCCL_(MAJOR|MINOR|PATCH)\s+(\d+)", data))
                if b"MAJOR" in parts and b"MINOR" in parts:
                    return ".".join(parts[k].decode() for k in (b"MAJOR", b"MINOR", b"PATCH") if k in parts)
        return None

    def _from_library(self) -> str | None:
        r = self._run("PATH=$PATH:/usr/sbin:/sbin ldconfig -p")
        if not r.ok:
            return None
        paths = re.findall(r"libnccl\.so\S*\s.*=>\s*(\S+)", r.stdout)
        for path in paths:
            m = re.search(r"libnccl\.so\.(\d+\.\d+\.\d+)", path)
            if m:
                return m.group(1)
            link = self._run(f"readlink -f {path}")
            m = re.search(r"libnccl\.so\.(\d+\.\d+\.\d+)", link.stdout) if link.ok else None
            if m:
                return m.group(1)
        return "present (version unknown)" if paths else None

    def check(self) -> CheckResult:
        version = self._from_header() or self._from_library()
        if version is None:
            return self._warn("not found (no nccl.h, no libnccl in ldconfig)", "install NCCL")
        if (self.targets.nccl_min and version[0].isdigit()
                and _version_tuple(version) < _version_tuple(self.targets.nccl_min)):
            return self._warn(f"NCCL {version}", f"older than the site's minimum {self.targets.nccl_min}")
        return self._ok(f"NCCL {version}")


class OpenMpiCheck(ReportStep):
    id = "report.openmpi"
    title = "OpenMPI"

    def check(self) -> CheckResult:
        r = self._run("mpirun --version")
        if r.rc == 127:
            return self._warn("mpirun not found", "install OpenMPI")
        m = re.search(r"\(Open MPI\)\s*([\d.]+)", r.stdout + r.stderr)
        if not m:
            first = (r.stdout or r.stderr).strip().splitlines()[:1]
            return self._warn(f"mpirun is not Open MPI ({first[0] if first else 'no output'})")
        return self._ok(f"Open MPI {m.group(1)}")


class PersistencedCheck(ReportStep):
    id = "report.persistenced"
    title = "nvidia-persistenced"
    # The kernel keeps 15 characters of a process name: `pgrep -x nvidia-persistenced`
    # never matches (procps even warns so). Found on a real H200 host.
    COMM = "nvidia-persistenced"[:15]

    def check(self) -> CheckResult:
        r = self._run(f"pgrep -x {self.COMM}")
        if r.ok and r.stdout.strip():
            return self._ok(f"running (pid {r.stdout.split()[0]})")
        pm = self._run("nvidia-smi --query-gpu=persistence_mode --format=csv,noheader")
        modes = sorted({m.strip() for m in pm.stdout.splitlines() if m.strip()}) if pm.ok else []
        if modes == ["Enabled"]:
            # e.g. a container that cannot see the host's daemon, or legacy `nvidia-smi -pm 1`
            return self._ok("not seen, but persistence mode is Enabled on every GPU",
                            "the daemon is the supported way: systemctl enable --now nvidia-persistenced")
        return self._warn("not running" + (f" (persistence mode: {', '.join(modes)})" if modes else ""),
                          "enable it: systemctl enable --now nvidia-persistenced")


class MemlockCheck(ReportStep):
    id = "report.memlock"
    title = "memlock limit"

    def check(self) -> CheckResult:
        r = self._run("ulimit -l")
        value = r.stdout.strip()
        if not r.ok or not value:
            return self._warn(f"cannot read (ulimit -l: rc {r.rc})")
        if value != self.targets.memlock:
            return self._warn(f"{value} KiB", f"RDMA/NCCL want memlock {self.targets.memlock} "
                                              "(/etc/security/limits.d, and the container runtime)")
        return self._ok(value)


class ShmCheck(ReportStep):
    id = "report.shm"
    title = "/dev/shm size"

    def check(self) -> CheckResult:
        r = self._run("df -k --output=size /dev/shm")
        nums = re.findall(r"^\s*(\d+)\s*$", r.stdout, re.M) if r.ok else []
        if not nums:
            return self._warn("cannot read (df /dev/shm failed)")
        gib = int(nums[-1]) / (1024 * 1024)
        fact = f"{gib:.1f} GiB"
        if gib < self.targets.shm_min_gib:
            return self._warn(fact, f"smaller than {self.targets.shm_min_gib:g} GiB")
        return self._ok(fact)


class NumaBalancingCheck(ReportStep):
    id = "report.numa_balancing"
    title = "kernel.numa_balancing"

    def check(self) -> CheckResult:
        r = self._run("cat /proc/sys/kernel/numa_balancing")
        if not r.ok:
            return self._ok("not present (kernel without NUMA balancing)")
        value = r.stdout.strip()
        if value != str(self.targets.numa_balancing):
            return self._warn(value, f"the guide recommends {self.targets.numa_balancing} "
                                     "(automatic NUMA page migration stalls GPU workers)")
        return self._ok(value)


class TunedCheck(ReportStep):
    id = "report.tuned"
    title = "tuned profile"

    def _active(self) -> str | None:
        data = self._read("/etc/tuned/active_profile")
        if data is not None and data.strip():
            return data.decode("utf-8", "replace").strip()
        r = self._run("tuned-adm active")
        m = re.search(r"Current active profile:\s*(\S+)", r.stdout) if r.ok else None
        return m.group(1) if m else None

    def check(self) -> CheckResult:
        active = self._active()
        if not active:
            return self._ok("no tuned profile active")
        fights = []
        for profile in active.split():
            sets = TUNED_CONFLICTS.get(profile, {})
            if "thp" in sets and sets["thp"] != self.targets.thp:
                fights.append(f"{profile} sets transparent hugepages to {sets['thp']} "
                              f"(wanted {self.targets.thp}) whenever tuned starts")
            if "swappiness" in sets and sets["swappiness"] != str(self.targets.swappiness):
                fights.append(f"{profile} sets vm.swappiness={sets['swappiness']} "
                              f"(wanted {self.targets.swappiness}) whenever tuned starts")
        if fights:
            return self._warn(f"{active} (conflicts)", *fights,
                              "switch to a profile that does not set these, or a custom profile "
                              "that includes it and overrides them")
        return self._ok(active)


REPORTS = (DriverCheck, CudaCheck, NcclCheck, OpenMpiCheck, PersistencedCheck, MemlockCheck,
           ShmCheck, NumaBalancingCheck, TunedCheck)
