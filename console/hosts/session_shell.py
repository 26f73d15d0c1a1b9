"""ShellSession: one long-lived `sh` on a host that runs commands sent to it,
for commands run again and again (the telemetry polls).

Every plain SSH exec is a new session on the host: sshd forks, sets the
session up and starts the user's login shell, and the console pays a channel
open, an exec request and the channel's close (about ten packets). For a GPU
host polled every few seconds that is most of what a poll costs the host
besides nvidia-smi itself. A ShellSession opens ONE exec channel running
`/bin/sh` and sends each command as a frame on its stdin:

    c='<the command, shell-quoted>'
    (eval "$c") </dev/null; printf '\\n%s%s %d\\n' <tok1> <tok2> $?; printf '\\n%s%s\\n' <tok1> <tok2> >&2

- The command runs in a subshell: `exit`, `cd`, `set -e` or variables in it do
  not touch the session's shell, and a syntax error ends only the subshell.
  The command is data (a quoted assignment), so no command text can break the
  framing. It gets /dev/null as stdin (the session's stdin is the frames).
- Its stdout and stderr are kept apart (the channel's two streams), each
  followed by a marker with a token new for every command: the marker is the
  newline printf puts first, then the token; so output that contains anything,
  binary or without a trailing newline, comes back byte for byte. The raw frame
  never contains a whole token (printf joins its two halves), so a host that
  echoes its input instead of running a shell cannot fake a marker.
- The exit code is the shell's `$?`: 128+N for a command ended by signal N
  (where a plain exec reports -1).
- Per-command timeout: a late command ends the whole session: its process
  group (the shell and the command; the shell reports the group's id when it
  starts) gets TERM, then KILL 2 s later, through a plain exec of `kill`,
  because sshd refuses the "signal" request for root logins (OpenSSH 9.2:
  "session signalling requires privilege separation"); then the channel is
  closed. The next command starts a new session.
- A session that dies (sshd restarted, the connection lost, the shell killed)
  is noticed before a command is sent (a new one is started) or while one
  runs (HostUnreachable when the connection is gone; SessionLost when only the
  shell ended, so the caller may run the command another way).
- A host where no shell answers the first frame (a forced command in
  authorized_keys, a restricted shell) raises SessionUnsupported, so the
  transport remembers to use plain execs there.

Not for sudo, stdin or commands that leave processes writing to their stdout
in the background (late output that arrives before the next command is
dropped, but not what comes while it runs); the transport's run() remains the
path for those. The session holds one of the connection's sessions (sshd's
MaxSessions, 10 by default); SshTransport closes it for good where sshd
refuses another session.
"""
from __future__ import annotations

import secrets
import select
import shlex
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from console.hosts.transport import CommandResult, CommandTimeout, HostUnreachable, TransportError, program_name

if TYPE_CHECKING:
    import paramiko  # imported where a connection is made (console.hosts.ssh), not on the import path

START_COMMAND = "exec /bin/sh"


class SessionUnsupported(TransportError):
    """No POSIX shell answered on this host's session channel."""


class SessionLost(TransportError):
    """The session's shell ended (or did not start) while the connection is
    fine; the command may be run another way."""


class RunPlain(Protocol):
    """How a command is run the ordinary way (SshTransport.run)."""

    def __call__(self, cmd: str, *, timeout: float) -> object: ...


