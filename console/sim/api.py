"""The verbs of the simulated API server, independent of HTTP: each returns
the response body (bytes) or raises ApiError. http_server.py maps requests
onto these; watch and log streaming live in watch.py / http_server.py."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable

from . import api_errors, defaults, field_manager, garbage_collector, names, patching
from .resources import Resource
from .selectors import combine, parse_field_selector, parse_label_selector
from .store import dumps

LIST_HEAD = b'{"kind":"%s","apiVersion":"%s","metadata":{%s},"items":['


def encode_continue(rv: int, key: tuple[str, str]) -> str:
    tok = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\x00"}
    return base64.urlsafe_b64encode(json.dumps(tok).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        pad = "=" * (-len(token) % 4)
        tok = json.loads(base64.urlsafe_b64decode(token + pad))
        ns, name = tok["start"].rstrip("\x00").split("/", 1)
        return int(tok["rv"]), (ns, name)
    except Exception:
        raise api_errors.bad_request("continue key is not valid: incorrect encoded start "
                                     "resourceVersion (version meta.k8s.io/v1)") from None


def object_predicate(res: Resource, query: dict) -> Callable[[dict], bool] | None:
    return combine(parse_label_selector(query.get("labelSelector")),
                   parse_field_selector(query.get("fieldSelector"), res.fields, res.kind))


class Api:
    def __init__(self, store, *, evictor=None, on_create=None, pod_deleter=None):
        self.store = store
        self.pod_deleter = pod_deleter  # callable(ns, name, grace, uid) -> pod: graceful deletion
        self.evictor = evictor          # callable(ns, name, body) -> None, raises ApiError
        self.on_create = on_create      # callable(res, obj) for server-side allocations

    # ---- reads -------------------------------------------------------
    def get(self, res: Resource, ns: str, name: str) -> bytes:
        raw = self.store.get_raw(res.plural, ns, name)
        if raw is None:
            raise api_errors.not_found(res, name)
        return raw

    def page(self, res: Resource, ns: str | None, query: dict) -> tuple[dict, list[tuple[dict, bytes]]]:
        """One page of a list: (list metadata, [(obj, raw)...])."""
        pred = object_predicate(res, query)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise api_errors.bad_request(f"invalid limit {query.get('limit')!r}") from None
        start = None
        token = query.get("continue")
        if token:
            tok_rv, start = decode_continue(token)
            if tok_rv < self.store.compacted_rv(res.plural):
                raise api_errors.ApiError(
                    "Expired", "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.", code=410)
        rv, items, more, remaining = self.store.scan(res.plural, ns or None, start, pred, limit)
        meta = {"resourceVersion": str(rv)}
        if more and items:
            meta["continue"] = encode_continue(rv, items[-1][0])
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        return meta, [(obj, raw) for _k, obj, raw in items]

    def list(self, res: Resource, ns: str | None, query: dict) -> bytes:
        meta, items = self.page(res, ns, query)
        head = LIST_HEAD % (res.list_kind.encode(), res.api_version.encode(), dumps(meta)[1:-1])
        return head + b",".join(raw for _o, raw in items) + b"]}"

    # ---- writes ------------------------------------------------------
    def _check_body(self, res: Resource, obj, ns: str) -> dict:
        if not isinstance(obj, dict):
            raise api_errors.bad_request("the body of the request must be a JSON object")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if api_version and api_version != res.api_version:
            raise api_errors.bad_request(f"the API version in the data ({api_version}) does not match "
                                         f"the expected API version ({res.api_version})")
        if kind and kind != res.kind:
            raise api_errors.bad_request(f"the kind in the data ({kind}) does not match the expected kind "
                                         f"({res.kind})")
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise api_errors.bad_request("metadata must be an object")
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise api_errors.bad_request("the namespace of the provided object does not match "
                                             "the namespace sent on the request")
            md["namespace"] = ns
        return obj

    def create(self, res: Resource, ns: str, obj, *, dry_run: bool = False, manager: str | None = None) -> bytes:
        """`manager`: the client's field manager (its fields are recorded in
        managedFields); None when the caller already recorded them."""
        obj = self._check_body(res, obj, ns)
        _check_name(res, obj["metadata"])
        for f in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "generation"):
            obj["metadata"].pop(f, None)
        if manager is not None:
            obj["metadata"].pop("managedFields", None)
            field_manager.record_update(None, obj, manager=manager, kind=res.kind, api_version=res.api_version)
        defaults.default_and_validate(res, obj)
        if self.on_create:
            self.on_create(res, obj)
        if dry_run:
            return dumps(obj)
        with self.store.lock:
            if res.plural == "services":
                self._allocate_cluster_ip(obj)
            return dumps(self.store.create(res, obj))

    def _allocate_cluster_ip(self, svc: dict) -> None:
        """Like the apiserver's service IP allocator (10.96.0.0/16 here)."""
        spec = svc.setdefault("spec", {})
        if spec.get("clusterIP") or spec.get("type") == "ExternalName":
            return
        used = {(s.get("spec") or {}).get("clusterIP") for s in self.store.values("services")}
        for n in range(11, 65534):
            ip = f"10.96.{n >> 8}.{n & 0xFF}"
            if (n & 0xFF) and ip not in used:
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
                return

    def replace(self, res: Resource, ns: str, name: str, obj, *, status_only: bool = False,
                dry_run: bool = False, manager: str | None = None) -> bytes:
        obj = self._check_body(res, obj, ns)
        md = obj["metadata"]
        if md.get("name") and md["name"] != name:
            raise api_errors.bad_request("the name of the object does not match the name on the URL")
        md["name"] = name
        old = self.store.get(res.plural, ns, name)
        if old is None:
            raise api_errors.not_found(res, name)
        if not status_only:
            defaults.default_and_validate(res, obj)
            if manager is not None:
                md["managedFields"] = (old.get("metadata") or {}).get("managedFields") or []
                field_manager.record_update(old, obj, manager=manager, kind=res.kind, api_version=res.api_version)
        if dry_run:
            return dumps(obj)
        mode = "only" if status_only else ("keep" if "status" in res.subresources else "all")
        return dumps(self.store.update(res, obj, status=mode))

    def patch(self, res: Resource, ns: str, name: str, content_type: str, patch, *,
              status_only: bool = False, dry_run: bool = False, manager: str | None = None,
              force: bool = False) -> bytes:
        """Server-side apply tracks field ownership (field_manager.py): 409 on
        another manager's field unless `force`; other patches give `manager`
        the fields they change. Read-modify-write under the store lock."""
        with self.store.lock:
            cur = self.store.get_copy(res.plural, ns, name)
            server_side_apply = patching.is_apply_patch(content_type) and not status_only
            if server_side_apply and not isinstance(patch, dict):
                raise patching.PatchError("invalid patch: the patch must be a JSON object", code=400)
            if cur is None:
                if server_side_apply:  # server-side apply creates
                    self._check_body(res, patch, ns)
                    patch["metadata"]["name"] = name
                    obj = field_manager.apply(None, patch, manager=manager or "", force=force, kind=res.kind,
                                              api_version=res.api_version, res=res, name=name)
                    return self.create(res, ns, obj, dry_run=dry_run)
                raise api_errors.not_found(res, name)
            if server_side_apply:
                self._check_body(res, patch, ns)
                want_rv = patch["metadata"].get("resourceVersion")
                if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
                    raise api_errors.conflict(res, name)
                config = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind", "status")}
                config["metadata"] = {k: v for k, v in patch["metadata"].items()
                                      if k not in ("name", "namespace", "resourceVersion", "managedFields")}
                new = field_manager.apply(cur, config, manager=manager or "", force=force, kind=res.kind,
                                          api_version=res.api_version, res=res, name=name)
            else:
                new = patching.apply_patch(content_type, cur, patch)
                if manager is not None and not status_only:
                    new.setdefault("metadata", {})["managedFields"] = cur["metadata"].get("managedFields") or []
                    field_manager.record_update(cur, new, manager=manager, kind=res.kind,
                                                api_version=res.api_version)
            if not isinstance(new.get("metadata"), dict):
                raise api_errors.invalid(res, name, [("metadata", "Required value")])
            new["metadata"]["name"] = name
            if res.namespaced:
                new["metadata"]["namespace"] = ns
            want_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
            new["metadata"]["resourceVersion"] = want_rv or cur["metadata"]["resourceVersion"]
            if server_side_apply:
                new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            if not status_only:
                defaults.default_and_validate(res, new)
            if dry_run:
                return dumps(new)
            mode = "only" if status_only else ("keep" if "status" in res.subresources else "all")
            return dumps(self.store.update(res, new, status=mode))

    def delete(self, res: Resource, ns: str, name: str, options: dict, *, dry_run: bool = False) -> bytes:
        pre = options.get("preconditions") or {}
        cur = self.store.get(res.plural, ns, name)
        if cur is None:
            raise api_errors.not_found(res, name)
        if pre.get("resourceVersion") and pre["resourceVersion"] != cur["metadata"]["resourceVersion"]:
            raise api_errors.conflict(res, name, "Precondition failed: resourceVersion mismatch")
        if dry_run:
            return dumps(cur)
        if res.plural == "pods" and self.pod_deleter is not None:
            grace = options.get("gracePeriodSeconds")
            return dumps(self.pod_deleter(ns, name, None if grace is None else int(grace), pre.get("uid")))
        gone = self.store.delete(res, ns, name, uid=pre.get("uid"))
        policy = options.get("propagationPolicy") or ("Orphan" if options.get("orphanDependents") else "Background")
        garbage_collector.cascade(self.store, res.plural, gone, policy)
        return dumps(gone)

    def delete_collection(self, res: Resource, ns: str | None, query: dict, options: dict) -> bytes:
        pred = object_predicate(res, query)
        _, items = self.store.list(res.plural, ns or None)
        for _key, obj, _raw in items:
            if pred is None or pred(obj):
                md = obj["metadata"]
                try:
                    self.delete(res, md.get("namespace", ""), md["name"], options)
                except api_errors.ApiError:
                    pass
        return dumps(api_errors.success_status())

    # ---- scale subresource ------------------------------------------------
    def get_scale(self, res: Resource, ns: str, name: str) -> bytes:
        return dumps(self._scale_of(res, ns, name))

    def _scale_of(self, res, ns, name) -> dict:
        obj = self.store.get(res.plural, ns, name)
        if obj is None:
            raise api_errors.not_found(res, name)
        md = obj["metadata"]
        sel = (obj["spec"].get("selector") or {}).get("matchLabels") or {}
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in md},
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": ",".join(f"{k}={v}" for k, v in sel.items())}}

    def set_scale(self, res: Resource, ns: str, name: str, scale: dict) -> bytes:
        if not isinstance(scale, dict) or not isinstance(scale.get("spec"), dict):
            raise api_errors.bad_request("the body of the request must be a Scale object")
        replicas = scale["spec"].get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise api_errors.invalid(res, name, [("spec.replicas", f"Invalid value: {replicas}: must be "
                                                  "greater than or equal to 0")])
        with self.store.lock:
            cur = self.store.get_copy(res.plural, ns, name)
            if cur is None:
                raise api_errors.not_found(res, name)
            want_rv = (scale.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
                raise api_errors.conflict(res, name)
            cur["spec"]["replicas"] = replicas
            self.store.update(res, cur, status="keep")
            return dumps(self._scale_of(res, ns, name))

    def patch_scale(self, res: Resource, ns: str, name: str, content_type: str, patch) -> bytes:
        with self.store.lock:
            scale = patching.apply_patch(content_type, self._scale_of(res, ns, name), patch)
            scale.setdefault("metadata", {}).pop("resourceVersion", None)
            return self.set_scale(res, ns, name, scale)

    # ---- eviction ----------------------------------------------------------
    def evict(self, ns: str, name: str, body) -> bytes:
        if body is not None and not isinstance(body, dict):
            raise api_errors.bad_request("the body of the request must be an Eviction object")
        if self.evictor is None:
            raise api_errors.ApiError("MethodNotAllowed", "eviction is not served", code=405)
        self.evictor(ns, name, body or {})
        st = api_errors.success_status()
        st["code"] = 201
        return dumps(st)


def _check_name(res: Resource, md: dict) -> None:
    """A name (or generateName prefix) the real API would refuse: 422 Invalid."""
    name, prefix = md.get("name"), md.get("generateName")
    field, value = ("metadata.name", name) if name else ("metadata.generateName", prefix)
    if not isinstance(value, str) or not value:
        return                                  # none given: _check_body / the store say so
    # a generated name is the prefix and 5 lower-case alphanumerics: check it whole
    problems = names.name_problems(res.plural, value if name else value + "x0000")
    if problems:
        shown = names.quoted(value)
        raise api_errors.invalid(res, shown.strip('"'), [(field, f"Invalid value: {shown}: {p}") for p in problems])

