"""Strict host key checking: unknown keys refused with their fingerprint,
`dsconsole hosts trust`, changed keys refused loudly (real sshd test hosts and
OpenSSH's own ssh-keygen for the file formats)."""
import subprocess
import sys
from pathlib import Path

import pytest

from console.hosts import known_hosts as kh
from console.hosts.ssh import SshTransport
from console.hosts.transport import HostKeyError


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A HOME without ~/.ssh: only dsconsole's own known_hosts (XDG, isolated by
    conftest) can trust anything."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


def _transport(host, **kw):
    """As the console would build it: default known_hosts files, no ssh config."""
    return SshTransport(host.name, host.address, user=host.user,
                        identity_file=host.identity_file, ssh_config=False,
                        connect_timeout=10, **kw)


def _cli(*args, input=None):
    return subprocess.run([sys.executable, "-m", "console", "hosts", *args], input=input,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.hosts
def test_unknown_key_refused_then_trusted_with_dsconsole_hosts_trust(test_hosts, home):
    h, = test_hosts.start(1)
    with pytest.raises(HostKeyError) as e:
        _transport(h).run("true")
    assert e.value.changed is False
    assert e.value.fingerprint == h.fingerprint
    assert h.fingerprint in str(e.value) and "dsconsole hosts trust" in str(e.value)

    no = _cli("trust", h.address, input="n\n")
    assert no.returncode == 1 and h.fingerprint in no.stdout and "Not trusted" in no.stdout
    assert not kh.own_path().exists()

    yes = _cli("trust", h.address, input="y\n")
    assert yes.returncode == 0, yes.stderr
    assert h.fingerprint in yes.stdout
    assert kh.own_path().read_text().startswith(h.known_hosts_line + " ")
    assert _transport(h).run("hostname").stdout == f"{h.name}\n"
    again = _cli("trust", h.address, "--yes")
    assert again.returncode == 0 and "already trusted" in again.stdout
    assert len(kh.own_path().read_text().splitlines()) == 1


@pytest.mark.hosts
def test_changed_key_refused_loudly_and_never_trusted_over_the_old_one(test_hosts, home):
    h, = test_hosts.start(1)
    assert _cli("trust", h.address, "--yes").returncode == 0
    old = h.fingerprint
    h.rekey()
    with pytest.raises(HostKeyError) as e:
        _transport(h).run("true")
    assert e.value.changed is True and e.value.fingerprint == h.fingerprint != old
    msg = str(e.value)
    assert "HAS CHANGED" in msg and old in msg and f"{kh.own_path()}:1" in msg
    assert "dsconsole hosts forget" in msg

    before = kh.own_path().read_text()
    refused = _cli("trust", h.address, "--yes")  # not even with --yes
    assert refused.returncode == 1
    assert "HAS CHANGED" in refused.stderr and "hosts forget" in refused.stderr
    assert kh.own_path().read_text() == before

    forgot = _cli("forget", h.address)
    assert forgot.returncode == 0 and "Removed 1 line" in forgot.stdout
    assert _cli("trust", h.address, "--yes").returncode == 0
    assert _transport(h).run("true").ok


@pytest.mark.hosts
def test_ui_prompt_trusts_only_the_key_it_showed(test_hosts, home):
    h, = test_hosts.start(1)
    t = _transport(h)
    with pytest.raises(HostKeyError) as e:
        t.run("true")
    shown = e.value.fingerprint
    h.rekey()  # the host changes its key between the prompt and the answer
    with pytest.raises(HostKeyError) as e2:
        t.trust_host_key(shown)
    assert "not the key" in str(e2.value) and not kh.own_path().exists()
    assert t.trust_host_key(h.fingerprint) == kh.own_path()
    assert t.run("hostname").stdout == f"{h.name}\n"
    h.rekey()
    with pytest.raises(HostKeyError) as e3:  # a changed key: never by a prompt
        t.trust_host_key(h.fingerprint)
    assert e3.value.changed and "HAS CHANGED" in str(e3.value)


@pytest.mark.hosts
def test_trust_by_site_host_name_through_its_jump_host(test_hosts, home, tmp_path):
    jump, = test_hosts.start(1)
    inner, = test_hosts.start(1, behind=jump)
    site = tmp_path / "site.yaml"
    site.write_text(
        "name: test-site\n"
        "hosts:\n"
        f"  - {{name: bastion, address: {jump.address}, user: root, "
        f"identity_file: {jump.identity_file}, role: bastion}}\n"
        f"  - {{name: gpu1, address: {inner.address}, user: root, jump: bastion, "
        f"identity_file: {inner.identity_file}}}\n")
    # the jump host's key is checked first: untrusted, nothing goes through it
    blocked = _cli("trust", "gpu1", "--site", str(site), "--yes")
    assert blocked.returncode == 1
    assert "jump host" in blocked.stderr and jump.fingerprint in blocked.stderr
    assert _cli("trust", "bastion", "--site", str(site), "--yes").returncode == 0
    ok = _cli("trust", "gpu1", "--site", str(site), "--yes")
    assert ok.returncode == 0, ok.stderr
    assert inner.fingerprint in ok.stdout
    from console.hosts.ssh import transports_for_hosts
    from console.site_config import load_site
    ts = transports_for_hosts(load_site(site).hosts, ssh_config=False)
    try:
        assert ts["gpu1"].run("hostname").stdout == f"{inner.name}\n"
    finally:
        for t in ts.values():
            t.close()
    bad = _cli("trust", "10.0.0.1:notaport")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def _keyscan_blob(pub_file: Path) -> tuple[str, str]:
    kind, b64 = pub_file.read_text().split()[:2]
    return kind, b64


def test_known_hosts_formats_as_openssh_writes_them(tmp_path):
    """Plain, [host]:port, wildcard/negated patterns, hashed (ssh-keygen -H) and
    @revoked lines; changed when the host is known with another key."""
    keys = []
    for i in range(3):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                        str(tmp_path / f"k{i}")], check=True, capture_output=True)
        keys.append(_keyscan_blob(tmp_path / f"k{i}.pub"))
    (a_t, a), (b_t, b), (c_t, c) = keys
    f = tmp_path / "known_hosts"
    f.write_text(f"10.0.0.1 {a_t} {a}\n"
                 f"[10.0.0.2]:2222 {b_t} {b}\n"
                 f"*.gpu.example,!bad.gpu.example {c_t} {c}\n"
                 f"hashed.example {a_t} {a}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(f)], check=True, capture_output=True)
    assert "hashed.example" not in f.read_text()  # really hashed by OpenSSH
    known = kh.KnownHosts([f])
    assert known.check("10.0.0.1", (a_t, a)).status == "trusted"
    assert known.check("[10.0.0.2]:2222", (b_t, b)).status == "trusted"
    assert known.check("10.0.0.2", (b_t, b)).status == "unknown"  # port 22 is another name
    assert known.check("hashed.example", (a_t, a)).status == "trusted"
    assert known.check("10.0.0.1", (b_t, b)).status == "changed"
    assert kh.lookup_name("10.0.0.2", 2222) == "[10.0.0.2]:2222"
    g = tmp_path / "patterns"
    g.write_text(f"*.gpu.example,!bad.gpu.example {c_t} {c}\n@revoked * {b_t} {b}\n")
    known = kh.KnownHosts([g])
    assert known.check("n1.gpu.example", (c_t, c)).status == "trusted"
    assert known.check("bad.gpu.example", (c_t, c)).status == "unknown"
    assert known.check("n1.gpu.example", (b_t, b)).status == "revoked"
    fp = subprocess.run(["ssh-keygen", "-lf", str(tmp_path / "k0.pub")], capture_output=True,
                        text=True, check=True).stdout.split()[1]
    assert kh.fingerprint(a) == fp  # the same SHA256 form OpenSSH prints


def test_trust_refuses_a_host_known_with_another_key(tmp_path):
    own = tmp_path / "own_known_hosts"
    user = tmp_path / "user_known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True, capture_output=True)
    k = _keyscan_blob(tmp_path / "k.pub")
    user.write_text(f"10.9.9.9 ssh-ed25519 {'A' * 68}\n")
    with pytest.raises(HostKeyError) as e:
        kh.trust("gpu9", "10.9.9.9", 22, k, path=own, files=[user])
    assert e.value.changed and f"{user}:1" in str(e.value) and "ssh-keygen -R" in str(e.value)
    assert not own.exists()
    path = kh.trust("gpu9", "10.9.9.9", 2200, k, path=own, files=[user])  # another port
    assert path == own and own.read_text().startswith("[10.9.9.9]:2200 ssh-ed25519 ")
    assert oct(own.stat().st_mode & 0o777) == "0o600"
    assert kh.forget("10.9.9.9", 2200, path=own) == 1 and own.read_text() == ""
