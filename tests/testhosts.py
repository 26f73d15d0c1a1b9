"""Real SSH test hosts: the `test_hosts` pytest fixture (README.md, "SSH hosts").

Each test host is a network namespace on this machine with its own address,
running Debian's OpenSSH sshd inside its own mount, UTS and PID namespace
(`ps`, `pgrep`, `kill` in a host see only that host's processes):

    this machine (root netns)                    test host netns "dsth<slot>-<pid>"
    dsv<slot> 10.201.A.B/32  <---- veth ---->    dsp<slot> 10.200.A.B/32 (default route back)
    (the /32 peer route makes 10.200.A.B reachable from here and only from here)

A host started `behind=` another host has its veth peer in the jump host's
namespace instead; this machine holds an `unreachable` route for its address,
so the only way in is through the jump host (ProxyJump).

Inside, tests/testhosts/hostinit.py sets up the host's private view (overlays
on /etc and /usr/local; tmpfs on /run, /root, /home, /tmp; /proc/sys and /sys
read-only with writable files bind-mounted over vm.swappiness and the
transparent-hugepage files, kept in the kernel's form by an inotify watcher:
see that file) and supervises sshd. Nothing a test does inside a host changes
this machine; vm.* sysctls are global, so no other sysctl is writable there.

Addresses: slot k (0 <= k < 62500) gives host 10.200.A.B and this side's
10.201.A.B with A = k // 250, B = k % 250 + 2. Slots are claimed under a lock
file (/tmp/dsconsole-testhosts/lock) so concurrent test runs on the machine
never collide; a slot whose owner process died is cleaned and reused.

Login users: root always; `ops` (uid 4242, passwordless sudo) with
login="ops"; `ops` whose sudo needs a password with login="ops-pw". One client
key (ed25519) per test session, one generated ed25519 host key per host.

The replaying nvidia-smi (tests/data/gpu/nvidia-smi, answers from output
recorded on a real H200) is copied with its recording into the host's
/usr/local/lib/dsconsole-fake-gpu and put on PATH as /usr/local/bin/nvidia-smi (a symlink).

Teardown ends every process of each host, deletes the veth, the namespace and
the routes, and asserts that none of it is left.

API:
    hosts = test_hosts.start(n=1, login="root"|"ops"|"ops-pw", behind=None|TestHost,
                             grub=True, tuned=None|"hpc-compute", nvidia_smi="h200"|None,
                             gpu_variant=None|dict, names=None|[...],
                             tunables="auto"|"inotify")   -> list[TestHost]
    test_hosts.known_hosts_file, test_hosts.ssh_config_file (all hosts started so far;
        `ssh -F <ssh_config_file> NAME` works), test_hosts.hosts
    TestHost: name address port user identity_file jump fingerprint known_hosts_line
        gateway (this machine's address as the host sees it, or the jump host's)
        sh(cmd, check=False, timeout=30, input=None) -> CompletedProcess (root, in the host)
        transport(**kw) -> SshTransport (fixture's known_hosts and ssh_config; closed at teardown)
        stop_sshd() kill_sshd() start_sshd() pause_sshd() resume_sshd() rekey()
A host reaches this machine (its `gateway`), not other hosts (that would need
IP forwarding here, a setting of this machine); a host behind a jump host
reaches the jump host.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import marshal
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
HOSTINIT = HERE / "testhosts" / "hostinit.py"
# Imported rather than run as a script, so its byte code is cached; the config
# travels as marshal (no json import in every host's init).
INIT_STUB = (f"import sys; sys.path.insert(0, {str(HOSTINIT.parent)!r}); "
             "import hostinit; sys.exit(hostinit.main())")
GPU_DATA = HERE / "data" / "gpu"
STATE = Path(tempfile.gettempdir()) / "dsconsole-testhosts"
SLOTS = 62500
OPS_UID = 4242
SSHD = "/usr/sbin/sshd"


# ---------------------------------------------------------------- helpers
def _ip(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run(["ip", *args], input=input, capture_output=True, text=True, timeout=20)
    if check and p.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {p.stderr.strip()}")
    return p


def _batch(commands: list[str], netns: str | None = None) -> None:
    """Several ip commands in one process (`ip -batch -`)."""
    args = (["-n", netns] if netns else []) + ["-batch", "-"]
    _ip(*args, input="\n".join(commands) + "\n")


def fingerprint_of_pub(pub_line: str) -> str:
    """'ssh-ed25519 AAAA... comment' -> 'SHA256:...' as OpenSSH prints it."""
    blob = base64.b64decode(pub_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _keygen(path: Path, comment: str) -> str:
    for p in (path, path.with_suffix(".pub")):
        p.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, timeout=20)
    return Path(str(path) + ".pub").read_text().strip()


def slot_address(slot: int) -> tuple[str, str]:
    """(host address, this side's address) of a slot."""
    a, b = divmod(slot, 250)
    return f"10.200.{a}.{b + 2}", f"10.201.{a}.{b + 2}"


def _pid_alive(pid: int) -> bool:
    """True for a running process (a zombie waiting to be reaped is dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _netns_names() -> list[str]:
    p = _ip("netns", "list", check=False)
    return [line.split()[0] for line in p.stdout.splitlines() if line.strip()]


def _netns_pids(name: str) -> list[int]:
    p = _ip("netns", "pids", name, check=False)
    return [int(x) for x in p.stdout.split()]


def _clean_slot(slot: int) -> None:
    """Remove what a dead test run left in a slot: processes in its namespace
    (only processes inside that namespace, which only a test host runs), its
    namespace, veth and route."""
    address, _ = slot_address(slot)
    for ns in _netns_names():
        if ns.startswith(f"dsth{slot}-"):
            for pid in _netns_pids(ns):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            _ip("netns", "del", ns, check=False)
    _ip("link", "del", f"dsv{slot}", check=False)
    _ip("route", "del", f"{address}/32", check=False)


class _Slots:
    """Machine-wide allocation of address slots (a file per claimed slot)."""

    def __init__(self):
        STATE.mkdir(exist_ok=True)
        (STATE / "slots").mkdir(exist_ok=True)
        self.lock = STATE / "lock"
        self.sweep()

    def sweep(self) -> None:
        """Clean the slots of test runs that died without their teardown."""
        with open(self.lock, "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            for f in (STATE / "slots").iterdir():
                try:
                    owner = int(f.read_text().split()[0])
                except (ValueError, IndexError, OSError):
                    continue
                if not _pid_alive(owner):
                    _clean_slot(int(f.name))
                    f.unlink(missing_ok=True)
            for d in STATE.iterdir():  # run-<pid>-*, session-<pid>-* of dead runs
                parts = d.name.split("-")
                if d.is_dir() and len(parts) > 2 and parts[1].isdigit() \
                        and not _pid_alive(int(parts[1])):
                    shutil.rmtree(d, ignore_errors=True)

    def claim(self) -> int:
        with open(self.lock, "a") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)
            taken = {}
            for f in (STATE / "slots").iterdir():
                try:
                    taken[int(f.name)] = int(f.read_text().split()[0])
                except (ValueError, IndexError, OSError):
                    pass
            start = (os.getpid() * 97) % SLOTS
            for i in range(SLOTS):
                slot = (start + i) % SLOTS
                owner = taken.get(slot)
                if owner is not None and _pid_alive(owner):
                    continue
                if owner is not None:
                    _clean_slot(slot)
                (STATE / "slots" / str(slot)).write_text(f"{os.getpid()}\n")
                return slot
            raise RuntimeError("no free test host slot")

    def release(self, slot: int) -> None:
        (STATE / "slots" / str(slot)).unlink(missing_ok=True)


# ---------------------------------------------------------------- environment
_probe_result: str | None = None  # None = not probed; "" = ok; else the reason to skip


def _probe() -> str:
    """Why test hosts cannot run here ('' when they can). Probed once per session."""
    global _probe_result
    if _probe_result is not None:
        return _probe_result
    reason = ""
    if os.geteuid() != 0:
        reason = "test hosts need root (network namespaces, mounts); run the tests as root"
    else:
        missing = [t for t in ("ip", "unshare", "nsenter", "ssh-keygen") if not shutil.which(t)]
        if not os.access(SSHD, os.X_OK):
            missing.append(SSHD)
        if missing:
            reason = (f"test hosts need {', '.join(missing)} "
                      "(tests/install-deps.sh installs openssh-server, iproute2, util-linux)")
    if not reason:
        ns = f"dsthprobe-{os.getpid()}"
        p = subprocess.run(
            ["sh", "-c", f'ip netns add {ns} && ip netns exec {ns} unshare --mount --uts --pid '
                         f'--fork --propagation private sh -c "mount -t tmpfs tmpfs /run && '
                         f'mkdir /run/u /run/w && mount -t overlay overlay '
                         f'-o lowerdir=/etc,upperdir=/run/u,workdir=/run/w /etc"; '
                         f'rc=$?; ip netns del {ns}; exit $rc'],
            capture_output=True, text=True, timeout=20)
        if p.returncode != 0:
            reason = ("test hosts need network, mount, UTS and PID namespaces, tmpfs and "
                      f"overlayfs; this machine refused: {p.stderr.strip()[:300]}")
    _probe_result = reason
    return reason


def require_test_hosts() -> None:
    reason = _probe()
    if reason:
        pytest.skip(reason)


# ---------------------------------------------------------------- one host
@dataclass(eq=False)
class TestHost:
    """One running test host. See the module docstring."""
    __test__ = False  # not a test class, despite the name

    name: str
    address: str
    port: int
    user: str
    identity_file: str
    jump: TestHost | None
    fingerprint: str
    known_hosts_line: str
    slot: int
    netns: str
    dir: Path
    gateway: str
    _factory: TestHostFactory = field(repr=False)
    _proc: subprocess.Popen | None = field(default=None, repr=False)
    init_pid: int = 0
    netns_inode: int = 0
    tunables: str = ""  # "fuse": kernel-exact tunable files; "inotify": the fallback
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- control of the host's init (hostinit.py)
    def _request(self, line: str, timeout: float = 15.0) -> str:
        with self._lock:
            assert self._proc and self._proc.poll() is None, f"{self.name}: host is not running"
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
            answer = self._readline(timeout)
        if answer != "ok":
            raise RuntimeError(f"test host {self.name}: {line}: {answer} "
                               f"(sshd log: {self.dir / 'sshd.log'})")
        return answer

    def _readline(self, timeout: float) -> str:
        r, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not r:
            return f"no answer within {timeout} s"
        return self._proc.stdout.readline().strip() or "init process ended"

    def start_sshd(self) -> None:
        """Start sshd (again); returns once it listens."""
        self._request("start")

    def stop_sshd(self) -> None:
        """Stop sshd and every process of the host (SIGTERM): established SSH
        connections drop, as when the host goes down."""
        self._request("stop")

    def kill_sshd(self) -> None:
        """Like stop_sshd() with SIGKILL."""
        self._request("kill")

    def pause_sshd(self) -> None:
        """SIGSTOP every sshd process: connections are accepted by the kernel
        but nothing answers (a hung host). resume_sshd() undoes it."""
        self._request("pause")

    def resume_sshd(self) -> None:
        self._request("resume")

    def rekey(self) -> None:
        """Give the host a new host key (sshd restarted); `fingerprint` and
        `known_hosts_line` change, the fixture's known_hosts file does NOT
        (so a transport trusting the old key sees a changed key)."""
        pub = _keygen(self.dir / "ssh_host_ed25519_key", self.name)
        self.stop_sshd()
        key = (self.dir / "ssh_host_ed25519_key").read_text()
        self.sh("umask 077; cat > /etc/ssh/ssh_host_ed25519_key", input=key, check=True)
        self.sh("cat > /etc/ssh/ssh_host_ed25519_key.pub", input=pub + "\n", check=True)
        self.start_sshd()
        self.fingerprint = fingerprint_of_pub(pub)
        self.known_hosts_line = f"{self.address} {' '.join(pub.split()[:2])}"

    def sh(self, cmd: str, *, check: bool = False, timeout: float = 30.0,
           input: str | bytes | None = None) -> subprocess.CompletedProcess:
        """Run `cmd` with /bin/sh as root inside the host's namespaces (for test
        set-up and assertions; the code under test goes through SSH). Output is
        text unless `input` is bytes."""
        text = not isinstance(input, bytes)
        p = subprocess.run(["nsenter", "-t", str(self.init_pid), "-n", "-u", "-m", "-p",
                            "/bin/sh", "-c", cmd], input=input, capture_output=True,
                           text=text, timeout=timeout, cwd="/")
        if check and p.returncode != 0:
            raise AssertionError(f"{self.name}: `{cmd}` exited {p.returncode}: {p.stderr}")
        return p

    def transport(self, **kw):
        """An SshTransport to this host, logged in as `user`, trusting the
        fixture's known_hosts file; closed at teardown."""
        from console.hosts.ssh import SshTransport
        if self.jump is not None and "jump" not in kw:
            kw["jump"] = self.jump.transport()
        kw.setdefault("ssh_config", str(self._factory.ssh_config_file))
        kw.setdefault("known_hosts", [str(self._factory.known_hosts_file)])
        kw.setdefault("user", self.user)
        kw.setdefault("port", self.port)
        kw.setdefault("identity_file", self.identity_file)
        t = SshTransport(self.name, self.address, **kw)
        self._factory._transports.append(t)
        return t

    # -- lifecycle (called by the factory)
    def _launch(self, cfg: dict) -> None:
        cmd = ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--pid",
               "--propagation", "private", "--kill-child",
               sys.executable, "-S", "-c", INIT_STUB, marshal.dumps(cfg).hex()]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=open(self.dir / "init.log", "ab"), text=True,
                                      cwd="/")
        line = self._readline(15)
        if not line.startswith("ready "):
            raise RuntimeError(f"test host {self.name} did not start: {line} "
                               f"({(self.dir / 'init.log').read_text()[-500:]})")
        self.init_pid = int(line.split()[1])
        self.tunables = line.split()[2]
        self.netns_inode = os.stat(f"/proc/{self.init_pid}/ns/net").st_ino

    def _shutdown(self) -> list[str]:
        """End the host; returns what was left behind (empty when clean)."""
        problems = []
        if self._proc and self._proc.poll() is None:
            try:
                self._proc.stdin.write("exit\n")
                self._proc.stdin.flush()
                self._proc.stdin.close()
                self._proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()  # --kill-child takes the init with it
                self._proc.wait(timeout=5)
                problems.append(f"{self.name}: init did not exit in time, killed")
        if self._proc and self._proc.stdout:
            self._proc.stdout.close()
        left = [p for p in _netns_pids(self.netns)] if self.netns in _netns_names() else []
        left += [p for p in _pids_in_netns(self.netns_inode) if p not in left]
        if left:
            problems.append(f"{self.name}: processes left in the host: {left}")
            for p in left:
                try:
                    os.kill(p, 9)
                except ProcessLookupError:
                    pass
        if self.jump is not None:
            _ip("-n", self.jump.netns, "link", "del", f"dsv{self.slot}", check=False)
            _ip("route", "del", "unreachable", f"{self.address}/32", check=False)
        else:
            _ip("link", "del", f"dsv{self.slot}", check=False)
        _ip("netns", "del", self.netns, check=False)
        return problems

    def _leftovers(self) -> list[str]:
        """What of this host still exists on the machine."""
        out = []
        if self.netns in _netns_names() or os.path.exists(f"/run/netns/{self.netns}"):
            out.append(f"network namespace {self.netns}")
        if _ip("link", "show", f"dsv{self.slot}", check=False).returncode == 0:
            out.append(f"veth dsv{self.slot}")
        routes = _ip("route", "show", "table", "all", check=False).stdout
        if any(w[:1] == [self.address] or w[:2] == ["unreachable", self.address]
               or self.gateway in w for w in map(str.split, routes.splitlines())):
            out.append(f"route to {self.address}")
        with open("/proc/self/mountinfo") as f:
            mounts = [line for line in f if self.netns in line or str(self.dir) in line]
        if mounts:
            out.append(f"mounts: {mounts}")
        pids = _pids_in_netns(self.netns_inode)
        if pids:
            out.append(f"processes {pids}")
        return out


