"""~/.ssh/config, read the way OpenSSH reads it (readconf.c), checked against
`ssh -G` in tests/test_ssh_config.py.

Only the options the console acts on: HostName, User, Port, IdentityFile,
ProxyJump, HostKeyAlias, UserKnownHostsFile; ProxyCommand is recognised to be
refused (dsconsole reaches jump hosts through its own, strictly checked,
connection: ProxyJump). For each option the first value obtained wins
(IdentityFile accumulates). `Host` and `Match` (all, host, originalhost, user,
localuser; canonical and final never match, as in ssh's first pass; exec is
refused rather than run) start blocks. `Include` is scoped as OpenSSH scopes
it: paths relative to ~/.ssh, globs in sorted order, each included file
starting active, its Host lines switching within it only, and the enclosing
block's state restored after it; an Include inside an inactive block applies
nothing. paramiko.SSHConfig pastes includes in as text, so the lines after an
Include landed in the included file's last Host block.
Values the site file gives override the config file; both override the
defaults (22, the local user). Errors name file:line.

A name is looked up as OpenSSH would look up `ssh NAME`; when the site file
gives a different address, the address is looked up too and fills in what the
name's lookup left open (so `Host 10.0.0.*` blocks still apply).
"""
from __future__ import annotations

import fnmatch
import getpass
import glob
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple


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


# One entry per meaningful line: ("host", patterns) / ("match", criteria) /
# ("include", [items of each file]) / (option, args); each with (file, line).
_cache: dict[str, tuple[tuple, list]] = {}
_cache_lock = threading.Lock()
_MAX_INCLUDE_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
_OPTIONS = {"hostname", "user", "port", "identityfile", "proxyjump", "proxycommand",
            "hostkeyalias", "userknownhostsfile"}


class _Item(NamedTuple):
    kind: str          # "host", "match", "include" or an option name (lower case)
    args: tuple        # the line's words; for "include", one item list per file
    file: str
    line: int


def _words(text: str, where: str) -> list[str]:
    """A line split as OpenSSH's argv_split does: whitespace separated, "double"
    and 'single' quotes, backslash escapes, a word starting with # ends the line."""
    words: list[str] = []
    cur: list[str] = []
    quote: str | None = None
    i, started = 0, False
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
                i += 1
                cur.append(text[i])
            else:
                cur.append(c)
        elif c in " \t\r\n":
            if started:
                words.append("".join(cur))
                cur, started = [], False
        elif c == "#" and not started:
            break
        elif c in "\"'":
            quote, started = c, True
        elif c == "\\" and i + 1 < len(text):
            i += 1
            cur.append(text[i])
            started = True
        else:
            cur.append(c)
            started = True
        i += 1
    if quote:
        raise SshConfigError(f"{where}: unterminated quote; expected a closing {quote}")
    if started:
        words.append("".join(cur))
    return words


