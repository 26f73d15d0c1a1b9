"""~/.ssh/config, read the way OpenSSH reads it (through paramiko.SSHConfig).

Only the options the console acts on: HostName, User, Port, IdentityFile,
ProxyJump, HostKeyAlias, UserKnownHostsFile. For each option the first value
obtained wins (OpenSSH's rule; IdentityFile accumulates); `Include` is
expanded in place (paramiko does not do it). Values the site file gives
override the config file; both override the defaults (22, the local user).

A name is looked up as OpenSSH would look up `ssh NAME`; when the site file
gives a different address, the address is looked up too and fills in what the
name's lookup left open (so `Host 10.0.0.*` blocks still apply).
"""
from __future__ import annotations

import getpass
import glob
import os
import threading
from dataclasses import dataclass
from pathlib import Path


class SshConfigError(Exception):
    """The ssh config file cannot be parsed; str() is 'file: message'."""


def default_path() -> Path:
    return Path.home() / ".ssh" / "config"


@dataclass(frozen=True)
class JumpHop:
    host: str
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        s = f"{self.user}@{self.host}" if self.user else self.host
        return f"{s}:{self.port}" if self.port else s


@dataclass(frozen=True)
class HostSettings:
    """What one host resolves to."""
    name: str
    hostname: str
    user: str
    port: int
    identity_files: tuple[str, ...]
    proxy_jump: tuple[JumpHop, ...]   # outermost hop first; () = direct
    host_key_alias: str | None
    known_hosts_files: tuple[str, ...]  # UserKnownHostsFile, () = the default


def parse_proxy_jump(value: str | None) -> tuple[JumpHop, ...]:
    """'[user@]host[:port][,...]' or ssh://[user@]host[:port] hops; 'none' = none."""
    if not value or value.strip().lower() == "none":
        return ()
    hops = []
    for part in value.split(","):
        part = part.strip()
        if part.startswith("ssh://"):
            part = part[len("ssh://"):].rstrip("/")
        user = None
        if "@" in part:
            user, part = part.rsplit("@", 1)
        port = None
        if part.startswith("["):  # [v6 address]:port
            host, _, rest = part[1:].partition("]")
            if rest.startswith(":"):
                port = int(rest[1:])
        elif part.count(":") == 1:
            host, p = part.split(":")
            port = int(p)
        else:
            host = part
        if not host:
            raise ValueError(f"bad ProxyJump hop {part!r}")
        hops.append(JumpHop(host, user, port))
    return tuple(hops)


_cache: dict[str, tuple[float, object]] = {}
_cache_lock = threading.Lock()


def _expand_includes(path: Path, depth: int = 0) -> str:
    if depth > 8:
        raise SshConfigError(f"{path}: Include nested too deeply")
    out = []
    for line in path.read_text().splitlines():
        words = line.strip().split(None, 1)
        if words and words[0].lower() == "include" and len(words) == 2:
            for pattern in words[1].split():
                pattern = os.path.expanduser(pattern)
                if not os.path.isabs(pattern):  # relative to ~/.ssh, as ssh does
                    pattern = str(Path.home() / ".ssh" / pattern)
                for inc in sorted(glob.glob(pattern)):
                    out.append(_expand_includes(Path(inc), depth + 1))
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def load(path: str | os.PathLike | None):
    """A parsed paramiko.SSHConfig (cached until the file changes), or None when
    the file does not exist."""
    import paramiko
    p = Path(path) if path else default_path()
    try:
        mtime = p.stat().st_mtime
    except OSError:
        return None
    key = str(p)
    with _cache_lock:
        hit = _cache.get(key)
        if hit and hit[0] == mtime:
            return hit[1]
    try:
        config = paramiko.SSHConfig.from_text(_expand_includes(p))
    except (paramiko.ssh_exception.ConfigParseError, OSError, UnicodeDecodeError) as e:
        raise SshConfigError(f"{p}: {e}") from None
    with _cache_lock:
        _cache[key] = (mtime, config)
    return config


def _lookup(config, name: str) -> dict:
    if config is None:
        return {}
    try:
        found = dict(config.lookup(name))
    except Exception as e:  # e.g. `Match exec` without the invoke package
        raise SshConfigError(f"ssh config lookup of {name}: {e}") from None
    if found.get("hostname") == name and len(found) == 1:
        return {}  # nothing matched; paramiko echoes the name back
    return found


def resolve(name: str, *, address: str | None = None, user: str | None = None,
            port: int | None = None, identity_file=None, proxy_jump: str | None = None,
            path: str | os.PathLike | None | bool = None) -> HostSettings:
    """Settings for host `name`: explicit arguments (the site file) first, then
    the ssh config (`path`; None: ~/.ssh/config; False: none), then defaults."""
    config = load(path) if path is not False else None
    found = _lookup(config, name)
    if address and address != name:
        for k, v in _lookup(config, address).items():
            if k == "hostname":
                continue
            if k == "identityfile" and k in found:
                found[k] = found[k] + [x for x in v if x not in found[k]]
            else:
                found.setdefault(k, v)
    hostname = address or found.get("hostname") or name
    if isinstance(identity_file, (str, os.PathLike)):
        identity = [str(identity_file)]
    elif identity_file:
        identity = [str(x) for x in identity_file]
    else:
        identity = [os.path.expanduser(x) for x in found.get("identityfile", [])]
    jump = proxy_jump if proxy_jump is not None else found.get("proxyjump")
    try:
        port_value = int(port or found.get("port") or 22)
        hops = parse_proxy_jump(jump)
    except ValueError as e:
        raise SshConfigError(f"host {name}: {e}") from None
    known = tuple(os.path.expanduser(x) for x in (found.get("userknownhostsfile") or "").split())
    return HostSettings(
        name=name, hostname=hostname, user=user or found.get("user") or getpass.getuser(),
        port=port_value, identity_files=tuple(identity), proxy_jump=hops,
        host_key_alias=found.get("hostkeyalias"),
        known_hosts_files=tuple(k for k in known if k != "/dev/null"))