class ShellSession:
    """One shell on the other end of one channel of an SSH connection.

    `open_channel(timeout)` returns a fresh paramiko session channel (the
    transport's, so it reconnects as the transport does); `end_channel(chan)`
    ends a channel whose command may still run, in the background;
    `run_plain(cmd, timeout=)` runs a command the ordinary way (to end a late
    session's processes). Commands are serialised: use try_acquire()/release()
    around run() to skip a session that is busy instead of waiting."""

    def __init__(self, name: str, open_channel: Callable[[float], paramiko.Channel],
                 end_channel: Callable[[paramiko.Channel], None], run_plain: RunPlain, *,
                 start_timeout: float = 5.0):
        self.name = name
        self._open_channel = open_channel
        self._end_channel = end_channel
        self._run_plain = run_plain
        self.start_timeout = start_timeout
        self._chan: paramiko.Channel | None = None
        self._group: int | None = None  # the session's process group on the host
        self._prefix = ""                # random per session: the markers' tokens
        self._count = 0
        self._lock = threading.Lock()
        self.started = 0     # sessions started (for tests and benchmarks)
        self.commands = 0    # commands answered through a session

    # -- locking: one command at a time
    def try_acquire(self) -> bool:
        return self._lock.acquire(blocking=False)

    def release(self) -> None:
        self._lock.release()

    def alive(self) -> bool:
        chan = self._chan
        return chan is not None and not chan.closed and not chan.eof_received and _connected(chan)

    def close(self) -> None:
        """Never raises: closing a channel whose connection is already gone
        (EOFError, OSError from paramiko) has nothing left to close."""
        chan, self._chan = self._chan, None
        self._group = None
        if chan is not None:
            try:
                chan.close()
            except Exception:  # noqa: BLE001 - see above
                pass

    # -- running a command
    def run(self, cmd: str, timeout: float) -> CommandResult:
        """Run `cmd` in the session (started first when there is none).
        Raises CommandTimeout, HostUnreachable, SessionLost, SessionUnsupported."""
        deadline = time.monotonic() + timeout
        ready = None
        chan = self._chan
        if chan is None or not self.alive():
            self.close()
            chan = self._chan = self._start(deadline)
            ready = self._token()
        _drain(chan)  # late output of an earlier command's background process: not ours
        tok = self._token()
        frame = (_ready_frame(ready) if ready else "") + _command_frame(cmd, tok)
        reader = _Reader(chan)
        answered = ready is None  # a new session's shell has yet to answer its ready frame
        try:
            chan.settimeout(max(0.1, deadline - time.monotonic()))
            chan.sendall(frame.encode())
            chan.settimeout(0.0)
            if ready:
                self._await_ready(reader, ready, deadline)
                answered = True
            out, rc, err = reader.until(b"\n" + tok.encode() + b" ", b"\n" + tok.encode() + b"\n",
                                        deadline)
        except _Late:
            self._abandon(kill=True)
            raise CommandTimeout(self.name, f"`{program_name(cmd)}` did not finish within "
                                            f"{timeout:g} s") from None
        except (_Ended, OSError, EOFError):  # OSError, EOFError: from sendall
            self._abandon()
            if not _connected(chan):
                raise HostUnreachable(self.name, f"connection lost while running "
                                                 f"`{program_name(cmd)}`") from None
            if not answered:
                # A new session ended before its shell answered the ready frame:
                # what sshd ran was no shell of ours. A forced command that exits
                # at once closes the channel before (or while) the first frame is
                # sent, and sendall fails here rather than in _await_ready.
                raise _unsupported(self.name) from None
            raise SessionLost(self.name, f"the command session ended while running "
                                         f"`{program_name(cmd)}`") from None
        self.commands += 1
        return CommandResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def _token(self) -> str:
        """New for every command: the session's random prefix and a count."""
        self._count += 1
        return f"{self._prefix}{self._count:x}"

    def _start(self, deadline: float) -> paramiko.Channel:
        self._prefix = "dsc" + secrets.token_hex(10)
        chan = self._open_channel(max(0.1, deadline - time.monotonic()))
        try:
            chan.exec_command(START_COMMAND)
        except Exception as e:  # noqa: BLE001 - paramiko's SSHException, a closed channel
            chan.close()
            raise SessionLost(self.name, f"the command session did not start: {e}") from None
        self.started += 1
        return chan

    def _await_ready(self, reader: _Reader, ready: str, deadline: float) -> None:
        """The shell's answer to the ready frame, within start_timeout: none
        means no shell reads our frames there."""
        limit = min(deadline, time.monotonic() + self.start_timeout)
        try:
            _, self._group, _ = reader.until(("ready-" + ready + " ").encode(), None, limit)
        except (_Late, _Ended) as e:
            if not _connected(reader.chan) or \
                    (isinstance(e, _Late) and limit == deadline):
                raise  # the connection died, or the command's own time ran out
            self._abandon()
            raise _unsupported(self.name) from None

    def _abandon(self, kill: bool = False) -> None:
        """Closes the session's channel; with `kill` (its command still runs)
        ends what runs in it too, in the background. Without: no signal
        request, since sshd drops the whole connection when a request names a
        channel it has already freed."""
        chan, self._chan = self._chan, None
        group, self._group = self._group, None
        if chan is None:
            return
        if not kill:
            chan.close()
            return
        self._end_channel(chan)
        if group and group > 1:
            threading.Thread(target=self._kill_group, args=(group,), name="ssh-end-session",
                             daemon=True).start()

    def _kill_group(self, group: int) -> None:
        try:
            self._run_plain(f"kill -TERM -- -{group} 2>/dev/null || exit 0; sleep 2; "
                            f"kill -KILL -- -{group} 2>/dev/null; exit 0", timeout=10)
        except Exception:  # noqa: BLE001 - best effort: the host may be gone
            pass


