"""Endpoints controller: each Service with a selector gets an Endpoints object
listing the IPs of its Ready pods (notReadyAddresses for the others), the
way a Service-selector switch (blue -> green) shows which pods take traffic.
Like the real controller, at most 1000 addresses are kept."""
from __future__ import annotations

from typing import Any

from ..resources import BY_PLURAL
from ..selectors import labels_match
from .base import Controller, is_active_pod, key_of, pod_change_matters, pod_ready

EP = BY_PLURAL["endpoints"]
MAX_ADDRESSES = 1000


class EndpointsController(Controller):
    def resync(self) -> None:
        for s in self.store.values("services"):
            self.dirty[key_of(s)] = True

    def on_event(self, ev) -> None:
        if ev is None:
            return
        if ev.res == "services":
            self.dirty[key_of(ev.obj)] = True
        elif ev.res == "pods" and pod_change_matters(ev):
            ns = ev.obj["metadata"].get("namespace")
            labels = ev.obj["metadata"].get("labels") or {}
            old_labels = (ev.old or {}).get("metadata", {}).get("labels") or {}
            for _k, svc, _r in self.store.list("services", ns)[1]:
                sel = (svc.get("spec") or {}).get("selector")
                selector = {"matchLabels": sel}
                if sel and (labels_match(selector, labels) or labels_match(selector, old_labels)):
                    self.dirty[key_of(svc)] = True

    def reconcile(self, key) -> None:
        svc = self.store.get("services", *key)
        current = self.store.get("endpoints", *key)
        sel = (svc or {}).get("spec", {}).get("selector")
        if svc is None or not sel:
            if current is not None and svc is None:
                try:
                    self.store.delete(EP, *key)
                except Exception:
                    pass
            return
        ready: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        named: dict[str, int] = {}  # targetPort names resolved from the pods' container ports
        for _k, p, _r in self.store.list("pods", key[0])[1]:
            ip = (p.get("status") or {}).get("podIP")
            if not ip or not is_active_pod(p) or not labels_match({"matchLabels": sel}, p["metadata"].get("labels")):
                continue
            addr = {"ip": ip, "nodeName": p["spec"].get("nodeName"),
                    "targetRef": {"kind": "Pod", "namespace": key[0], "name": p["metadata"]["name"],
                                  "uid": p["metadata"]["uid"]}}
            (ready if pod_ready(p) else not_ready).append(addr)
            if not named:
                named = {cp["name"]: cp["containerPort"] for c in p["spec"].get("containers") or ()
                         for cp in c.get("ports") or () if cp.get("name")}
        truncated = len(ready) + len(not_ready) > MAX_ADDRESSES
        ready = ready[:MAX_ADDRESSES]
        not_ready = not_ready[:MAX_ADDRESSES - len(ready)]
        ports = []
        for sp in svc["spec"].get("ports") or ():
            target = sp.get("targetPort", sp.get("port"))
            port = target if isinstance(target, int) else named.get(target, sp.get("port"))
            ports.append({k: v for k, v in (("name", sp.get("name")), ("port", port),
                                            ("protocol", sp.get("protocol", "TCP"))) if v})
        subset = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        if subset and ports:
            subset["ports"] = ports
        ep: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints",
              "metadata": {"name": key[1], "namespace": key[0], "labels": dict(svc["metadata"].get("labels") or {})},
              "subsets": [subset] if subset else []}
        if truncated:
            ep["metadata"]["annotations"] = {"endpoints.kubernetes.io/over-capacity": "truncated"}
        if current is None:
            self.store.create(EP, ep)
        elif (current.get("subsets"), current["metadata"].get("annotations")) != \
                (ep["subsets"], ep["metadata"].get("annotations")):
            def fn(obj):
                obj["subsets"] = ep["subsets"]
                if truncated:
                    obj["metadata"]["annotations"] = ep["metadata"]["annotations"]
                else:
                    obj["metadata"].pop("annotations", None)
            self.store.modify(EP, *key, fn)
