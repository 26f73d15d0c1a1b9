"""vm.swappiness: persistent through a dsconsole file in /etc/sysctl.d, runtime
through `sysctl -w vm.swappiness=N` for that key only."""
from __future__ import annotations

import posixpath
import re

from console.hosts.transport import Transport

from ..step import BeforeState, SettingStep
from .knobs import read_sysctl, write_sysctl

SWAPPINESS_FILE = "/etc/sysctl.d/60-dsconsole-swappiness.conf"
KEY = "vm.swappiness"


def file_value(data: bytes | None) -> int | None:
    """The vm.swappiness a sysctl.d file sets (last assignment wins), or None."""
    if data is None:
        return None
    value = None
    for line in data.decode("utf-8", "replace").splitlines():
        m = re.match(r"^\s*-?\s*vm[./]swappiness\s*=\s*(\d+)\s*$", line)
        if m:
            value = int(m.group(1))
    return value


class SwappinessStep(SettingStep):
    id = "swappiness"
    files = (SWAPPINESS_FILE,)
    runtime_keys = (KEY,)

    def __init__(self, host: Transport, target: int):
        super().__init__(host)
        self.target = target
        self.title = f"vm.swappiness={target}"

    def desired_file(self, path: str, current: bytes | None) -> bytes | None:
        if file_value(current) == self.target:
            return current  # already right; keep the operator's comments
        return (f"# Written by dsconsole host tuning (deployment guide: keep GPU hosts from swapping).\n"
                f"# Applied at boot by systemd-sysctl; remove this file to undo.\n"
                f"{KEY} = {self.target}\n").encode()

    def read_runtime(self, key: str) -> str:
        return read_sysctl(self.host, key)

    def write_runtime(self, key: str, value: str) -> None:
        write_sysctl(self.host, key, value)

    def desired_runtime(self, key: str, current: str) -> str:
        return str(self.target)

    def notes_for(self, before: BeforeState) -> tuple[str, ...]:
        """systemd-sysctl reads all sysctl.d files in file-name order and the
        last assignment wins (/etc/sysctl.conf comes last, as 99-sysctl.conf):
        a later file setting another value undoes ours at the next boot. We
        do not edit other people's files; we say which one wins."""
        ours = posixpath.basename(SWAPPINESS_FILE)
        r = self.host.run("ls /etc/sysctl.d")
        later = sorted(n for n in r.stdout.split() if n.endswith(".conf") and n > ours) if r.ok else []
        paths = [f"/etc/sysctl.d/{n}" for n in later if n != "99-sysctl.conf"] + ["/etc/sysctl.conf"]
        notes = []
        for path in paths:
            try:
                value = file_value(self.host.read(path, sudo=True))
            except FileNotFoundError:
                continue
            if value is not None and value != self.target:
                notes.append(f"{path} sets {KEY} = {value} and is read after {SWAPPINESS_FILE}: "
                             f"it wins at boot; remove that line")
        return tuple(notes)