def _pids_in_netns(inode: int) -> list[int]:
    out = []
    if not inode:
        return out
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat(f"/proc/{p}/ns/net").st_ino == inode:
                    out.append(int(p))
            except OSError:
                pass
    return out


# ---------------------------------------------------------------- the factory
class TestHostFactory:
    """What the `test_hosts` fixture yields."""
    __test__ = False

    def __init__(self, session: _Session):
        self._session = session
        self._hosts: list[TestHost] = []
        self._transports: list = []
        self._count = 0
        self._lock = threading.Lock()
        self.dir = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=STATE))
        self.dir.chmod(0o755)
        self.known_hosts_file = self.dir / "known_hosts"
        self.ssh_config_file = self.dir / "ssh_config"
        self.known_hosts_file.write_text("")
        self.ssh_config_file.write_text("")

    @property
    def hosts(self) -> list[TestHost]:
        return list(self._hosts)

    def start(self, n: int = 1, *, login: str = "root", behind: TestHost | None = None,
              grub: bool = True, tuned: str | None = None,
              nvidia_smi: str | None = "h200", gpu_variant: dict | None = None,
              names: list[str] | None = None, tunables: str = "auto") -> list[TestHost]:
        """Start `n` hosts in parallel and return them (sshd listening).

        login: "root", "ops" (passwordless sudo) or "ops-pw" (sudo wants a password).
        behind: reachable only through that host (ProxyJump).
        grub: /etc/default/grub present (Debian's default) or absent.
        tuned: an active tuned profile name (and a tuned-adm reporting it).
        nvidia_smi: the recording the replaying nvidia-smi answers from
            (tests/data/gpu/<name>); None: no nvidia-smi on the host.
        gpu_variant: written as /etc/dsconsole-fake-gpu.json (see tests/data/gpu/nvidia-smi).
        names: host names (default th1, th2, ... in start order).
        tunables: "auto" (kernel-exact FUSE files where /dev/fuse works, else the
            inotify fallback) or "inotify" (the fallback, to test it).
        """
        if login not in ("root", "ops", "ops-pw"):
            raise ValueError(f"login must be root, ops or ops-pw, not {login!r}")
        if login != "root" and not shutil.which("sudo"):
            pytest.skip("test hosts with login 'ops' need sudo installed "
                        "(tests/install-deps.sh installs it)")
        with self._lock:
            if names is None:
                names = [f"th{self._count + i + 1}" for i in range(n)]
            self._count += len(names)
        with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
            futures = [pool.submit(self._start_one, name, login, behind, grub, tuned,
                                   nvidia_smi, gpu_variant, tunables) for name in names]
            errors, hosts = [], []
            for f in futures:
                try:
                    hosts.append(f.result())
                except Exception as e:  # the others are torn down with the fixture
                    errors.append(e)
        if errors:
            raise errors[0]
        self._write_client_files()
        return hosts

    def _start_one(self, name, login, behind, grub, tuned, nvidia_smi, gpu_variant,
                   tunables) -> TestHost:
        slot = self._session.slots.claim()
        address, peer = slot_address(slot)
        hdir = self.dir / name
        hdir.mkdir(mode=0o755)
        pub = _keygen(hdir / "ssh_host_ed25519_key", name)
        host = TestHost(
            name=name, address=address, port=22,
            user="root" if login == "root" else "ops",
            identity_file=str(self._session.client_key), jump=behind,
            fingerprint=fingerprint_of_pub(pub),
            known_hosts_line=f"{address} {' '.join(pub.split()[:2])}",
            slot=slot, netns=f"dsth{slot}-{os.getpid()}", dir=hdir, gateway=peer,
            _factory=self)
        with self._lock:
            self._hosts.append(host)  # from here on, teardown cleans it up
        self._network(host, peer)
        users = []
        if login != "root":
            rule = "NOPASSWD: ALL" if login == "ops" else "ALL"
            users.append({"name": "ops", "uid": OPS_UID, "sudo": f"ops ALL=(ALL:ALL) {rule}"})
        gpu = None
        if nvidia_smi:
            script, data = GPU_DATA / "nvidia-smi", GPU_DATA / nvidia_smi
            if script.exists() and data.is_dir():
                gpu = {"script": str(script), "data": str(data),
                       "variant": None if gpu_variant is None else json.dumps(gpu_variant)}
        (hdir / "sshd_config").write_text(SSHD_CONFIG.format(address=address))
        cfg = {"name": name, "address": address, "dir": str(hdir), "users": users,
               "authorized_key": str(self._session.client_key) + ".pub",
               "grub": grub, "tuned": tuned, "nvidia_smi": gpu, "tunables": tunables}
        host._launch(cfg)
        host.start_sshd()
        return host

    def _network(self, host: TestHost, peer: str) -> None:
        ns, s, addr = host.netns, host.slot, host.address
        _ip("netns", "add", ns)
        if host.jump is None:
            _batch([f"link add dsv{s} type veth peer name dsp{s} netns {ns}",
                    f"addr add {peer}/32 peer {addr}/32 dev dsv{s}",
                    f"link set dsv{s} up"])
        else:
            # the near end lives in the jump host: no way in from here
            _batch([f"link add dsv{s} netns {host.jump.netns} type veth peer name dsp{s} netns {ns}",
                    f"route add unreachable {addr}/32"])
            _batch([f"addr add {peer}/32 peer {addr}/32 dev dsv{s}",
                    f"link set dsv{s} up"], netns=host.jump.netns)
        _batch([f"addr add {addr}/32 peer {peer}/32 dev dsp{s}",
                f"link set dsp{s} up", "link set lo up",
                f"route add default via {peer}"], netns=ns)

    def _write_client_files(self) -> None:
        """known_hosts and ssh_config for every host started so far."""
        with self._lock:
            hosts = list(self._hosts)
        self.known_hosts_file.write_text("".join(h.known_hosts_line + "\n" for h in hosts))
        blocks = []
        for h in hosts:
            blocks.append(
                f"Host {h.name}\n    HostName {h.address}\n    Port {h.port}\n    User {h.user}\n"
                f"    IdentityFile {h.identity_file}\n    IdentitiesOnly yes\n"
                f"    UserKnownHostsFile {self.known_hosts_file}\n"
                f"    GlobalKnownHostsFile /dev/null\n    StrictHostKeyChecking yes\n"
                f"    BatchMode yes\n"
                + (f"    ProxyJump {h.jump.name}\n" if h.jump else ""))
        self.ssh_config_file.write_text("\n".join(blocks))

    def _teardown(self) -> None:
        for t in self._transports:
            try:
                t.close()
            except Exception:
                pass
        problems = []
        # hosts behind others first (their veth ends live in the jump hosts),
        # each group in parallel
        hosts = self._hosts
        for group in ([h for h in hosts if h.jump is not None],
                      [h for h in hosts if h.jump is None]):
            if group:
                with ThreadPoolExecutor(max_workers=min(8, len(group))) as pool:
                    for left in pool.map(TestHost._shutdown, group):
                        problems += left
        for h in hosts:
            deadline = time.monotonic() + 5
            while (left := h._leftovers()) and time.monotonic() < deadline:
                time.sleep(0.05)  # the kernel frees a netns asynchronously
            if left:
                problems.append(f"{h.name}: left behind: {'; '.join(left)}")
            self._session.slots.release(h.slot)
        shutil.rmtree(self.dir, ignore_errors=True)
        assert not problems, "test host teardown: " + " | ".join(problems)


