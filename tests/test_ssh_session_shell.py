"""SshTransport.run_in_session (console/hosts/session_shell.py: one long-lived
shell per host for repeated commands) against real sshd test hosts."""
import threading

import pytest

from console.hosts.transport import CommandResult, CommandTimeout, HostUnreachable
from console.telemetry.nvidia_smi import NvidiaSmiSource
from tests.waiting import wait_for

pytestmark = [pytest.mark.hosts, pytest.mark.timeout(180)]

ALL_BYTES = "printf '" + "".join(f"\\{b:03o}" for b in range(256)) + "'"


def wait_until(cond, what):
    wait_for(cond, timeout=20.0, what=what)  # (was 200 tries of 0.05 s + a host command)


def test_one_shell_runs_every_command_and_returns_what_run_returns(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport()
    cases = [
        "hostname; echo oops >&2; exit 3",
        "printf 'no newline'; printf 'err, no newline' >&2",
        "printf 'a\\0b\\n\\0'",                      # NUL bytes
        f"{ALL_BYTES}; {ALL_BYTES} >&2",              # every byte value, both streams
        "head -c 3000000 /dev/zero | tr '\\0' x; head -c 3000000 /dev/zero | tr '\\0' y >&2",
        "cat; echo stdin was empty",                 # never reads the session's frames
        "printf '%s\\n' \"it's\" \"$HOME\" '\\n'; exit 7",  # quotes; exit ends only the command
    ]
    for cmd in cases:
        assert t.run_in_session(cmd) == t.run(cmd), cmd
    big = t.run_in_session(cases[4])
    assert (len(big.stdout), len(big.stderr)) == (3000000, 3000000)
    assert t.run_in_session(cases[2]).stdout == "a\0b\n\0"
    # /bin/sh runs the commands (run() has the login shell, bash here); a
    # syntax error ends only the command's subshell
    bad = t.run_in_session("if then fi")
    assert bad.rc == 2 and "Syntax error" in bad.stderr
    # shell state does not leak from one command into the next
    assert t.run_in_session("cd /tmp; X=1; export Y=2; set -e; trap 'echo gone' EXIT; false").rc == 1
    assert t.run_in_session("pwd; echo ${X:-unset} ${Y:-unset}") == \
        CommandResult(0, "/root\nunset unset\n", "")
    # all of it in one shell (a subshell's $$ is its shell's), while each
    # plain run() is a new sshd session with a new shell
    shells = {t.run_in_session("echo $$").stdout for _ in range(3)}
    assert len(shells) == 1
    assert t.run("echo $$").stdout not in shells
    assert t._shell.started == 1


def test_a_late_command_is_ended_on_the_host_and_a_new_session_follows(test_hosts):
    root, = test_hosts.start(1)
    ops, = test_hosts.start(1, login="ops")
    for h in (root, ops):
        t = h.transport()
        assert t.run_in_session("true").ok
        with pytest.raises(CommandTimeout) as e:
            t.run_in_session("sleep 300; echo done", timeout=0.5)
        assert "`sleep` did not finish within 0.5 s" in str(e.value)
        # sshd refuses to signal root's sessions; the console ends the
        # session's process group itself (TERM, then KILL)
        wait_until(lambda h=h: h.sh("pgrep -x sleep").returncode == 1, f"{h.name}: sleep ended")
        assert t.run_in_session("echo next") == CommandResult(0, "next\n", "")
        assert t._shell.started == 2


def test_sshd_killed_or_restarted_then_the_session_comes_back(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport(connect_timeout=2)
    assert t.run_in_session("echo 1").stdout == "1\n"
    h.kill_sshd()  # ends the connection and every process of the host
    with pytest.raises(HostUnreachable):
        t.run_in_session("echo 2")
    h.start_sshd()
    assert t.run_in_session("echo 3").stdout == "3\n"
    # killed while a command runs: unreachable, not a wrong answer
    result = {}

    def slow():
        try:
            result["r"] = t.run_in_session("sleep 5; echo late", timeout=20)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            result["r"] = e
    th = threading.Thread(target=slow)
    th.start()
    wait_until(lambda: h.sh("pgrep -x sleep").returncode == 0, "the command running")
    h.stop_sshd()
    th.join(30)
    assert isinstance(result["r"], HostUnreachable), result
    h.start_sshd()
    assert t.run_in_session("echo 4").stdout == "4\n"
    assert t._shell.started == 3


def test_a_shell_that_dies_is_replaced_and_its_command_run_again(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport()
    group = t.run_in_session("ps -o pgid= $$").stdout.strip()
    # killed between commands: the next command notices and starts another
    h.sh(f"kill -KILL -{group}", check=True)
    wait_until(lambda: not t._shell.alive(), "the console seeing the shell's end")
    assert t.run_in_session("echo a").stdout == "a\n"
    assert t._shell.started == 2
    # killed while a command runs (the connection lives on): the command is
    # run again through a plain exec, so the caller still gets its answer
    group = t.run_in_session("ps -o pgid= $$").stdout.strip()
    result = {}
    th = threading.Thread(target=lambda: result.update(
        r=t.run_in_session("[ -e /tmp/once ] || { touch /tmp/once; sleep 30; }; echo b")))
    th.start()
    wait_until(lambda: h.sh("pgrep -x sleep").returncode == 0, "the command running")
    h.sh(f"kill -KILL -{group}", check=True)
    th.join(30)
    assert result["r"] == CommandResult(0, "b\n", "")


def test_a_busy_session_does_not_hold_up_another_thread(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport()
    t.run_in_session("true")
    out = {}
    th = threading.Thread(target=lambda: out.update(slow=t.run_in_session("sleep 60; echo slow")))
    th.start()
    wait_until(lambda: h.sh("pgrep -x sleep").returncode == 0, "the slow command running")
    assert t.run_in_session("echo quick").stdout == "quick\n"  # a plain exec meanwhile
    assert h.sh("pgrep -x sleep").returncode == 0  # answered while the slow one still ran
    h.sh("pkill -x sleep", check=True)
    th.join(30)
    assert out["slow"].stdout == "slow\n"
    assert t._shell.started == 1


@pytest.mark.parametrize("forced", ["echo forced", "cat"])
def test_a_host_without_a_shell_for_us_gets_plain_execs(test_hosts, forced):
    """A forced command in authorized_keys: no shell reads the frames (`cat`
    even echoes them back, which must not pass for an answer)."""
    h, = test_hosts.start(1)
    h.sh(f"sed -i 's|^|command=\"{forced}\" |' /etc/ssh/authorized_keys/root", check=True)
    t = h.transport(connect_timeout=1)
    plain = t.run("echo hi")
    assert t.run_in_session("echo hi") == plain
    assert t._shell is None  # remembered: plain execs from now on
    assert t.run_in_session("echo hi") == plain


class _ChannelClosedBeforeTheFrame:
    """A real session channel whose exec request returns only once the host has
    closed the channel: the forced command has run and exited before the
    session's first frame is sent (the race that, under CPU load, made such a
    host keep its shell session: SessionLost where SessionUnsupported is right)."""

    def __init__(self, chan):
        self._chan = chan

    def exec_command(self, command):
        self._chan.exec_command(command)
        wait_until(lambda: self._chan.closed, "the forced command's channel closed")

    def __getattr__(self, name):
        return getattr(self._chan, name)


def test_a_forced_command_that_exits_before_the_first_frame_is_no_shell(test_hosts):
    h, = test_hosts.start(1)
    h.sh("sed -i 's|^|command=\"echo forced\" |' /etc/ssh/authorized_keys/root", check=True)
    t = h.transport(connect_timeout=1)
    plain = t.run("echo hi")
    open_channel = t._shell._open_channel
    t._shell._open_channel = lambda timeout: _ChannelClosedBeforeTheFrame(open_channel(timeout))
    assert t.run_in_session("echo hi") == plain
    assert t._shell is None  # remembered: plain execs from now on


def test_telemetry_polls_use_one_session_and_a_hung_nvidia_smi_is_ended(test_hosts):
    h, = test_hosts.start(1)
    t = h.transport(connect_timeout=3)
    src = NvidiaSmiSource(t, xid_interval_s=None)
    for _ in range(3):
        tel = src.read()
        assert tel.state == "ok", tel.error
        assert tel.samples[0].name == "NVIDIA H200"
    assert (t._shell.started, t._shell.commands) == (1, 4)  # 3 polls + the one -q -x
    h.sh("echo '{\"delay_s\": 60}' > /etc/dsconsole-fake-gpu.json", check=True)
    src.timeout = 5
    out = {}
    th = threading.Thread(target=lambda: out.update(tel=src.read()))
    th.start()
    # ([n]: the pattern must not match the `sh -c` that runs pgrep)
    hung = "pgrep -f '[n]vidia-smi --query-gpu'"
    wait_until(lambda: h.sh(hung).returncode == 0, "nvidia-smi running")
    th.join(30)
    tel = out["tel"]
    assert tel.state == "error" and tel.error.startswith("no answer from nvidia-smi:")
    # the hung nvidia-smi does not live on (root login: sshd would not signal it)
    wait_until(lambda: h.sh(hung).returncode == 1, "the hung nvidia-smi ended")
    h.sh("rm /etc/dsconsole-fake-gpu.json", check=True)
    assert src.read().state == "ok"
    assert t._shell.started == 2


def test_connections_prefer_aes_gcm(test_hosts):
    """AEAD cipher first (cheaper per packet for the console and sshd alike)."""
    h, = test_hosts.start(1)
    t = h.transport()
    t.connect()
    assert (t._ssh.local_cipher, t._ssh.remote_cipher) == ("aes128-gcm@openssh.com",) * 2
    assert t.run_in_session("echo ok").stdout == "ok\n"


def test_a_host_that_allows_one_session_per_connection(test_hosts):
    """sshd MaxSessions 1 (hardened hosts): the persistent shell holds the only
    session, so another command closes it for good and plain execs follow."""
    h, = test_hosts.start(1)
    h.sh("sed -i 's/^MaxSessions .*/MaxSessions 1/' /etc/ssh/sshd_config", check=True)
    h.stop_sshd()
    h.start_sshd()
    t = h.transport()
    assert t.run_in_session("echo polled").stdout == "polled\n"
    assert t._shell.alive()
    assert t.run("echo other").stdout == "other\n"  # the shell gave its session up
    assert t._shell is None
    assert t.run_in_session("echo polled").stdout == "polled\n"
    assert t.run("echo other").stdout == "other\n"
