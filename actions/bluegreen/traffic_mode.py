"""How the switch moves traffic, whatever carries it: the nginx include file
dsconsole owns (NginxSwitch below) or, in the demo, the simulated balancer's
nginx behind the same NginxUpstream. switch.run_steps only needs these two."""
from __future__ import annotations

from typing import Protocol

from .nginx_upstream import NginxUpstream, Pool, Weights


class TrafficSwitch(Protocol):
    def set_weights(self, blue: int, green: int) -> Weights:
        """Put the weights in force; return what is running afterwards (read back)."""
        ...

    def read_weights(self) -> Weights | None:
        """The weights in force now (None: unknown)."""
        ...


class NginxSwitch:
    """TrafficSwitch over the owned include file: apply() tests before the
    reload and reads back, so what set_weights returns is what nginx runs."""

    def __init__(self, upstream: NginxUpstream, pool: Pool):
        self.upstream, self.pool = upstream, pool

    def set_weights(self, blue: int, green: int) -> Weights:
        return self.upstream.apply(self.pool, Weights(blue, green))

    def read_weights(self) -> Weights | None:
        return self.upstream.running(self.pool)
