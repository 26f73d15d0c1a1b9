"""Runtime values of a host, read and written through the Transport.

Only the one key is ever written (`sysctl -w KEY=V`), never `sysctl --system`.
Values are read from /proc/sys (no sysctl binary needed on PATH). The THP file
is read in the kernel's form (`always madvise [never]`); a file that does not
look like that is an error, not something to guess at.
"""
from __future__ import annotations

import re
import time

from console.hosts.transport import Transport

from ..step import StepError

THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
_THP_FORM = re.compile(r"^\s*(?:\[?(?:always|madvise|never)\]?\s+){2}\[?(?:always|madvise|never)\]?\s*$")


def sysctl_path(key: str) -> str:
    return "/proc/sys/" + key.replace(".", "/")


def read_sysctl(host: Transport, key: str) -> str:
    """Read through /proc/sys: `sysctl` lives in /usr/sbin, which is not on a
    non-root user's PATH on Debian and Ubuntu."""
    r = host.run(f"cat {sysctl_path(key)}")
    if not r.ok:
        raise StepError(f"cannot read {key} ({sysctl_path(key)}): "
                        f"{(r.stderr or r.stdout).strip() or f'rc {r.rc}'}")
    return r.stdout.strip()


def write_sysctl(host: Transport, key: str, value: str) -> None:
    # sudo's secure_path has /usr/sbin; root's PATH has it too
    r = host.run(f"sysctl -w {key}={value}", sudo=True)
    if not r.ok:
        raise StepError(f"sysctl -w {key}={value} failed: {(r.stderr or r.stdout).strip() or f'rc {r.rc}'}")


def parse_thp(text: str) -> str:
    """The selected mode of the kernel's `always madvise [never]` form."""
    selected = re.findall(r"\[(\w+)\]", text)
    if not _THP_FORM.match(text) or len(selected) != 1:
        raise StepError(f"{THP_ENABLED}: unexpected contents {text.strip()!r} "
                        "(expected the kernel's form, e.g. 'always madvise [never]')")
    return selected[0]


def read_thp(host: Transport) -> str:
    r = host.run(f"cat {THP_ENABLED}")
    if not r.ok:
        raise StepError(f"cannot read {THP_ENABLED}: {(r.stderr or r.stdout).strip() or f'rc {r.rc}'}")
    return parse_thp(r.stdout)


def write_thp(host: Transport, mode: str) -> None:
    r = host.run(f"tee {THP_ENABLED}", sudo=True, stdin=(mode + "\n").encode())
    if not r.ok:
        raise StepError(f"cannot write {THP_ENABLED}: {(r.stderr or r.stdout).strip() or f'rc {r.rc}'}")
    # The kernel answers at once; give a slow /sys a moment before calling it failed.
    for _ in range(20):
        try:
            if read_thp(host) == mode:
                return
        except StepError:
            pass
        time.sleep(0.05)
