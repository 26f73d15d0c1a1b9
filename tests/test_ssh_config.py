"""~/.ssh/config read as OpenSSH reads it, checked against OpenSSH itself:
`ssh -G -F FILE NAME` and console.hosts.ssh_config.resolve() over the same
layouts (Include at the top, inside Host blocks active and inactive, relative
and absolute, globs, nested; Match; negated patterns). Both run in one private
mount namespace whose /root is the test's home, because ssh finds `~` and
relative Include paths through the password database (/root), not $HOME.
(The resolver under test finds `~` through $HOME, set to the same directory.)
A ProxyCommand is refused with a message naming it (ProxyJump is the way)."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from console.hosts import ssh_config

DEFAULT_IDENTITIES = {f"~/.ssh/{n}" for n in ("id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519",
                                              "id_ed25519_sk", "id_xmss", "id_dsa")}
FIELDS = ("hostname", "user", "port", "identityfile", "proxyjump")

# layout name -> ({path under ~/.ssh: text}, host names to compare)
LAYOUTS = {
    # lines after a top-level Include apply to every host again (the included
    # file's Host lines end with it); pasting the file in put them in its last block
    "include-at-top": ({
        "config": "Include conf.d/*.conf\n"
                  "User after-include\n"
                  "Host gpu-*\n    Port 2200\n"
                  "Host *\n    IdentityFile ~/.ssh/id_default\n",
        "conf.d/10-lab.conf": "Host lab\n    HostName 10.3.3.3\n    User labuser\n",
        "conf.d/20-gpu.conf": "Host gpu-1\n    HostName 10.1.0.1\n",
        "conf.d/ignored.txt": "Host *\n    User from-a-file-the-glob-does-not-match\n",
    }, ["lab", "gpu-1", "gpu-2", "plain"]),
    # an Include inside a Host block applies only within it; its own Host
    # lines narrow further; an Include in an inactive block applies to nothing
    "include-in-host-block": ({
        "config": "Host gpu-*\n    Include gpu.conf\n    User ops\n"
                  "Host bastion\n    HostName 192.0.2.10\n    Include bastion.conf\n"
                  "Host *\n    Port 2222\n",
        "gpu.conf": "IdentityFile ~/.ssh/id_gpu\nProxyJump admin@bastion:2200\n"
                    "Host gpu-7\n    HostName 10.1.2.7\n    User seven\n"
                    "Host *\n    Port 2207\n",
        "bastion.conf": "User jumper\nHost *\n    Port 2022\n    IdentityFile ~/.ssh/id_jump\n",
    }, ["gpu-7", "gpu-3", "bastion", "plain"]),
    # nested includes (relative, absolute via ~), Match on the HostName so far,
    # originalhost, negated patterns, `key=value`, quotes and comments
    "nested-and-match": ({
        "config": "# site hosts\n"
                  "Host web\n    HostName=10.9.0.5\n"
                  "Match host 10.9.*\n    User by-hostname\n"
                  "Match originalhost web,!webx\n    Port 2022\n"
                  "Host *.example.com !bad.example.com\n    User \"example user\"   # quoted\n"
                  "Include nested/*.conf\n"
                  "Host deep\n    User not-first\n"
                  "Match all\n    ProxyJump none\n",
        "nested/a.conf": "Include ~/.ssh/deeper.conf\n",
        "deeper.conf": "Host deep\n    HostName 10.4.4.4\n    IdentityFile ~/.ssh/id_deep\n"
                       "    ProxyJump ops@10.0.0.1:2201,edge\n",
    }, ["web", "webx", "a.example.com", "bad.example.com", "deep", "plain"]),
    # the first value obtained wins; IdentityFile accumulates; HostName %h
    "first-wins": ({
        "config": "Host gpu-* !gpu-9\n    HostName %h.gpu.internal\n    IdentityFile ~/.ssh/a\n"
                  "Host gpu-2\n    HostName 10.2.2.2\n    User two\n    IdentityFile ~/.ssh/b\n"
                  "Host *\n    User everyone\n    IdentityFile ~/.ssh/a\n    Port 2202\n",
    }, ["gpu-2", "gpu-9", "gpu-1"]),
}


def _namespace_cmd(home: Path, *cmd: str) -> list[str]:
    """`cmd` with /root (the password database's home) bound to `home`, in a
    private mount namespace: this machine's /root is not touched."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /root && exec "$@"', str(home), *cmd]


