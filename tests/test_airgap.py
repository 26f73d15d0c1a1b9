"""Air gap: dsconsole installs from its offline bundle alone and runs with no
network but loopback (README "Installing in an air-gapped site").

In a network namespace whose only interface is loopback (unshare --net, as
root): a fresh venv installed from the bundle by its install.sh, then
`dsconsole --version`, `status --demo --json`, `doctor` and the dashboard on
the demo site in a terminal (tmux). Every connect() of every process is
recorded with strace; each must target loopback or a Unix socket.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(900)

NEEDS = [tool for tool in ("unshare", "strace", "ip", "tmux") if shutil.which(tool) is None]


def _netns_usable() -> str | None:
    """None when this process may create a network namespace, else why not."""
    if os.geteuid() != 0:
        return "needs root for unshare --net"
    if NEEDS:
        return f"needs {', '.join(NEEDS)} (tests/install-deps.sh installs them)"
    p = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    return None if p.returncode == 0 else f"unshare --net refused here: {p.stderr.strip()}"


# Runs inside the namespace: each step leaves its output in $OUT/<step>.*;
# waits are bounded loops, no step's duration is asserted.
SCRIPT = r'''
set -u
ip link set lo up
cd "$WORK"
sh "$BUNDLE/install.sh" --venv "$WORK/venv" --completion > "$OUT/install.out" 2>&1; echo $? > "$OUT/install.rc"
D="$WORK/venv/bin/dsconsole"
"$WORK/venv/bin/python" -c 'import console; print(console.__file__)' > "$OUT/where.out" 2>&1
"$D" --version > "$OUT/version.out" 2>&1; echo $? > "$OUT/version.rc"
"$D" status --demo --json > "$OUT/status.out" 2> "$OUT/status.err"; echo $? > "$OUT/status.rc"
"$D" doctor > "$OUT/doctor.out" 2>&1; echo $? > "$OUT/doctor.rc"
T="tmux -S $WORK/tmux.sock -f /dev/null"
$T new-session -d -x 100 -y 30 -s ui "$D"
i=0
while [ $i -lt 300 ]; do
  $T capture-pane -p -t ui > "$OUT/screen.txt" 2>/dev/null
  grep -q gpu-node-0001 "$OUT/screen.txt" && grep -q "API live" "$OUT/screen.txt" && break
  sleep 0.2; i=$((i + 1))
done
$T send-keys -t ui q
i=0
while [ $i -lt 100 ] && $T has-session -t ui 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
$T has-session -t ui 2>/dev/null && echo still-running > "$OUT/tui.quit" || echo quit > "$OUT/tui.quit"
$T kill-server 2>/dev/null
exit 0
'''


def _connects(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "connect(" in line]


def _loopback_or_unix(line: str) -> bool:
    if "AF_UNIX" in line or "AF_NETLINK" in line:
        return True
    m = re.search(r'inet_addr\("([^"]+)"\)', line) or re.search(r'inet_pton\(AF_INET6, "([^"]+)"', line)
    if m is None:
        return "AF_UNSPEC" in line     # connect(AF_UNSPEC) dissolves a UDP association: no traffic
    addr = m.group(1)
    return addr.startswith("127.") or addr in ("::1", "::ffff:127.0.0.1") or addr.startswith("::ffff:127.")


def test_loopback_filter_tells_loopback_from_the_world():
    assert _loopback_or_unix('7 connect(3, {sa_family=AF_INET, sin_port=htons(80), '
                             'sin_addr=inet_addr("127.0.0.1")}, 16) = 0')
    assert _loopback_or_unix('7 connect(3, {sa_family=AF_UNIX, sun_path="/tmp/x"}, 110) = 0')
    assert not _loopback_or_unix('7 connect(3, {sa_family=AF_INET, sin_port=htons(443), '
                                 'sin_addr=inet_addr("151.101.0.223")}, 16) = -1 ENETUNREACH')
    assert not _loopback_or_unix('7 connect(3, {sa_family=AF_INET6, sin6_port=htons(443), '
                                 'sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2a04:4e42::223", '
                                 '&sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH')


def test_bundle_holds_every_runtime_wheel_pinned_with_its_hash(offline_bundle):
    import tomllib

    from console.bundle.requirements import sha256_of, wheel_name_version
    reqs = {}
    for line in (offline_bundle / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            spec, digest = line.split(" --hash=sha256:")
            name, version = spec.split("==")
            reqs[name] = (version, digest)
    wheels = sorted(offline_bundle.glob("*.whl"))
    assert len(wheels) == len(reqs)
    for wheel in wheels:
        name, version = wheel_name_version(wheel.name)
        assert reqs[name] == (version, sha256_of(wheel)), wheel.name
    # every runtime dependency named in pyproject.toml is there, and kubernetes
    # (an optional extra now) is not
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    for dep in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0).replace("_", "-").lower()
        assert name in reqs, f"{name} (pyproject.toml) missing from the bundle"
    assert "deepseek-console" in reqs and "kubernetes" not in reqs
    # the tarball holds the same files, and its published SHA-256 is its own
    tarball = offline_bundle.parent / f"{offline_bundle.name}.tar.gz"
    with tarfile.open(tarball) as tar:
        names = {Path(n).name for n in tar.getnames() if "/" in n}
    assert names == {p.name for p in offline_bundle.iterdir()}
    assert (offline_bundle.parent / f"{tarball.name}.sha256").read_text().split()[0] == sha256_of(tarball)
    assert json.loads((offline_bundle / "bundle.json").read_text())["python"] == \
        f"{sys.version_info[0]}.{sys.version_info[1]}"


def test_a_changed_wheel_is_refused(offline_bundle, tmp_path):
    """--require-hashes: a wheel swapped on the media does not install."""
    bundle = tmp_path / "bundle"
    shutil.copytree(offline_bundle, bundle)
    victim = next(bundle.glob("pyyaml-*.whl"))
    with open(victim, "ab") as f:
        f.write(b"\0")
    p = subprocess.run(["sh", str(bundle / "install.sh"), "--venv", str(tmp_path / "venv")],
                       capture_output=True, text=True, timeout=600, env=_clean_env(tmp_path))
    assert p.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in p.stderr + p.stdout


def test_install_script_says_what_it_expected(offline_bundle, tmp_path):
    p = subprocess.run(["sh", str(offline_bundle / "install.sh"), "--bogus"], capture_output=True, text=True,
                       timeout=60, env=_clean_env(tmp_path))
    assert p.returncode == 2 and "unknown option --bogus; expected --venv DIR" in p.stderr


def _clean_env(tmp_path: Path) -> dict:
    """A user on the air-gapped host: no PYTHONPATH into this tree, own HOME and XDG dirs."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home),
            "TERM": "xterm-256color", "LANG": "C.UTF-8", "XDG_STATE_HOME": str(home / "state"),
            "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}


