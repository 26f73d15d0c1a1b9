"""Host keys: strict checking against known_hosts files, and explicit trust.

The files checked are the user's (~/.ssh/known_hosts, or what ~/.ssh/config's
UserKnownHostsFile names), the system's /etc/ssh/ssh_known_hosts and
dsconsole's own (<XDG config>/dsconsole/known_hosts). Only dsconsole's own
file is ever written, and only by an explicit `trust()` (the `dsconsole hosts
trust` command, a prompt in the UI that shows the fingerprint). Nothing here
adds a key on its own.

Verdicts for the key a host offers:
  trusted  an entry for the host has exactly this key;
  unknown  no entry for the host: refused with the SHA256 fingerprint so the
           operator can compare it out of band and trust it;
  changed  the host is known with another key (or only with keys of other
           types): refused loudly, never accepted by a prompt; the old line
           must be removed explicitly first (`dsconsole hosts forget`, or
           `ssh-keygen -R` for the user's own file);
  revoked  an @revoked line names this key.

The file format is OpenSSH's (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"): host
patterns with * ? and !negation, [host]:port for ports other than 22, hashed
names (|1|salt|hmac-sha1), @revoked and @cert-authority markers (certificate
authorities are not used by dsconsole and are skipped).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from console import paths
from console.hosts.transport import HostKeyError

if TYPE_CHECKING:
    from paramiko import PKey

SYSTEM_FILE = Path("/etc/ssh/ssh_known_hosts")


def own_path() -> Path:
    """dsconsole's own known_hosts file (the only one it writes)."""
    return paths.config_dir() / "known_hosts"


def user_path() -> Path:
    return Path.home() / ".ssh" / "known_hosts"


def default_files() -> list[Path]:
    return [user_path(), SYSTEM_FILE, own_path()]


def lookup_name(host: str, port: int = 22) -> str:
    """The name known_hosts files use: `host`, or `[host]:port` off port 22."""
    return host if int(port) == 22 else f"[{host}]:{port}"


def fingerprint(key: PKey | bytes | str) -> str:
    """SHA256 fingerprint as OpenSSH prints it: 'SHA256:<base64, no padding>'.
    `key`: a paramiko PKey, the raw key blob (bytes) or its base64 text."""
    if isinstance(key, str):
        blob = base64.b64decode(key)
    elif isinstance(key, bytes):
        blob = bytes(key)
    else:
        blob = key.asbytes()
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _key_parts(key: PKey | tuple[str, str]) -> tuple[str, str]:
    """(type, base64) of a paramiko PKey or a (type, base64) pair."""
    if isinstance(key, tuple):
        return key
    return key.get_name(), key.get_base64()


@dataclass(frozen=True)
class Entry:
    path: Path
    line_no: int
    hosts: str          # the host field as written (patterns or a hashed name)
    key_type: str
    key_b64: str
    marker: str | None  # None, "@revoked" or "@cert-authority"

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line_no}"

    def matches(self, name: str) -> bool:
        if self.hosts.startswith("|1|"):
            return _hashed_matches(self.hosts, name)
        positive = False
        for pattern in self.hosts.split(","):
            negated = pattern.startswith("!")
            pat = pattern[1:] if negated else pattern
            if _glob_matches(pat, name):
                if negated:
                    return False
                positive = True
        return positive


def _glob_matches(pattern: str, name: str) -> bool:
    """OpenSSH host patterns: only * and ? are special ('[' is literal, as in
    [host]:port), case-insensitive."""
    rx = re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(rx, name.lower()) is not None


