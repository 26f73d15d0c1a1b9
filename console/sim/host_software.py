"""The software a simulated GPU host reports to host tuning: CUDA toolkit,
NCCL, OpenMPI, nvidia-persistenced, tuned, limits, /dev/shm, update-grub.

`install(host)` registers the commands (answering like the real tools) on a
SimulatedHost; `HostSoftware` holds what is installed/running, so a demo or
a test can make a host differ (`host.software.openmpi = None`, ...).
The three hosts of `dsconsole tune --demo`, and their state kept between
runs, are console/sim/tuning_demo.py's.
"""
from __future__ import annotations

import json
import posixpath
import re
import shlex

import msgspec

from console.hosts.transport import CommandResult


class HostSoftware(msgspec.Struct):
    cuda: str | None = "12.4.131"
    nccl: str | None = "2.21.5"
    openmpi: str | None = "4.1.5"
    persistenced: bool = True
    memlock: str = "unlimited"
    shm_kib: int = 1056 * 1024 * 1024 // 2 // 1024 * 1024  # half of a 1 TiB-class node's RAM, in KiB
    processes: dict[str, int] = msgspec.field(default_factory=dict)


def _ok(out: str = "") -> CommandResult:
    return CommandResult(0, out, "")


def _not_found(name: str) -> CommandResult:
    return CommandResult(127, "", f"bash: line 1: {name}: command not found\n")


def cmd_nvcc(host, argv, stdin) -> CommandResult:
    v = host.software.cuda
    if v is None:
        return _not_found(argv[0])
    major_minor = ".".join(v.split(".")[:2])
    return _ok("nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-2024 NVIDIA Corporation\n"
               f"Built on Thu_Mar_28_02:18:24_PDT_2024\nCuda compilation tools, release {major_minor}, V{v}\n"
               f"Build cuda_{major_minor}.r{major_minor}/compiler.34097967_0\n")


def cmd_mpirun(host, argv, stdin) -> CommandResult:
    v = host.software.openmpi
    if v is None:
        return _not_found(argv[0])
    return _ok(f"mpirun (Open MPI) {v}\n\nReport bugs to http://www.open-mpi.org/community/help/\n")


def cmd_pgrep(host, argv, stdin) -> CommandResult:
    """pgrep [-x] NAME against process names as the kernel keeps them (15 characters)."""
    names = [a for a in argv[1:] if not a.startswith("-")]
    exact = "-x" in argv[1:]
    if any(len(n) > 15 for n in names) and exact:
        return CommandResult(1, "", "pgrep: pattern that searches for process name longer than 15 "
                                    "characters will result in zero matches\n"
                                    "Try `pgrep -f' option to match against the complete command line.\n")
    pids = [str(pid) for comm, pid in host.software.processes.items()
            for n in names if (comm[:15] == n if exact else n in comm[:15])]
    return CommandResult(0 if pids else 1, "".join(p + "\n" for p in pids), "")


def cmd_ulimit(host, argv, stdin) -> CommandResult:
    if argv[1:] == ["-l"]:
        return _ok(host.software.memlock + "\n")
    return CommandResult(2, "", f"bash: ulimit: {' '.join(argv[1:])}: not supported by the simulated host\n")


def cmd_df(host, argv, stdin) -> CommandResult:
    if argv[-1] != "/dev/shm":
        return CommandResult(1, "", f"df: {argv[-1]}: not supported by the simulated host\n")
    size = host.software.shm_kib
    if "--output=size" in argv:
        return _ok(f"1K-blocks\n{size:>9}\n")
    return _ok("Filesystem     1K-blocks  Used Available Use% Mounted on\n"
               f"tmpfs          {size} 0 {size} 0% /dev/shm\n")


def cmd_ldconfig(host, argv, stdin) -> CommandResult:
    libs = []
    if host.software.nccl:
        libs.append("\tlibnccl.so.2 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libnccl.so.2\n")
    return _ok(f"{len(libs) + 1} libs found in cache `/etc/ld.so.cache'\n" + "".join(libs)
               + "\tlibc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6\n")


def cmd_readlink(host, argv, stdin) -> CommandResult:
    path = argv[-1]
    if host.software.nccl and posixpath.basename(path) == "libnccl.so.2":
        return _ok(f"{posixpath.dirname(path)}/libnccl.so.{host.software.nccl}\n")
    return _ok(path + "\n") if host.exists(path) else CommandResult(1, "", "")


def cmd_tuned_adm(host, argv, stdin) -> CommandResult:
    try:
        active = host.read("/etc/tuned/active_profile").decode().strip()
    except FileNotFoundError:
        return _not_found(argv[0])
    if argv[1:2] == ["active"]:
        if not active:
            return CommandResult(1, "No current active profile.\n", "")
        return _ok(f"Current active profile: {active}\n")
    return CommandResult(1, "", "usage: tuned-adm active\n")


def cmd_update_grub(host, argv, stdin) -> CommandResult:
    """Regenerates /boot/grub/grub.cfg from /etc/default/grub's command lines."""
    try:
        text = host.read("/etc/default/grub").decode()
    except FileNotFoundError:
        return CommandResult(1, "", "/usr/sbin/grub-mkconfig: /etc/default/grub: not found\n")
    params = []
    for key in ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"):
        m = re.search(rf"^\s*{key}=(.*)$", text, re.M)
        if m:
            params += shlex.split(m.group(1), comments=True)
    host._mkdirs("/boot/grub")
    host.write("/boot/grub/grub.cfg",
               f"# generated by grub-mkconfig\nlinux /boot/vmlinuz-{host.kernel} ro {' '.join(params)}\n".encode())
    return CommandResult(0, "", "Sourcing file `/etc/default/grub'\nGenerating grub configuration file ...\ndone\n")


COMMANDS = {"nvcc": cmd_nvcc, "mpirun": cmd_mpirun, "pgrep": cmd_pgrep, "ulimit": cmd_ulimit,
            "df": cmd_df, "ldconfig": cmd_ldconfig, "readlink": cmd_readlink,
            "tuned-adm": cmd_tuned_adm, "update-grub": cmd_update_grub}


def install(host, software: HostSoftware | None = None) -> None:
    """Give a SimulatedHost its GPU software stack and the tools that report it."""
    host.software = software or HostSoftware()
    if host.software.persistenced and "nvidia-persistenced" not in host.software.processes:
        host.software.processes["nvidia-persistenced"] = 1873
    for name, handler in COMMANDS.items():
        host.register_command(name, handler)
    host.register_command("/usr/local/cuda/bin/nvcc", cmd_nvcc)
    if host.software.cuda:
        host._mkdirs("/usr/local/cuda")
        v = host.software.cuda
        host.files["/usr/local/cuda/version.json"] = json.dumps(
            {"cuda": {"name": "CUDA SDK", "version": v},
             "cuda_nvcc": {"name": "CUDA NVCC", "version": v}}, indent=3).encode()
    if host.software.nccl:
        major, minor, patch = host.software.nccl.split(".")
        host._mkdirs("/usr/include")
        host.files["/usr/include/nccl.h"] = (f"#define NCCL_MAJOR {major}\n#define NCCL_MINOR {minor}\n"
                                             f"#define NCCL_PATCH {patch}\n").encode()
