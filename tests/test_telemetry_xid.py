"""XID events from kernel log text in each form the tools print.

The H200 recording has no Xid line (a healthy GPU); the lines below follow the
NVIDIA kernel module's documented `NVRM: Xid (PCI:dddd:bb:dd): code, ...` form,
in the line prefixes journalctl and dmesg really print (the recorded misc.txt
shows the dmesg prefix of this very driver's NVRM lines)."""
import time
from pathlib import Path

from console.hosts.local import LocalTransport
from console.telemetry.sample import GpuSample
from console.telemetry.xid import (
    KERNEL_LOG_COMMAND,
    KernelLogXids,
    XidLog,
    critical,
    parse_kernel_log_output,
    parse_xid_lines,
)

H200 = Path(__file__).parent / "data" / "gpu" / "h200"
SAMPLES = (GpuSample("n1", 0, 0, "nvidia-smi", pci_bus_id="00000000:18:00.0"),
           GpuSample("n1", 1, 0, "nvidia-smi", pci_bus_id="00000000:3B:00.0"))


def test_journalctl_short_unix():
    text = ("1795890123.456789 n1 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', "
            "name=<unknown>, GPU has fallen off the bus.\n"
            "1795890124.000001 n1 kernel: NVRM: GPU at PCI:0000:3b:00: GPU-1234\n"
            "1795890125.5 n1 kernel: NVRM: Xid (PCI:0000:18:00): 13, pid=4242, name=python3, "
            "Graphics SM Warp Exception on (GPC 0, TPC 1, SM 0)\n")
    a, b = parse_xid_lines(text, "n1", samples=SAMPLES)
    assert (a.time, a.pci_bus_id, a.gpu_index, a.code, a.critical) == \
        (1795890123.456789, "0000:3b:00", 1, 79, True)
    assert a.message == "pid='<unknown>', name=<unknown>, GPU has fallen off the bus."
    assert (b.gpu_index, b.code, b.critical) == (0, 13, False)
    assert critical([a, b]) == [a]


def test_dmesg_seconds_since_boot_use_boot_time():
    line = "[259199.999964] NVRM: Xid (PCI:0000:18:00): 48, An uncorrectable double bit error (DBE)"
    [e] = parse_xid_lines(line, "n1", boot_time=1_000_000.0, samples=SAMPLES)
    assert abs(e.time - (1_000_000.0 + 259199.999964)) < 1e-6
    assert (e.code, e.gpu_index) == (48, 0) and e.critical


def test_dmesg_ctime_iso_and_syslog_forms():
    now = time.mktime((2026, 11, 28, 18, 0, 0, 0, 0, -1))
    lines = ["[Sat Nov 28 17:15:04 2026] NVRM: Xid (PCI:0000:3b:00): 94, pid=1, Contained ECC error",
             "2026-11-28T17:15:04+0000 n1 kernel: NVRM: Xid (PCI:0000:3b:00): 95, Uncontained ECC error",
             "Nov 28 17:15:04 n1 kernel: NVRM: Xid (PCI:0000:3b:00): 63, Row remapping event",
             "Nov 28 17:15:04 n1 kernel: [ 12.5] NVRM: Xid (0000:3b:00): 64, Row remapping failure"]
    events = parse_xid_lines("\n".join(lines), "n1", now=now, samples=SAMPLES)
    assert [e.code for e in events] == [94, 95, 63, 64]
    assert all(e.critical and e.gpu_index == 1 for e in events)
    local = time.mktime((2026, 11, 28, 17, 15, 4, 0, 0, -1))
    assert events[0].time == local and events[2].time == local
    assert events[1].time == 1795886104.0  # the ISO line names its zone (UTC)


def test_lines_that_are_not_xids_or_are_broken_are_skipped():
    recorded_klog = (H200 / "misc.txt").read_text().split("== kernel log xid")[1]
    assert "NVRM:" in recorded_klog  # real NVRM lines, none of them an Xid
    assert parse_xid_lines(recorded_klog, "h") == []
    assert parse_xid_lines("NVRM: Xid (PCI:zz): 79\nNVRM: Xid (PCI:0000:3b:00): \x00", "h") == []


def test_unknown_bus_keeps_event_without_index():
    [e] = parse_xid_lines("1795890123.0 h kernel: NVRM: Xid (PCI:0000:99:00): 74, NVLink error", "h",
                          samples=SAMPLES)
    assert e.gpu_index is None and e.code == 74 and e.critical


