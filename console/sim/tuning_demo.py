"""The simulated hosts of `dsconsole tune --demo`, kept between runs.

Three GPU nodes in three states (`new_hosts`); `saved_hosts()` returns them as
the last `tune --demo` left them and `save_hosts()` keeps what a run changed,
in the state directory, so apply, verify, resume and rollback, each its own
process, see one another's work. Only the state host tuning touches is kept
(`snapshot` / `restore`): a few files, the sysctls, the THP mode, the software.
"""
from __future__ import annotations

import base64
import json
import posixpath
from pathlib import Path

import msgspec

from console import paths
from console.sim.gpu_fleet import SimGpuFleet
from console.sim.host_software import HostSoftware, install
from console.sim.hosts import SimulatedHost

STATE_FILES = ("/etc/sysctl.d/60-dsconsole-swappiness.conf", "/etc/default/grub",
               "/etc/tuned/active_profile", "/boot/grub/grub.cfg")
STATE_FILE_NAME = "demo-hosts.json"


def new_hosts(n: int = 3) -> dict[str, SimulatedHost]:
    """gpu-node-0001..n with GPUs: the first untuned (Ubuntu defaults), the
    second already tuned, the third with a conflicting tuned profile, no
    /etc/default/grub, THP always, no OpenMPI and no persistence daemon; then repeat."""
    fleet = SimGpuFleet(seed=0)
    hosts = {}
    for i in range(n):
        name = f"gpu-node-{i + 1:04d}"
        fleet.add_node(name, gpus=8)
        h = SimulatedHost(name, fleet)
        if not hasattr(h, "software"):
            install(h)
        kind = i % 3
        if kind == 1:
            h.files["/etc/sysctl.d/60-dsconsole-swappiness.conf"] = b"vm.swappiness = 1\n"
            h.sysctls["vm.swappiness"] = "1"
            h.sysctls["kernel.numa_balancing"] = "0"
            h.thp_enabled.current = "never"
            h.files["/etc/default/grub"] = h.files["/etc/default/grub"].replace(
                b'GRUB_CMDLINE_LINUX=""', b'GRUB_CMDLINE_LINUX="transparent_hugepage=never"')
        elif kind == 2:
            h.files.pop("/etc/default/grub", None)
            h._mkdirs("/etc/tuned")
            h.files["/etc/tuned/active_profile"] = b"hpc-compute\n"
            h.thp_enabled.current = "always"
            h.software.openmpi = None
            h.software.persistenced = False
            h.software.processes.pop("nvidia-persistenced", None)
        hosts[name] = h
    return hosts


def snapshot(host: SimulatedHost) -> dict:
    """The state host tuning touches, JSON-able."""
    files = {p: base64.b64encode(host.files[p]).decode() if p in host.files else None for p in STATE_FILES}
    return {"files": files, "sysctls": dict(host.sysctls), "thp": host.thp_enabled.current,
            "software": msgspec.to_builtins(host.software) if hasattr(host, "software") else None}


def restore(host: SimulatedHost, data: dict) -> None:
    """Put back what `snapshot` took."""
    for p, b in (data.get("files") or {}).items():
        if b is None:
            host.files.pop(p, None)
        else:
            host._mkdirs(posixpath.dirname(p))
            host.files[p] = base64.b64decode(b)
    host.sysctls.update(data.get("sysctls") or {})
    if data.get("thp"):
        host.thp_enabled.current = data["thp"]
    if data.get("software"):
        host.software = HostSoftware(**data["software"])


def state_path() -> Path:
    return paths.state_dir() / STATE_FILE_NAME


def saved_hosts() -> dict[str, SimulatedHost]:
    """The demo's hosts as the last `save_hosts` left them (new ones the first time;
    an unreadable state file counts as none)."""
    hosts = new_hosts()
    path = state_path()
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            saved = {}
        for name, data in saved.items():
            if name in hosts:
                restore(hosts[name], data)
    return hosts


def save_hosts(hosts: dict[str, SimulatedHost]) -> None:
    """Keep the hosts' state for the next run (written whole, then renamed)."""
    paths.ensure(paths.state_dir())
    path = state_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({n: snapshot(h) for n, h in hosts.items()}))
    tmp.replace(path)
