"""SimulatedHost: the demo site's nodes behind the Transport interface.

Its nvidia-smi output is checked field for field against the real H200 recording
in tests/data/gpu/h200/ (same fields, same value formats, same header and units).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.hosts.transport import HostUnreachable, Transport
from console.sim.clock import SimClock
from console.sim.gpu_fleet import SimGpuFleet
from console.sim.hosts import SimulatedHost

REC = Path(__file__).parent / "data" / "gpu" / "h200"
NODE = "gpu-node-0007"
THP = "/sys/kernel/mm/transparent_hugepage/enabled"


@pytest.fixture
def fleet():
    f = SimGpuFleet(seed=0, clock=SimClock(time_scale=1))
    f.add_node(NODE, gpus=8)
    return f


@pytest.fixture
def host(fleet):
    return SimulatedHost(NODE, fleet)


def _recorded():
    header = (REC / "query-all-header.csv").read_text().splitlines()
    names = [h.split(" [")[0] for h in header[0].split(", ")]
    return names, header[0], header[1].split(", "), (REC / "query-all.csv").read_text().splitlines()[0].split(", ")


def _kind(v: str) -> str:
    if v.startswith("[") or v == "N/A" or v == "":
        return "missing"
    for kind, rx in (("hex", r"0x[0-9A-F]+"), ("int", r"-?\d+"), ("dec2", r"\d+\.\d\d"),
                     ("time", r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{3}"), ("uuid", r"GPU-[0-9a-f-]{36}"),
                     ("busid", r"[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.\d"),
                     ("int+unit", r"-?\d+ [A-Za-z%]+"), ("dec2+unit", r"\d+\.\d\d [A-Za-z]+")):
        if re.fullmatch(rx, v):
            return kind
    return "word"


# Fields the simulation sets itself (the rest must read exactly as recorded).
SIMULATED = {"timestamp", "count", "serial", "uuid", "pci.bus_id", "pci.bus", "pci.device", "index",
             "temperature.gpu", "temperature.memory", "temperature.gpu.tlimit", "power.draw",
             "power.draw.average", "power.draw.instant", "memory.used", "memory.free",
             "clocks.current.video"}


def test_is_a_transport(host):
    assert isinstance(host, Transport) and host.name == NODE


def test_nvidia_smi_query_matches_the_recorded_format_field_for_field(host):
    names, _, _, recorded = _recorded()
    r = host.run(f"nvidia-smi --query-gpu={','.join(names)} --format=csv,noheader,nounits")
    assert r.rc == 0 and r.stderr == ""
    rows = r.stdout.splitlines()
    assert len(rows) == 8 and r.stdout.endswith("\n")
    for i, row in enumerate(rows):
        values = row.split(", ")
        assert len(values) == len(names)
        for name, ours, theirs in zip(names, values, recorded, strict=True):
            assert _kind(ours) == _kind(theirs), (name, ours, theirs)
            if name not in SIMULATED:
                assert ours == theirs, name
        assert values[names.index("index")] == str(i) and values[names.index("count")] == "8"
    idle = dict(zip(names, rows[0].split(", "), strict=True))
    assert idle["clocks_event_reasons.active"] == "0x0000000000000001"  # idle, as recorded
    assert idle["memory.total"] == "143771" and idle["power.limit"] == "700.00"


def test_nvidia_smi_header_and_units_as_the_driver_prints_them(host):
    names, header, recorded_units, _ = _recorded()
    r = host.run(f"nvidia-smi --query-gpu={','.join(names)} --format=csv")
    lines = r.stdout.splitlines()
    assert r.rc == 0 and lines[0] == header and len(lines) == 9
    for name, ours, theirs in zip(names, lines[1].split(", "), recorded_units, strict=True):
        assert _kind(ours) == _kind(theirs), (name, ours, theirs)
    # as a real H200 showed (benchmarks/sim_smi_check.py): nounits drops units from the values
    # only, the header keeps them; aliases are printed by their canonical name
    short = host.run("nvidia-smi --query-gpu=index,memory.used,clocks.sm --format=csv,nounits").stdout
    assert short.splitlines()[0] == "index, memory.used [MiB], clocks.current.sm [MHz]"
    assert re.fullmatch(r"0, \d+, \d+", short.splitlines()[1])
    assert host.run("nvidia-smi --query-gpu=index --format=noheader").stdout.splitlines()[:2] == ["0", "1"]


def test_nvidia_smi_unknown_field_is_the_drivers_error(host):
    recorded = (REC / "query-unknown-field.txt").read_text().split("rc=")[0]
    r = host.run("nvidia-smi --query-gpu=index,bogus.field,utilization.gpu --format=csv,noheader,nounits")
    assert r.rc == 2 and r.stdout == recorded
    r = host.run("nvidia-smi --query-gpu=x --format=csv")
    assert r.rc == 2 and r.stdout.startswith('Field "x" is not a valid field to query.')


def test_nvidia_smi_follows_the_fleet(host, fleet):
    fleet.set_load(NODE, 0, 0.9)
    fleet.set_models(NODE, {0: 100_000})
    fleet.inject_fault(NODE, 1, "xid79")
    fleet.inject_fault(NODE, 2, "ecc")
    fleet.inject_fault(NODE, 3, "thermal")
    q = "index,utilization.gpu,memory.used,clocks_event_reasons.active,ecc.errors.uncorrected.volatile.total," \
        "remapped_rows.pending,clocks_event_reasons.sw_thermal_slowdown"
    rows = [r.split(", ") for r in host.run(f"nvidia-smi --query-gpu={q} --format=csv,noheader,nounits")
            .stdout.splitlines()]
    assert 85 <= int(rows[0][1]) <= 95 and 100_000 < int(rows[0][2]) < 101_000
    assert rows[0][3] == "0x0000000000000000"
    assert rows[1][0] == "1" and set(rows[1][1:]) == {"[GPU is lost]"}
    assert rows[2][4] == "1" and rows[2][5] == "Yes"
    assert rows[3][3] == "0x0000000000000060" and rows[3][6] == "Active"
    assert host.run("nvidia-smi -L").stdout.splitlines()[0].startswith("GPU 0: NVIDIA H200 (UUID: GPU-")


def test_journalctl_shows_injected_xids_as_nvrm_lines(host, fleet):
    assert "Xid" not in host.run("journalctl -k --no-pager").stdout
    fleet.inject_fault(NODE, 4, "xid79")
    r = host.run("journalctl -k --no-pager")
    xids = re.findall(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) kernel: NVRM: "
                      r"Xid \(PCI:([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2})\): "
                      r"(\d+), .*GPU has fallen off the bus\.$", r.stdout, re.M)
    bus = fleet.read(NODE).samples[4].pci_bus_id  # 00000000:9A:00.0
    assert xids == [(NODE, f"0000:{bus.split(':')[1].lower()}:00", "79")]
    assert "NVRM: Xid" in host.run("dmesg").stdout
    assert host.run("journalctl -k --no-pager | grep -c Xid").stdout == "1\n"


def test_files_read_write_and_directories(host):
    assert b"GRUB_CMDLINE_LINUX_DEFAULT=" in host.read("/etc/default/grub")
    host.write("/etc/sysctl.d/99-dsconsole.conf", b"vm.swappiness = 1\n", mode=0o600)
    assert host.read("/etc/sysctl.d/99-dsconsole.conf") == b"vm.swappiness = 1\n"
    assert host.modes["/etc/sysctl.d/99-dsconsole.conf"] == 0o600
    assert host.run("cat /etc/sysctl.d/99-dsconsole.conf").stdout == "vm.swappiness = 1\n"
    with pytest.raises(FileNotFoundError):
        host.read("/etc/nope.conf")
    with pytest.raises(FileNotFoundError):
        host.write("/etc/no-such-dir/x.conf", b"x")
    assert host.run("cat /etc/nope.conf").rc == 1
    assert host.run("mkdir -p /etc/no-such-dir && echo hi > /etc/no-such-dir/x.conf").rc == 0
    assert host.read("/etc/no-such-dir/x.conf") == b"hi\n"
    assert host.exists("/etc/sysctl.d") and not host.exists("/etc/nope.conf")


def test_sysctl_reads_and_writes_only_the_named_key(host):
    assert host.run("sysctl -n vm.swappiness").stdout == "60\n"
    assert host.read("/proc/sys/vm/swappiness") == b"60\n"
    before = {k: v for k, v in host.sysctls.items() if k != "vm.swappiness"}
    r = host.run("sysctl -w vm.swappiness=1")
    assert r.rc == 0 and r.stdout == "vm.swappiness = 1\n"
    assert host.run("cat /proc/sys/vm/swappiness").stdout == "1\n"
    assert {k: v for k, v in host.sysctls.items() if k != "vm.swappiness"} == before
    r = host.run("sysctl -n vm.no_such_key")
    assert r.rc == 1 and r.stderr == "sysctl: cannot stat /proc/sys/vm/no_such_key: No such file or directory\n"
    assert host.run("sysctl -w vm.swappiness=lots").rc == 1
    assert host.run("sysctl -n vm.swappiness").stdout == "1\n"
    # a drop-in file is applied key by key with -p
    host.write("/etc/sysctl.d/90-x.conf", b"# tuned\nvm.max_map_count = 262144\n")
    assert host.run("sysctl -p /etc/sysctl.d/90-x.conf").stdout == "vm.max_map_count = 262144\n"
    assert host.read("/proc/sys/vm/max_map_count") == b"262144\n"


def test_transparent_hugepages_in_the_kernels_form(host):
    assert host.read(THP) == b"always [madvise] never\n"
    host.write(THP, b"never")
    assert host.read(THP) == b"always madvise [never]\n"
    assert host.run(f"echo always > {THP}").rc == 0
    assert host.run(f"cat {THP}").stdout == "[always] madvise never\n"
    r = host.run(f"echo sometimes | sudo tee {THP}")
    assert r.rc == 1 and "Invalid argument" in r.stderr
    with pytest.raises(OSError):
        host.write(THP, b"[never]")
    assert host.read(THP) == b"[always] madvise never\n"


def test_small_commands_and_unknown_ones(host):
    assert host.run("uname -r").stdout == "5.15.0-126-generic\n"
    assert host.run("hostname").stdout == f"{NODE}\n"
    r = host.run("frobnicate --now")
    assert r.rc == 127 and r.stderr == "bash: line 1: frobnicate: command not found\n"
    assert host.run("false || echo fallback").stdout == "fallback\n"
    assert host.run("false && echo never").stdout == ""
    assert host.run("grep -q never /etc/default/grub").rc == 1
    assert host.run("command -v nvidia-smi").rc == 0 and host.run("command -v vllm").rc == 1
    assert host.history[-1] == "command -v vllm"


def test_extensible_with_new_commands(host):
    from console.hosts.transport import CommandResult
    host.register_command("nproc", lambda h, argv, stdin: CommandResult(0, "224\n", ""))
    assert host.run("nproc").stdout == "224\n"
    assert SimulatedHost("other").run("nproc").rc == 127  # per host, not global


def test_host_without_gpus_and_unreachable_host():
    bare = SimulatedHost("login-01")
    assert bare.run("nvidia-smi --query-gpu=index --format=csv").rc == 9
    bare.set_reachable(False)
    with pytest.raises(HostUnreachable):
        bare.run("true")
    with pytest.raises(HostUnreachable):
        bare.read("/etc/hostname")


def test_console_nvidia_smi_source_reads_the_simulated_host_like_the_fleet():
    """The console's own nvidia-smi telemetry over a SimulatedHost sees what the
    fleet simulates (a frozen clock: no noise between the two readings)."""
    from console.telemetry.nvidia_smi import NvidiaSmiSource

    fleet = SimGpuFleet(seed=5, clock=SimClock(frozen=True))
    fleet.add_node(NODE)
    fleet.set_models(NODE, {0: 70_000})
    fleet.set_load(NODE, 0, 0.7)
    fleet.inject_fault(NODE, 2, "thermal")
    fleet.inject_fault(NODE, 3, "xid79")
    fleet.inject_fault(NODE, 5, "ecc")
    host = SimulatedHost(NODE, fleet)
    seen, truth = NvidiaSmiSource(host).read(), fleet.read(NODE)
    assert seen.state == "ok" and len(seen.samples) == 8
    assert sorted(x.code for x in seen.xids) == [79, 94]
    for a, b in zip(seen.samples, truth.samples, strict=True):
        for f in ("uuid", "pci_bus_id", "util_pct", "mem_used_mib", "mem_total_mib", "temp_c",
                  "temp_slowdown_c", "power_w", "power_limit_w", "sm_clock_mhz", "clock_event_reasons",
                  "ecc_uncorrected_volatile", "remapped_rows_pending", "persistence_mode", "processes"):
            assert getattr(a, f) == getattr(b, f), (a.index, f)
    assert seen.samples[3].util_pct is None and seen.samples[3].field_errors["util_pct"] == "gpu is lost"
    assert seen.samples[2].thermal_slowdown and seen.samples[5].health_flags == ("ECC", "REMAP")


def test_nvidia_smi_xml_and_compute_apps(host, fleet):
    import xml.etree.ElementTree as ET

    fleet.set_models(NODE, {1: 50_000})
    root = ET.fromstring(host.run("nvidia-smi -q -x").stdout)
    gpus = root.findall("gpu")
    assert root.findtext("attached_gpus") == "8" and len(gpus) == 8
    assert gpus[1].get("id") == fleet.read(NODE).samples[1].pci_bus_id
    assert gpus[1].findtext("fb_memory_usage/used") == "50512 MiB"
    assert gpus[0].findtext("temperature/gpu_temp_slow_tlimit_threshold") == "-2 C"
    assert gpus[1].find("processes/process_info/pid") is not None
    r = host.run("nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory,process_name --format=csv,noheader,nounits")
    (row,) = r.stdout.splitlines()
    uuid, pid, mem, name = row.split(", ")
    assert uuid == fleet.read(NODE).samples[1].uuid and mem == "50512" and name == "python3"
    assert host.run("nvidia-smi --query-compute-apps=bogus --format=csv").rc == 2
