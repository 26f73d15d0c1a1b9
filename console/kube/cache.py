"""ClusterCache: an informer-style cache of the cluster, so no view waits on the API.

One list+watch per kind (nodes, pods, deployments, services, PDBs, events), each
on its own thread:
- list in chunks of 1000 (limit/continue; console.kube.list_pages), the next page
  fetched on a helper thread while the current one is decoded; each page
  decoded at once into small rows (console.kube.rows: msgspec against schemas
  naming only the fields the rows need, so the 20,000 pods never exist as full
  dicts), by a helper process for a list of more than `offload_min_items` when
  there is a second CPU (console.kube.list_decoder: the interpreter stays free for
  the UI); the garbage collector is paused during bulk loads (it was 60-70 % of
  parse time there, DESIGN.md) and the long-lived rows are moved out of its way
  (console.gc_policy.freeze_long_lived) once everything is synced;
- watch from the list's resourceVersion with bookmarks, the events of one
  network read applied under one lock; 410 Gone -> relist;
  any connection error -> backoff (0.2 s doubling to 5 s, with jitter) and relist
  (a restarted API server may have a new history, so resuming is not trusted);
- a heartbeat (GET /version every second) tells whether the API answers; when it
  stops answering, every open watch is closed so that none hangs half-open, and
  when it answers again the watchers are woken at once.

Per kind it tracks: synced (initial list done), last successful contact, error,
count; a kind the API refuses (403) or lacks (404) is shown empty with the reason.
`view()` returns the rows the Snapshot needs, rebuilt incrementally: GPU
allocation per node is kept up to date as pods change, and the sorted tuples of
node and pod rows are rebuilt only for what changed.
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

import msgspec
from msgspec.structs import replace

from console import gc_policy
from console.kube import rows as k8s_rows
from console.kube.client import ApiUnreachable, CredentialError, Gone, KubeApiError, KubeHttp, object_path
from console.kube.list_decoder import DecoderGone
from console.kube.list_pages import PageFetcher
from console.snapshot import KINDS, DeploymentRow, EventRow, KindStatus, NodeRow, PdbRow, PodRow


class CacheView(msgspec.Struct, frozen=True):
    """What ClusterCache.view() returns: the cluster half of a Snapshot."""
    api_ok: bool
    api_error: str | None
    last_update: float | None
    synced: bool
    kinds: dict
    nodes: tuple[NodeRow, ...]
    pods: tuple[PodRow, ...]
    deployments: tuple[DeploymentRow, ...]
    pdbs: tuple[PdbRow, ...]
    events: tuple[EventRow, ...]
    pod_total: int


class _Kind:
    """State of one kind: its rows by key and its list+watch health."""

    def __init__(self, name: str):
        self.name = name
        # the kind's rows: NodeRow, PodRow, EventRow, ... (services: dicts)
        self.items: dict[str, Any] = {}
        self.synced = False
        self.last_contact: float | None = None
        self.error: str | None = None
        self.watching = False
        self.resource_version: str | None = None
        self.relists = 0        # completed lists (the first one included)
        self.gone = 0           # 410 Gone answers that forced a relist
        self.denied: str | None = None  # why this kind may not be listed (RBAC), if so


class ClusterCache:
    def __init__(self, http: KubeHttp, *, model_namespace: str = "deepseek",
                 kinds: Iterable[str] = KINDS, on_change: Callable[[], None] | None = None,
                 page_size: int = 1000, events_cap: int = 2000, events_shown: int = 500,
                 heartbeat_s: float = 1.0, watch_timeout_s: int = 300, max_backoff_s: float = 5.0,
                 offload_min_items: int | None = 5000):
        self.http = http
        self.model_namespace = model_namespace
        self.page_size = page_size
        self.events_cap = events_cap
        self.events_shown = events_shown
        self.heartbeat_s = heartbeat_s
        self.watch_timeout_s = watch_timeout_s
        self.max_backoff_s = max_backoff_s
        # A list with more items than this is decoded by a helper process
        # (console.kube.list_decoder), when there is a second CPU for it; None: never.
        self.offload_min_items = offload_min_items if len(os.sched_getaffinity(0)) > 1 else None
        self._offload_ok = True
        self._on_change = on_change or (lambda: None)
        self._kinds = {k: _Kind(k) for k in kinds}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._wake = threading.Event()       # set when the API answers again
        self._threads: list[threading.Thread] = []
        self._api_ok = False
        self._api_error: str | None = "connecting"
        self._api_contact: float | None = None
        self._frozen = False
        # incremental derived state ---------------------------------------
        self._node_use: dict[str, list[int]] = {}     # node -> [gpus, pods] of live pods
        self._dirty_nodes: set[str] = set()
        self._node_rows: dict[str, NodeRow] = {}      # derived rows (with gpu_alloc/pods)
        self._nodes_tuple: tuple[NodeRow, ...] = ()
        self._nodes_order: list[str] | None = None    # sorted names; None when membership changed
        self._model_pods: dict[str, PodRow] = {}
        self._pods_order: list[str] | None = None
        self._pods_tuple: tuple[PodRow, ...] | None = ()
        self._small_dirty = {"deployments": True, "pdbs": True, "events": True}
        self._small: dict[str, tuple] = {"deployments": (), "pdbs": (), "events": ()}

    # ------------------------------------------------------------- lifecycle
    def start(self) -> ClusterCache:
        for name in self._kinds:
            t = threading.Thread(target=self._run_kind, args=(name,), name=f"cache-{name}", daemon=True)
            self._threads.append(t)
        hb = threading.Thread(target=self._heartbeat, name="cache-heartbeat", daemon=True)
        self._threads.append(hb)
        for t in self._threads:
            t.start()
        return self

    def stop(self, wait_s: float = 0.5) -> None:
        """Stop at once whatever the API does: every socket is shut down (a thread
        blocked in a read returns now) and a credential plugin still running is
        killed; threads get `wait_s` in all to end, and one that has not (stuck in
        a connect or a DNS lookup) is left behind: they are daemons and stop
        themselves when that returns."""
        self._stop.set()
        self._wake.set()
        self.http.close()
        deadline = time.monotonic() + wait_s
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    def wait_synced(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            if self.synced:
                return True
            time.sleep(0.01)
        return self.synced

    @property
    def synced(self) -> bool:
        return all(k.synced for k in self._kinds.values())

    # ---------------------------------------------------------------- reading
    def status(self) -> dict[str, KindStatus]:
        with self._lock:
            return {name: self._kind_status(k) for name, k in self._kinds.items()}

    def _kind_status(self, k: _Kind) -> KindStatus:
        contact = k.last_contact
        if k.watching and self._api_ok and self._api_contact and (contact is None or self._api_contact > contact):
            contact = self._api_contact   # a quiet watch on a live API is current
        return KindStatus(synced=k.synced, last_contact=contact, error=k.error, count=len(k.items),
                          denied=k.denied)

    def items(self, kind: str) -> dict:
        """A copy of one kind's rows by key ("ns/name", or "name" for nodes)."""
        with self._lock:
            return dict(self._kinds[kind].items)

    def relists(self, kind: str) -> int:
        """Completed lists of `kind` (1 after the initial sync)."""
        return self._kinds[kind].relists

    def gone_count(self, kind: str) -> int:
        """410 Gone answers `kind`'s watch got (each followed by a relist)."""
        return self._kinds[kind].gone

    def pod(self, namespace: str, name: str) -> PodRow | None:
        return self._kinds["pods"].items.get(f"{namespace}/{name}")

    def view(self) -> CacheView:
        with self._lock:
            kinds = {name: self._kind_status(k) for name, k in self._kinds.items()}
            errors = [f"{n}: {s.error}" for n, s in kinds.items() if s.error]
            # before the first heartbeat answers, a completed list is proof enough
            hb_ok = self._api_ok or (self._api_error == "connecting" and any(s.synced for s in kinds.values()))
            api_ok = hb_ok and not errors
            api_error = None if api_ok else (self._api_error or (errors[0] if errors else None))
            contacts = [s.last_contact for s in kinds.values() if s.last_contact]
            last = max(contacts + ([self._api_contact] if self._api_contact else []), default=None)
            return CacheView(api_ok=api_ok, api_error=api_error, last_update=last,
                             synced=all(s.synced for s in kinds.values()), kinds=kinds,
                             nodes=self._nodes_view(), pods=self._pods_view(),
                             deployments=self._small_view("deployments"), pdbs=self._small_view("pdbs"),
                             events=self._small_view("events"),
                             pod_total=len(self._kinds["pods"].items) if "pods" in self._kinds else 0)

    def events_for(self, kind: str, namespace: str | None, name: str) -> tuple[EventRow, ...]:
        if "events" not in self._kinds:
            return ()
        want_kind = kind.lower().rstrip("s") if kind.lower() not in ("pdbs",) else "poddisruptionbudget"
        with self._lock:
            rows = [e for e in self._kinds["events"].items.values()
                    if e.name == name and e.kind.lower() == want_kind
                    and (not namespace or not e.namespace or e.namespace == namespace)]
        rows.sort(key=lambda e: e.time or 0, reverse=True)
        return tuple(rows)

    def object_yaml(self, kind: str, namespace: str | None, name: str) -> str:
        """The full object from the API now, as YAML (managedFields dropped)."""
        import yaml
        obj = self.http.get_object(kind, namespace, name)
        (obj.get("metadata") or {}).pop("managedFields", None)
        return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)

    # ------------------------------------------------------- derived (locked)
    def _nodes_view(self) -> tuple[NodeRow, ...]:
        nodes = self._kinds.get("nodes")
        if nodes is None:
            return ()
        if self._nodes_order is None:
            self._nodes_order = sorted(nodes.items)
            self._dirty_nodes.update(nodes.items)
            self._node_rows = {n: r for n, r in self._node_rows.items() if n in nodes.items}
        elif not self._dirty_nodes:
            return self._nodes_tuple
        for name in self._dirty_nodes:
            base = nodes.items.get(name)
            if base is None:
                continue
            use = self._node_use.get(name, (0, 0))
            self._node_rows[name] = replace(base, gpu_alloc=use[0], pods=use[1])
        self._dirty_nodes.clear()
        self._nodes_tuple = tuple(map(self._node_rows.__getitem__, self._nodes_order))
        return self._nodes_tuple

    def _pods_view(self) -> tuple[PodRow, ...]:
        if self._pods_order is None:
            self._pods_order = sorted(self._model_pods)
            self._pods_tuple = None
        if self._pods_tuple is None:
            rows = self._model_pods
            self._pods_tuple = tuple(map(rows.__getitem__, self._pods_order))  # C loop: ~3x a genexpr
        return self._pods_tuple

    def _small_view(self, kind: str) -> tuple:
        k = self._kinds.get(kind)
        if k is None:
            return ()
        if self._small_dirty[kind]:
            rows = list(k.items.values())
            if kind == "events":
                rows.sort(key=lambda e: e.time or 0, reverse=True)
                rows = rows[:self.events_shown]
            elif kind == "deployments":
                rows = sorted((r for r in rows if r.namespace == self.model_namespace),
                              key=lambda r: r.name)
            else:
                rows.sort(key=lambda r: (r.namespace, r.name))
            self._small[kind] = tuple(rows)
            self._small_dirty[kind] = False
        return self._small[kind]

    def _pod_changed(self, key: str, old: PodRow | None, new: PodRow | None) -> None:
        """Keep per-node GPU allocation and the model-namespace rows current."""
        for row, sign in ((old, -1), (new, 1)):
            if row is not None and row.node and row.phase not in ("Succeeded", "Failed"):
                use = self._node_use.setdefault(row.node, [0, 0])
                use[0] += sign * row.gpus
                use[1] += sign
                self._dirty_nodes.add(row.node)
        row = new if new is not None else old
        if row is not None and row.namespace == self.model_namespace:
            if new is None:
                self._model_pods.pop(key, None)
                self._pods_order = None
            else:
                if key not in self._model_pods:
                    self._pods_order = None
                self._model_pods[key] = new
            self._pods_tuple = None

    def _apply(self, kind: str, key: str, row: Any) -> bool:
        """Insert/replace (row) or delete (row is None) one object; lock held.
        False when nothing the views show changed (a heartbeat annotation, a
        probe time: the reduced row is equal), so no view is rebuilt for it."""
        k = self._kinds[kind]
        old = k.items.get(key)
        if row is None:
            if old is None:
                return False
            del k.items[key]
        else:
            if old == row:
                return False
            k.items[key] = row
        if kind == "pods":
            self._pod_changed(key, old, row)
        elif kind == "nodes":
            if (old is None) != (row is None):
                self._nodes_order = None
            self._dirty_nodes.add(key)
        elif kind == "events":
            self._small_dirty["events"] = True
            if row is not None and len(k.items) > self.events_cap + self.events_cap // 10:
                # dicts keep insertion order: drop the oldest received, in bulk
                for stale in list(k.items)[: len(k.items) - self.events_cap]:
                    del k.items[stale]
        elif kind in self._small_dirty:
            self._small_dirty[kind] = True
        return True

    def _replace_all(self, kind: str, rows: dict) -> None:
        """Swap in a fresh list's rows; lock held."""
        k = self._kinds[kind]
        if kind == "pods":
            self._node_use = {}
            self._model_pods = {}
            for key, row in rows.items():
                if row.node and row.phase not in ("Succeeded", "Failed"):
                    use = self._node_use.setdefault(row.node, [0, 0])
                    use[0] += row.gpus
                    use[1] += 1
                if row.namespace == self.model_namespace:
                    self._model_pods[key] = row
            self._pods_order = None
            self._pods_tuple = None
            self._nodes_order = None     # every node's allocation may have changed
        elif kind == "nodes":
            self._nodes_order = None
        elif kind == "events" and len(rows) > self.events_cap:
            newest = sorted(rows.items(), key=lambda kv: kv[1].time or 0)[-self.events_cap:]
            rows = dict(newest)
        if kind in self._small_dirty:
            self._small_dirty[kind] = True
        k.items = rows

    # ------------------------------------------------------------ list+watch
    def _run_kind(self, name: str) -> None:
        k = self._kinds[name]
        backoff = 0.2
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    self._list(k)
                    need_list = False
                    backoff = 0.2
                self._watch(k)
                backoff = 0.2
            except Gone:
                need_list = True            # history expired: relist at once
                k.watching = False
                k.gone += 1
            except (ApiUnreachable, KubeApiError, ValueError, OSError) as e:
                if self._stop.is_set():
                    break
                k.watching = False
                need_list = True
                if isinstance(e, KubeApiError) and e.status in (403, 404):
                    # Not allowed to list this kind (RBAC), or the API lacks it: shown
                    # empty with the reason; the API is not "down" for it. Retry slowly.
                    with self._lock:
                        self._replace_all(name, {})
                        k.synced, k.denied, k.error = True, str(e), None
                    self._on_change()
                    self._stop.wait(60.0)
                    continue
                k.error = f"bad response: {e}" if isinstance(e, ValueError) else _error_text(e, heartbeat=False)
                self._on_change()
                self._wake.clear()
                self._wake.wait(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.max_backoff_s)
            except Exception as e:  # noqa: BLE001 - a bug of ours must not kill the kind's thread
                if self._stop.is_set():
                    break
                k.watching, need_list = False, True
                k.error = f"{type(e).__name__}: {e}"
                self._on_change()
                self._stop.wait(self.max_backoff_s)

    def _list(self, k: _Kind) -> None:
        """The initial (or re-)list, page by page (console.kube.list_pages: the next
        page fetched while one is decoded; a big list decoded by a helper process)."""
        rows: dict = {}
        rv = None
        key_of = _key_func(k.name)
        pages = PageFetcher(self.http, k.name, self.page_size, self._stop,
                            offload_min_items=self.offload_min_items if self._offload_ok else None)
        try:
            with gc_policy.paused():
                for page, expected_continue in pages:
                    if page is None:               # continue token expired: the list starts over
                        rows = {}
                        continue
                    rows.update(zip(map(key_of, page.rows), page.rows, strict=True))
                    rv = page.resource_version
                    if page.continue_token != expected_continue:  # the fetcher guessed wrong: follow the real token
                        pages.restart(page.continue_token)
                    del page
        except DecoderGone:
            self._offload_ok = False      # the helper process failed: lists are decoded here from now on
            raise
        finally:
            pages.close()
        if self._stop.is_set():
            return
        now = time.time()
        with self._lock:
            self._replace_all(k.name, rows)
            k.resource_version = rv
            k.last_contact = now
            k.error = None
            k.denied = None
            k.relists += 1
            first_sync = not k.synced
            k.synced = True
        if first_sync and self.synced and not self._frozen:
            # The bulk of long-lived rows is in: keep it out of future GC passes.
            self._frozen = True
            gc_policy.freeze_long_lived(collect_young=True)
        self._on_change()

    def _watch(self, k: _Kind) -> None:
        key_of = _key_func(k.name)
        timeout_s = int(self.watch_timeout_s * (0.8 + 0.2 * random.random()))
        stream = self.http.watch(object_path(k.name), k.resource_version, timeout_s=timeout_s)
        if self._stop.is_set():
            # stop() closed the open streams before this one was opened: it would
            # hold stop()'s join for its whole timeout
            stream.close()
            return
        k.watching = True
        k.error = None
        try:
            # Events that arrived together are applied together: one lock, one change
            # notice per network read (hundreds of events per second stay cheap).
            for lines in stream.batches():
                changes = []
                for line in lines:
                    if not line.strip():
                        continue
                    ev = k8s_rows.decode_event(k.name, line)
                    if ev.type == "ERROR":
                        if ev.code == 410:
                            raise Gone(410, "Gone", ev.message or "")
                        raise KubeApiError(ev.code or 500, ev.reason or "Error", ev.message or "")
                    if ev.type == "BOOKMARK":
                        k.resource_version = ev.resource_version or k.resource_version
                        continue
                    changes.append((key_of(ev.row), None if ev.type == "DELETED" else ev.row,
                                    ev.resource_version))
                now = time.time()
                changed = False
                with self._lock:
                    for key, row, rv in changes:
                        changed = self._apply(k.name, key, row) or changed
                        k.resource_version = rv or k.resource_version
                    k.last_contact = now
                if changed:
                    self._on_change()
        finally:
            k.watching = False
            stream.close()
        if self._stop.is_set():
            return
        if not self._api_ok:
            # the stream ended because the API went away; make the loop relist
            raise ApiUnreachable(self._api_error or "API unreachable")

    def _heartbeat(self) -> None:
        while not self._stop.is_set():
            try:
                self.http.version(timeout=max(1.0, self.heartbeat_s * 2))
                was_ok = self._api_ok
                self._api_ok, self._api_error, self._api_contact = True, None, time.time()
                if not was_ok:
                    self._wake.set()        # reconnect the watchers now, not after their backoff
                    self._on_change()
            except (ApiUnreachable, KubeApiError, ValueError) as e:
                if self._stop.is_set():
                    break
                was_ok = self._api_ok
                self._api_ok, self._api_error = False, _error_text(e, heartbeat=True)
                if was_ok:
                    self.http.close_streams()   # no watch may hang half-open on a dead server
                self._on_change()
            self._stop.wait(self.heartbeat_s)


def _error_text(e: Exception, *, heartbeat: bool) -> str:
    """What the header and `status` say about an error: a credential error as one
    (nothing was sent: the API may be fine)."""
    if isinstance(e, CredentialError):
        return f"credential error: {e}"
    return f"API unreachable: {e}" if heartbeat else str(e)


def _ns_name(row: Any) -> str:
    return f"{row.namespace}/{row.name}"


# The key of a kind's rows in the cache: "ns/name", a node's name, an event's uid.
_KEY_OF: dict[str, Callable[[Any], str]] = {"nodes": attrgetter("name"), "events": attrgetter("uid"),
           "services": lambda row: f"{row['namespace']}/{row['name']}"}   # services' rows are dicts


def _key_func(kind: str) -> Callable[[Any], str]:
    return _KEY_OF.get(kind, _ns_name)
