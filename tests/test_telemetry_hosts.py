"""GPU telemetry from real sshd test hosts (tests/testhosts.py) through
SshTransport: direct and through a ProxyJump host, XIDs from the host's kernel
log, a host whose sshd is killed mid-poll, and `dsconsole gpus --site`."""
import json
from functools import partial

import pytest

from console.cli import main as cli_main
from console.hosts import known_hosts
from console.telemetry.nvidia_smi import NvidiaSmiSource
from console.telemetry.poller import TelemetryPoller
from tests.waiting import wait_for

pytestmark = [pytest.mark.hosts, pytest.mark.timeout(180)]

# Kernel log lines in the NVIDIA module's documented form, served by a journalctl
# placed on the test host's PATH (the H200 recording is of a healthy GPU: no Xid).
FAKE_JOURNALCTL = """#!/bin/sh
echo "1795890000.000001 th kernel: NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  580.159.04"
echo "1795890123.456789 th kernel: NVRM: Xid (PCI:0000:00:07): 79, pid='<unknown>', name=<unknown>," \
     "GPU has fallen off the bus."
echo "1795890124.5 th kernel: NVRM: Xid (PCI:0000:00:06): 13, pid=4242, name=python3, Graphics Exception"
"""


wait_until = partial(wait_for, timeout=60.0)


def test_telemetry_direct_and_through_a_jump_host(test_hosts):
    [bastion] = test_hosts.start(1, names=["bastion"])
    [inner] = test_hosts.start(1, behind=bastion, login="ops", names=["inner"],
                               gpu_variant={"gpus": 8, "set": {"utilization.gpu": "97"},
                                            "gpu": {"1": {"ecc.errors.uncorrected.volatile.total": "3"}}})
    inner.sh("cat > /usr/local/bin/journalctl && chmod 755 /usr/local/bin/journalctl",
             input=FAKE_JOURNALCTL, check=True)
    direct = NvidiaSmiSource(bastion.transport()).read()
    assert direct.state == "ok", direct.error
    [s] = direct.samples
    assert (s.host, s.name, s.temp_c, s.temp_slowdown_c, s.mem_total_mib) == \
        ("bastion", "NVIDIA H200", 32.0, 89.0, 143771.0)

    via = NvidiaSmiSource(inner.transport())  # SshTransport with jump=bastion's transport
    assert via.transport.jump is not None
    tel = via.read()
    assert tel.state == "ok", tel.error
    assert [s.util_pct for s in tel.samples] == [97.0] * 8
    assert tel.samples[1].health_flags == ("ECC",) and tel.samples[0].health_flags == ()
    # XIDs from the inner host's kernel log, GPU index from the PCI bus id
    assert [(x.code, x.gpu_index, x.critical) for x in tel.xids] == [(79, 1, True), (13, 0, False)]
    assert tel.xids[0].time == 1795890123.456789 and tel.notes == ()


