"""The part of nginx's configuration language the demo's balancer needs: the
`upstream NAME { server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T]
[down] [backup]; ... }` blocks of a file, with nginx's own error messages
(`unknown directive "x" in FILE:LINE`), so that what dsconsole writes to the
demo's lb-0 is checked as a real nginx would check it."""
from __future__ import annotations

import re
from dataclasses import dataclass

from .lb_proxy import UpstreamServer

_FLAGS = ("down", "backup")
_TIME = re.compile(r"(\d+)(ms|s|m|h)?")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class NginxConfError(ValueError):
    """One [emerg] of `nginx -t`: the message as nginx prints it after `[emerg] `."""


@dataclass(frozen=True)
class Upstream:
    name: str
    servers: tuple[UpstreamServer, ...]


def _statements(text: str, path: str) -> list[tuple[int, list[str]]]:
    """(line, words) of each `;`, `{` or `}` ended statement."""
    out: list[tuple[int, list[str]]] = []
    words: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.partition("#")[0]
        for tok in re.findall(r"[{};]|[^\s{};]+", line):
            if not words:
                start = n
            if tok in ";{}":
                out.append((start, [*words, tok]))
                words = []
            else:
                words.append(tok)
    if words:
        raise NginxConfError(f'unexpected end of file, expecting ";" or "}}" in {path}:{start}')
    return out


def _server(words: list[str], where: str) -> UpstreamServer:
    if len(words) < 2:
        raise NginxConfError(f'invalid number of arguments in "server" directive in {where}')
    addr = words[1]
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NginxConfError(f'invalid port in "{addr}" of the "server" directive in {where}')
    s = UpstreamServer(addr)
    for p in words[2:]:
        key, eq, value = p.partition("=")
        if key == "weight" and eq and value.isdigit() and int(value) > 0:
            s.weight = int(value)
        elif key == "max_fails" and eq and value.isdigit():
            s.max_fails = int(value)
        elif key == "fail_timeout" and eq and (m := _TIME.fullmatch(value)):
            s.fail_timeout_s = int(m.group(1)) * _UNITS[m.group(2)]
        elif p == "down":
            s.down = True
        elif p == "backup":
            s.down = True          # the demo does not fail over to backups: never chosen
        else:
            raise NginxConfError(f'invalid parameter "{p}" in {where}')
    return s


def parse_upstreams(text: str, path: str) -> list[Upstream]:
    """The upstream blocks of an http-context file; NginxConfError for what
    nginx -t would refuse in them (other directives are not looked at)."""
    found: list[Upstream] = []
    current: tuple[str, list[UpstreamServer]] | None = None
    depth = 0
    for line, words in _statements(text, path):
        where = f"{path}:{line}"
        end = words[-1]
        if current is not None:
            if words == ["}"]:
                if not current[1]:
                    raise NginxConfError(f'no servers are inside upstream in {where}')
                found.append(Upstream(current[0], tuple(current[1])))
                current = None
            elif words[0] == "server" and end == ";":
                current[1].append(_server(words[:-1], where))
            elif words[0] in ("keepalive", "least_conn", "ip_hash", "zone", "hash", "random") and end == ";":
                continue
            else:
                raise NginxConfError(f'unknown directive "{words[0]}" in {where}')
        elif words[0] == "upstream" and end == "{":
            if len(words) != 3:
                raise NginxConfError(f'invalid number of arguments in "upstream" directive in {where}')
            if any(u.name == words[1] for u in found):
                raise NginxConfError(f'duplicate upstream "{words[1]}" in {where}')
            current = (words[1], [])
        elif end == "{":
            depth += 1
        elif words == ["}"]:
            if depth == 0:
                raise NginxConfError(f'unexpected "}}" in {where}')
            depth -= 1
    if current is not None or depth:
        raise NginxConfError(f'unexpected end of file, expecting "}}" in {path}:{len(text.splitlines())}')
    return found
