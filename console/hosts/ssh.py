"""SshTransport: a host reached over SSH (paramiko), behind the Transport interface.

- One connection per host, opened on first use and kept (keepalive), shared by
  every command to that host (each command is its own channel, so commands
  from several threads run side by side). A connection found dead is replaced
  on the next command: a command after sshd was restarted just works.
- Host keys are checked strictly (console.hosts.known_hosts): unknown or changed
  keys are refused with their fingerprint, never added here.
- ProxyJump: the connection to a host behind a bastion is a direct-tcpip
  channel of the bastion's own (shared, strictly checked) connection.
- sudo=True runs the command as root: directly for root, `sudo -n` for anyone
  else; sudo wanting a password raises SudoPasswordRequired.
- Every command has a timeout (CommandTimeout); connecting has its own.
- run_in_session(): commands repeated often (telemetry polls) go to one
  persistent shell per host (console.hosts.session_shell) instead of a new SSH
  session each; run() stays the path for everything else.
- AES-GCM is preferred (cheaper per packet in paramiko than AES-CTR + HMAC).
- Neither commands, their input nor their output go into logs or error
  messages (they may carry secrets); messages name the program run at most.

Settings precedence (DESIGN.md): what the caller (the site file) gives, then
~/.ssh/config (console.hosts.ssh_config), then defaults.
"""
from __future__ import annotations

import errno
import logging
import math
import os
import re
import select
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from console.hosts import known_hosts as kh
from console.hosts import ssh_config
from console.hosts.session_shell import SessionLost, SessionUnsupported, ShellSession
from console.hosts.transport import (
    CommandResult,
    CommandTimeout,
    HostKeyError,
    HostRefused,
    HostUnreachable,
    SudoPasswordRequired,
    Transport,
    TransportError,
    program_name,
)

if TYPE_CHECKING:
    import paramiko  # imported where a connection is made: not on the first frame's import path

log = logging.getLogger("console.ssh")

# identity_file: one path, or several (a site file gives one, tests several)
IdentityFiles = str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None
SshConfigPath = str | os.PathLike[str] | Literal[False] | None

SUDO_WANTS_PASSWORD = re.compile(r"^sudo: (a password is required|a terminal is required"
                                 r"|.*no tty present)", re.M)
DEFAULT_KEYS = ("id_ed25519", "id_ecdsa", "id_rsa")
NO_TIMEOUT = 24 * 3600.0  # timeout=None: a day, so that nothing waits forever
BACKSTOP_MARGIN_S = 5.0  # paramiko's connect timers run this much past ours

# Remote helpers for read() and write(). Paths and modes are passed as
# arguments ($1, $2), never spliced into the script.
READ_SCRIPT = ('if [ ! -e "$1" ]; then echo "no such file" >&2; exit 44; fi; '
               'exec cat -- "$1"')
# Atomic write: a temp file in the target's directory, owner and mode copied
# from the existing file (or `mode`), then rename over it. Kernel attribute
# files (/proc, /sys) cannot be renamed onto: they are written in place, in
# one write, as `echo X > file` would.
WRITE_SCRIPT = r'''
p=$1 mode=$2
case "$p" in /proc/*|/sys/*) exec cat > "$p" ;; esac
if [ -L "$p" ]; then p=$(readlink -f -- "$p") || exit 1; fi
d=$(dirname -- "$p")
[ -d "$d" ] || { echo "no such directory: $d" >&2; exit 45; }
tmp=$(mktemp "$d/.dsconsole-write.XXXXXX") || exit 1
trap 'rm -f -- "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
cat > "$tmp" || exit 1
if [ -e "$p" ]; then
  chown --reference="$p" -- "$tmp" || { echo "cannot keep the owner of $p" >&2; exit 46; }
  chmod --reference="$p" -- "$tmp" || exit 1
else
  chmod "$(printf %o $(( 0666 & ~$(umask) )))" -- "$tmp" || exit 1
fi
if [ -n "$mode" ]; then chmod "$mode" -- "$tmp" || exit 1; fi
sync -- "$tmp" 2>/dev/null
mv -f -- "$tmp" "$p" || exit 1
trap - EXIT
'''


