"""SimulatedHost: a demo-site node behind the Transport interface.

Wizards and telemetry sources talk to it exactly as to an SSH host: `run(cmd)`,
`read(path)`, `write(path, data, mode)`. Behind that sit
  - an in-memory filesystem (`files`: path -> bytes, `dirs`: directories),
  - special files that behave like the kernel's (`specials`: path -> SpecialFile):
    every /proc/sys/<key> of the sysctl table, and
    /sys/kernel/mm/transparent_hugepage/{enabled,defrag} in the kernel's
    "always madvise [never]" form, which reject values the kernel rejects;
  - a small shell: `;`, `&&`, `||`, pipes, `< > >> 2>/dev/null 2>&1`, leading
    `sudo [-n]` and `VAR=value`, and a table of commands (`commands`: name ->
    handler(host, argv, stdin) -> CommandResult). Unknown commands get bash's
    rc 127 "command not found".

It is made to be extended (host tuning adds commands and files): register a
command with `host.commands["name"] = handler` (or `register_command`), a
kernel-like file with `add_special(path, SpecialFile(read, write))`, a sysctl
with `add_sysctl(key, value)`.

nvidia-smi answers from the SimGpuFleet (console/sim/nvidia_smi_query.py renders
it in the real driver's format); journalctl -k and dmesg show the fleet's XIDs
as the NVIDIA kernel module logs them.
"""
from __future__ import annotations

import errno
import posixpath
import re
import shlex
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from console.hosts.transport import CommandResult, HostUnreachable, Transport

if TYPE_CHECKING:
    from console.sim.host_software import HostSoftware

KERNEL_RELEASE = "5.15.0-126-generic"
NVIDIA_MODULE_LINE = ("NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  "
                      "Release Build  (dvs-builder@U22-I3-B10-02-5)")
UPTIME_AT_START_S = 3 * 86400.0  # the simulated nodes booted three days before the demo began

CommandHandler = Callable[["SimulatedHost", list[str], bytes], CommandResult]


class SpecialFile(msgspec.Struct):
    """A file whose reads and writes run code, like /proc and /sys entries."""
    read: Callable[[], bytes]
    write: Callable[[bytes], None] | None = None  # None: read-only (EACCES on write)


class ChoiceFile:
    """A sysfs file choosing one of fixed words, shown as `a [b] c` (e.g. THP)."""

    def __init__(self, choices: tuple[str, ...], current: str):
        self.choices = choices
        self.current = current

    def read(self) -> bytes:
        return (" ".join(f"[{c}]" if c == self.current else c for c in self.choices) + "\n").encode()

    def write(self, data: bytes) -> None:
        value = data.decode(errors="replace").strip()
        if value not in self.choices:
            raise OSError(errno.EINVAL, "Invalid argument")
        self.current = value


def _ok(out: str = "") -> CommandResult:
    return CommandResult(0, out, "")


def _fail(rc: int, err: str, out: str = "") -> CommandResult:
    return CommandResult(rc, out, err if err.endswith("\n") or not err else err + "\n")


