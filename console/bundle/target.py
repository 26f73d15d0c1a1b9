"""The platform a bundle is built for: CPython X.Y on Linux (glibc) x86_64 or
aarch64, i.e. the manylinux wheels PyPI has for our dependencies. Defaults to
the machine building the bundle.

pip is told the target with `--platform/--python-version/--implementation/--abi`.
Environment markers of dependencies (`platform_machine == ...`) are still
evaluated by pip for the building machine, none of ours has one today; build on
the target's architecture to be exact.
"""
from __future__ import annotations

import platform
import re
import sys
from dataclasses import dataclass

MACHINES = ("x86_64", "aarch64")
PYTHONS = ("3.11", "3.12", "3.13")          # requires-python >= 3.11; wheels of every dependency exist
OLDEST_GLIBC = (2, 17)                      # manylinux2014, the oldest tag our dependencies ship


@dataclass(frozen=True)
class Target:
    python: str = "3.11"         # "X.Y"
    machine: str = "x86_64"
    glibc: tuple[int, int] = (2, 17)

    @property
    def name(self) -> str:
        """What the bundle is for, e.g. cp311-manylinux_2_36_x86_64."""
        return f"cp{self.python.replace('.', '')}-manylinux_{self.glibc[0]}_{self.glibc[1]}_{self.machine}"

    def platform_tags(self) -> list[str]:
        """Every manylinux tag a wheel for this target may carry: pip matches
        --platform exactly, so the glibc versions below the target's are named too."""
        major, minor = self.glibc
        tags = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, OLDEST_GLIBC[1] - 1, -1)]
        tags.append(f"manylinux2014_{self.machine}")
        if self.machine == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return tags

    def pip_args(self) -> list[str]:
        cp = "cp" + self.python.replace(".", "")
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp"]
        for abi in (cp, "abi3", "none"):
            args += ["--abi", abi]
        for tag in self.platform_tags():
            args += ["--platform", tag]
        return args


def current() -> Target:
    """This machine: its Python, architecture and glibc."""
    libc, version = platform.libc_ver()
    glibc = (_glibc(version) if libc == "glibc" else None) or OLDEST_GLIBC
    return Target(python=f"{sys.version_info[0]}.{sys.version_info[1]}", machine=platform.machine(), glibc=glibc)


def parse(python: str | None = None, machine: str | None = None, glibc: str | None = None) -> Target:
    """A target from command-line values (None: this machine's); ValueError says what was expected."""
    here = current()
    python = python or here.python
    if python not in PYTHONS:
        raise ValueError(f"--python-version {python!r}: expected one of {', '.join(PYTHONS)}")
    machine = machine or here.machine
    if machine not in MACHINES:
        raise ValueError(f"--machine {machine!r}: expected one of {', '.join(MACHINES)}")
    glibc_v = _glibc(glibc) if glibc else here.glibc
    if glibc_v is None or glibc_v < OLDEST_GLIBC:
        raise ValueError(f"--glibc {glibc!r}: expected a glibc version like 2.28, at least "
                         f"{OLDEST_GLIBC[0]}.{OLDEST_GLIBC[1]}")
    return Target(python=python, machine=machine, glibc=glibc_v)


def _glibc(text: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(\d+)\.(\d+)", text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None
