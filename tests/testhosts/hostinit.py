"""Init process of one test host (tests/testhosts.py starts it).

Runs as root inside the host's own network namespace (`ip netns exec`) and a
fresh mount, UTS and PID namespace (`unshare --mount --uts --pid
--propagation private`), where it is PID 1.
It builds the host's private view of the machine, then stays alive as the
host's supervisor:

  * hostname; its own /proc; tmpfs on /run (with /run/sshd), /root, /home, /tmp,
    /var/tmp, /dev/shm;
  * overlays on /etc and /usr/local (writes land in an upper dir on a tmpfs
    under /run/.testhost, never on this machine's disk); a fresh /root;
  * /proc/sys and /sys re-mounted read-only, then writable files mounted
    over /proc/sys/vm/swappiness and /sys/kernel/mm/transparent_hugepage/
    {enabled,defrag}. Every other sysctl write inside the host fails instead
    of changing the machine (vm.* and kernel.* sysctls are global);
  * those files behave like the kernel's: tunablefs.py serves each through
    FUSE, so a write of `never` to .../enabled is answered synchronously and
    reads back `always madvise [never]`, an invalid value fails with EINVAL.
    Where FUSE is unavailable, plain files are bind-mounted instead and a
    watcher (inotify, IN_CLOSE_WRITE) rewrites each write into kernel form
    right after the writer closes the file (a read in that same instant can
    then still see the raw write; an invalid value is undone, not refused);
  * sshd (`/usr/sbin/sshd -D -e -f /etc/ssh/sshd_config`) as its child.

Control protocol, one line each way over stdin/stdout:
  start | stop | kill | pause | resume | exit  ->  "ok" or "error <text>"
stop/kill end sshd AND every other process of the host (established
connections drop, as when a host goes down); pause/resume SIGSTOP/SIGCONT the
sshd processes (a hung host: TCP connects, nothing answers). EOF on stdin (the
test process died) ends every process of the host and this one, so a crashed
test run leaves no process behind.

argv[1]: the config from tests/testhosts.py (marshal, hex).
"""
import ctypes
import marshal
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
IN_CLOSE_WRITE = 0x08
PRIV = "/run/.testhost"

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]


def mount(source, target, fstype=None, flags=0, data=None):
    def enc(s):
        return s.encode() if s is not None else None
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype or 'bind'} {source} on {target}: {os.strerror(err)}")