class SimulatedHost(Transport):
    software: HostSoftware   # the GPU software stack (console.sim.host_software.install sets it)

    def __init__(self, name: str, fleet: Any = None, *, kernel: str = KERNEL_RELEASE, clock: Any = None):
        self.name = name
        self.fleet = fleet
        self.clock = clock or (fleet.clock if fleet is not None else None)
        if self.clock is None:
            from console.sim.model_server import default_clock
            self.clock = default_clock()
        self.kernel = kernel
        self.boot_time = self.clock.now() - UPTIME_AT_START_S
        self.reachable = True
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, int] = {}
        self.dirs: set[str] = {"/"}
        self.specials: dict[str, SpecialFile] = {}
        self.sysctls: dict[str, str] = {}
        self.commands: dict[str, CommandHandler] = dict(DEFAULT_COMMANDS)
        self.history: list[str] = []  # every command line run, in order
        self._populate()

    # ---- extension points ------------------------------------------------------
    def register_command(self, name: str, handler: CommandHandler) -> None:
        self.commands[name] = handler

    def add_special(self, path: str, special: SpecialFile) -> None:
        self._mkdirs(posixpath.dirname(path))
        self.specials[path] = special

    def add_sysctl(self, key: str, value: str, validate: Callable[[str], bool] | None = None) -> None:
        """A kernel parameter readable as /proc/sys/<key as path> and with sysctl."""
        self.sysctls[key] = value

        def write(data: bytes) -> None:
            v = " ".join(data.decode(errors="replace").split())
            if validate is not None and not validate(v):
                raise OSError(errno.EINVAL, "Invalid argument")
            self.sysctls[key] = v

        self.add_special(sysctl_path(key), SpecialFile(lambda: (self.sysctls[key] + "\n").encode(), write))

    def set_reachable(self, reachable: bool) -> None:
        """An unreachable host raises HostUnreachable like a dead SSH host."""
        self.reachable = reachable

    # ---- Transport ---------------------------------------------------------------
    def run(self, cmd: str, *, timeout: float = 30.0, sudo: bool = False,
            stdin: bytes | None = None) -> CommandResult:
        self._check_reachable()
        self.history.append(cmd)
        try:
            return _Shell(self).run(cmd, stdin or b"")
        except _SyntaxError as e:
            return _fail(2, f"bash: line 1: {e}")

    def read(self, path: str, *, sudo: bool = False) -> bytes:
        self._check_reachable()
        path = _norm(path)
        special = self.specials.get(path)
        if special is not None:
            return special.read()
        if path in self.files:
            return self.files[path]
        if path in self.dirs:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)

    def write(self, path: str, data: bytes, *, mode: int | None = None, sudo: bool = False) -> None:
        self._check_reachable()
        path = _norm(path)
        special = self.specials.get(path)
        if special is not None:
            if special.write is None:
                raise PermissionError(errno.EACCES, "Permission denied", path)
            special.write(bytes(data))
            return
        if path in self.dirs:
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if posixpath.dirname(path) not in self.dirs:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        self.files[path] = bytes(data)
        if mode is not None:
            self.modes[path] = mode
        else:
            self.modes.setdefault(path, 0o644)

    def exists(self, path: str, *, sudo: bool = False) -> bool:
        path = _norm(path)
        return path in self.files or path in self.specials or path in self.dirs

    def listdir(self, path: str) -> list[str]:
        path = _norm(path)
        if path not in self.dirs:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix):].split("/", 1)[0]
                 for p in (*self.files, *self.specials, *self.dirs) if p.startswith(prefix) and p != prefix}
        return sorted(names)

    def remove(self, path: str) -> None:
        path = _norm(path)
        if path not in self.files:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        del self.files[path]
        self.modes.pop(path, None)

    # ---- state ---------------------------------------------------------------------
    def kernel_log(self) -> list[tuple[float, str]]:
        """(time, message) of the kernel log: boot lines and the fleet's XIDs."""
        b = self.boot_time
        lines = [(b + 0.525273, "nvidia: loading out-of-tree module taints kernel."),
                 (b + 0.608937, "nvidia-nvlink: Nvlink Core is being initialized, major device number 240"),
                 (b + 0.608945, NVIDIA_MODULE_LINE)]
        if self._has_gpus():
            for x in self.fleet.xids(self.name):
                bus = (x.pci_bus_id or "00000000:00:00.0").split(":")
                pci = f"{bus[0][-4:]}:{bus[1]}:{bus[2].split('.')[0]}".lower()
                lines.append((x.time, f"NVRM: Xid (PCI:{pci}): {x.code}, pid='<unknown>', "
                                      f"name=<unknown>, {x.message}"))
        return lines

    def _has_gpus(self) -> bool:
        return self.fleet is not None and self.name in self.fleet

    def _check_reachable(self) -> None:
        if not self.reachable:
            raise HostUnreachable(self.name, "connection timed out")

    def mkdirs(self, path: str) -> None:
        """mkdir -p in the in-memory filesystem."""
        self._mkdirs(path)

    def _mkdirs(self, path: str) -> None:
        path = _norm(path)
        while path not in self.dirs:
            self.dirs.add(path)
            path = path.rpartition("/")[0] or "/"

    def _populate(self) -> None:
        for d in ("/etc/sysctl.d", "/etc/default", "/etc/security/limits.d", "/etc/modprobe.d",
                  "/tmp", "/root", "/dev/shm", "/var/log", "/usr/bin", "/proc/sys", "/boot"):
            self._mkdirs(d)
        files = {
            "/etc/hostname": f"{self.name}\n",
            "/etc/os-release": ('PRETTY_NAME="Ubuntu 22.04.5 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
                                'VERSION="22.04.5 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n'),
            "/etc/default/grub": ('# If you change this file, run \'update-grub\' afterwards to update\n'
                                  '# /boot/grub/grub.cfg.\n\nGRUB_DEFAULT=0\nGRUB_TIMEOUT_STYLE=hidden\n'
                                  'GRUB_TIMEOUT=0\n'
                                  'GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n'
                                  'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\nGRUB_CMDLINE_LINUX=""\n'),
            "/etc/sysctl.conf": "#\n# /etc/sysctl.conf - Configuration file for setting system variables\n#\n",
            "/etc/sysctl.d/README.sysctl": "Files in /etc/sysctl.d/ are read at boot and by sysctl --system.\n",
            "/etc/security/limits.conf": "# /etc/security/limits.conf\n#<domain> <type> <item> <value>\n",
            "/proc/cmdline": (f"BOOT_IMAGE=/boot/vmlinuz-{self.kernel} root=UUID=0f3cd65a-338b-4574-bba3-"
                              f"ecef214e1917 ro quiet splash\n"),
            "/proc/version": f"Linux version {self.kernel} (buildd@lcy02-amd64-051) #136-Ubuntu SMP\n",
        }
        for path, text in files.items():
            self._mkdirs(posixpath.dirname(path))
            self.files[path] = text.encode()
            self.modes[path] = 0o644
        if self._has_gpus():
            self._mkdirs("/proc/driver/nvidia")
            self.files["/proc/driver/nvidia/version"] = (
                b"NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build\n"
                b"GCC version:  gcc version 12.3.0 (Ubuntu 12.3.0-1ubuntu1~22.04)\n")
        int_range = lambda lo, hi: (lambda v: v.lstrip("-").isdigit() and lo <= int(v) <= hi)  # noqa: E731
        self.add_sysctl("vm.swappiness", "60", int_range(0, 200))
        self.add_sysctl("vm.overcommit_memory", "0", int_range(0, 2))
        self.add_sysctl("vm.max_map_count", "65530", int_range(0, 2**31 - 1))
        self.add_sysctl("vm.nr_hugepages", "0", int_range(0, 2**31 - 1))
        self.add_sysctl("kernel.numa_balancing", "1", int_range(0, 3))
        self.add_sysctl("net.core.somaxconn", "4096", int_range(0, 2**31 - 1))
        self.add_sysctl("kernel.hostname", self.name)
        self.thp_enabled = ChoiceFile(("always", "madvise", "never"), "madvise")
        self.thp_defrag = ChoiceFile(("always", "defer", "defer+madvise", "madvise", "never"), "madvise")
        self.add_special("/sys/kernel/mm/transparent_hugepage/enabled",
                         SpecialFile(self.thp_enabled.read, self.thp_enabled.write))
        self.add_special("/sys/kernel/mm/transparent_hugepage/defrag",
                         SpecialFile(self.thp_defrag.read, self.thp_defrag.write))
        if self._has_gpus():
            # the GPU software stack host tuning reports on (CUDA, NCCL, OpenMPI, ...)
            from console.sim import host_software
            host_software.install(self)


def sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def _norm(path: str) -> str:
    """The absolute normal form of a path (the common, already normal case costs no normpath)."""
    if path.startswith("/") and "//" not in path and "/." not in path and (path == "/" or path[-1] != "/"):
        return path
    return posixpath.normpath("/" + path.lstrip("/")) if path else "/"


# ---- the shell ------------------------------------------------------------------------
class _SyntaxError(Exception):
    pass


_OPERATORS = {";", "&&", "||", "|", ">", ">>", "<", ">&", "&"}


class _Shell:
    """Just enough of sh -c for the commands wizards and telemetry send."""

    def __init__(self, host: SimulatedHost):
        self.host = host

    def run(self, line: str, stdin: bytes) -> CommandResult:
        if "$(" in line or "`" in line:
            raise _SyntaxError("command substitution is not supported by the simulated host")
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
        lex.whitespace_split = True
        try:
            tokens = list(lex)
        except ValueError as e:
            raise _SyntaxError(f"syntax error: {e}") from None
        out, err, rc = [], [], 0
        op = None
        for seq_op, pipeline in _split_sequence(tokens):
            if op == "&&" and rc != 0 or op == "||" and rc == 0:
                op = seq_op
                continue
            r = self._pipeline(pipeline, stdin)
            out.append(r.stdout)
            err.append(r.stderr)
            rc = r.rc
            op = seq_op
        return CommandResult(rc, "".join(out), "".join(err))

    def _pipeline(self, tokens: list[str], stdin: bytes) -> CommandResult:
        stages = _split(tokens, "|")
        data, errs, rc = stdin, [], 0
        for stage in stages:
            r = self._simple(stage, data)
            errs.append(r.stderr)
            rc = r.rc
            data = r.stdout.encode()
        return CommandResult(rc, data.decode(errors="replace"), "".join(errs))

    def _simple(self, tokens: list[str], stdin: bytes) -> CommandResult:
        argv, redirects = [], []
        i = 0
        while i < len(tokens):
            t = tokens[i]
            if t == "2" and i + 1 < len(tokens) and tokens[i + 1] in (">", ">>", ">&"):
                if i + 2 >= len(tokens):
                    raise _SyntaxError("syntax error near unexpected token `newline'")
                redirects.append(("2" + tokens[i + 1], tokens[i + 2]))
                i += 3
            elif t in (">", ">>", "<"):
                if i + 1 >= len(tokens) or tokens[i + 1] in _OPERATORS:
                    raise _SyntaxError("syntax error near unexpected token `newline'")
                redirects.append((t, tokens[i + 1]))
                i += 2
            elif t in _OPERATORS:
                raise _SyntaxError(f"syntax error near unexpected token `{t}'")
            else:
                argv.append(t)
                i += 1
        for kind, target in redirects:
            if kind == "<":
                try:
                    stdin = self.host.read(target)
                except OSError as e:
                    return _fail(1, f"bash: line 1: {target}: {e.strerror}")
        while argv and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", argv[0]):
            argv.pop(0)  # VAR=value prefixes
        if argv and argv[0] == "sudo":
            argv.pop(0)
            while argv and argv[0].startswith("-"):
                argv.pop(0)
        if not argv:
            r = _ok()
        else:
            # a command registered by its full path (e.g. /usr/local/cuda/bin/nvcc) is
            # found only by that path; one registered by name also by any path to it
            handler = self.host.commands.get(argv[0]) or self.host.commands.get(posixpath.basename(argv[0]))
            if handler is None:
                r = _fail(127, f"bash: line 1: {argv[0]}: command not found")
            else:
                r = handler(self.host, argv, stdin)
        out, err = r.stdout, r.stderr
        for kind, target in redirects:
            if kind in (">", ">>"):
                if target != "/dev/null":
                    try:
                        old = self.host.read(target) if kind == ">>" and self.host.exists(target) else b""
                        self.host.write(target, old + out.encode())
                    except OSError as e:
                        return _fail(1, f"bash: line 1: {target}: {e.strerror}")
                out = ""
            elif kind == "2>&" and target == "1":
                out, err = out + err, ""
            elif kind in ("2>", "2>>"):
                if target != "/dev/null":
                    self.host.write(target, err.encode())
                err = ""
        return CommandResult(r.rc, out, err)


