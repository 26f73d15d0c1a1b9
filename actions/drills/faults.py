"""Fault injection a drill cannot do through the Kubernetes API: a node that
stops, a GPU that reports an XID / uncorrected ECC error. The demo site's
simulator does them (console/sim: cluster.fail_node, gpu_fleet.inject_fault);
a real site's node loss goes through the node's host (host_faults.py)."""
from __future__ import annotations

from typing import Any, Protocol


class FaultInjector(Protocol):
    real: bool                # True: a real machine is stopped (node loss needs the node named)
    kinds: frozenset[str]     # "node", "gpu": the faults it can inject
    def fail_node(self, node: str) -> None: ...
    def recover_node(self, node: str) -> None: ...
    def gpu_fault(self, node: str, gpu_index: int, kind: str) -> None: ...
    def clear_gpu(self, node: str, gpu_index: int) -> None: ...
    def gpu_alerts(self, node: str) -> list[str]: ...


class DemoFaults:
    """The demo site's fault API, in this process."""
    real = False
    kinds = frozenset({"node", "gpu"})

    def __init__(self, site: Any):
        self.site = site

    def fail_node(self, node: str) -> None:
        self.site.cluster.fail_node(node)

    def recover_node(self, node: str) -> None:
        self.site.cluster.recover_node(node)

    def gpu_fault(self, node: str, gpu_index: int, kind: str) -> None:
        self.site.gpus.inject_fault(node, gpu_index, kind)

    def clear_gpu(self, node: str, gpu_index: int) -> None:
        self.site.gpus.clear_faults(node, gpu_index)

    def gpu_alerts(self, node: str) -> list[str]:
        """The console's own GPU alert rules (console/alerts.gpu_alerts) over
        what the node's telemetry reads now: the messages of the alerts that fire."""
        from console.alerts import gpu_alerts
        from console.site_config import Thresholds
        state = self.site.gpus.read(node)
        alerts = gpu_alerts({node: state}, Thresholds(), 15.0, self.site.clock.now())
        return [a.message for a in alerts]
