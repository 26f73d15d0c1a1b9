"""What the load-balancer drill (lb_loss.py) stops, starts and reads, on the
demo site and on a real one (its UpstreamControl), and the drill built for
either from the same few facts: the balancer's URL, its upstreams, and
nginx's max_fails / fail_timeout.

Real site: the site file's `balancer:` section (console/site_config.py
BalancerConfig). An upstream is stopped by its `stop_command` on its `host`
and started again by its `start_command` (the journaled rollback); nginx's
error log is read on the balancer's host from the size it had when the drill
began, so a large log is never read whole.
Demo site: the demo's balancer (console/sim/lb_proxy.py) in front of its
model servers; an upstream is stopped as a dead process is (the model
server's stop_server)."""
from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from console.safe_text import visible

if TYPE_CHECKING:
    from console.hosts.transport import Transport
    from console.site_config import BalancerConfig, BalancerUpstream

LOCAL_HOST = "local"


class BalancerRefused(ValueError):
    """The drill cannot run on this balancer (said to the operator as is)."""


@dataclass(frozen=True)
class BalancerTarget:
    """The facts the drill needs, from either site."""
    url: str
    upstreams: tuple[str, ...]          # addresses a drill may stop
    max_fails: int
    fail_timeout_s: float

    def choose(self, wanted: str | None) -> str:
        """The upstream to stop: the one named (--target), else the first."""
        if not self.upstreams:
            raise BalancerRefused("no upstream of the balancer can be stopped: give one a stop_command and "
                                  "start_command in the site file's balancer.upstreams")
        if wanted is None:
            return self.upstreams[0]
        if wanted not in self.upstreams:
            raise BalancerRefused(f"no stoppable upstream {wanted!r}; expected one of {', '.join(self.upstreams)}")
        return wanted

    def host_port(self) -> tuple[str, int]:
        u = urlsplit(self.url)
        return u.hostname or "127.0.0.1", u.port or 80


class DemoBalancer:
    """UpstreamControl on the demo site, in this process."""

    def __init__(self, site: Any) -> None:
        self.site = site
        self.proxy = site.balancer()

    def target(self) -> BalancerTarget:
        servers = self.proxy.servers()
        return BalancerTarget(self.proxy.url, tuple(s.address for s in servers if not s.down),
                              servers[0].max_fails if servers else 1,
                              servers[0].fail_timeout_s if servers else 10.0)

    def stop_upstream(self, address: str) -> None:
        self.site.model_servers.stop_server(address.rpartition(":")[0])

    def start_upstream(self, address: str) -> None:
        self.site.model_servers.start_server(address.rpartition(":")[0])

    def error_log(self) -> str:
        return self.proxy.error_log()


class SiteBalancer:
    """UpstreamControl on a real site: commands over the hosts' Transports."""

    def __init__(self, cfg: BalancerConfig, transport_for: Callable[[str], Transport]) -> None:
        self.cfg = cfg
        self._transport_for = transport_for
        self._log_start: int | None = None

    def target(self) -> BalancerTarget:
        stoppable = tuple(u.address for u in self.cfg.upstreams if u.stop_command and u.start_command)
        return BalancerTarget(self.cfg.url, stoppable, self.cfg.max_fails, self.cfg.fail_timeout_s)

    def _transport(self, name: str) -> Transport:
        if name == LOCAL_HOST:
            from console.hosts.local import LocalTransport
            return LocalTransport(LOCAL_HOST)
        return self._transport_for(name)

    def _upstream(self, address: str) -> BalancerUpstream:
        for u in self.cfg.upstreams:
            if u.address == address:
                return u
        raise BalancerRefused(f"no upstream {address!r} in the site file's balancer.upstreams")

    def _run(self, host: str, command: str, what: str) -> None:
        r = self._transport(host).run(command, timeout=120)
        if not r.ok:
            last = (r.stderr.strip().splitlines() or [f"exit status {r.rc}"])[-1]
            raise RuntimeError(f"{what} on {host} failed: {visible(last)}")

    def stop_upstream(self, address: str) -> None:
        u = self._upstream(address)
        if not u.stop_command:
            raise BalancerRefused(f"upstream {address} has no stop_command in the site file")
        self._run(u.host or LOCAL_HOST, u.stop_command, f"stopping upstream {address}")

    def start_upstream(self, address: str) -> None:
        u = self._upstream(address)
        if not u.start_command:
            raise BalancerRefused(f"upstream {address} has no start_command in the site file")
        self._run(u.host or LOCAL_HOST, u.start_command, f"starting upstream {address}")

    def error_log(self) -> str:
        """nginx's error log since the first call (which returns "")."""
        host, path = self._transport(self.cfg.host), shlex.quote(self.cfg.error_log)
        if self._log_start is None:
            r = host.run(f"stat -c %s {path}", timeout=30)
            if not r.ok:
                raise RuntimeError(f"cannot read nginx's error log {self.cfg.error_log} on {self.cfg.host}: "
                                   f"{visible(r.stderr.strip()[-200:])}")
            self._log_start = int(r.stdout.strip() or 0)
            return ""
        r = host.run(f"tail -c +{self._log_start + 1} {path}", timeout=30)
        return r.stdout if r.ok else ""


def lb_drill(control: DemoBalancer | SiteBalancer, wanted: str | None, **kw: Any) -> Any:
    """The LbUpstreamLoss drill on `control`'s balancer, stopping `wanted`
    (default: the first upstream that can be stopped)."""
    from .lb_loss import Balancer, LbUpstreamLoss
    t = control.target()
    upstream = t.choose(wanted)
    host, port = t.host_port()
    return LbUpstreamLoss(Balancer(host, port), upstream, control, max_fails=t.max_fails,
                          fail_timeout_s=t.fail_timeout_s, **kw)