def test_xid_log_dedupes_and_bounds():
    text = "[100.2] NVRM: Xid (PCI:0000:18:00): 79, off the bus"
    log = XidLog(maxlen=3)
    log.add(parse_xid_lines(text, "h", boot_time=1000.0))
    log.add(parse_xid_lines(text, "h", boot_time=1000.1))  # the same line read again later
    assert len(log.events()) == 1
    for i in range(5):
        log.add(parse_xid_lines(f"{1795890000 + 10 * i}.0 h kernel: NVRM: Xid (PCI:0000:18:00): 13, x",
                                "h"))
    assert [e.time for e in log.events()] == [1795890020.0, 1795890030.0, 1795890040.0]


def test_reader_script_markers():
    out = ("@@dsconsole-kernel-log dmesg\n@@dsconsole-kernel-log-uptime 100.5 1000100.5\n"
           "[ 50.0] NVRM: Xid (PCI:0000:3b:00): 79, off the bus\n")
    [e] = parse_kernel_log_output(out, "n1", samples=SAMPLES)[0]
    assert e.time == 1000050.0 and e.gpu_index == 1
    assert parse_kernel_log_output("@@dsconsole-kernel-log none\n", "n1")[1].startswith(
        "kernel log not readable")


def test_reader_script_falls_back_from_journalctl_to_dmesg(tmp_path):
    """The real script, run by /bin/sh, on a PATH where journalctl fails (needs root,
    say) and dmesg prints the driver's lines: it picks dmesg and converts times."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "journalctl").write_text("#!/bin/sh\necho 'Hint: no permission' >&2; exit 1\n")
    (bin_dir / "dmesg").write_text(
        "#!/bin/sh\necho '[    0.6] NVRM: loading NVIDIA UNIX Open Kernel Module'\n"
        "echo '[   42.5] NVRM: Xid (PCI:0000:3b:00): 79, pid=0, GPU has fallen off the bus.'\n")
    (bin_dir / "sudo").write_text("#!/bin/sh\necho 'sudo: a password is required' >&2; exit 1\n")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    t = LocalTransport("n1", env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    r = t.run(KERNEL_LOG_COMMAND)
    assert r.stdout.startswith("@@dsconsole-kernel-log dmesg\n")
    reader = KernelLogXids(t, "n1", interval_s=30)
    [e] = reader.read(SAMPLES)
    assert (e.code, e.gpu_index, reader.problem) == (79, 1, None)
    # boot time = clock - uptime, whenever both are read; the reader's clock is whole seconds
    assert abs(e.time - (time.time() - float(open("/proc/uptime").read().split()[0]) + 42.5)) < 2
    # nothing readable at all: a clear note, no events, no exception
    (bin_dir / "dmesg").write_text("#!/bin/sh\necho 'dmesg: read kernel buffer failed' >&2; exit 1\n")
    reader = KernelLogXids(t, "n1", interval_s=30)
    assert reader.read(SAMPLES) == ()
    assert "kernel log not readable" in reader.problem


def test_later_reads_ask_journalctl_only_for_what_is_new(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "journalctl").write_text(
        f"#!/bin/sh\necho \"$*\" >> {calls}\n"
        "echo '1795890123.5 n1 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid=0, GPU has fallen off the bus.'\n")
    (bin_dir / "journalctl").chmod(0o755)
    reader = KernelLogXids(LocalTransport("n1", env={"PATH": f"{bin_dir}:/usr/bin:/bin"}), "n1",
                           interval_s=0)
    before = int(time.time())
    for _ in range(3):
        [e] = reader.read(SAMPLES)  # the same event, read three times, remembered once
    after = int(time.time())
    assert (e.code, e.gpu_index) == (79, 1)
    first, second, third = calls.read_text().splitlines()
    assert "--since" not in first
    # from 120 s before the host's clock (`date +%s`) at the first read, whenever that was
    since = int(second.split("--since=@")[1])
    assert before - 120 <= since <= after - 120 and "--since=@" in third
    # the reader stops working (sudo revoked, say): found again from scratch, no exception
    (bin_dir / "journalctl").write_text("#!/bin/sh\nexit 1\n")
    assert reader.read(SAMPLES) == (e,)
    assert reader.problem is None or "kernel log" in reader.problem