SSHD_CONFIG = """\
# sshd of a dsconsole test host (tests/testhosts.py)
Port 22
ListenAddress {address}
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile /etc/ssh/authorized_keys/%u
StrictModes no
UseDNS no
MaxStartups 200:30:400
MaxSessions 64
PrintMotd no
X11Forwarding no
AllowTcpForwarding yes
Subsystem sftp internal-sftp
LogLevel INFO
"""


class _Session:
    """Per-session state: the client key and the slot allocator."""

    def __init__(self):
        STATE.mkdir(exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"session-{os.getpid()}-", dir=STATE))
        self.dir.chmod(0o755)
        self.client_key = self.dir / "client_ed25519"
        _keygen(self.client_key, "dsconsole-tests")
        self.slots = _Slots()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


_session: _Session | None = None


@pytest.fixture(scope="session")
def _test_hosts_session():
    global _session
    yield
    if _session is not None:
        _session.close()
        _session = None


@contextlib.contextmanager
def standalone_test_hosts():
    """The factory outside pytest (benchmarks/): `with standalone_test_hosts() as
    hosts: hosts.start(20)`; everything is torn down (and checked) on exit.
    RuntimeError with the reason where test hosts cannot run."""
    reason = _probe()
    if reason:
        raise RuntimeError(reason)
    session = _Session()
    factory = TestHostFactory(session)
    try:
        yield factory
    finally:
        try:
            factory._teardown()
        finally:
            session.close()


@pytest.fixture
def test_hosts(_test_hosts_session):
    """Factory of real sshd test hosts; see TestHostFactory.start()."""
    global _session
    require_test_hosts()
    if _session is None:
        _session = _Session()
    factory = TestHostFactory(_session)
    try:
        yield factory
    finally:
        factory._teardown()