def _openssh(home: Path, name: str) -> dict:
    out = subprocess.run(_namespace_cmd(home, "env", "HOME=/root", "ssh", "-G", "-F",
                                        "/root/.ssh/config", name),
                         capture_output=True, text=True, check=True, timeout=30).stdout
    got: dict = {"identityfile": []}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k == "identityfile":
            got[k].append(v)
        elif k in FIELDS:
            got[k] = v
    got.setdefault("proxyjump", "")
    if set(got["identityfile"]) <= DEFAULT_IDENTITIES:   # none configured: ssh lists its defaults
        got["identityfile"] = []
    # ssh's home is /root in its namespace, ours the test's home: the same directory
    got["identityfile"] = [str(home) + f[1:] if f.startswith("~/") else
                           str(home) + f[5:] if f.startswith("/root/") else f
                           for f in got["identityfile"]]
    return got


def _ours(home: Path, name: str) -> dict:
    s = ssh_config.resolve(name, path=home / ".ssh" / "config")
    return {"hostname": s.hostname, "user": s.user, "port": str(s.port),
            "identityfile": list(s.identity_files), "proxyjump": ",".join(map(str, s.proxy_jump))}


def _write_layout(home: Path, files: dict) -> None:
    for rel, text in files.items():
        p = home / ".ssh" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ssh") or not shutil.which("unshare"),
                    reason="needs root (a private mount namespace, so that ssh -G reads ~/.ssh "
                           "from the test's home) and OpenSSH's ssh")
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_resolve_agrees_with_ssh_G(tmp_path, monkeypatch, layout):
    files, names = LAYOUTS[layout]
    home = tmp_path / "home"
    _write_layout(home, files)
    monkeypatch.setenv("HOME", str(home))      # ours finds ~ through $HOME
    for name in names:
        assert _ours(home, name) == _openssh(home, name), name


def test_proxycommand_is_refused_naming_the_option(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text("Host gpu-pc\n    User ops\n    ProxyCommand ssh -W %h:%p bastion\n"
                   "Host gpu-none\n    ProxyCommand none\n    ProxyJump bastion\n"
                   "Host gpu-jump-first\n    ProxyJump bastion\n    ProxyCommand nc %h %p\n")
    with pytest.raises(ssh_config.SshConfigError) as e:
        ssh_config.resolve("gpu-pc", path=cfg)
    msg = str(e.value)
    assert f"{cfg}:3:" in msg and "ProxyCommand" in msg and "ProxyJump" in msg
    # `ProxyCommand none` and a ProxyJump obtained first are what OpenSSH uses too
    assert ssh_config.resolve("gpu-none", path=cfg).proxy_jump == ()
    assert [h.host for h in ssh_config.resolve("gpu-jump-first", path=cfg).proxy_jump] == ["bastion"]
    # the site file's jump wins over the config's ProxyCommand
    assert ssh_config.resolve("gpu-pc", proxy_jump="none", path=cfg).user == "ops"


def test_gpus_refuses_a_proxycommand_host_and_polls_the_others(tmp_path, monkeypatch):
    """`dsconsole gpus` on a site whose host has a ProxyCommand in ~/.ssh/config:
    that host is reported with the option named, no traceback, exit 1."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host gpu-pc\n    ProxyCommand nc %h %p\n")
    monkeypatch.setenv("HOME", str(home))
    site = tmp_path / "site.yaml"
    site.write_text("name: lab\nhosts:\n  - {name: gpu-pc, address: 127.0.0.1, port: 9}\n")
    r = subprocess.run([sys.executable, "-m", "console", "gpus", "--site", str(site), "--json",
                        "--timeout", "5"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ))
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, (r.stdout, r.stderr)
    [h] = json.loads(r.stdout)["hosts"]
    assert h["host"] == "gpu-pc" and h["state"] != "ok"
    assert "ProxyCommand" in h["error"] and "ProxyJump" in h["error"]


def test_bad_values_name_file_and_line(tmp_path):
    cases = {"port": ("Host a\n    Port twenty\n", "a", 2, "Port"),
             "port-digits": ("Host a\n    Port \u00b2\n", "a", 2, "Port"),
             "jump": ("Host a\n    User u\n    ProxyJump u@:22\n", "a", 3, "ProxyJump"),
             "exec": ("Host a\n    User u\nMatch exec \"true\"\n    User v\n", "a", 3, "Match 'exec'"),
             "escape": ("Match \x1b[2J x\n", "a", 1, "Match '\\x1b[2j'"),
             "quote": ("Host a\n    User \"unclosed\n", "a", 2, "quote")}
    for case, (text, name, line, words) in cases.items():
        cfg = tmp_path / case
        cfg.write_text(text)
        with pytest.raises(ssh_config.SshConfigError) as e:
            ssh_config.resolve(name, path=cfg)
        assert f"{cfg}:{line}:" in str(e.value) and words in str(e.value), (case, str(e.value))
    include_loop = tmp_path / "loop"
    include_loop.write_text(f"Include {include_loop}\n")
    with pytest.raises(ssh_config.SshConfigError) as e:
        ssh_config.resolve("x", path=include_loop)
    assert "Include" in str(e.value) and "deep" in str(e.value)
