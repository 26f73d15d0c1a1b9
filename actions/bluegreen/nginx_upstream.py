"""The one nginx file dsconsole owns on the load-balancer host: the include
holding the upstream block of the blue-green pair, written through the
host's Transport.

apply() never leaves nginx on a file it has not accepted: write the file,
`nginx -t`, reload only if the test passed, else put the previous file back
(or remove it, if there was none) and raise NginxTestFailed with nginx's own
message made safe for the terminal. The weights are then read back from
what nginx loads (`nginx -T`), so a console that died mid-switch learns the
weights from nginx rather than from its journal.

Only `-t`, `-s reload`, `-T` and `-v` are run, so the demo site's simulated
balancer can emulate exactly these. nginx has no weight 0: a colour at 0 is
written `down` (its servers stay listed, so the first adoption's diff shows
them, and weights of 100/0 keep a way back without a new server line).

Which colour a server is: the comment dsconsole writes after it (`# blue`),
else the pool the caller passes."""
from __future__ import annotations

import difflib
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from console.safe_text import visible, visible_text

if TYPE_CHECKING:
    from console.hosts.transport import Transport

HEADER = ("# Owned by dsconsole (blue-green switchover): rewritten at every traffic step;\n"
          "# edit the weights with `dsconsole bluegreen`, not here.\n")
_SERVER = re.compile(r"^[ \t]*server[ \t]+([^\s;]+)([^;#\n]*);[ \t]*(?:#[ \t]*(blue|green)\b)?", re.M)


class NginxTestFailed(RuntimeError):
    """`nginx -t` refused the file: nothing was reloaded, the old file is back."""


class NginxCommandFailed(RuntimeError):
    """nginx could not be run or reloaded (not a problem of the file)."""


@dataclass(frozen=True)
class Weights:
    blue: int
    green: int

    def __post_init__(self) -> None:
        if not (0 <= self.blue <= 100 and 0 <= self.green <= 100 and self.blue + self.green == 100):
            raise ValueError(f"weights {self.blue}/{self.green}: expected two numbers from 0 to 100 adding up to 100")

    def of(self, colour: str) -> int:
        return self.blue if colour == "blue" else self.green


@dataclass(frozen=True)
class Pool:
    """The upstream servers (host:port) of each colour."""
    blue: list[str] = field(default_factory=list)
    green: list[str] = field(default_factory=list)

    def colour_of(self, address: str) -> str | None:
        return "blue" if address in self.blue else "green" if address in self.green else None


def render(upstream: str, pool: Pool, weights: Weights) -> str:
    """The include file for `weights` over `pool`. nginx weighs servers, not
    colours: each server's weight is its colour's times the other colour's
    server count, so a colour's servers together get its share however many
    each colour has (one server each: the weights as given)."""
    lines = [HEADER.rstrip("\n"), f"upstream {upstream} {{"]
    for colour, other in (("blue", "green"), ("green", "blue")):
        w = weights.of(colour) * max(1, len(getattr(pool, other)))
        for addr in getattr(pool, colour):
            lines.append(f"    server {addr} {'down' if w == 0 else f'weight={w}'};  # {colour}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def parse_weights(text: str, upstream: str, pool: Pool | None = None) -> Weights | None:
    """The shares of blue and green (percent) in the upstream block
    `upstream` of `text` (a file, or `nginx -T`'s dump): the sum of each
    colour's server weights over all; None without such a block, or without
    servers of both colours."""
    m = re.search(r"upstream\s+" + re.escape(upstream) + r"\s*\{(.*?)\}", text, re.S)
    if m is None:
        return None
    got = {"blue": 0, "green": 0}
    seen = set()
    for addr, opts, colour in _SERVER.findall(m.group(1)):
        colour = colour or (pool.colour_of(addr) if pool else None)
        if colour is None:
            continue
        seen.add(colour)
        if "down" in opts.split():
            continue
        w = re.search(r"weight=(\d+)", opts)
        got[colour] += int(w.group(1)) if w else 1
    if seen != {"blue", "green"}:
        return None
    total = got["blue"] + got["green"]
    if total == 0:
        return None
    blue = round(100 * got["blue"] / total)      # each colour's share of the traffic
    return Weights(blue, 100 - blue)


class NginxUpstream:
    def __init__(self, transport: Transport, *, include_path: str, upstream: str, nginx_cmd: str = "nginx"):
        self.transport, self.include_path, self.upstream, self.nginx_cmd = \
            transport, include_path, upstream, nginx_cmd

    def _nginx(self, args: str) -> tuple[bool, str, str]:
        """(ok, nginx's message made visible, stdout) of `nginx ARGS`."""
        r = self.transport.run(f"{self.nginx_cmd} {args}", sudo=True, timeout=60)
        return r.ok, visible((r.stderr + ("" if r.ok else r.stdout)).strip()[-2000:]), r.stdout

    def read_owned(self) -> str | None:
        """The include file as it is now (None: there is none)."""
        try:
            return self.transport.read(self.include_path, sudo=True).decode("utf-8", "replace")
        except FileNotFoundError:
            return None

    def adopt_diff(self, pool: Pool, weights: Weights) -> str:
        """A unified diff from the file now to the one dsconsole will own ("" if
        the same): its lines kept, any control character in them made visible."""
        now = self.read_owned() or ""
        new = render(self.upstream, pool, weights)
        if now == new:
            return ""
        return visible_text("".join(difflib.unified_diff(now.splitlines(True), new.splitlines(True),
                                                    f"{self.include_path} (now)",
                                                    f"{self.include_path} (dsconsole)")))

    def apply(self, pool: Pool, weights: Weights) -> Weights:
        """Write, test, reload (only if the test passed), read back."""
        before = self.read_owned()
        self.transport.write(self.include_path, render(self.upstream, pool, weights).encode(), sudo=True)
        ok, out, _ = self._nginx("-t")
        if not ok:
            self._restore(before)
            raise NginxTestFailed(f"nginx -t refused the new upstream file (restored; nothing reloaded): {out}")
        ok, out, _ = self._nginx("-s reload")
        if not ok:
            self._restore(before)
            raise NginxCommandFailed(f"nginx -s reload failed (the file is restored): {out}")
        running = self.running(pool)
        if running != weights:
            raise NginxCommandFailed(f"nginx loads {running} after the reload, not {weights}")
        return running

    def _restore(self, before: str | None) -> None:
        if before is None:
            self.transport.run(f"rm -f -- {shlex.quote(self.include_path)}", sudo=True)
        else:
            self.transport.write(self.include_path, before.encode(), sudo=True)

    def running(self, pool: Pool | None = None) -> Weights | None:
        """The weights in the configuration nginx loads (`nginx -T`): after a
        reload that passed its test, the ones it runs."""
        ok, out, dump = self._nginx("-T")
        if not ok:
            raise NginxCommandFailed(f"nginx -T failed: {out}")
        return parse_weights(dump, self.upstream, pool)
