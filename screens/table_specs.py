"""What each table shows: columns, row key and row formatter per kind.

One spec per kind of row in a Snapshot (nodes, pods, gpus, alerts, events). The
overview panels and the full-screen `:nodes`/`:pods`/... views build their
VirtualTable from the same spec, so a column is defined exactly once.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any

import msgspec

from screens.formatting import fmt_gib, sparkline
from screens.widgets.virtual_table import Column

if TYPE_CHECKING:
    from console.snapshot import Alert, EventRow, NodeRow, PodRow, Snapshot
    from console.telemetry.poller import HostGpuState


class TableSpec(msgspec.Struct, frozen=True):
    kind: str                                # "nodes" | "pods" | "gpus" | "alerts" | "events"
    title: str
    columns: tuple[Column, ...]
    # the items are the kind's rows (NodeRow, PodRow, (host, GPU state), Alert, ...):
    # one table widget shows any of them
    key: Callable[[Any], Hashable]
    format: Callable[[Any], tuple[tuple, tuple | None]]
    rows: Callable[[Snapshot], Sequence[Any]]
    empty_text: str = "no rows"
    api_data: bool = True                    # comes from the API (stale when it is unreachable)


# ------------------------------------------------------------------ nodes
def _node_cells(n: NodeRow) -> tuple[tuple, tuple]:
    ready = "Ready" if n.ready else "NotReady"
    gpus = f"{n.gpu_alloc}/{n.gpu_cap}"
    gpu_style = "warn" if n.gpu_cap and n.gpu_alloc >= n.gpu_cap else None
    return ((n.name, ready, "cordoned" if n.cordoned else "-", gpus, str(n.pods)),
            (None if n.ready else "bad", "ok" if n.ready else "bad",
             "warn" if n.cordoned else "dim", gpu_style, None))


NODES = TableSpec(
    kind="nodes", title="Nodes",
    columns=(Column("NAME", 12, 40), Column("READY", 5, 8), Column("CORDON", 6, 8),
             Column("GPU", 3, 9, "right"), Column("PODS", 4, 6, "right")),
    key=attrgetter("name"), format=_node_cells, rows=lambda s: s.nodes,
    empty_text="no nodes yet")


# ------------------------------------------------------------------ pods
# kubectl's STATUS column: the phases, Terminating, and otherwise a container's
# waiting/terminated reason (CrashLoopBackOff, ImagePullBackOff, Error...): bad
_STATUS_STYLE = {"Running": "ok", "Pending": "warn", "ContainerCreating": "warn",
                 "Succeeded": "dim", "Completed": "dim", "Terminating": "dim"}


def _pod_cells(p: PodRow) -> tuple[tuple, tuple]:
    status = p.status or p.phase
    status_style = _STATUS_STYLE.get(status, "bad")
    ready = p.ready_containers or ("1/1" if p.ready else "0/1")
    version = p.version or "-"
    return ((p.name, status, ready, str(p.restarts), version, p.node or "-", p.created),
            (None, status_style, "ok" if p.ready else "warn",
             "warn" if p.restarts else None, version if version in ("blue", "green") else None, None, None))


PODS = TableSpec(
    kind="pods", title="Model-server pods",
    # VERSION (the blue-green colour) before NODE and AGE: in the overview's
    # half-width panel, with pod names like deepseek-v3-blue-<hash>-<id>, the
    # last columns are the ones cut off, and during a switch the colour matters most
    columns=(Column("NAME", 16, 48), Column("STATUS", 6, 18), Column("READY", 5, 5, "right"),
             Column("RESTARTS", 8, 8, "right"), Column("VERSION", 7, 10), Column("NODE", 4, 24),
             Column("AGE", kind="age")),
    key=attrgetter("namespace", "name"), format=_pod_cells, rows=lambda s: s.pods,
    empty_text="no model-server pods")


# ------------------------------------------------------------------ GPUs
def _gpu_cells(item: tuple[str, HostGpuState]) -> tuple[tuple, tuple]:
    host, st = item
    latest = st.latest
    samples = latest.samples if latest is not None else ()
    utils = [s.util_pct for s in samples if s.util_pct is not None]
    used = [s.mem_used_mib for s in samples if s.mem_used_mib is not None]
    total = [s.mem_total_mib for s in samples if s.mem_total_mib is not None]
    temps = [s.temp_c for s in samples if s.temp_c is not None]
    power = [s.power_w for s in samples if s.power_w is not None]
    flags: list[str] = []
    for s in samples:
        for f in s.health_flags:
            if f not in flags:
                flags.append(f)
    critical = sorted({x.code for x in st.xids if x.critical})
    flags.extend(f"XID{c}" for c in critical)
    state = latest.state if latest is not None else "waiting"
    ok = state == "ok"
    if not ok:
        flags.insert(0, state.upper())
    series = [h for h in st.util_history.values() if h]
    spark = ""
    if series:
        n = min(len(h) for h in series)
        spark = sparkline([sum(h[-n:][i] for h in series) / len(series) for i in range(n)][-12:])
    cells = (host, str(len(samples)) if samples else "-",
             f"{sum(utils) / len(utils):.0f}%" if utils else "-",
             fmt_gib(sum(used), sum(total)) if used and total else "-",
             f"{max(temps):.0f}C" if temps else "-",
             f"{sum(power):.0f}W" if power else "-",
             " ".join(flags) or "ok", spark, st.last_ok)
    row_style = None if ok else "stale"
    flag_style = "bad" if flags else "ok"
    return cells, (row_style, row_style, row_style, row_style, row_style, row_style,
                   flag_style, row_style, row_style)


GPUS = TableSpec(
    kind="gpus", title="GPUs",
    columns=(Column("NODE", 12, 40), Column("GPUS", 4, 4, "right"), Column("UTIL", 4, 5, "right"),
             Column("MEM", 9, 12, "right"), Column("TEMP", 4, 5, "right"),
             Column("POWER", 5, 7, "right"), Column("FLAGS", 5, 30, expand=True), Column("UTIL HISTORY", 12, 12),
             Column("SEEN", kind="age")),
    key=itemgetter(0), format=_gpu_cells, rows=lambda s: _sorted_gpus(s.gpus),
    empty_text="no GPU telemetry yet", api_data=False)

_gpu_sort_cache: dict[int, tuple[Mapping[str, HostGpuState], tuple[tuple[str, HostGpuState], ...]]] = {}


def _sorted_gpus(gpus: Mapping[str, HostGpuState]) -> tuple[tuple[str, HostGpuState], ...]:
    """(host, state) pairs by host; the same mapping object gives the same tuple
    (so an unchanged GPU mapping is recognised by identity, for free)."""
    cached = _gpu_sort_cache.get(id(gpus))
    if cached is not None and cached[0] is gpus:
        return cached[1]
    items = tuple(sorted(gpus.items(), key=lambda kv: kv[0]))
    _gpu_sort_cache.clear()
    _gpu_sort_cache[id(gpus)] = (gpus, items)
    return items


# ------------------------------------------------------------------ alerts
def _alert_cells(a: Alert) -> tuple[tuple, tuple]:
    sev_style = "crit" if a.severity == "critical" else "warn"
    return ((a.severity.upper(), a.kind, a.target, a.message, a.since),
            (sev_style, None, None, None, None))


ALERTS = TableSpec(
    kind="alerts", title="Alerts",
    columns=(Column("SEVERITY", 8, 8), Column("KIND", 4, 16), Column("TARGET", 6, 32),
             Column("MESSAGE", 7, 80, expand=True), Column("SINCE", kind="age")),
    key=lambda a: (a.kind, a.target), format=_alert_cells, rows=lambda s: s.alerts,
    empty_text="no alerts")   # built from API data (and GPU telemetry): stale with the API


# ------------------------------------------------------------------ events
def _event_cells(e: EventRow) -> tuple[tuple, tuple]:
    return ((e.type, e.reason, f"{e.kind}/{e.name}", e.message, e.time, str(e.count)),
            ("warn" if e.type == "Warning" else "dim", None, None, None, None, None))


EVENTS = TableSpec(
    kind="events", title="Events",
    columns=(Column("TYPE", 4, 7), Column("REASON", 6, 22), Column("OBJECT", 6, 40),
             Column("MESSAGE", 7, 100, expand=True), Column("LAST", kind="age"), Column("COUNT", 5, 5, "right")),
    key=lambda e: e.uid or (e.namespace, e.kind, e.name, e.reason, e.message),
    format=_event_cells, rows=lambda s: s.events, empty_text="no events")


SPECS: dict[str, TableSpec] = {s.kind: s for s in (NODES, PODS, GPUS, ALERTS, EVENTS)}
