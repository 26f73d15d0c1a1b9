"""`dsconsole hosts trust|forget NAME`: explicit trust of SSH host keys.

trust   fetch the key NAME offers (through its jump host, if it has one), show
        its SHA256 fingerprint, ask y/N (unless --yes) and add it to
        dsconsole's own known_hosts file. A CHANGED key is refused: the old
        line has to be removed explicitly first (`forget` for dsconsole's own
        file, `ssh-keygen -R` for the user's).
forget  remove NAME's lines from dsconsole's own known_hosts file.

NAME: a host of the site file (--site, DSCONSOLE_SITE or the config dir's
site.yaml), an address[:port] ([v6]:port), or a Host alias of ~/.ssh/config.
Exit codes: 0 trusted / removed, 1 refused or failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.hosts.ssh import SshTransport

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site", "operator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="hosts_action", metavar="ACTION")
    sub.required = True
    for action, help_text in (("trust", "fetch a host's key, show its fingerprint, trust it"),
                              ("forget", "remove a host's keys from dsconsole's known_hosts")):
        p = sub.add_parser(action, help=help_text, description=help_text)
        p.add_argument("name", metavar="NAME",
                       help="site host name, address[:port] or ~/.ssh/config alias")
        p.add_argument("--site", metavar="FILE", default=argparse.SUPPRESS, help="site YAML file")
        p.add_argument("--ssh-config", metavar="PATH", default=None,
                       help="ssh config file (default ~/.ssh/config)")
        if action == "trust":
            p.add_argument("--yes", "-y", action="store_true",
                           help="trust without asking (after showing the fingerprint)")
            p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                           help="connect timeout in seconds (default 10)")


class _BadInput(Exception):
    def __init__(self, message: str, *, prefix: bool = True):
        super().__init__(message)
        self.prefix = prefix   # False: a site file's `file:line: ...` error, printed as it stands


def _split_address(name: str) -> tuple[str, int | None]:
    """'host', 'host:port', '[v6]:port' or a bare IPv6 address."""
    m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", name)
    if m:
        return m.group(1), int(m.group(2)) if m.group(2) else None
    if name.count(":") == 1:
        host, port = name.split(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise _BadInput(f"{name}: expected address[:port] with a port 1-65535")
        return host, int(port)
    return name, None


def _transport(args: argparse.Namespace, timeout: float) -> SshTransport:
    """The SshTransport for NAME (nothing connects yet)."""
    from console.hosts.ssh import SshTransport, transports_for_hosts

    # the site as every command finds it (site_config.site_file_path)
    from console.site_config import site_file_path
    site_file = site_file_path(getattr(args, "site", None))
    if site_file:
        from console.site_config import ConfigError, load_site
        try:
            site = load_site(site_file)
        except ConfigError as e:
            raise _BadInput(str(e), prefix=False) from None
        except OSError as e:
            raise _BadInput(f"{site_file}: {e.strerror}") from None
        if any(h.name == args.name for h in site.hosts):
            return transports_for_hosts(site.hosts, ssh_config=args.ssh_config,
                                        connect_timeout=timeout)[args.name]
    address, port = _split_address(args.name)
    if not address:
        raise _BadInput(f"{args.name}: expected a host name or address")
    return SshTransport(args.name, address if port else None, port=port,
                        ssh_config=args.ssh_config, connect_timeout=timeout)


def _audit(args: argparse.Namespace, action: str, host: str, details: dict[str, object], result: str) -> None:
    try:
        from console.audit import AuditLog
        AuditLog(operator=getattr(args, "operator", None),
                 site=getattr(args, "site", None)).append(action, host=host, args=details,
                                                          result=result)
    except OSError as e:
        print(f"dsconsole: warning: audit log not written: {e.strerror}", file=sys.stderr)


def _trust(args: argparse.Namespace) -> int:
    from console.hosts import known_hosts as kh
    from console.hosts.transport import HostKeyError, TransportError
    t = _transport(args, args.timeout)
    try:
        key = t.fetch_host_key()
    except HostKeyError as e:  # the jump host's key is not trusted
        print(f"dsconsole: {e}", file=sys.stderr)
        return 1
    except TransportError as e:
        print(f"dsconsole: {e}", file=sys.stderr)
        return 1
    finally:
        t.close()
    fp = kh.fingerprint(key)
    verdict = kh.KnownHosts(t.known_hosts_files + [kh.own_path()]).check(t.host_key_name, key)
    details: dict[str, object] = {"address": t.address, "port": t.port, "key_type": key.get_name(),
               "fingerprint": fp}
    if verdict.status == "trusted":
        where = f" ({verdict.entry.where})" if verdict.entry is not None else ""
        print(f"{args.name} ({t.target}): {key.get_name()} {fp} is already trusted{where}")
        return 0
    if verdict.status != "unknown":
        print(f"dsconsole: {kh.refusal(args.name, t.host_key_name, key, verdict).message}",
              file=sys.stderr)
        _audit(args, "hosts.trust", args.name, details, "refused: key changed")
        return 1
    print(f"{args.name} ({t.target}) offers this {key.get_name()} host key:\n"
          f"    {fp}\n"
          f"Compare it with the host's own, over a channel you trust (on the host: "
          f"ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub).")
    if not args.yes:
        try:
            answer = input("Trust this key? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("Not trusted.")
            return 1
    try:
        path = kh.trust(args.name, t.address, t.port, key, files=t.known_hosts_files,
                        host_name=t.host_key_name)
    except HostKeyError as e:  # raced with another change
        print(f"dsconsole: {e}", file=sys.stderr)
        return 1
    _audit(args, "hosts.trust", args.name, details, "ok")
    print(f"Trusted: {t.host_key_name} {key.get_name()} {fp} added to {path}")
    return 0


def _forget(args: argparse.Namespace) -> int:
    from console.hosts import known_hosts as kh
    t = _transport(args, 5.0)
    removed = kh.forget(t.address, t.port, host_name=t.host_key_name)
    if not removed:
        print(f"{args.name}: no line for {t.host_key_name} in {kh.own_path()}")
        return 1
    _audit(args, "hosts.forget", args.name, {"address": t.address, "port": t.port,
                                            "lines": removed}, "ok")
    print(f"Removed {removed} line(s) for {t.host_key_name} from {kh.own_path()}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return _trust(args) if args.hosts_action == "trust" else _forget(args)
    except _BadInput as e:   # a site file error is `file:line: ...` as it stands
        print(f"dsconsole: {e}" if e.prefix else str(e), file=sys.stderr)
        return 2
    except Exception as e:  # TransportError from resolving the ssh config, etc.
        from console.hosts.transport import TransportError
        if isinstance(e, TransportError):
            print(f"dsconsole: {e}", file=sys.stderr)
            return 2
        raise