def test_install_and_run_with_no_network_but_loopback(offline_bundle, tmp_path):
    why = _netns_usable()
    if why:
        pytest.skip(why)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(_clean_env(tmp_path), BUNDLE=str(offline_bundle), WORK=str(tmp_path), OUT=str(out))
    log = tmp_path / "connect.log"
    p = subprocess.run(["unshare", "--net", "strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect",
                        "-e", "signal=none", "-o", str(log), "sh", "-c", SCRIPT],
                       env=env, capture_output=True, text=True, timeout=800)
    assert p.returncode == 0, p.stderr

    def text(name: str) -> str:
        return (out / name).read_text()

    assert text("install.rc").strip() == "0", text("install.out")
    assert "Successfully installed" in text("install.out") and "deepseek-console-" in text("install.out")
    assert text("where.out").startswith(str(tmp_path / "venv")), text("where.out")   # not this tree
    assert text("version.rc").strip() == "0"
    assert re.search(r"^dsconsole \d", text("version.out"), re.M) and "textual " in text("version.out")
    assert text("status.rc").strip() == "0", text("status.err")
    status = json.loads(text("status.out"))
    assert status["demo"] and status["api_ok"] and status["nodes"] and status["pods"]
    assert text("doctor.rc").strip() == "0", text("doctor.out")
    assert "fail" not in text("doctor.out").split()
    screen = text("screen.txt")
    assert "DEMO" in screen and "gpu-node-0001" in screen and "API live" in screen, screen
    assert text("tui.quit").strip() == "quit"
    assert (tmp_path / "home" / "data" / "bash-completion" / "completions" / "dsconsole").is_file()

    connects = _connects(log)
    assert connects, "strace recorded no connect() at all: the demo's API is on loopback, so it should have"
    outside = [line for line in connects if not _loopback_or_unix(line)]
    assert not outside, "connect() to an address other than loopback:\n" + "\n".join(outside[:20])