class SshTransport(Transport):
    """A host over SSH. Cheap to create: nothing connects until the first
    command (or connect())."""

    def __init__(self, name: str, address: str | None = None, *, user: str | None = None,
                 port: int | None = None, identity_file: IdentityFiles = None,
                 jump: SshTransport | None = None, ssh_config: SshConfigPath = None,
                 known_hosts: Iterable[str | os.PathLike[str]] | None = None, connect_timeout: float = 5.0,
                 keepalive: int = 15):
        self._refused: HostRefused | None = None
        try:
            settings = ssh_config_resolve(name, address, user, port, identity_file, ssh_config,
                                          proxy_jump="none" if jump is not None else None)
        except TransportError as e:
            # an ssh config dsconsole cannot follow refuses this host (every command raises
            # it), not the construction of every transport of a site
            self._refused = HostRefused(name, e.message)
            settings = ssh_config_resolve(name, address, user, port, identity_file, False,
                                          proxy_jump="none")
        self.name = name
        self.address = settings.hostname
        self.port = settings.port
        self.user = settings.user
        self.identity_files = settings.identity_files
        self.host_key_name = settings.host_key_alias or kh.lookup_name(self.address, self.port)
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        if known_hosts is not None:
            self.known_hosts_files = [Path(p) for p in known_hosts]
        elif settings.known_hosts_files:  # UserKnownHostsFile replaces ~/.ssh/known_hosts
            self.known_hosts_files = ([Path(p) for p in settings.known_hosts_files]
                                      + [kh.SYSTEM_FILE, kh.own_path()])
        else:
            self.known_hosts_files = kh.default_files()
        self._owns_jump = False
        if jump is None and settings.proxy_jump:
            try:
                jump = _jump_chain(settings.proxy_jump, ssh_config, self.known_hosts_files,
                                   connect_timeout, keepalive, known_hosts is not None)
                self._owns_jump = True
            except TransportError as e:   # a hop's own ssh config (its ProxyJump) is unusable
                self._refused = HostRefused(name, f"jump host {e.host}: {e.message}")
        self.jump = jump
        self._ssh: paramiko.Transport | None = None   # while connected
        self._lock = threading.Lock()
        # run_in_session's shell (None: this host has none that answers)
        self._shell: ShellSession | None = ShellSession(
            name, lambda t: self._open_session(time.monotonic() + t), _end_command,
            self.run, start_timeout=connect_timeout)

    def __repr__(self) -> str:
        via = f" via {self.jump.name}" if self.jump else ""
        return f"<SshTransport {self.name} {self.user}@{self.address}:{self.port}{via}>"

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"

    # ------------------------------------------------------------ connection
    def connect(self) -> None:
        """Connect now (otherwise the first command does)."""
        self._connection()

    def connected(self) -> bool:
        return self._ssh is not None and self._ssh.is_active()

    def close(self) -> None:
        """Close the shell session, the connection, and a jump host this
        transport owns. Never raises: a connection that is already gone (its
        jump host closed first, the host down) is simply dropped."""
        if self._shell is not None:
            _quietly(self._shell.close, self.name, "shell session")
        with self._lock:
            ssh, self._ssh = self._ssh, None
        if ssh is not None:
            _quietly(ssh.close, self.name, "connection")
        if self._owns_jump and self.jump is not None:
            self._owns_jump = False  # release a shared jump host once only
            self.jump.close()

    def _connection(self) -> paramiko.Transport:
        with self._lock:
            if self._ssh is not None and self._ssh.is_active():
                return self._ssh
            if self._ssh is not None:
                log.info("%s: connection lost, reconnecting", self.name)
                self._ssh.close()
                self._ssh = None
            ssh = self._ssh = self._open()
            return ssh

    def _drop(self, ssh: paramiko.Transport) -> None:
        with self._lock:
            if self._ssh is ssh:
                self._ssh = None
        ssh.close()

    def _socket(self) -> socket.socket | paramiko.Channel:
        """A connected byte stream to the host: TCP, or a channel of the jump host."""
        import paramiko
        if self._refused is not None:
            raise self._refused
        if self.jump is not None:
            try:
                jump_ssh = self.jump._connection()
            except HostKeyError as e:  # the jump host's key, under the jump host's name
                raise HostKeyError(self.name, f"jump host {e.host}: {e.message}",
                                   e.fingerprint, e.changed, key_host=e.key_host) from None
            except TransportError as e:  # this host is unreachable while its jump host is
                raise HostUnreachable(self.name, f"jump host {self.jump.name}: "
                                                 f"{e.message}") from None
            try:
                return jump_ssh.open_channel("direct-tcpip", (self.address, self.port),
                                             ("127.0.0.1", 0), timeout=self.connect_timeout)
            except paramiko.ChannelException as e:
                raise HostUnreachable(self.name, f"jump host {self.jump.name} cannot reach "
                                                 f"{self.target}: {e.text}") from None
            except (paramiko.SSHException, EOFError, OSError) as e:
                self.jump._drop(jump_ssh)
                raise HostUnreachable(self.name, f"jump host {self.jump.name} failed to open "
                                                 f"a channel to {self.target}: {e}") from None
        try:
            sock = socket.create_connection((self.address, self.port),
                                            timeout=self.connect_timeout)
        except TimeoutError:
            raise HostUnreachable(self.name, f"no answer from {self.target} within "
                                             f"{self.connect_timeout:g} s") from None
        except ConnectionRefusedError:
            raise HostUnreachable(self.name, f"{self.target} refused the connection "
                                             f"(is sshd running?)") from None
        except OSError as e:
            raise HostUnreachable(self.name, f"cannot connect to {self.target}: "
                                             f"{e.strerror or e}") from None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small requests, no 40 ms waits
        # A host that vanishes without closing the connection: paramiko's
        # keepalive requests go unanswered, and TCP gives up after
        # TCP_USER_TIMEOUT instead of retrying for ~15 minutes, so the next
        # command reconnects (or reports the host unreachable) promptly.
        for opt, val in (("TCP_KEEPIDLE", self.keepalive), ("TCP_KEEPINTVL", 5),
                         ("TCP_KEEPCNT", 3),
                         ("TCP_USER_TIMEOUT", 1000 * max(10, 3 * self.keepalive))):
            if hasattr(socket, opt):
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), max(1, int(val)))
        return sock

    def _handshake(self) -> tuple[paramiko.Transport, paramiko.PKey, kh.KnownHosts]:
        """Connect and negotiate; returns the paramiko Transport (not yet
        authenticated) and the host key it offered."""
        import paramiko
        sock = self._socket()
        ssh = paramiko.Transport(sock)
        # paramiko's reader thread wakes every 0.1 s while idle (to notice
        # close(), which closes the socket anyway, and keepalive times): 1 s is
        # enough; 20 idle hosts then cost ~0.2 % of a core instead of ~1.8 %,
        # and the polls' threads meet fewer idle wake-ups on the GIL. (The
        # socket's timeout is what the reader waits on: paramiko's own
        # _active_check_timeout is read only in Transport.__init__, where it
        # sets that timeout, so setting the attribute afterwards did nothing.)
        ssh.sock.settimeout(1.0)
        # Our own bound (done.wait below) decides when a silent host has
        # failed; paramiko's timers are only a backstop. Set equal, paramiko's
        # banner timer (started in its thread, a moment before our wait) could
        # fire first on a busy machine and report a hung host as a failed
        # negotiation ("Error reading SSH protocol banner").
        ssh.banner_timeout = ssh.handshake_timeout = self.connect_timeout + BACKSTOP_MARGIN_S
        ssh.auth_timeout = max(10.0, 2 * self.connect_timeout)
        known = kh.KnownHosts(self.known_hosts_files)
        types = known.known_types(self.host_key_name)
        if types:  # ask for the kind of key we know (as ssh does)
            opts = ssh.get_security_options()
            offered = list(opts.key_types)
            first = [t for t in offered if t in types or
                     (t.startswith("rsa-sha2") and "ssh-rsa" in types)]
            opts.key_types = first + [t for t in offered if t not in first]
        # AES-GCM first (OpenSSH has it since 6.2): one AEAD call per packet
        # instead of AES-CTR plus an HMAC and paramiko's pure-Python MAC
        # comparison; ~0.3 ms less console CPU per telemetry poll, and less on
        # the host's sshd too. Other ciphers remain for servers without it.
        opts = ssh.get_security_options()
        aead = [c for c in opts.ciphers if c.endswith("-gcm@openssh.com")]
        opts.ciphers = aead + [c for c in opts.ciphers if c not in aead]
        done = threading.Event()
        try:
            ssh.start_client(event=done)
        except (paramiko.SSHException, OSError) as e:
            ssh.close()
            raise HostUnreachable(self.name, f"SSH negotiation with {self.target} failed: {e}") from None
        if not done.wait(self.connect_timeout):
            ssh.close()
            raise HostUnreachable(self.name, f"{self.target} accepted the connection but "
                                             f"sent no SSH answer within "
                                             f"{self.connect_timeout:g} s")
        if not ssh.is_active():
            err = ssh.get_exception()
            ssh.close()
            raise HostUnreachable(self.name, f"SSH negotiation with {self.target} failed"
                                             + (f": {err}" if err else ""))
        return ssh, ssh.get_remote_server_key(), known

    def fetch_host_key(self) -> paramiko.PKey:
        """The host key the host offers (for `dsconsole hosts trust`); trusts nothing."""
        ssh, key, _ = self._handshake()
        ssh.close()
        return key

    def trust_host_key(self, fingerprint: str) -> Path:
        """Trust the key the host offers, if it is the one the operator was
        shown (`fingerprint`, from a HostKeyError or fetch_host_key()): for a
        UI prompt. Adds it to dsconsole's own known_hosts and returns that
        file. Refuses (HostKeyError) when the host now offers another key, or
        when the host is known with another key (a changed key is never
        trusted by a prompt)."""
        key = self.fetch_host_key()
        offered = kh.fingerprint(key)
        if offered != fingerprint:
            raise HostKeyError(self.name, f"{self.host_key_name} now offers {offered}, not the "
                                          f"key {fingerprint} that was shown; nothing trusted",
                               offered, changed=True)
        return kh.trust(self.name, self.address, self.port, key, files=self.known_hosts_files,
                        host_name=self.host_key_name)

    def _open(self) -> paramiko.Transport:
        ssh, key, known = self._handshake()
        verdict = known.check(self.host_key_name, key)
        if verdict.status != "trusted":
            ssh.close()
            err = kh.refusal(self.name, self.host_key_name, key, verdict)
            (log.error if err.changed else log.warning)("%s", err)
            raise err
        try:
            self._authenticate(ssh)
        except BaseException:
            ssh.close()
            raise
        ssh.set_keepalive(self.keepalive)
        log.info("%s: connected to %s as %s%s", self.name, self.target, self.user,
                 f" via {self.jump.name}" if self.jump else "")
        return ssh

    def _keys(self) -> Iterator[tuple[str, paramiko.PKey]]:
        """(description, PKey) candidates: the agent's keys, then the identity
        files (or ~/.ssh/id_* when none is configured)."""
        import paramiko
        if os.environ.get("SSH_AUTH_SOCK"):
            try:
                for k in paramiko.Agent().get_keys():
                    yield "ssh-agent key", k
            except paramiko.SSHException:
                pass
        files = self.identity_files or tuple(str(Path.home() / ".ssh" / n) for n in DEFAULT_KEYS)
        for f in files:
            if not os.path.exists(f):
                continue
            try:
                yield f, paramiko.PKey.from_path(f)
            except paramiko.PasswordRequiredException:
                log.warning("%s: %s is encrypted; load it into ssh-agent to use it", self.name, f)
            except (paramiko.SSHException, OSError, ValueError) as e:
                log.warning("%s: cannot load key %s: %s", self.name, f, type(e).__name__)

    def _authenticate(self, ssh: paramiko.Transport) -> None:
        import paramiko
        tried: list[str] = []
        for desc, key in self._keys():
            tried.append(desc)
            try:
                ssh.auth_publickey(self.user, key)
            except paramiko.BadAuthenticationType as e:
                raise TransportError(self.name, f"{self.user}@{self.target} does not accept "
                                                f"public keys (allowed: {', '.join(e.allowed_types)})"
                                     ) from None
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise HostUnreachable(self.name, f"connection to {self.target} lost during "
                                                 f"authentication: {e}") from None
            if ssh.is_authenticated():
                return
        what = ", ".join(tried) if tried else "no key found (identity file, ~/.ssh/id_*, ssh-agent)"
        raise TransportError(self.name, f"public key authentication as {self.user} on "
                                        f"{self.target} failed (tried: {what})")

    # ------------------------------------------------------------ commands
    def _open_session(self, deadline: float) -> paramiko.Channel:
        """A new session channel, reconnecting once if the connection died."""
        import paramiko
        failures = 0
        released_until: float | None = None
        while True:
            ssh = self._connection()
            try:
                return ssh.open_session(timeout=max(0.1, min(self.connect_timeout,
                                                             deadline - time.monotonic())))
            except (paramiko.SSHException, EOFError, OSError) as e:
                if isinstance(e, paramiko.ChannelException):
                    # refused: sshd's MaxSessions, if the persistent shell held a session
                    if released_until is None and self._shell_gives_way():
                        released_until = time.monotonic() + 2.0
                    if released_until is not None and \
                            time.monotonic() < min(released_until, deadline):
                        time.sleep(0.05)  # sshd frees it once the shell has exited
                        continue
                # The connection died since it was last used; nothing ran yet,
                # so one fresh connection and a second try is safe.
                self._drop(ssh)
                failures += 1
                if failures == 2 or time.monotonic() >= deadline:
                    raise HostUnreachable(self.name, f"{self.target} did not open a session: "
                                                     f"{e or type(e).__name__}") from None

    def _shell_gives_way(self) -> bool:
        """sshd refused a session: where it allows only a few per connection
        (MaxSessions, hardened hosts), the persistent shell's session must not
        hold one. Closes an idle shell for good (plain execs from now on);
        False when there was none to close."""
        shell = self._shell
        if shell is None or not shell.alive() or not shell.try_acquire():
            return False
        try:
            shell.close()
        finally:
            shell.release()
        self._shell = None
        log.info("%s: sshd refused another session (MaxSessions?): its persistent shell "
                 "is closed, plain SSH execs from now on", self.name)
        return True

    def run_in_session(self, cmd: str, *, timeout: float | None = 30.0) -> CommandResult:
        """run() in this host's persistent shell session (ShellSession: no
        sshd session set-up and login shell per command; the command is run
        by /bin/sh, not the login shell); run() itself when
        the session is busy with another command, when the host has no shell
        for it, or once more when the session's shell ended mid-command."""
        shell = self._shell
        if shell is None or not shell.try_acquire():
            return self.run(cmd, timeout=timeout)
        timeout = NO_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            return shell.run(cmd, timeout)
        except SessionUnsupported as e:
            log.info("%s: %s; plain SSH execs from now on", self.name, e.message)
            self._shell = None
        except SessionLost:
            pass
        finally:
            shell.release()
        return self.run(cmd, timeout=max(0.1, deadline - time.monotonic()))

    def _exec(self, cmd: str, stdin: bytes | None, timeout: float | None
              ) -> tuple[int, bytes, bytes]:
        import paramiko
        if timeout is None:
            timeout = NO_TIMEOUT
        deadline = time.monotonic() + timeout
        chan: paramiko.Channel | None = self._open_session(deadline)
        assert chan is not None   # (None below only once it is handed over or closed)
        try:
            chan.exec_command(cmd)
            if stdin:
                chan.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    chan.sendall(stdin)
                except (OSError, EOFError):
                    if not chan.closed and not chan.exit_status_ready():
                        raise
                    # the command ended without reading all of its input
            _send_eof(chan)
            return self._collect(chan, deadline, cmd, timeout)
        except CommandTimeout:
            _end_command(chan)
            chan = None
            raise
        except TimeoutError:
            _end_command(chan)
            chan = None
            raise CommandTimeout(self.name, f"`{program_name(cmd)}` did not finish within "
                                            f"{timeout:g} s") from None
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(self.name, f"connection to {self.target} lost while "
                                             f"running `{program_name(cmd)}`: {e}") from None
        finally:
            if chan is not None:
                chan.close()

    def _collect(self, chan: paramiko.Channel, deadline: float, cmd: str,
                 timeout: float) -> tuple[int, bytes, bytes]:
        """stdout, stderr and exit status of a running command, both streams
        read as they come (a full stderr never blocks stdout)."""
        out, err = bytearray(), bytearray()

        def late() -> CommandTimeout:
            return CommandTimeout(self.name, f"`{program_name(cmd)}` did not finish within "
                                             f"{timeout:g} s")
        chan.setblocking(False)
        while True:
            while chan.recv_ready():
                out += chan.recv(65536)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(65536)
            if chan.eof_received or chan.closed:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise late()
            select.select([chan], [], [], left)
        # EOF: what is still buffered, then the exit status that follows it
        while chan.recv_ready():
            out += chan.recv(65536)
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
        if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
            raise late()
        status = chan.recv_exit_status()
        # No exit status: the command was ended by a signal (paramiko does not
        # report exit-signal; rc -1 then), or the connection died.
        transport = chan.get_transport()
        if status == -1 and (transport is None or not transport.is_active()):
            raise HostUnreachable(self.name, f"connection to {self.target} closed while "
                                             f"running `{program_name(cmd)}`")
        return status, bytes(out), bytes(err)

    def _as_root(self, command: str, sudo: bool, timeout: float | None) -> str:
        """`command` (a program and its quoted arguments) as root: as is for
        root, else through `sudo -n` and coreutils' `timeout`: a command run
        as root cannot be signalled by the login user (sshd's "signal" goes
        out as that user), so the host itself ends it shortly after our
        deadline, with its whole process group."""
        if not sudo or self.user == "root":
            return command
        limit = math.ceil(timeout if timeout is not None else NO_TIMEOUT) + 1
        return f"sudo -n -- timeout -k 2 {limit} {command}"

    def _check_sudo(self, sudo: bool, rc: int, err: bytes) -> None:
        if not sudo or self.user == "root" or rc == 0:
            return
        text = err.decode(errors="replace")
        if SUDO_WANTS_PASSWORD.search(text):
            raise SudoPasswordRequired(
                self.name, f"sudo on {self.name} wants a password for {self.user}; dsconsole "
                           f"runs `sudo -n` and never types passwords: give {self.user} "
                           f"passwordless sudo (NOPASSWD) or log in as root")
        if rc == 127 and re.search(r"sudo: (command )?not found", text):
            raise TransportError(self.name, f"sudo is not installed on {self.name}, and "
                                            f"{self.user} is not root")

    def run(self, cmd: str, *, timeout: float | None = 30.0, sudo: bool = False,
            stdin: bytes | None = None) -> CommandResult:
        if isinstance(stdin, str):
            stdin = stdin.encode()
        if sudo and self.user != "root":
            cmd = "sh -c " + shlex.quote(cmd)
        rc, out, err = self._exec(self._as_root(cmd, sudo, timeout), stdin, timeout)
        self._check_sudo(sudo, rc, err)
        return CommandResult(rc, out.decode(errors="replace"), err.decode(errors="replace"))

    def _script(self, script: str, args: list[str], sudo: bool, stdin: bytes | None,
                timeout: float) -> tuple[int, bytes, str]:
        cmd = "sh -c " + shlex.quote(script) + " sh " + " ".join(shlex.quote(a) for a in args)
        rc, out, err = self._exec(self._as_root(cmd, sudo, timeout), stdin, timeout)
        self._check_sudo(sudo, rc, err)
        return rc, out, err.decode(errors="replace").strip()

    def read(self, path: str, *, sudo: bool = False, timeout: float = 30.0) -> bytes:
        rc, out, err = self._script(READ_SCRIPT, [path], sudo, None, timeout)
        if rc == 0:
            return out
        if rc == 44:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory",
                                    f"{self.name}:{path}")
        if "Permission denied" in err:
            raise PermissionError(errno.EACCES, "Permission denied", f"{self.name}:{path}")
        raise TransportError(self.name, f"cannot read {path}: {err[-300:]}")

    def exists(self, path: str, *, sudo: bool = False) -> bool:
        rc, _, _ = self._script('test -e "$1"', [path], sudo, None, 30.0)
        return rc == 0

    def write(self, path: str, data: bytes, *, mode: int | None = None,
              sudo: bool = False, timeout: float = 30.0) -> None:
        if isinstance(data, str):
            data = data.encode()
        mode_arg = format(mode, "o") if mode is not None else ""
        rc, _, err = self._script(WRITE_SCRIPT, [path, mode_arg], sudo, data, timeout)
        if rc == 0:
            return
        if rc == 45:
            raise FileNotFoundError(errno.ENOENT, "No such directory", f"{self.name}:{path}")
        if "Permission denied" in err or "Operation not permitted" in err or rc == 46:
            raise PermissionError(errno.EACCES, f"cannot write (or keep the owner of) it: "
                                                f"{err[-200:]}", f"{self.name}:{path}")
        raise TransportError(self.name, f"cannot write {path}: {err[-300:]}")


