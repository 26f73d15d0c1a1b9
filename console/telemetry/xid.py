"""XID events: `NVRM: Xid` lines of a host's kernel log, parsed and remembered.

The NVIDIA kernel module logs GPU errors as, for example:
    NVRM: Xid (PCI:0000:3b:00): 79, pid=0, name=<unknown>, GPU has fallen off the bus.
We read them over the host's Transport from `journalctl -k` (asked for in
short-unix form: exact times), falling back to `dmesg` (seconds since boot,
converted with /proc/uptime) when journalctl is missing, has no kernel messages
or may not be read, and to `sudo -n` for either where reading needs root.
Codes in CRITICAL_XIDS (48, 63, 64, 74, 79, 94, 95) mean the GPU needs attention.
"""
from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Iterable, Sequence

from console.hosts.transport import CommandResult, Transport
from console.lazy_regex import LazyRegex
from console.telemetry.sample import CRITICAL_XIDS, GpuSample, XidEvent  # noqa: F401 (re-export)
from console.telemetry.smi_values import normalize_bus_id

_XID = LazyRegex(
    r"NVRM: Xid \((?:PCI:)?(?P<bus>[0-9a-fA-F]{1,8}:[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}(?:\.[0-7])?)\)"
    r":\s*(?P<code>\d+)(?:\s*,\s*(?P<msg>.*))?")
# Time stamps a kernel log line can start with, by the tool that printed it.
_UNIX = LazyRegex(r"^\s*(\d{9,11}(?:\.\d+)?)\s")                       # journalctl -o short-unix
_MONO = LazyRegex(r"^\s*\[\s*(\d+(?:\.\d+)?)\]")                      # dmesg
_CTIME = LazyRegex(r"^\s*\[(\w{3} \w{3}\s+\d{1,2} \d\d:\d\d:\d\d \d{4})\]")  # dmesg -T
_ISO = LazyRegex(r"^\s*(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s")
_SYSLOG = LazyRegex(r"^\s*(\w{3}\s+\d{1,2} \d\d:\d\d:\d\d)\s")         # journalctl short, syslog

# One command: the first kernel-log reader that works and has messages.
KERNEL_LOG_READERS = (
    "journalctl -k -b --no-pager -o short-unix -q",
    "sudo -n journalctl -k -b --no-pager -o short-unix -q",
    "dmesg",
    "sudo -n dmesg",
)
_MARK = "@@dsconsole-kernel-log"
KERNEL_LOG_COMMAND = (
    "for m in " + " ".join(f"'{c}'" for c in KERNEL_LOG_READERS) + "; do "
    "out=$($m 2>/dev/null) || continue; [ -n \"$out\" ] || continue; "
    f"echo \"{_MARK} $m\"; echo \"{_MARK}-uptime $(cut -d' ' -f1 /proc/uptime) $(date +%s)\"; "
    "printf '%s\\n' \"$out\" | grep -F 'NVRM: Xid' | tail -n 200; exit 0; done; "
    f"echo \"{_MARK} none\"")


def incremental_command(reader: str, since: int) -> str:
    """Read again with the reader that worked: journalctl only from `since`
    (host clock, unix s) on, as a long-running host's journal is big; dmesg's
    ring buffer is small. Exit 3 when the reader no longer works."""
    arg = f" --since=@{since}" if "journalctl" in reader else ""
    return (f"out=$({reader}{arg} 2>/dev/null) || exit 3; echo \"{_MARK} {reader}\"; "
            f"echo \"{_MARK}-uptime $(cut -d' ' -f1 /proc/uptime) $(date +%s)\"; "
            "printf '%s\\n' \"$out\" | grep -F 'NVRM: Xid' | tail -n 200; exit 0")


def _reader_and_clock(stdout: str) -> tuple[str | None, float | None]:
    """Which reader the script used and the host's clock then, from its markers."""
    reader = host_now = None
    for line in (stdout or "").split("\n"):
        if line.startswith(_MARK + "-uptime "):
            try:
                host_now = float(line.split()[2])
            except (IndexError, ValueError):
                pass
        elif line.startswith(_MARK + " "):
            reader = line[len(_MARK) + 1:].strip()
    return (None if reader == "none" else reader), host_now