def _unsupported(name: str) -> SessionUnsupported:
    return SessionUnsupported(name, "no POSIX shell answered on a session channel (forced command?)")


def _connected(chan: paramiko.Channel) -> bool:
    """Whether the SSH connection the channel runs in is still up."""
    transport = chan.get_transport()
    return transport is not None and transport.is_active()


def _drain(chan: paramiko.Channel) -> None:
    while chan.recv_ready():
        chan.recv(65536)
    while chan.recv_stderr_ready():
        chan.recv_stderr(65536)


class _Late(Exception):
    pass


class _Ended(Exception):
    pass


class _Reader:
    """Reads a channel's stdout and stderr as they come (a full stderr never
    blocks stdout) until each ends with its marker."""

    def __init__(self, chan: paramiko.Channel):
        self.chan = chan
        self.out = bytearray()
        self.err = bytearray()

    def until(self, out_end: bytes, err_end: bytes | None, deadline: float) -> tuple[bytes, int, bytes]:
        """(stdout before its marker, the number that follows the marker (up
        to a newline), stderr before its marker); what follows a marker stays
        buffered for the next call."""
        chan = self.chan
        o, n, e = -1, -1, (0 if err_end is None else -1)
        seen_out = seen_err = 0  # scanned so far, less a marker's length (it may be split)
        while True:
            while chan.recv_ready():
                self.out += chan.recv(65536)
            while chan.recv_stderr_ready():
                self.err += chan.recv_stderr(65536)
            if o < 0:
                o = self.out.find(out_end, seen_out)
                seen_out = max(0, len(self.out) - len(out_end))
            if o >= 0 and n < 0:
                n = self.out.find(b"\n", o + len(out_end))
            if e < 0 and err_end is not None:
                e = self.err.find(err_end, seen_err)
                seen_err = max(0, len(self.err) - len(err_end))
            if n >= 0 and e >= 0:
                break
            if chan.closed or chan.eof_received:
                raise _Ended()
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Late()
            select.select([chan], [], [], left)
        out = bytes(self.out[:o])
        number = bytes(self.out[o + len(out_end):n])
        del self.out[:n + 1]
        if not number.isdigit():
            raise _Ended()  # not our shell's answer
        rc = int(number)
        err = b""
        if err_end is not None:
            err = bytes(self.err[:e])
            del self.err[:e + len(err_end)]
        return out, rc, err


def _split(tok: str) -> str:
    """The token as printf's two arguments, so the frame never holds it whole."""
    return f"{tok[:8]} {tok[8:]}"


def _ready_frame(tok: str) -> str:
    """The shell's answer: the token and its process group (field 5 of
    /proc/PID/stat; $$ where there is no /proc: sshd made the shell, or the
    login shell that exec'd it, a process group leader)."""
    return (f"g=$$; read -r _ _ _ _ g _ 2>/dev/null </proc/$$/stat; "
            f"printf 'ready-%s%s %d\\n' {_split(tok)} \"$g\"\n")


def _command_frame(cmd: str, tok: str) -> str:
    return (f"c={shlex.quote(cmd)}\n"
            f"(eval \"$c\") </dev/null; printf '\\n%s%s %d\\n' {_split(tok)} $?; "
            f"printf '\\n%s%s\\n' {_split(tok)} >&2\n")
