"""SshTransport and ssh_pool against real sshd test hosts (tests/testhosts.py)."""
import hashlib
import threading

import pytest

from console.hosts.ssh import SshTransport
from console.hosts.transport import CommandResult, CommandTimeout, HostUnreachable, SudoPasswordRequired
from tests.ssh_pool import fan_out, fan_out_iter

pytestmark = pytest.mark.hosts


def test_run_returns_rc_stdout_stderr_and_feeds_stdin(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport()
    r = t.run("hostname; echo oops >&2; exit 3")
    assert r == CommandResult(3, f"{h.name}\n", "oops\n")
    assert t.run("tr a-z A-Z", stdin=b"piped\n").stdout == "PIPED\n"
    big = t.run("head -c 3000000 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero >&2")
    assert (len(big.stdout), len(big.stderr)) == (3000000, 300000)


def test_one_connection_serves_every_command_and_thread(test_hosts):
    """Many quick commands from several threads at once on one connection, as
    a fan-out does. Each must run, and all on the same connection: a stdin EOF
    (or signal) sent after the server freed a channel makes sshd drop the
    connection with every command on it (this failed about one run in three
    before the channel messages were sent under the channel's lock)."""
    h, = test_hosts.start(1)
    t = h.transport()
    ports, errors = set(), []

    def client_ports():
        for _ in range(60):
            try:
                ports.add(t.run("echo $SSH_CLIENT").stdout.split()[1])
            except HostUnreachable as e:
                errors.append(str(e))

    threads = [threading.Thread(target=client_ports) for _ in range(8)]
    t.connect()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(ports) == 1  # one TCP connection, a channel per command


def test_read_and_write_round_trip_bytes(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport()
    data = bytes(range(256)) * 64
    t.write("/etc/dsconsole-blob", data)
    assert t.read("/etc/dsconsole-blob") == data
    assert h.sh("stat -c %a:%U /etc/dsconsole-blob").stdout == "644:root\n"  # umask 022
    assert t.read("/etc/hostname") == f"{h.name}\n".encode()
    with pytest.raises(FileNotFoundError):
        t.read("/etc/no-such-file")
    assert t.exists("/etc/dsconsole-blob") and not t.exists("/etc/no-such-file")
    with pytest.raises(FileNotFoundError):
        t.write("/no/such/dir/file", b"x")


def test_write_keeps_mode_and_owner_and_replaces_atomically(test_hosts):
    h, = test_hosts.start(1, login="ops")
    t = h.transport()
    h.sh("printf old > /etc/app.conf && chown ops:ops /etc/app.conf && chmod 640 /etc/app.conf"
         " && printf secret > /etc/root.conf && chmod 600 /etc/root.conf", check=True)
    inode = h.sh("stat -c %i /etc/app.conf").stdout
    t.write("/etc/app.conf", b"new\n", sudo=True)
    assert h.sh("stat -c %a:%U:%G /etc/app.conf; cat /etc/app.conf").stdout == "640:ops:ops\nnew\n"
    assert h.sh("stat -c %i /etc/app.conf").stdout != inode  # renamed into place
    t.write("/etc/root.conf", b"still secret\n", sudo=True)
    assert h.sh("stat -c %a:%U /etc/root.conf").stdout == "600:root\n"
    t.write("/etc/root.conf", b"x", sudo=True, mode=0o644)
    assert h.sh("stat -c %a /etc/root.conf").stdout == "644\n"
    t.write("/etc/root.conf", b"x", sudo=True, mode=0o600)
    assert h.sh("ls -a /etc | grep -c dsconsole-write || true").stdout == "0\n"  # no temp left
    # through a symlink the target is replaced, the link stays
    h.sh("ln -s /etc/app.conf /etc/app.link", check=True)
    t.write("/etc/app.link", b"via link\n", sudo=True)
    assert h.sh("readlink /etc/app.link; cat /etc/app.conf").stdout == "/etc/app.conf\nvia link\n"
    # without sudo, ops can neither write /etc nor read root's file
    with pytest.raises(PermissionError):
        t.write("/etc/app.conf", b"no")
    with pytest.raises(PermissionError):
        t.read("/etc/root.conf")
    assert t.read("/etc/root.conf", sudo=True) == b"x"
    # a directory ops may write to, a file it does not own: replacing the file
    # would lose its owner, so the write is refused and nothing changes
    h.sh("printf mine > /tmp/root-owned && chmod 666 /tmp/root-owned", check=True)
    with pytest.raises(PermissionError):
        t.write("/tmp/root-owned", b"theirs")
    assert h.sh("stat -c %U /tmp/root-owned; cat /tmp/root-owned; ls -a /tmp").stdout == \
        "root\nmine.\n..\nroot-owned\n"


def test_a_reader_never_sees_a_half_written_file(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport()
    old, new = b"A" * 4_000_000, b"B" * 4_000_000
    t.write("/etc/big", old)
    # a reader on the host hashes the file over and over while it is replaced
    h.sh("sh -c 'echo $$ > /tmp/reader.pid; end=$(($(date +%s) + 30)); "
         "while [ ! -e /tmp/stop ] && [ $(date +%s) -lt $end ]; do md5sum < /etc/big; done "
         "> /tmp/seen' >/dev/null 2>&1 &", check=True)
    for _ in range(3):
        t.write("/etc/big", new)
        t.write("/etc/big", old)
    h.sh("touch /tmp/stop; while kill -0 $(cat /tmp/reader.pid); do sleep 0.05; done",
         check=True)
    seen = set(h.sh("cut -d' ' -f1 /tmp/seen").stdout.split())
    assert seen and seen <= {hashlib.md5(old).hexdigest(), hashlib.md5(new).hexdigest()}


def test_kernel_tunables_are_written_in_place(test_hosts):
    h, = test_hosts.start(1, login="ops")
    t = h.transport()
    path = "/sys/kernel/mm/transparent_hugepage/enabled"
    t.write(path, b"never", sudo=True)
    assert t.read(path) == b"always madvise [never]\n"
    t.write("/proc/sys/vm/swappiness", b"1\n", sudo=True)
    assert t.run("/usr/sbin/sysctl -n vm.swappiness").stdout == "1\n"  # not on ops PATH


def test_sudo_n_for_ops_and_a_clear_error_when_sudo_wants_a_password(test_hosts):
    ops, pw = test_hosts.start(1, login="ops")[0], test_hosts.start(1, login="ops-pw")[0]
    assert ops.transport().run("id -u", sudo=True).stdout == "0\n"
    assert ops.transport().run("id -u").stdout == "4242\n"
    t = pw.transport()
    assert t.run("id -un").stdout == "ops\n"
    with pytest.raises(SudoPasswordRequired) as e:
        t.run("id -u", sudo=True)
    assert "NOPASSWD" in str(e.value) and pw.name in str(e.value)
    with pytest.raises(SudoPasswordRequired):
        t.write("/etc/x", b"x", sudo=True)


def test_proxyjump_through_a_jump_host(test_hosts):
    jump, = test_hosts.start(1)
    inner, = test_hosts.start(1, behind=jump, login="ops")
    t = inner.transport()
    assert t.jump is not None and t.jump.name == jump.name
    assert t.run("hostname").stdout == f"{inner.name}\n"
    assert t.run("id -u", sudo=True).stdout == "0\n"
    # without its jump host it cannot be reached from here
    direct = SshTransport(inner.name, inner.address, user="ops", identity_file=inner.identity_file,
                          known_hosts=[str(test_hosts.known_hosts_file)], ssh_config=False,
                          connect_timeout=3)
    with pytest.raises(HostUnreachable):
        direct.run("true")


def test_settings_come_from_ssh_config_including_proxyjump(test_hosts):
    jump, = test_hosts.start(1)
    inner, other = test_hosts.start(2, behind=jump, login="ops")
    # only the name: HostName, User, IdentityFile, ProxyJump and
    # UserKnownHostsFile all come from the fixture's ssh_config
    t = SshTransport(inner.name, ssh_config=str(test_hosts.ssh_config_file))
    t3 = SshTransport(other.name, ssh_config=str(test_hosts.ssh_config_file))
    try:
        assert (t.address, t.user, t.port) == (inner.address, "ops", 22)
        assert t.jump is not None and t.jump.address == jump.address
        assert t.run("id -un; hostname").stdout == f"ops\n{inner.name}\n"
        # hosts behind the same bastion share one connection to it
        assert t3.jump is t.jump
        assert t3.run("hostname").stdout == f"{other.name}\n"
        t3.close()
        assert t.jump.connected() and t.run("true").ok
        # the site file's values win over the config file's
        t2 = SshTransport(inner.name, user="root", jump=jump.transport(),
                          ssh_config=str(test_hosts.ssh_config_file))
        assert t2.run("id -un").stdout == "root\n"
        t2.close()
    finally:
        t.close()


def test_command_timeout_ends_the_command_and_keeps_the_connection(test_hosts):
    h, = test_hosts.start(1, login="ops")
    t = h.transport()
    with pytest.raises(CommandTimeout) as e:
        t.run("sleep 300; echo done", timeout=0.5)
    assert "sleep" in str(e.value)
    assert t.run("echo still here").stdout == "still here\n"
    with pytest.raises(CommandTimeout):
        t.run("sleep 301", timeout=0.5, sudo=True)
    # the timed-out commands do not live on (the host's own PID namespace:
    # pgrep sees only this host); sshd signals them as soon as it reads the request
    left = "pgrep -x sleep"
    for _ in range(100):
        if h.sh(left).returncode == 1:
            break
    assert h.sh(left).returncode == 1, h.sh("ps -ef").stdout


def test_reconnects_after_sshd_restart_and_kill(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport()
    assert t.run("true").ok
    h.stop_sshd()  # drops the established connection too
    with pytest.raises(HostUnreachable) as e:
        t.run("true")
    assert "refused" in str(e.value)
    h.start_sshd()
    assert t.run("hostname").stdout == f"{h.name}\n"
    h.kill_sshd()
    h.start_sshd()  # no failed command in between: the dead connection is noticed
    assert t.run("hostname").stdout == f"{h.name}\n"


def test_hung_host_times_out_on_connect_and_on_commands(test_hosts):
    h, = test_hosts.start(1)
    live = h.transport()
    live.connect()
    h.pause_sshd()
    with pytest.raises(HostUnreachable) as e:
        h.transport(connect_timeout=1).run("true")
    assert "no SSH answer" in str(e.value)
    with pytest.raises((CommandTimeout, HostUnreachable)):
        live.run("true", timeout=1)
    h.resume_sshd()
    assert h.transport().run("true").ok


def test_fan_out_a_dead_host_delays_no_one(test_hosts):
    hosts = test_hosts.start(4)
    hung, stopped = hosts[2], hosts[3]
    transports = [h.transport(connect_timeout=4 if h is hung else 30) for h in hosts]
    for t in transports[:2]:
        t.connect()  # the healthy hosts' answers then take one round trip, even on a busy machine
    hung.pause_sshd()
    stopped.stop_sshd()
    in_progress = set()
    lock = threading.Lock()

    def hostname(t):
        with lock:
            in_progress.add(t.name)
        try:
            return t.run("hostname", timeout=5)
        finally:
            with lock:
                in_progress.discard(t.name)

    order, pending_when = [], {}
    for name, result in fan_out_iter(transports, hostname):
        with lock:
            pending_when[name] = set(in_progress)
        order.append((name, result))
    results = dict(order)
    for h in hosts[:2]:
        assert results[h.name].stdout == f"{h.name}\n"
        # the healthy hosts answered while the hung host was still pending
        assert hung.name in pending_when[h.name]
    assert isinstance(results[stopped.name], HostUnreachable)  # its own error
    assert isinstance(results[hung.name], HostUnreachable)
    assert order[-1][0] == hung.name
    # an overall deadline gives the hung host a result of its own, not a wait
    seen = fan_out([transports[0], transports[2]], hostname, timeout=2)
    assert seen[hosts[0].name].ok
    assert isinstance(seen[hung.name], CommandTimeout)
    hung.resume_sshd()


def test_ssh_config_resolves_as_openssh_does(tmp_path):
    """The same file read by OpenSSH itself (`ssh -G`) and by console.hosts.ssh_config."""
    import subprocess

    from console.hosts import ssh_config
    inc = tmp_path / "conf.d"
    inc.mkdir()
    (inc / "lab.conf").write_text("Host lab\n    HostName 10.3.3.3\n    User labuser\n")
    cfg = tmp_path / "config"
    cfg.write_text(
        f"Include {inc}/*.conf\n"
        "Host gpu-direct\n    ProxyJump none\n"
        "Host gpu-*\n    User ops\n    IdentityFile /keys/id_gpu\n"
        "    ProxyJump admin@bastion:2200,edge\n"
        "Host gpu-7\n    HostName 10.1.2.7\n    Port 2207\n    User not-used\n"
        "    IdentityFile /keys/id_seven\n"
        "Host bastion\n    HostName 192.0.2.10\n"
        "Host *\n    Port 2222\n")

    def openssh(name):
        out = subprocess.run(["ssh", "-G", "-F", str(cfg), name], capture_output=True,
                             text=True, check=True, timeout=20).stdout
        got = {"identityfile": []}
        for line in out.splitlines():
            k, _, v = line.partition(" ")
            if k == "identityfile":
                got[k].append(v)
            elif k in ("hostname", "user", "port", "proxyjump"):
                got[k] = v
        return got

    for name in ("gpu-7", "gpu-3", "gpu-direct", "bastion", "lab", "plain"):
        want = openssh(name)
        got = ssh_config.resolve(name, path=cfg)
        assert (got.hostname, got.user, str(got.port)) == \
            (want["hostname"], want["user"], want["port"]), name
        assert ",".join(map(str, got.proxy_jump)) == want.get("proxyjump", ""), name
        if got.identity_files:
            assert list(got.identity_files) == want["identityfile"], name
    # the site file's values win
    s = ssh_config.resolve("gpu-7", address="10.9.9.9", user="root", port=22, path=cfg)
    assert (s.hostname, s.user, s.port) == ("10.9.9.9", "root", 22)
    assert ssh_config.parse_proxy_jump("ssh://u@[fe80::1]:2022") == (
        ssh_config.JumpHop("fe80::1", "u", 2022),)


def test_no_command_text_or_input_in_errors_or_logs(test_hosts, caplog):
    import logging
    caplog.set_level(logging.DEBUG)  # paramiko's own debug log included
    h, = test_hosts.start(1)
    t = h.transport()
    secret = "s3cr3t-TOKEN-4711"
    with pytest.raises(CommandTimeout) as e:
        t.run(f"export TOKEN={secret}; sleep 20", timeout=0.5, stdin=secret.encode())
    assert secret not in str(e.value)
    h.stop_sshd()
    with pytest.raises(HostUnreachable) as e:
        t.write("/etc/token", secret.encode())
    assert secret not in str(e.value)
    assert caplog.records and secret not in caplog.text