def _parse(path: Path, depth: int, files: list) -> list[_Item]:
    if depth > _MAX_INCLUDE_DEPTH:
        raise SshConfigError(f"{path}: Include nested too deeply (more than {_MAX_INCLUDE_DEPTH} "
                             f"levels, or an Include loop); expected a finite chain of files")
    try:
        text = path.read_text(encoding="utf-8")
        files.append((str(path), path.stat().st_mtime_ns))
    except (OSError, UnicodeDecodeError) as e:
        raise SshConfigError(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    items = []
    for n, raw in enumerate(text.splitlines(), start=1):
        where = f"{path}:{n}"
        m = re.match(r"\s*([A-Za-z][A-Za-z0-9]*)(?:\s*=\s*|\s+|$)(.*)", raw)
        if not m:
            if raw.strip() and not raw.strip().startswith("#"):
                raise SshConfigError(f"{where}: expected `Keyword value`")
            continue
        key, args = m.group(1).lower(), _words(m.group(2), where)
        if key in ("host", "match") and not args:
            raise SshConfigError(f"{where}: {m.group(1)} without patterns; expected e.g. `Host gpu-*`")
        if key == "include":
            per_file = []
            for pattern in args:
                pattern = os.path.expanduser(pattern)
                if not os.path.isabs(pattern):  # relative to ~/.ssh, as ssh does for the user config
                    pattern = str(Path.home() / ".ssh" / pattern)
                for inc in sorted(glob.glob(pattern)):
                    per_file.append(_parse(Path(inc), depth + 1, files))
            items.append(_Item("include", tuple(per_file), str(path), n))
        elif key == "port" and args and not (re.fullmatch(r"[0-9]{1,5}", args[0]) and 0 < int(args[0]) < 65536):
            raise SshConfigError(f"{where}: Port {args[0]!r}: expected a port number from 1 to 65535")
        elif key in ("host", "match") or key in _OPTIONS:
            if not args:
                raise SshConfigError(f"{where}: {m.group(1)} without a value; expected `{m.group(1)} VALUE`")
            items.append(_Item(key, tuple(args), str(path), n))
    return items


def load(path: str | os.PathLike | None) -> list[_Item] | None:
    """The parsed config file with its includes (cached until one of the files
    read changes), or None when the file does not exist. (A file added later
    that an Include glob would match is seen once any file read changes.)"""
    p = Path(path) if path else default_path()
    if not p.exists():
        return None
    key = str(p)
    with _cache_lock:
        hit = _cache.get(key)
    if hit and all(_mtime(f) == t for f, t in hit[0]):
        return hit[1]
    files: list = []
    items = _parse(p, 0, files)
    with _cache_lock:
        _cache[key] = (tuple(files), items)
    return items


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _pattern_list_matches(value: str, patterns: list[str]) -> bool:
    """OpenSSH's match_pattern_list: a matching negated pattern (!p) wins, else
    any matching pattern; comma-separated lists are split."""
    hit = False
    for pattern in (x for p in patterns for x in p.split(",") if x):
        if pattern.startswith("!"):
            if fnmatch.fnmatchcase(value, pattern[1:]):
                return False
        elif fnmatch.fnmatchcase(value, pattern):
            hit = True
    return hit


class _Lookup:
    """The options one name gets: OpenSSH's single pass over the config."""

    def __init__(self, name: str):
        self.name = name
        self.found: dict[str, tuple] = {}     # option -> (args, file, line); first wins
        self.identity: list[str] = []

    def run(self, items: list[_Item], never: bool = False) -> None:
        active = not never
        for item in items:
            if item.kind == "host":
                # a negated pattern that matches makes the block inactive whatever else matches
                active = not never and _pattern_list_matches(self.name, list(item.args))
            elif item.kind == "match":
                active = not never and self._match(item)
            elif item.kind == "include":
                for file_items in item.args:   # each file starts active, within this block only
                    self.run(file_items, never=not active)
            elif active:
                self.take(item)

    def take(self, item: _Item) -> None:
        if item.kind == "identityfile":
            if item.args[0] not in self.identity:
                self.identity.append(item.args[0])
        elif item.kind in ("proxyjump", "proxycommand"):   # whichever comes first wins
            if "proxyjump" not in self.found and "proxycommand" not in self.found:
                self.found[item.kind] = (item.args, item.file, item.line)
        elif item.kind not in self.found:
            self.found[item.kind] = (item.args, item.file, item.line)

    def hostname(self) -> str:
        if "hostname" not in self.found:
            return self.name
        return _percent(self.found["hostname"][0][0], {"h": self.name})

    def _match(self, item: _Item) -> bool:
        words, ok, i = list(item.args), True, 0
        while i < len(words):
            word = words[i]
            negate = word.startswith("!")
            crit = word[1:].lower() if negate else word.lower()
            if crit in ("all", "canonical", "final"):
                result = crit == "all"   # ssh's first pass: canonical and final do not match yet
                i += 1
            else:
                if i + 1 >= len(words):
                    raise SshConfigError(f"{item.file}:{item.line}: Match {word!r} needs an argument")
                arg = words[i + 1]
                i += 2
                if crit == "host":
                    result = _pattern_list_matches(self.hostname(), [arg])
                elif crit == "originalhost":
                    result = _pattern_list_matches(self.name, [arg])
                elif crit == "user":
                    user = self.found["user"][0][0] if "user" in self.found else getpass.getuser()
                    result = _pattern_list_matches(user, [arg])
                elif crit == "localuser":
                    result = _pattern_list_matches(getpass.getuser(), [arg])
                else:   # exec runs a command; dsconsole does not run commands from ssh config
                    raise SshConfigError(f"{item.file}:{item.line}: Match {crit!r} is not supported by "
                                         f"dsconsole; expected Match all, host, originalhost, user or "
                                         f"localuser")
            ok = ok and (result != negate)
        return ok


def _percent(value: str, tokens: dict[str, str]) -> str:
    return re.sub(r"%(.)", lambda m: "%" if m.group(1) == "%" else tokens.get(m.group(1), m.group(0)),
                  value)


def _lookup(items: list[_Item] | None, name: str) -> _Lookup:
    look = _Lookup(name)
    if items:
        look.run(items)
    return look


def resolve(name: str, *, address: str | None = None, user: str | None = None,
            port: int | None = None, identity_file: str | os.PathLike[str] | Iterable[str] | None = None,
            proxy_jump: str | None = None,
            path: str | os.PathLike[str] | Literal[False] | None = None) -> HostSettings:
    """Settings for host `name`: explicit arguments (the site file) first, then
    the ssh config (`path`; None: ~/.ssh/config; False: none), then defaults.
    SshConfigError (file:line) for a config dsconsole cannot follow, e.g. a
    ProxyCommand for this host."""
    items = load(path) if path is not False else None
    look = _lookup(items, name)
    found = dict(look.found)
    identity_found = list(look.identity)
    if address and address != name and items:
        # the address's own blocks (`Host 10.0.0.*`) fill in what the name's left open
        by_address = _lookup(items, address)
        for k, v in by_address.found.items():
            if k == "hostname" or (k in ("proxyjump", "proxycommand")
                                   and ("proxyjump" in found or "proxycommand" in found)):
                continue
            found.setdefault(k, v)
        identity_found += [x for x in by_address.identity if x not in identity_found]
    hostname = address or look.hostname()
    if isinstance(identity_file, (str, os.PathLike)):
        identity = [str(identity_file)]
    elif identity_file:
        identity = [str(x) for x in identity_file]
    else:
        identity = [os.path.expanduser(x) for x in identity_found]
    jump: str | None
    if proxy_jump is not None:
        jump = proxy_jump
    elif "proxycommand" in found and found["proxycommand"][0][0].lower() != "none":
        _, file, line = found["proxycommand"]
        raise SshConfigError(f"{file}:{line}: host {name}: ProxyCommand is not supported by dsconsole "
                             f"(it reaches jump hosts over its own strictly checked connection); "
                             f"expected ProxyJump, e.g. `ProxyJump ops@bastion`, or `jump:` in the "
                             f"site file")
    else:
        jump = " ".join(found["proxyjump"][0]) if "proxyjump" in found else None
    try:
        hops = parse_proxy_jump(jump)
    except ValueError as e:
        where = "{}:{}: ".format(*found["proxyjump"][1:]) if "proxyjump" in found and \
            proxy_jump is None else ""
        raise SshConfigError(f"{where}host {name}: ProxyJump: {e}; expected [user@]host[:port],...") \
            from None
    value = lambda k: found[k][0][0] if k in found else None  # noqa: E731
    known = tuple(os.path.expanduser(x) for x in (found.get("userknownhostsfile") or ((),))[0])
    return HostSettings(
        name=name, hostname=hostname, user=user or value("user") or getpass.getuser(),
        port=int(port or value("port") or 22), identity_files=tuple(identity), proxy_jump=hops,
        host_key_alias=value("hostkeyalias"),
        known_hosts_files=tuple(k for k in known if k != "/dev/null"))