def test_sshd_killed_mid_poll_others_keep_updating_and_it_recovers(test_hosts):
    hosts = test_hosts.start(3)
    victim = hosts[1]
    # the victim's nvidia-smi answers slowly, so killing sshd lands inside a poll
    victim.sh("echo '{\"delay_s\": 1.5}' > /etc/dsconsole-fake-gpu.json", check=True)
    sources = [NvidiaSmiSource(h.transport(connect_timeout=2), xid_interval_s=None, timeout=10)
               for h in hosts]
    poller = TelemetryPoller(sources, interval_s=0.1, history=50)
    poller.start()
    try:
        wait_until(lambda: all(s.state == "ok" for s in poller.snapshot().values()),
                   what="first good round of every host")
        last_ok = poller.snapshot()[victim.name].last_ok
        # wait for a poll in flight on the victim: its nvidia-smi is running
        wait_until(lambda: victim.sh("pgrep -f '[n]vidia-smi --query-gpu'").returncode == 0,
                   what="a poll in flight")
        victim.kill_sshd()
        wait_until(lambda: poller.snapshot()[victim.name].state == "unreachable",
                   what="victim shown unreachable")
        down = poller.snapshot()[victim.name]
        assert down.stale and down.last_ok is not None and down.last_ok >= last_ok
        assert down.last_good.samples[0].name == "NVIDIA H200"  # its last data, kept
        assert down.age_s() >= 0
        # the others keep updating meanwhile
        counts = {h.name: poller.polls(h.name) for h in hosts}
        wait_until(lambda: all(poller.polls(h.name) >= counts[h.name] + 3
                               for h in hosts if h is not victim), what="others polled on")
        others = poller.snapshot()
        assert all(others[h.name].state == "ok" for h in hosts if h is not victim)
        assert poller.snapshot()[victim.name].state == "unreachable"
        assert poller.snapshot()[victim.name].last_ok == down.last_ok  # age keeps growing
        # sshd back: the victim recovers by itself
        victim.sh("rm -f /etc/dsconsole-fake-gpu.json", check=True)
        victim.start_sshd()
        wait_until(lambda: poller.snapshot()[victim.name].state == "ok", what="recovery")
        assert poller.snapshot()[victim.name].last_ok > down.last_ok
    finally:
        poller.stop()


def _site(tmp_path, test_hosts, hosts, extra=""):
    lines = ["name: lab", "hosts:"]
    for h in hosts:
        lines += [f"  - name: {h.name}", f"    address: {h.address}", f"    user: {h.user}",
                  f"    identity_file: {h.identity_file}"]
    path = tmp_path / "site.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def test_gpus_command_over_ssh(test_hosts, tmp_path, capsys):
    a, b, c = test_hosts.start(3, names=["gpu-a", "gpu-b", "gpu-c"])
    site = _site(tmp_path, test_hosts, [a, b, c])
    own = known_hosts.own_path()
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text(f"{a.known_hosts_line}\n{b.known_hosts_line}\n")  # c is not trusted
    c_fp = c.fingerprint
    b.stop_sshd()

    assert cli_main(["gpus", "--site", str(site), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    states = {h["host"]: h for h in out["hosts"]}
    assert states["gpu-a"]["state"] == "ok"
    assert states["gpu-a"]["gpus"][0]["name"] == "NVIDIA H200"
    assert states["gpu-b"]["state"] == "unreachable" and states["gpu-b"]["error"]
    assert states["gpu-c"]["state"] == "untrusted-key" and c_fp in states["gpu-c"]["error"]
    assert out["ok"] is False

    assert cli_main(["gpus", "--site", str(site), "--hosts", "gpu-a"]) == 0
    text = capsys.readouterr().out
    assert "gpu-a" in text and "NVIDIA H200" in text and "1/1 host(s) answered" in text

    assert cli_main(["gpus", "--site", str(site), "--hosts", "gpu-a,nope"]) == 2
    assert "no host named 'nope'" in capsys.readouterr().err


def test_hung_nvidia_smi_and_a_changed_host_key(test_hosts):
    [h] = test_hosts.start(1)
    src = NvidiaSmiSource(h.transport(connect_timeout=3), timeout=1.5, xid_interval_s=None)
    assert src.read().state == "ok"
    # nvidia-smi hangs (as on a GPU that fell off the bus) while SSH still answers
    h.sh("echo '{\"delay_s\": 30}' > /etc/dsconsole-fake-gpu.json", check=True)
    tel = src.read()
    assert tel.state == "error"
    assert tel.error.startswith("no answer from nvidia-smi:") and "hung GPU or driver" in tel.error
    h.sh("rm /etc/dsconsole-fake-gpu.json; pkill -f '[n]vidia-smi --query-gpu' || true")
    # the host comes back with another key: refused, loudly, with the new fingerprint
    h.rekey()
    tel = NvidiaSmiSource(h.transport(connect_timeout=3), xid_interval_s=None).read()
    assert tel.state == "untrusted-key"
    assert tel.error.startswith("CHANGED host key") and h.fingerprint in tel.error