def _split(tokens: list[str], sep: str) -> list[list[str]]:
    parts: list[list[str]] = []
    cur: list[str] = []
    for t in tokens:
        if t == sep:
            parts.append(cur)
            cur = []
        else:
            cur.append(t)
    parts.append(cur)
    return parts


def _split_sequence(tokens: list[str]) -> list[tuple[str | None, list[str]]]:
    """Split at ; && || into (operator after it, pipeline tokens)."""
    out: list[tuple[str | None, list[str]]] = []
    cur: list[str] = []
    for t in tokens:
        if t in (";", "&&", "||"):
            out.append((t, cur))
            cur = []
        else:
            cur.append(t)
    if cur:
        out.append((None, cur))
    return out


# ---- commands -------------------------------------------------------------------------
def cmd_cat(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    if len(argv) == 1:
        return _ok(stdin.decode(errors="replace"))
    out, err, rc = [], [], 0
    for path in argv[1:]:
        try:
            out.append(host.read(path).decode(errors="replace"))
        except IsADirectoryError:
            err.append(f"cat: {path}: Is a directory\n")
            rc = 1
        except OSError:
            err.append(f"cat: {path}: No such file or directory\n")
            rc = 1
    return CommandResult(rc, "".join(out), "".join(err))


def cmd_echo(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    args = argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    return _ok(" ".join(args) + ("\n" if newline else ""))


def cmd_tee(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    append = "-a" in argv[1:]
    for path in (a for a in argv[1:] if not a.startswith("-")):
        if path == "/dev/null":
            continue
        try:
            old = host.read(path) if append and host.exists(path) and path not in host.specials else b""
            host.write(path, old + stdin)
        except OSError as e:
            return CommandResult(1, stdin.decode(errors="replace"), f"tee: {path}: {e.strerror}\n")
    return _ok(stdin.decode(errors="replace"))


def cmd_sysctl(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    """procps sysctl: KEY, -n KEY, -w KEY=VALUE, -p [FILE], --system."""
    names_only = quiet = write = False
    args: list[str] = []
    load: list[str] = []
    it = iter(argv[1:])
    for a in it:
        if a in ("-n", "--values"):
            names_only = True
        elif a in ("-q", "--quiet"):
            quiet = True
        elif a in ("-w", "--write"):
            write = True
        elif a in ("-p", "--load"):
            load.append(next(it, "/etc/sysctl.conf"))
        elif a.startswith("-p"):
            load.append(a[2:])
        elif a == "--system":
            load.extend(sorted(f"/etc/sysctl.d/{n}" for n in host.listdir("/etc/sysctl.d")
                               if n.endswith(".conf")) + ["/etc/sysctl.conf"])
        elif a.startswith("-"):
            return _fail(1, f"sysctl: invalid option -- '{a.lstrip('-')[:1]}'")
        else:
            args.append(a)
    assignments: list[str] = []
    for path in load:
        try:
            text = host.read(path).decode(errors="replace")
        except OSError:
            return _fail(1, f"sysctl: cannot open \"{path}\": No such file or directory")
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith(("#", ";")) and "=" in line:
                k, v = line.split("=", 1)
                assignments.append(f"{k.strip()}={v.strip()}")
    out, err, rc = [], [], 0
    for a in args:
        if write or "=" in a:
            assignments.append(a)
            continue
        key = a.replace("/", ".")
        try:
            value = host.read(sysctl_path(key)).decode().rstrip("\n")
        except OSError:
            err.append(f"sysctl: cannot stat {sysctl_path(key)}: No such file or directory\n")
            rc = 1
            continue
        out.append(f"{value}\n" if names_only else f"{key} = {value}\n")
    for a in assignments:
        if "=" not in a:
            err.append(f'sysctl: "{a}" must be of the form name=value\n')
            rc = 1
            continue
        key, value = (s.strip() for s in a.split("=", 1))
        key = key.replace("/", ".")
        path = sysctl_path(key)
        if path not in host.specials:
            err.append(f"sysctl: cannot stat {path}: No such file or directory\n")
            rc = 1
            continue
        try:
            host.write(path, value.encode() + b"\n")
        except OSError:
            err.append(f'sysctl: setting key "{key}": Invalid argument\n')
            rc = 1
            continue
        if not quiet:
            out.append(f"{value}\n" if names_only else f"{key} = {value}\n")
    return CommandResult(rc, "".join(out), "".join(err))


DRIVER_NOT_LOADED = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
                     "Make sure that the latest NVIDIA driver is installed and running.\n\n")


def cmd_nvidia_smi(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    from console.sim.nvidia_smi_query import DRIVER_VERSION, query_compute_apps, query_gpu, query_xml

    if not host._has_gpus():
        return CommandResult(9, DRIVER_NOT_LOADED, "")
    opts: dict[str, str] = {}
    flags: set[str] = set()
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            opts[k] = v
        elif a in ("--query-gpu", "--query-compute-apps", "--format") and i + 1 < len(args):
            opts[a[2:]] = args[i + 1]
            i += 1
        else:
            flags.add(a)
        i += 1
    if "--version" in flags:
        return _ok(f"NVIDIA-SMI version  : {DRIVER_VERSION}\nNVML version        : 580.159\n"
                   f"DRIVER version      : {DRIVER_VERSION}\nCUDA Version        : 13.0\n")
    samples = list(host.fleet.read(host.name).samples)
    if "query-gpu" in opts:
        r = query_gpu(opts["query-gpu"], opts.get("format", ""), samples)
        return CommandResult(r.rc, r.stdout, r.stderr)
    if "query-compute-apps" in opts:
        r = query_compute_apps(opts["query-compute-apps"], opts.get("format", ""), samples)
        return CommandResult(r.rc, r.stdout, r.stderr)
    if "-q" in flags and "-x" in flags or "-qx" in flags:
        r = query_xml(samples)
        return CommandResult(r.rc, r.stdout, r.stderr)
    if "-L" in flags:
        return _ok("".join(f"GPU {s.index}: {s.name} (UUID: {s.uuid})\n" for s in samples))
    return _fail(2, "", out='Invalid combination of input arguments. Please run "nvidia-smi -h" for help.\n\n')


def cmd_journalctl(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    """journalctl -k (--dmesg) [--no-pager] [-b] [-q] [-o short|short-unix|short-iso]
    [-g/--grep PATTERN] [-n N]: the kernel log of the current boot."""
    args = argv[1:]
    quiet = any(a in ("-q", "--quiet") for a in args)
    if not any(a in ("-k", "--dmesg") for a in args):
        return _ok("" if quiet else "-- No entries --\n")
    pattern, limit, output = None, None, "short"
    for i, a in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else None
        if a in ("-g", "--grep") and nxt is not None:
            pattern = re.compile(nxt, re.I)
        elif a.startswith("--grep="):
            pattern = re.compile(a.split("=", 1)[1], re.I)
        elif a in ("-n", "--lines") and nxt is not None and nxt.isdigit():
            limit = int(nxt)
        elif a in ("-o", "--output") and nxt is not None:
            output = nxt
        elif a.startswith("--output="):
            output = a.split("=", 1)[1]
    stamp = {"short": lambda t: time.strftime("%b %d %H:%M:%S", time.localtime(t)),
             "short-unix": lambda t: f"{t:.6f}",
             "short-iso": lambda t: time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))}.get(output)
    if stamp is None:
        return _fail(1, f"Unknown output format '{output}'.")
    lines = [f"{stamp(t)} {host.name} kernel: {msg}\n" for t, msg in host.kernel_log()
             if pattern is None or pattern.search(msg)]
    if limit is not None:
        lines = lines[-limit:] if limit else []
    return _ok("".join(lines) if lines or quiet else "-- No entries --\n")


def cmd_dmesg(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    return _ok("".join(f"[{t - host.boot_time:12.6f}] {msg}\n" for t, msg in host.kernel_log()))


def cmd_uname(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    parts = {"-s": "Linux", "-n": host.name, "-r": host.kernel,
             "-v": "#136-Ubuntu SMP Wed Nov 6 10:38:22 UTC 2024", "-m": "x86_64", "-o": "GNU/Linux"}
    flags = argv[1:] or ["-s"]
    if "-a" in flags:
        flags = ["-s", "-n", "-r", "-v", "-m", "-o"]
    bad = [f for f in flags if f not in parts]
    if bad:
        return _fail(1, f"uname: invalid option -- '{bad[0].lstrip('-')[:1]}'")
    return _ok(" ".join(parts[f] for f in flags) + "\n")


def cmd_hostname(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    return _ok(host.name + "\n")


def cmd_true(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    return _ok()


def cmd_false(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    return CommandResult(1, "", "")


def cmd_test(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    args = argv[1:-1] if argv[0] == "[" and argv[-1:] == ["]"] else argv[1:]
    if len(args) == 2 and args[0] in ("-e", "-f", "-d", "-s"):
        p = _norm(args[1])
        ok = {"-e": host.exists(p),
              "-f": p in host.files or p in host.specials,
              "-d": p in host.dirs,
              "-s": bool(host.files.get(p))}[args[0]]
        return CommandResult(0 if ok else 1, "", "")
    return _fail(2, f"{argv[0]}: unsupported expression: {' '.join(args)}")


def cmd_mkdir(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    parents = any(a.startswith("-") and "p" in a for a in argv[1:])
    for d in (a for a in argv[1:] if not a.startswith("-")):
        d = _norm(d)
        if d in host.dirs:
            if not parents:
                return _fail(1, f"mkdir: cannot create directory '{d}': File exists")
            continue
        if not parents and posixpath.dirname(d) not in host.dirs:
            return _fail(1, f"mkdir: cannot create directory '{d}': No such file or directory")
        host._mkdirs(d)
    return _ok()


def cmd_rm(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    force = any(a.startswith("-") and "f" in a for a in argv[1:])
    for p in (a for a in argv[1:] if not a.startswith("-")):
        try:
            host.remove(p)
        except FileNotFoundError:
            if not force:
                return _fail(1, f"rm: cannot remove '{p}': No such file or directory")
    return _ok()


def cmd_ls(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    paths = [a for a in argv[1:] if not a.startswith("-")] or ["/root"]
    out: list[str] = []
    err: list[str] = []
    rc = 0
    for p in paths:
        n = _norm(p)
        if n in host.dirs:
            out.extend(f"{name}\n" for name in host.listdir(n))
        elif host.exists(n):
            out.append(f"{p}\n")
        else:
            err.append(f"ls: cannot access '{p}': No such file or directory\n")
            rc = 2
    return CommandResult(rc, "".join(out), "".join(err))


def cmd_grep(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    """grep [-q] [-v] [-c] [-i] [-E] [-F] [-e] PATTERN [FILE...]"""
    flags: set[str] = set()
    rest: list[str] = []
    args = argv[1:]
    pattern = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-e" and i + 1 < len(args):
            pattern = args[i + 1]
            i += 2
            continue
        if a.startswith("-") and len(a) > 1 and pattern is None and not rest:
            flags.update(a[1:])
        else:
            rest.append(a)
        i += 1
    if pattern is None:
        if not rest:
            return _fail(2, "Usage: grep [OPTION]... PATTERNS [FILE]...")
        pattern = rest.pop(0)
    expr = re.escape(pattern) if "F" in flags else (pattern if "E" in flags else _basic_regex(pattern))
    rx = re.compile(expr, re.I if "i" in flags else 0)
    sources: list[tuple[str | None, bytes]] = [(None, stdin)] if not rest else []
    err = []
    for path in rest:
        try:
            sources.append((path, host.read(path)))
        except OSError:
            err.append(f"grep: {path}: No such file or directory\n")
    matches = []
    for source, data in sources:
        for line in data.decode(errors="replace").splitlines():
            if bool(rx.search(line)) != ("v" in flags):
                matches.append(f"{source}:{line}" if source and len(rest) > 1 else line)
    rc = 0 if matches else 1
    if err and not matches:
        rc = 2
    if "q" in flags:
        return CommandResult(rc, "", "".join(err))
    out = f"{len(matches)}\n" if "c" in flags else "".join(m + "\n" for m in matches)
    return CommandResult(rc, out, "".join(err))


def _basic_regex(p: str) -> str:
    # POSIX basic regex: \( \) \| \+ are operators, bare ( ) | + are literals.
    out, i = [], 0
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p) and p[i + 1] in "()|+?{}":
            out.append(p[i + 1])
            i += 2
            continue
        out.append("\\" + c if c in "()|+?{}" else c)
        i += 1
    return "".join(out)


def cmd_head(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    """head/tail [-n N | -N] [FILE...]"""
    n, paths = 10, []
    args = argv[1:]
    i = 0
    while i < len(args):
        if args[i] == "-n" and i + 1 < len(args):
            n = int(args[i + 1])
            i += 2
            continue
        if re.fullmatch(r"-\d+", args[i]):
            n = int(args[i][1:])
        else:
            paths.append(args[i])
        i += 1
    data = stdin if not paths else b"".join(host.read(p) for p in paths if host.exists(p))
    lines = data.decode(errors="replace").splitlines()
    lines = lines[:n] if posixpath.basename(argv[0]) == "head" else (lines[-n:] if n else [])
    return _ok("".join(line + "\n" for line in lines))


def cmd_command(host: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
    """`command -v NAME` / `which NAME`: where a command lives, rc 1 if nowhere."""
    names = [a for a in argv[1:] if not a.startswith("-")]
    found = [n for n in names if posixpath.basename(n) in host.commands]
    out = "".join(f"/usr/bin/{posixpath.basename(n)}\n" for n in found)
    return CommandResult(0 if names and len(found) == len(names) else 1, out, "")


DEFAULT_COMMANDS: dict[str, CommandHandler] = {
    "cat": cmd_cat, "echo": cmd_echo, "tee": cmd_tee, "sysctl": cmd_sysctl,
    "nvidia-smi": cmd_nvidia_smi, "journalctl": cmd_journalctl, "dmesg": cmd_dmesg,
    "uname": cmd_uname, "hostname": cmd_hostname, "true": cmd_true, "false": cmd_false,
    "test": cmd_test, "[": cmd_test, "mkdir": cmd_mkdir, "rm": cmd_rm, "ls": cmd_ls,
    "grep": cmd_grep, "head": cmd_head, "tail": cmd_head, "command": cmd_command, "which": cmd_command,
}
