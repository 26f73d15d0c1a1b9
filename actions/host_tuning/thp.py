"""Transparent hugepages: runtime through /sys/kernel/mm/transparent_hugepage/enabled,
persistent through transparent_hugepage=MODE on GRUB_CMDLINE_LINUX in
/etc/default/grub. update-grub and the reboot are reported, not done (unless
the update_grub target asks for update-grub; dsconsole never reboots a host)."""
from __future__ import annotations

from console.hosts.transport import Transport

from ..step import BeforeState, SettingStep, StepError
from . import grub
from .knobs import THP_ENABLED, read_thp, write_thp

PARAM = "transparent_hugepage"


class ThpStep(SettingStep):
    id = "thp"
    files = (grub.GRUB_DEFAULT,)
    runtime_keys = (THP_ENABLED,)

    def __init__(self, host: Transport, target: str, update_grub: bool = False):
        super().__init__(host)
        self.target = target
        self.update_grub = update_grub
        self.title = f"transparent hugepages {target}"

    def desired_file(self, path: str, current: bytes | None) -> bytes | None:
        if current is None:
            return None  # no GRUB here: nothing persistent we can manage (see notes)
        text = current.decode("utf-8", "surrogateescape")
        if grub.get_param(text, PARAM) == self.target:
            return current
        return grub.set_param(text, PARAM, self.target).encode("utf-8", "surrogateescape")

    def read_runtime(self, key: str) -> str:
        return read_thp(self.host)

    def write_runtime(self, key: str, value: str) -> None:
        write_thp(self.host, value)

    def desired_runtime(self, key: str, current: str) -> str:
        return self.target

    def show_runtime(self, key: str, value: str) -> str:
        return f"[{value}]"

    def notes_for(self, before: BeforeState) -> tuple[str, ...]:
        current = before.files.get(grub.GRUB_DEFAULT)
        if current is None:
            return (f"no {grub.GRUB_DEFAULT} on this host: the persistent setting is not managed; "
                    f"put {PARAM}={self.target} on the kernel command line of its boot loader",)
        notes = []
        text = current.decode("utf-8", "replace")
        other = grub.default_line_param(text, PARAM)
        if other is not None and other != self.target:
            notes.append(f"GRUB_CMDLINE_LINUX_DEFAULT sets {PARAM}={other}, which comes later on the "
                         f"kernel command line and wins: remove it there")
        return tuple(notes)

    def followup_notes(self, changing: list[str]) -> tuple[str, ...]:
        if grub.GRUB_DEFAULT not in changing:
            return ()
        return ("apply runs update-grub; a reboot is still needed" if self.update_grub else
                "after apply: update-grub and a reboot are needed (dsconsole does not run them "
                "unless asked with --update-grub)",)

    def after_file_change(self, changed: list[str]) -> tuple[str, ...]:
        if grub.GRUB_DEFAULT not in changed:
            return ()
        if not self.update_grub:
            return ("update-grub and a reboot are needed for the kernel command line to change",)
        r = self.host.run("update-grub", sudo=True, timeout=120)
        if r.rc == 127:
            r = self.host.run("grub2-mkconfig -o /boot/grub2/grub.cfg", sudo=True, timeout=120)
        if not r.ok:
            raise StepError(f"update-grub failed: {(r.stderr or r.stdout).strip()[-300:] or f'rc {r.rc}'}")
        return ("update-grub ran; a reboot is needed for the kernel command line to change",)