def write(path, text, mode=0o644, uid=0, gid=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    os.chown(path, uid, gid)


def overlay(target, name):
    upper, work = f"{PRIV}/{name}/upper", f"{PRIV}/{name}/work"
    os.makedirs(upper)
    os.makedirs(work)
    mount("overlay", target, "overlay", 0,
          f"lowerdir={target},upperdir={upper},workdir={work}")


# Kernel forms of the tunables the test hosts present.
THP_ENABLED = ("always", "madvise", "never")
THP_DEFRAG = ("always", "defer", "defer+madvise", "madvise", "never")


def thp_form(choices, strict=True):
    """Kernel form after a write: a write of `never` reads back `always madvise
    [never]`; anything else is EINVAL (None). Not strict (for the inotify
    fallback, which sees its own rewrites): the kernel form itself is accepted."""
    def normalize(text):
        words = text.split()
        if len(words) == 1 and words[0] in choices:
            return " ".join(f"[{c}]" if c == words[0] else c for c in choices) + "\n"
        if not strict and [w.strip("[]") for w in words] == list(choices) and \
                sum(w.startswith("[") for w in words) == 1:
            return text if text.endswith("\n") else text + "\n"
        return None
    return normalize


def swappiness_form(text):
    t = text.strip()
    if t.isdigit() and 0 <= int(t) <= 200:
        return f"{int(t)}\n"
    return None


class Watcher(threading.Thread):
    """Fallback without FUSE: rewrites each tunable's backing file into kernel
    form after every write."""

    def __init__(self, files):  # files: {backing_path: normalize}
        super().__init__(daemon=True)
        self.fd = libc.inotify_init1(os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.by_wd, self.good = {}, {}
        for path, normalize in files.items():
            wd = libc.inotify_add_watch(self.fd, path.encode(), IN_CLOSE_WRITE)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {path}")
            self.by_wd[wd] = (path, normalize)
            with open(path) as f:
                self.good[path] = f.read()

    def run(self):
        while True:
            buf = os.read(self.fd, 4096)
            off = 0
            while off < len(buf):
                wd, _mask, _cookie, length = struct.unpack_from("iIII", buf, off)
                off += 16 + length
                if wd in self.by_wd:
                    self.fix(*self.by_wd[wd])

    def fix(self, path, normalize):
        with open(path) as f:
            text = f.read()
        new = normalize(text)
        if new is None:
            new = self.good[path]
        self.good[path] = new
        if new != text:  # our own rewrite triggers one more event: then equal
            with open(path, "w") as f:
                f.write(new)


def setup(cfg):
    socket.sethostname(cfg["name"])
    # /proc of the host's own PID namespace (ps, pgrep, kill see only the host)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    mount("tmpfs", "/run", "tmpfs", 0, "mode=755")
    os.makedirs("/run/sshd", mode=0o755)
    os.makedirs(PRIV, mode=0o700)
    for target, name in (("/etc", "etc"), ("/usr/local", "local")):
        overlay(target, name)
    # root gets a fresh home, as on a new Debian host (this machine's /root
    # has its own shell start-up files and secrets)
    mount("tmpfs", "/root", "tmpfs", 0, "mode=700")
    for f in (".bashrc", ".profile"):
        if os.path.exists(f"/etc/skel/{f}"):
            shutil.copy(f"/etc/skel/{f}", f"/root/{f}")

    # Tunables: start from this machine's values, presented in kernel form.
    tunables, mode = [], None
    for real, choices in (("/proc/sys/vm/swappiness", None),
                          ("/sys/kernel/mm/transparent_hugepage/enabled", THP_ENABLED),
                          ("/sys/kernel/mm/transparent_hugepage/defrag", THP_DEFRAG)):
        try:
            with open(real) as f:
                value = f.read()
        except OSError:
            continue  # kernel without THP: the host has no such file either
        tunables.append((real, value, choices))
    # Read-only /proc/sys and /sys first, the writable files on top of them.
    mount("/proc/sys", "/proc/sys", None, MS_BIND)
    mount(None, "/proc/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    mount(None, "/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    if os.path.exists("/proc/sysrq-trigger"):  # it would act on this machine
        mount("/proc/sysrq-trigger", "/proc/sysrq-trigger", None, MS_BIND)
        mount(None, "/proc/sysrq-trigger", None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    try:  # FUSE: synchronous, kernel-exact (tunablefs.py)
        if cfg.get("tunables") == "inotify":
            raise OSError(0, "inotify asked for")
        from tunablefs import TunableFile
        for real, value, choices in tunables:
            TunableFile(real, value, swappiness_form if choices is None else thp_form(choices))
        mode = "fuse"
    except OSError as e:  # no FUSE here: plain files and the inotify watcher
        print(f"tunables: FUSE unavailable ({e}); using the inotify watcher",
              file=sys.stderr, flush=True)
        watched = {}
        for real, value, choices in tunables:
            if os.path.ismount(real):
                continue  # mounted by the FUSE attempt before it failed
            backing = f"{PRIV}/{os.path.basename(real)}-{len(watched)}"
            write(backing, value)
            mount(backing, real, None, MS_BIND)
            watched[backing] = swappiness_form if choices is None else thp_form(choices, False)
        Watcher(watched).start()
        mode = "inotify"

    mount("tmpfs", "/home", "tmpfs", 0, "mode=755")
    name, address = cfg["name"], cfg["address"]
    write("/etc/hostname", name + "\n")
    write("/etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n{address}\t{name}\n")
    for user in cfg["users"]:
        u, uid = user["name"], user["uid"]
        with open("/etc/passwd", "a") as f:
            f.write(f"{u}:x:{uid}:{uid}:dsconsole test user:/home/{u}:/bin/bash\n")
        with open("/etc/group", "a") as f:
            f.write(f"{u}:x:{uid}:\n")
        with open("/etc/shadow", "a") as f:  # '*': no password, but not locked
            f.write(f"{u}:*:20000:0:99999:7:::\n")
        os.makedirs(f"/home/{u}", mode=0o755)
        os.chown(f"/home/{u}", uid, uid)
        if user.get("sudo"):
            write(f"/etc/sudoers.d/{u}", user["sudo"] + "\n", 0o440)

    # sshd: our config and key only; the machine's own host keys are hidden.
    for f in os.listdir("/etc/ssh"):
        if f.startswith("ssh_host_"):
            os.unlink(f"/etc/ssh/{f}")
    src = cfg["dir"]
    shutil.copy(f"{src}/sshd_config", "/etc/ssh/sshd_config")
    shutil.copy(f"{src}/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key")
    shutil.copy(f"{src}/ssh_host_ed25519_key.pub", "/etc/ssh/ssh_host_ed25519_key.pub")
    os.chmod("/etc/ssh/ssh_host_ed25519_key", 0o600)
    with open(cfg["authorized_key"]) as f:
        key = f.read()
    for u in ["root"] + [u["name"] for u in cfg["users"]]:
        write(f"/etc/ssh/authorized_keys/{u}", key)

    if cfg["grub"]:
        write("/etc/default/grub", GRUB)
    elif os.path.exists("/etc/default/grub"):
        os.unlink("/etc/default/grub")
    if cfg["tuned"]:
        write("/etc/tuned/active_profile", cfg["tuned"] + "\n")
        write("/etc/tuned/profile_mode", "manual\n")
        write("/usr/local/bin/tuned-adm", TUNED_ADM, 0o755)
    if cfg["nvidia_smi"]:
        gpu = cfg["nvidia_smi"]
        lib = "/usr/local/lib/dsconsole-fake-gpu"
        shutil.copytree(gpu["data"], f"{lib}/{os.path.basename(gpu['data'])}")
        shutil.copy(gpu["script"], f"{lib}/nvidia-smi")
        # which recording it replays (the script reads it: no wrapper process per call)
        write(f"{lib}/nvidia-smi.data", os.path.basename(gpu["data"]) + "\n")
        os.makedirs("/usr/local/bin", exist_ok=True)
        os.symlink(f"{lib}/nvidia-smi", "/usr/local/bin/nvidia-smi")
        if gpu.get("variant") is not None:
            write("/etc/dsconsole-fake-gpu.json", gpu["variant"])  # JSON text

    # Log stays on the test side (opened before /tmp is hidden).
    log = open(f"{src}/sshd.log", "ab")
    mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777")
    # its own /dev/shm (default size, half the RAM, as a fresh boot has):
    # a remount or a file there must not touch this machine's
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    mount("tmpfs", "/var/tmp", "tmpfs", 0, "mode=1777")
    return log, mode


GRUB = """\
# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
"""

TUNED_ADM = """\
#!/bin/sh
# Test host stand-in for tuned-adm: the active profile lives in /etc/tuned/active_profile.
f=/etc/tuned/active_profile
case "$1" in
  active) p=$(cat $f 2>/dev/null)
    [ -n "$p" ] && echo "Current active profile: $p" || echo "No current active profile." ;;
  profile) shift; echo "$*" > $f ;;
  off) : > $f ;;
  list) printf 'Available profiles:\\n- balanced\\n- hpc-compute\\n- latency-performance\\n'
    printf '%s\\nCurrent active profile: %s\\n' '- throughput-performance' "$(cat $f 2>/dev/null)" ;;
  *) echo "usage: tuned-adm active|profile NAME|off|list" >&2; exit 1 ;;
esac
"""


def own_processes():
    """Every process of the host but this init (PID 1 of the host's own PID
    namespace, whose /proc lists only the host's processes)."""
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != 1]


def sshd_listening():
    with open("/proc/net/tcp") as f:  # this network namespace's sockets
        return any(line.split()[1].endswith(":0016") and line.split()[3] == "0A"
                   for line in f.readlines()[1:])


class Host:
    def __init__(self, log):
        self.log = log
        self.sshd = None

    def start(self):
        if self.sshd and self.sshd.poll() is None:
            return "ok"
        self.sshd = subprocess.Popen(
            ["/usr/sbin/sshd", "-D", "-e", "-f", "/etc/ssh/sshd_config"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, cwd="/")
        deadline = time.monotonic() + 10
        while not sshd_listening():
            if self.sshd.poll() is not None:
                return f"error sshd exited with {self.sshd.returncode} (see sshd.log)"
            if time.monotonic() > deadline:
                return "error sshd did not listen within 10 s"
            time.sleep(0.003)
        return "ok"

    def end_all(self, sig):
        """End every process of the host: SIGTERM (escalating to SIGKILL after
        2 s) or SIGKILL right away."""
        escalate = time.monotonic() + 2
        give_up = escalate + 5
        while (pids := own_processes()) and time.monotonic() < give_up:
            if time.monotonic() > escalate:
                sig = signal.SIGKILL
            for p in pids:
                try:
                    if sig == signal.SIGTERM:
                        os.kill(p, signal.SIGCONT)  # a paused sshd must see the TERM
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
            self.reap(0.05)
        self.sshd = None
        left = own_processes()
        return f"error processes left: {left}" if left else "ok"

    def reap_now(self):
        """Collect every ended child; sshd's status is kept for start()."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.sshd is not None and pid == self.sshd.pid:
                self.sshd.returncode = os.waitstatus_to_exitcode(status)

    def reap(self, wait):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            self.reap_now()
            if not own_processes():
                return
            time.sleep(0.005)

    def signal_sshd(self, sig):
        for p in own_processes():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().startswith("sshd"):
                        os.kill(p, sig)
            except OSError:
                pass
        return "ok"


def main():
    cfg = marshal.loads(bytes.fromhex(sys.argv[1]))
    # Our PID as the test process sees it: /proc is still the outer one here.
    outer_pid = int(os.readlink("/proc/self"))
    try:
        log, tunables = setup(cfg)
    except Exception as e:  # reported to the test process, which raises it
        print(f"error setup: {e}", flush=True)
        return 1
    host = Host(log)
    # As PID 1 we inherit every orphan of the host: reap them as they end.
    signal.signal(signal.SIGCHLD, lambda *_: host.reap_now())
    print(f"ready {outer_pid} {tunables}", flush=True)
    commands = {
        "start": host.start,
        "stop": lambda: host.end_all(signal.SIGTERM),
        "kill": lambda: host.end_all(signal.SIGKILL),
        "pause": lambda: host.signal_sshd(signal.SIGSTOP),
        "resume": lambda: host.signal_sshd(signal.SIGCONT),
    }
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "exit":
            break
        fn = commands.get(cmd)
        try:
            answer = fn() if fn else f"error unknown command {cmd!r}"
        except Exception as e:
            answer = f"error {e}"
        print(answer, flush=True)
    # "exit" or EOF (the test process is gone): end the host. When PID 1
    # exits the kernel kills whatever is left in the namespace anyway.
    host.end_all(signal.SIGTERM)
    print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
