"""Node loss on a real site: the node's host stops its kubelet through its
Transport (the host the site file names for the node: `node: NAME`, or a
host of that name) and the rollback starts it again. The commands are the
host's `stop_command` / `start_command`, by default systemctl stop / start
kubelet. GPU faults cannot be injected on real hardware: refused."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console.safe_text import visible

from .catalog import DrillRefused

DEFAULT_STOP = "systemctl stop kubelet"
DEFAULT_START = "systemctl start kubelet"


class HostFaults:
    """FaultInjector (faults.py) for a real site: node faults only."""
    real = True
    kinds = frozenset({"node"})

    def __init__(self, hosts: tuple, transport_for: Callable[[Any], Any], *, timeout_s: float = 120.0):
        self.hosts = hosts
        self.transport_for = transport_for   # HostConfig -> Transport (made on first use)
        self.timeout_s = timeout_s

    def host_for_node(self, node: str) -> Any:
        for h in self.hosts:
            if (h.node or h.name) == node:
                return h
        raise DrillRefused(f"no host in the site file for node {node!r}; expected a host with "
                           f"`name: {node}` or `node: {node}` (its Transport stops the kubelet)")

    def _run(self, node: str, cmd: str) -> None:
        h = self.host_for_node(node)
        r = self.transport_for(h).run(cmd, sudo=True, timeout=self.timeout_s)
        if not r.ok:
            raise RuntimeError(f"{h.name}: `{cmd}` exited {r.rc}: {visible(r.stderr.strip()[-300:])}")

    def fail_node(self, node: str) -> None:
        h = self.host_for_node(node)
        self._run(node, h.stop_command or DEFAULT_STOP)

    def recover_node(self, node: str) -> None:
        h = self.host_for_node(node)
        self._run(node, h.start_command or DEFAULT_START)

    def describe(self, node: str) -> str:
        h = self.host_for_node(node)
        return f"on host {h.name}: {h.stop_command or DEFAULT_STOP}"

    def gpu_fault(self, node: str, gpu_index: int, kind: str) -> None:
        raise DrillRefused("a GPU fault can only be injected on the demo site (--demo)")

    def clear_gpu(self, node: str, gpu_index: int) -> None:
        raise DrillRefused("a GPU fault can only be injected on the demo site (--demo)")

    def gpu_alerts(self, node: str) -> list[str]:
        return []