def _end_command(chan: paramiko.Channel) -> None:
    """A timed-out command must not live on and pile up on a sick host (a hung
    nvidia-smi every poll): SIGTERM now (sudo passes it on to the command it
    runs as root), SIGKILL 2 s later if it still runs, then the channel is
    closed; in the background, the caller does not wait for it."""
    def finish() -> None:
        try:
            if not chan.status_event.wait(2):
                _signal(chan, "KILL")
                chan.status_event.wait(2)
        finally:
            chan.close()
    _signal(chan, "TERM")
    threading.Thread(target=finish, name="ssh-end-command", daemon=True).start()


def _send_on_open_channel(chan: paramiko.Channel, build: Callable[[], paramiko.Message | None]) -> None:
    """Send the message `build()` makes for `chan`, unless the channel is
    closed. sshd drops the whole connection, every other command on it
    included, for a message naming a channel it has freed ("... referred to
    nonexistent channel"); so the check and the send happen under the channel's
    lock, which paramiko's reader thread takes to answer the server's CLOSE:
    our message then always goes out before our CLOSE. (paramiko's own
    shutdown_write() builds its EOF under that lock but sends it after
    releasing it, and a quick command's CLOSE can overtake it: with six
    commands at once on one connection that dropped it in about one run of
    three.) Best effort: the connection may be gone already."""
    try:
        with chan.lock:
            if chan.closed:
                return
            m = build()
            transport = chan.transport
            if m is not None and transport is not None:
                # private (no public way to send under the channel's lock): pinned by
                # tests/test_library_hooks.py; the stubs leave it out, hence the ignore
                transport._send_user_message(m)  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a dead connection is reported by the caller's read
        pass