def _hashed_matches(field: str, name: str) -> bool:
    try:
        _, _, salt, digest = field.split("|", 3)
        mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mac, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def parse_file(path: Path) -> list[Entry]:
    """Entries of one known_hosts file; a missing or unreadable file has none,
    malformed lines are skipped (as ssh does)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    entries = []
    for no, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = None
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
        if len(fields) < 3:
            continue
        entries.append(Entry(Path(path), no, fields[0], fields[1], fields[2], marker))
    return entries


@dataclass(frozen=True)
class Verdict:
    status: str                 # trusted | unknown | changed | revoked
    entry: Entry | None = None  # the matching (trusted) or conflicting entry


class KnownHosts:
    """The entries of several known_hosts files, read once."""

    def __init__(self, files: list[Path] | None = None):
        self.files = [Path(f) for f in (files if files is not None else default_files())]
        self.entries = [e for f in self.files for e in parse_file(f)]

    def for_name(self, name: str) -> list[Entry]:
        return [e for e in self.entries if e.marker is None and e.matches(name)]

    def known_types(self, name: str) -> list[str]:
        seen = []
        for e in self.for_name(name):
            if e.key_type not in seen:
                seen.append(e.key_type)
        return seen

    def check(self, name: str, key: PKey | tuple[str, str]) -> Verdict:
        key_type, b64 = _key_parts(key)
        for e in self.entries:
            if e.marker == "@revoked" and e.key_type == key_type and e.key_b64 == b64:
                return Verdict("revoked", e)
        entries = self.for_name(name)
        for e in entries:
            if e.key_type == key_type and e.key_b64 == b64:
                return Verdict("trusted", e)
        if not entries:
            return Verdict("unknown")
        same_type = [e for e in entries if e.key_type == key_type]
        return Verdict("changed", (same_type or entries)[0])


def refusal(host: str, name: str, key: PKey | tuple[str, str], verdict: Verdict) -> HostKeyError:
    """The HostKeyError for a key that is not trusted (never for 'trusted')."""
    key_type, _ = _key_parts(key)
    fp = fingerprint(key if not isinstance(key, tuple) else key[1])
    if verdict.status == "unknown":
        return HostKeyError(
            host, f"host key not trusted: {name} offers {key_type} {fp}. Compare this "
                  f"fingerprint with the host's own (ssh-keygen -lf "
                  f"/etc/ssh/ssh_host_{_short_type(key_type)}_key.pub on the host), then trust "
                  f"it: dsconsole hosts trust {host}", fp, changed=False)
    e = verdict.entry
    assert e is not None   # (a verdict other than unknown names its entry)
    if verdict.status == "revoked":
        return HostKeyError(host, f"host key {key_type} {fp} offered by {name} is REVOKED "
                                  f"({e.where}); refusing to connect", fp, changed=True)
    old = fingerprint(e.key_b64)
    return HostKeyError(
        host, f"WARNING: HOST KEY OF {name} HAS CHANGED. It offers {key_type} {fp}, but "
              f"{e.where} has {e.key_type} {old}. Someone may be intercepting the connection "
              f"(man-in-the-middle), or the host was reinstalled. dsconsole will not connect "
              f"and will not accept this key by a prompt. If the change is expected, remove "
              f"the old line first ({_removal_hint(e, name)}), then run: dsconsole hosts "
              f"trust {host}", fp, changed=True)


def _short_type(key_type: str) -> str:
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(
        key_type, "ecdsa" if key_type.startswith("ecdsa") else key_type)


def _removal_hint(entry: Entry, name: str) -> str:
    if entry.path == own_path():
        return f"dsconsole hosts forget {name}"
    return f"ssh-keygen -R '{name}' -f {entry.path}, or delete line {entry.line_no} of {entry.path}"


def check_host_key(host: str, name: str, key: PKey | tuple[str, str], files: list[Path] | None = None) -> Entry:
    """Return the trusting entry, or raise HostKeyError (unknown / changed / revoked).
    `host`: the name shown to the operator; `name`: lookup_name(address, port)."""
    verdict = KnownHosts(files).check(name, key)
    if verdict.status == "trusted" and verdict.entry is not None:
        return verdict.entry
    raise refusal(host, name, key, verdict)


def trust(name: str, address: str, port: int, key: PKey | tuple[str, str], *, path: Path | None = None,
          files: list[Path] | None = None, host_name: str | None = None) -> Path:
    """Add `key` for address:port to dsconsole's own known_hosts file.

    Refuses (HostKeyError, changed=True) when any checked file knows the host
    with another key: a changed key is never trusted over an old one; the old
    line has to be removed explicitly first. Returns the file written; a key
    already trusted is not added twice. `name` (the operator's name for the
    host) goes into the line's comment."""
    path = Path(path) if path else own_path()
    host_name = host_name or lookup_name(address, port)  # or a HostKeyAlias
    check_files = list(files) if files is not None else default_files()
    if path not in check_files:
        check_files.append(path)
    verdict = KnownHosts(check_files).check(host_name, key)
    if verdict.status == "trusted" and verdict.entry is not None:
        return verdict.entry.path
    if verdict.status != "unknown":
        raise refusal(name, host_name, key, verdict)
    key_type, b64 = _key_parts(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = f"{host_name} {key_type} {b64} dsconsole:{name.replace(' ', '_')}:{stamp}\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(line)
    return path


def forget(address: str, port: int = 22, *, path: Path | None = None,
           host_name: str | None = None) -> int:
    """Remove every line for address:port from dsconsole's own file (an explicit
    operator action, the way to accept a changed key). Returns lines removed."""
    path = Path(path) if path else own_path()
    name = host_name or lookup_name(address, port)
    entries = [e for e in parse_file(path) if e.matches(name)]
    if not entries:
        return 0
    drop = {e.line_no for e in entries}
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for no, line in enumerate(lines, 1) if no not in drop]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(kept)
    os.replace(tmp, path)
    return len(drop)
