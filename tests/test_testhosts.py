"""The test hosts fixture itself (tests/testhosts.py): real sshd hosts in
namespaces, isolated from this machine, cleaned up without a trace."""
import os
import socket
import subprocess

import pytest

from tests import testhosts

pytestmark = pytest.mark.hosts

SWAPPINESS = "/proc/sys/vm/swappiness"
THP = "/sys/kernel/mm/transparent_hugepage/enabled"
DEFRAG = "/sys/kernel/mm/transparent_hugepage/defrag"


def _read(path):
    with open(path) as f:
        return f.read()


def _ssh(test_hosts, host, cmd):
    """The real OpenSSH client, configured only by the fixture's files."""
    return subprocess.run(["ssh", "-F", str(test_hosts.ssh_config_file), host.name, cmd],
                          capture_output=True, text=True, timeout=30)


def test_each_host_has_its_own_name_address_and_sshd(test_hosts):
    hosts = test_hosts.start(3)
    assert [h.name for h in hosts] == ["th1", "th2", "th3"]
    assert len({h.address for h in hosts}) == 3
    assert len({h.fingerprint for h in hosts}) == 3
    for h in hosts:
        assert h.sh("hostname").stdout.strip() == h.name
        assert h.address.startswith("10.200.")
        # reachable from here with OpenSSH's own client, through the fixture's
        # ssh_config and known_hosts (StrictHostKeyChecking yes)
        p = _ssh(test_hosts, h, "hostname; id -un; ip -4 -o addr show scope global")
        assert p.returncode == 0, p.stderr
        name, user, addr = p.stdout.splitlines()
        assert (name, user) == (h.name, "root")
        assert f"inet {h.address} " in addr
        assert h.fingerprint.startswith("SHA256:") and h.known_hosts_line.startswith(h.address)
    # a host reaches this machine at its gateway address
    with socket.create_server(("0.0.0.0", 0)) as srv:
        srv.settimeout(20)
        port = srv.getsockname()[1]
        hosts[1].sh(f"bash -c 'echo hello from $(hostname) > /dev/tcp/{hosts[1].gateway}/{port}'",
                    check=True)
        conn, (peer, _) = srv.accept()
        with conn:
            assert conn.recv(100) == f"hello from {hosts[1].name}\n".encode()
        assert peer == hosts[1].address
    # its own PID namespace: the host's init is PID 1, nothing of this machine shows
    ps = hosts[0].sh("ps -e -o pid=,comm=").stdout.split("\n")
    assert ps[0].split()[0] == "1" and any(line.endswith(" sshd") for line in ps)
    assert not any("pytest" in line for line in ps)
    assert _read(test_hosts.known_hosts_file).count("ssh-ed25519") == 3
    assert os.uname().nodename not in [h.name for h in hosts]


def test_tuning_inside_a_host_never_changes_this_machine(test_hosts):
    machine = {p: _read(p) for p in (SWAPPINESS, THP, DEFRAG, "/etc/hostname")}
    shm = os.statvfs("/dev/shm").f_blocks * os.statvfs("/dev/shm").f_frsize
    h, = test_hosts.start(1)
    r = h.sh(f"sysctl -w vm.swappiness=1 && echo never > {THP} && echo defer > {DEFRAG} "
             "&& echo marker > /etc/dsconsole-test-marker && echo x > /etc/hostname "
             "&& echo r > /root/marker && echo t > /tmp/dsconsole-test-marker "
             "&& echo s > /dev/shm/dsconsole-test-marker "
             "&& mount -o remount,size=1m /dev/shm", check=True)
    assert h.sh(f"cat {SWAPPINESS} {THP} {DEFRAG} /etc/dsconsole-test-marker").stdout == (
        "1\nalways madvise [never]\nalways [defer] defer+madvise madvise never\nmarker\n")
    # the host's writes are its own
    assert {p: _read(p) for p in machine} == machine
    assert not os.path.exists("/etc/dsconsole-test-marker")
    assert not os.path.exists("/root/marker")
    assert not os.path.exists("/tmp/dsconsole-test-marker")
    assert not os.path.exists("/dev/shm/dsconsole-test-marker")
    assert shm == os.statvfs("/dev/shm").f_blocks * os.statvfs("/dev/shm").f_frsize
    # any other sysctl is read-only in a host: vm.* is global, it must not leak
    dirty = _read("/proc/sys/vm/dirty_ratio")
    r = h.sh("sysctl -w vm.dirty_ratio=7")
    assert r.returncode != 0
    assert h.sh("echo h > /proc/sysrq-trigger").returncode != 0
    assert _read("/proc/sys/vm/dirty_ratio") == dirty