def _send_eof(chan: paramiko.Channel) -> None:
    """End the command's stdin (chan.shutdown_write(), race-free; see above)."""
    # private, pinned by tests/test_library_hooks.py (left out of paramiko's stubs)
    _send_on_open_channel(chan, chan._send_eof)  # type: ignore[attr-defined]


def _signal(chan: paramiko.Channel, name: str) -> None:
    """Ask sshd to signal the command's process group (RFC 4254 6.9 "signal",
    which OpenSSH's sshd honours, as the login user). paramiko has no API for
    this request; best effort, never on a closed channel (see above)."""
    import paramiko

    def build() -> paramiko.Message:
        m = paramiko.Message()
        m.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
        m.add_int(chan.remote_chanid)
        m.add_string("signal")
        m.add_boolean(False)
        m.add_string(name)
        return m
    _send_on_open_channel(chan, build)


def _quietly(close: Callable[[], object], name: str, what: str) -> None:
    """Run a close; a failure (EOFError, OSError, SSHException on a connection
    that is already gone) is logged, never raised: closing must not lose what
    the caller has (a telemetry round's results) nor stop it closing the rest."""
    try:
        close()
    except Exception as e:  # noqa: BLE001 - see above
        log.info("%s: closing the %s: %s", name, what, type(e).__name__)