def _line_time(line: str, boot_time: float | None, now: float) -> float:
    """Best-effort unix time of a kernel log line (`now` when it has none)."""
    m = _UNIX.match(line)
    if m:
        return float(m.group(1))
    m = _MONO.match(line)
    if m:
        return (boot_time + float(m.group(1))) if boot_time is not None else now
    try:
        m = _CTIME.match(line)
        if m:
            return time.mktime(time.strptime(m.group(1).replace("  ", " "), "%a %b %d %H:%M:%S %Y"))
        m = _ISO.match(line)
        if m:
            return _dt.datetime.fromisoformat(m.group(1).replace(",", ".").replace("Z", "+00:00")).timestamp()
        m = _SYSLOG.match(line)
        if m:  # no year in this form: assume this year, last year if that is in the future
            year = time.localtime(now).tm_year
            t = time.mktime(time.strptime(f"{year} {m.group(1)}", "%Y %b %d %H:%M:%S"))
            return t if t <= now + 86400 else time.mktime(
                time.strptime(f"{year - 1} {m.group(1)}", "%Y %b %d %H:%M:%S"))
    except (ValueError, OverflowError):
        pass
    return now


def parse_xid_lines(text: str, host: str, *, boot_time: float | None = None,
                    now: float | None = None,
                    samples: Sequence[GpuSample] = ()) -> list[XidEvent]:
    """XID events in kernel log text (journalctl short-unix / short / iso, dmesg,
    dmesg -T). GPU indexes come from the samples' PCI bus ids. Never raises:
    a line that does not parse is skipped."""
    now = time.time() if now is None else now
    by_bus = {normalize_bus_id(s.pci_bus_id): s.index for s in samples if s.pci_bus_id}
    events: list[XidEvent] = []
    for line in (text or "").splitlines():
        m = _XID.search(line)
        if not m:
            continue
        try:
            bus = m.group("bus")
            events.append(XidEvent(
                host=host, time=_line_time(line, boot_time, now), pci_bus_id=bus,
                gpu_index=by_bus.get(normalize_bus_id(bus)), code=int(m.group("code")),
                message=(m.group("msg") or "").strip()))
        except (ValueError, OverflowError):
            continue
    return events


def with_gpu_indexes(events: Iterable[XidEvent], samples: Sequence[GpuSample]) -> list[XidEvent]:
    """Events whose GPU index was unknown, resolved against (newer) samples."""
    by_bus = {normalize_bus_id(s.pci_bus_id): s.index for s in samples if s.pci_bus_id}
    out = []
    for e in events:
        if e.gpu_index is None and normalize_bus_id(e.pci_bus_id) in by_bus:
            e = XidEvent(e.host, e.time, e.pci_bus_id, by_bus[normalize_bus_id(e.pci_bus_id)],
                         e.code, e.message)
        out.append(e)
    return out


def parse_kernel_log_output(stdout: str, host: str, *, samples: Sequence[GpuSample] = (),
                            now: float | None = None) -> tuple[list[XidEvent], str | None]:
    """Output of KERNEL_LOG_COMMAND -> (events, problem or None)."""
    reader = None
    boot_time = None
    lines = []
    for line in (stdout or "").splitlines():
        if line.startswith(_MARK + "-uptime "):
            try:
                uptime, host_now = line.split()[1:3]
                boot_time = float(host_now) - float(uptime)
            except ValueError:
                pass
        elif line.startswith(_MARK + " "):
            reader = line[len(_MARK) + 1:].strip()
        else:
            lines.append(line)
    if reader is None:
        return [], "kernel log: no answer from the reader script"
    if reader == "none":
        return [], ("kernel log not readable (journalctl -k and dmesg gave nothing; "
                    "they may need root and sudo -n was refused)")
    return parse_xid_lines("\n".join(lines), host, boot_time=boot_time, now=now,
                           samples=samples), None