@pytest.mark.parametrize("tunables", ["auto", "inotify"])
def test_thp_file_answers_in_kernel_form(test_hosts, tunables):
    h, = test_hosts.start(1, tunables=tunables)
    if h.tunables != "fuse":  # no /dev/fuse: the inotify fallback rewrites after close
        for m, form in (("never", "always madvise [never]"), ("always", "[always] madvise never")):
            h.sh(f"echo {m} > {THP}", check=True)
            for _ in range(500):
                if h.sh(f"cat {THP}").stdout == form + "\n":
                    break
            assert h.sh(f"cat {THP}").stdout == form + "\n"
        return
    # read in the same shell right after the write: the kernel's form, already
    r = h.sh(f"for m in never always madvise; do echo $m > {THP}; cat {THP}; done")
    assert r.stdout.splitlines() == ["always madvise [never]", "[always] madvise never",
                                     "always [madvise] never"]
    # what no kernel accepts is refused (EINVAL) and changes nothing
    r = h.sh(f"echo never > {THP}; bash -c 'echo bogus > {THP}'; echo rc=$?; cat {THP}")
    assert "Invalid argument" in r.stderr
    assert r.stdout == "rc=1\nalways madvise [never]\n"
    r = h.sh(f"bash -c 'echo \"always madvise [never]\" > {THP}'; cat {THP}")
    assert "Invalid argument" in r.stderr
    # swappiness reads back as the kernel prints it, whatever wrote it
    r = h.sh(f"printf 5 > {SWAPPINESS}; cat {SWAPPINESS}; sysctl -n vm.swappiness")
    assert r.stdout == "5\n5\n"


def test_logins_tuned_grub_and_nvidia_smi(test_hosts):
    ops, = test_hosts.start(1, login="ops", tuned="hpc-compute", grub=False,
                            gpu_variant={"gpus": 2})
    pw, = test_hosts.start(1, login="ops-pw", nvidia_smi=None)
    assert (ops.user, pw.user) == ("ops", "ops")
    p = _ssh(test_hosts, ops, "id -un; sudo -n id -un; tuned-adm active; "
                              "cat /etc/tuned/active_profile; test -e /etc/default/grub; echo $?; "
                              "nvidia-smi --query-gpu=name --format=csv,noheader")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["ops", "root", "Current active profile: hpc-compute",
                                     "hpc-compute", "1", "NVIDIA H200", "NVIDIA H200"]
    p = _ssh(test_hosts, pw, "sudo -n true; echo rc=$?; command -v nvidia-smi; "
                             "grep ^GRUB_CMDLINE_LINUX= /etc/default/grub")
    assert "a password is required" in p.stderr
    assert p.stdout.splitlines() == ["rc=1", 'GRUB_CMDLINE_LINUX=""']


def test_a_host_behind_another_is_reachable_only_through_it(test_hosts):
    jump, = test_hosts.start(1)
    inner, = test_hosts.start(1, behind=jump)
    assert inner.jump is jump
    p = _ssh(test_hosts, inner, "hostname")  # ProxyJump in the fixture's ssh_config
    assert (p.returncode, p.stdout) == (0, f"{inner.name}\n"), p.stderr
    # the inner host's way out is the jump host
    assert inner.gateway in jump.sh("ip -4 -o addr").stdout
    banner = inner.sh(f"bash -c 'exec 3<>/dev/tcp/{jump.address}/22; head -c 8 <&3'")
    assert banner.stdout == "SSH-2.0-"
    direct = subprocess.run(["ssh", "-F", str(test_hosts.ssh_config_file), "-o",
                             "ProxyJump=none", "-o", "ConnectTimeout=5", inner.name, "true"],
                            capture_output=True, text=True, timeout=30)
    assert direct.returncode == 255
    assert "No route to host" in direct.stderr or "unreachable" in direct.stderr.lower()


def test_sshd_stop_start_and_kill(test_hosts):
    h, = test_hosts.start(1)
    h.stop_sshd()
    p = _ssh(test_hosts, h, "true")
    assert p.returncode == 255 and "Connection refused" in p.stderr
    h.start_sshd()
    assert _ssh(test_hosts, h, "hostname").stdout == f"{h.name}\n"
    h.kill_sshd()
    assert "Connection refused" in _ssh(test_hosts, h, "true").stderr
    h.start_sshd()
    assert _ssh(test_hosts, h, "true").returncode == 0


def test_teardown_leaves_nothing_behind(test_hosts):
    """Runs a second factory's teardown inside the test and checks the machine
    itself (namespaces, links, routes, mounts, processes)."""
    factory = testhosts.TestHostFactory(test_hosts._session)
    jump, = factory.start(1)
    inner, = factory.start(1, behind=jump)
    inner.sh("sleep 300 >/dev/null 2>&1 &", check=True)  # a stray process in a host
    netns = {h.netns for h in (jump, inner)}
    inodes = {h.netns_inode for h in (jump, inner)}
    running = [p for i in inodes for p in testhosts._pids_in_netns(i)]
    assert len(running) >= 5  # 2 x (unshare, init, sshd) + sleep
    assert netns <= set(testhosts._netns_names())
    factory._teardown()
    assert not netns & set(testhosts._netns_names())
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert f"dsv{jump.slot}:" not in links and f"dsv{inner.slot}:" not in links
    routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True,
                            text=True).stdout
    assert jump.address not in routes and inner.address not in routes
    assert not any(testhosts._pids_in_netns(i) for i in inodes)
    assert not any(testhosts._pid_alive(p) for p in running)
    assert not any(str(factory.dir) in line for line in open("/proc/self/mountinfo"))
    assert not factory.dir.exists()