def _jump_depth(t: Transport) -> int:
    """How many jump hosts stand before `t` (0 for a transport without .jump)."""
    depth, seen = 0, set()
    hop: object = t
    while (nxt := getattr(hop, "jump", None)) is not None and id(hop) not in seen:
        seen.add(id(hop))
        depth, hop = depth + 1, nxt
    return depth


def close_transports(transports: Iterable[Transport]) -> None:
    """Close transports (any Transport), hosts behind a jump host before the
    jump host (a channel closed after the connection it runs in fails:
    EOFError). Never raises."""
    for t in sorted(transports, key=_jump_depth, reverse=True):
        _quietly(t.close, getattr(t, "name", "?"), "transport")


def ssh_config_resolve(name: str, address: str | None, user: str | None, port: int | None,
                       identity_file: IdentityFiles, path: SshConfigPath,
                       proxy_jump: str | None = None) -> ssh_config.HostSettings:
    files = None
    if identity_file:
        files = ([os.path.expanduser(str(identity_file))]
                 if isinstance(identity_file, (str, os.PathLike))
                 else [os.path.expanduser(str(f)) for f in identity_file])
    try:
        return ssh_config.resolve(name, address=address, user=user, port=port,
                                  identity_file=files, proxy_jump=proxy_jump, path=path)
    except ssh_config.SshConfigError as e:
        raise TransportError(name, str(e)) from None