class XidLog:
    """The XID events seen on one host, oldest first, without duplicates (the
    same kernel log is read again and again), bounded."""

    SAME_EVENT_S = 2.0  # dmesg-derived times of one line wobble between reads (uptime rounding)

    def __init__(self, maxlen: int = 100):
        self._maxlen = maxlen
        self._events: list[XidEvent] = []
        self._lock = threading.Lock()

    def add(self, events: Iterable[XidEvent]) -> None:
        with self._lock:
            for e in events:
                key = (normalize_bus_id(e.pci_bus_id), e.code, e.message)
                if any((normalize_bus_id(o.pci_bus_id), o.code, o.message) == key
                       and abs(o.time - e.time) <= self.SAME_EVENT_S for o in self._events):
                    continue
                self._events.append(e)
            self._events.sort(key=lambda e: e.time)
            del self._events[:-self._maxlen]

    def events(self) -> tuple[XidEvent, ...]:
        with self._lock:
            return tuple(self._events)


class KernelLogXids:
    """XID events of one host, read from its kernel log through its Transport
    at most every `interval_s` (None: never), remembered in an XidLog."""

    def __init__(self, transport: Transport, host: str, *, interval_s: float | None = 30.0,
                 timeout: float = 15.0) -> None:
        self.transport = transport
        self.host = host
        self.interval_s = interval_s
        self.timeout = timeout
        self.log = XidLog()
        self.problem: str | None = None  # why events could not be read (None: they could)
        self._at: float | None = None
        self._reader: str | None = None     # the reader that worked on this host
        self._host_now: float | None = None  # the host's clock at the last read
        self._plain = False                  # no full shell there: plain journalctl only

    def read(self, samples: Sequence[GpuSample] = ()) -> tuple[XidEvent, ...]:
        """Every event remembered, GPU indexes resolved against `samples`. Never raises."""
        now = time.time()
        if self.interval_s is not None and (self._at is None or now - self._at >= self.interval_s):
            self._at = now
            try:
                events, self.problem = parse_kernel_log_output(self._run().stdout, self.host,
                                                               samples=samples)
                self.log.add(events)
            except Exception as e:  # noqa: BLE001 - telemetry still counts without XIDs
                self.problem = f"kernel log: {e}"
        return tuple(with_gpu_indexes(self.log.events(), samples))

    def _run(self) -> CommandResult:
        if self._plain:
            return self._run_plain()
        if self._reader and self._host_now is not None:
            # 2 minutes of overlap: the log dedupes what was seen before
            r = self.transport.run(incremental_command(self._reader, int(self._host_now) - 120),
                                   timeout=self.timeout)
            if r.rc == 0 and _MARK in r.stdout:
                self._host_now = _reader_and_clock(r.stdout)[1] or self._host_now
                return r
        r = self.transport.run(KERNEL_LOG_COMMAND, timeout=self.timeout)
        if _MARK not in r.stdout:
            # not a full shell (the demo's simulated hosts): ask journalctl plainly, always
            self._plain = True
            return self._run_plain()
        self._reader, self._host_now = _reader_and_clock(r.stdout)
        return r

    def _run_plain(self) -> CommandResult:
        r = self.transport.run(KERNEL_LOG_READERS[0], timeout=self.timeout)
        return CommandResult(r.rc, f"{_MARK} {KERNEL_LOG_READERS[0]}\n{r.stdout}" if r.rc == 0
                             else "", r.stderr)


def critical(events: Iterable[XidEvent]) -> list[XidEvent]:
    return [e for e in events if e.code in CRITICAL_XIDS]


__all__ = ["CRITICAL_XIDS", "KERNEL_LOG_COMMAND", "KernelLogXids", "XidLog", "critical",
           "incremental_command", "parse_kernel_log_output",
           "parse_xid_lines", "with_gpu_indexes"]