# Jump hosts named in ssh config are shared by every host behind them (one
# connection to the bastion), released with their last user.
_JumpKey = tuple[str, str, tuple[str, ...], int, int | None]
_jumps: dict[_JumpKey, list] = {}   # key -> [the _SharedJump, how many hosts use it]
_jumps_lock = threading.Lock()


class _SharedJump(SshTransport):
    _key: _JumpKey    # set by _jump_chain, which made it

    def close(self) -> None:
        with _jumps_lock:
            entry = _jumps.get(self._key)
            if entry is not None:
                entry[1] -= 1
                if entry[1] > 0:
                    return
                del _jumps[self._key]
        super().close()


def _jump_chain(hops: Iterable[ssh_config.JumpHop], config_path: SshConfigPath,
                known_files: list[Path], connect_timeout: float, keepalive: int,
                explicit_known: bool) -> SshTransport | None:
    """The transport of the last hop of a ProxyJump list, each hop reached
    through the previous one (the first hop through its own config)."""
    jump: SshTransport | None = None
    for i, hop in enumerate(hops):
        key = (str(hop), str(config_path), tuple(map(str, known_files)), i,
               id(jump) if jump else None)
        with _jumps_lock:
            entry = _jumps.get(key)
            if entry is not None:
                entry[1] += 1
                jump = entry[0]
                continue
        t = _SharedJump(hop.host, None, user=hop.user, port=hop.port,
                        jump=jump, ssh_config=config_path,
                        known_hosts=known_files if explicit_known else None,
                        connect_timeout=connect_timeout, keepalive=keepalive)
        if i == 0:  # the first hop follows its own ProxyJump, if its config has one
            own = ssh_config_resolve(hop.host, None, hop.user, hop.port, None, config_path)
            if own.proxy_jump:
                t.jump = _jump_chain(own.proxy_jump, config_path, known_files,
                                     connect_timeout, keepalive, explicit_known)
                t._owns_jump = True
        t._key = key
        with _jumps_lock:
            _jumps[key] = [t, 1]
        jump = t
    return jump


class HostEntry(Protocol):
    """A host as transports_for_hosts needs it (console.site_config.HostConfig)."""
    @property
    def name(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def user(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...
    @property
    def jump(self) -> str | None: ...
    @property
    def identity_file(self) -> str | None: ...


def transports_for_hosts(hosts: Iterable[HostEntry], *, ssh_config: SshConfigPath = None,
                         known_hosts: Iterable[str | os.PathLike[str]] | None = None,
                         connect_timeout: float = 5.0) -> dict[str, SshTransport]:
    """SshTransports for a site file's hosts (console.site_config.HostConfig:
    name, address, user, port, jump, identity_file). A `jump` naming another
    host of the list goes through that host's transport; any other jump name is
    looked up in ssh config."""
    by_name = {h.name: h for h in hosts}
    made: dict[str, SshTransport] = {}

    def build(h: HostEntry, depth: int = 0) -> SshTransport:
        if h.name in made:
            return made[h.name]
        if depth > len(by_name):
            raise TransportError(h.name, "jump hosts form a loop")
        jump: SshTransport | None = None
        if h.jump:
            if h.jump in by_name:
                jump = build(by_name[h.jump], depth + 1)
            else:
                jump = SshTransport(h.jump, ssh_config=ssh_config, known_hosts=known_hosts,
                                    connect_timeout=connect_timeout)
        t = SshTransport(h.name, h.address, user=h.user, port=h.port,
                         identity_file=h.identity_file, jump=jump, ssh_config=ssh_config,
                         known_hosts=known_hosts, connect_timeout=connect_timeout)
        made[h.name] = t
        return t

    for h in hosts:
        build(h)
    return made
