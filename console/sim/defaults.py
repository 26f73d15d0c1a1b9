"""What the apiserver's defaulting and validation do to objects written
through the API (the subset the simulator's kinds need)."""
from __future__ import annotations

from . import api_errors
from .selectors import labels_match


def _quantity(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def _default_pod_spec(spec: dict) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccountName", "default")
    for c in spec.get("containers") or []:
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("imagePullPolicy", "Always" if str(c.get("image", "")).endswith(":latest")
                     or ":" not in str(c.get("image", "")) else "IfNotPresent")
        c.setdefault("resources", {})
        res = c["resources"]
        # quantities are strings on the wire ("1", "64Gi"), whatever the client sent
        for kind in ("limits", "requests"):
            if isinstance(res.get(kind), dict):
                res[kind] = {k: _quantity(v) for k, v in res[kind].items()}
        # limits without requests: requests default to the limits
        if res.get("limits") and not res.get("requests"):
            res["requests"] = dict(res["limits"])
        for p in c.get("ports") or []:
            p.setdefault("protocol", "TCP")
    has_tol = {(t.get("key"), t.get("effect")) for t in spec.get("tolerations") or []}
    tols = spec.setdefault("tolerations", [])
    # DefaultTolerationSeconds admission: 300 s for not-ready / unreachable
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if (key, "NoExecute") not in has_tol:
            tols.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})


def _validate_pod_spec(res, name: str, spec: dict, path: str) -> None:
    containers = spec.get("containers")
    if not containers or not isinstance(containers, list):
        raise api_errors.invalid(res, name, [(f"{path}.containers", "Required value")])
    for i, c in enumerate(containers):
        if not isinstance(c, dict) or not c.get("name"):
            raise api_errors.invalid(res, name, [(f"{path}.containers[{i}].name", "Required value")])
        if not c.get("image"):
            raise api_errors.invalid(res, name, [(f"{path}.containers[{i}].image", "Required value")])


def default_and_validate(res, obj: dict) -> None:
    """Mutates obj; raises 422 Invalid for what the real apiserver rejects."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        raise api_errors.invalid(res, "", [("metadata", "Required value")])
    name = md.get("name") or md.get("generateName") or ""
    for k in ("labels", "annotations"):
        if md.get(k) is not None and not (isinstance(md[k], dict) and all(isinstance(v, str) for v in md[k].values())):
            raise api_errors.invalid(res, name, [(f"metadata.{k}", "Invalid value: must be a map of strings")])
    kind = res.plural
    if kind == "pods":
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise api_errors.invalid(res, name, [("spec", "Required value")])
        _validate_pod_spec(res, name, spec, "spec")
        _default_pod_spec(spec)
        obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
    elif kind in ("deployments", "replicasets", "daemonsets"):
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise api_errors.invalid(res, name, [("spec", "Required value")])
        sel = spec.get("selector")
        tmpl = spec.get("template")
        if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
            raise api_errors.invalid(res, name, [("spec.selector", "Required value")])
        if not isinstance(tmpl, dict) or not isinstance(tmpl.get("spec"), dict):
            raise api_errors.invalid(res, name, [("spec.template.spec", "Required value")])
        tlabels = (tmpl.get("metadata") or {}).get("labels") or {}
        if not labels_match(sel, tlabels):
            raise api_errors.invalid(res, name, [(
                "spec.template.metadata.labels",
                f"Invalid value: {tlabels}: `selector` does not match template `labels`")])
        _validate_pod_spec(res, name, tmpl["spec"], "spec.template.spec")
        _default_pod_spec(tmpl["spec"])
        replicas = spec.setdefault("replicas", 1) if kind != "daemonsets" else 0
        if not isinstance(replicas, int) or replicas < 0:
            raise api_errors.invalid(res, name, [
                ("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")])
        if kind == "deployments":
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            st = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if st.get("type", "RollingUpdate") == "RollingUpdate":
                st["type"] = "RollingUpdate"
                ru = st.setdefault("rollingUpdate", {})
                ru.setdefault("maxSurge", "25%")
                ru.setdefault("maxUnavailable", "25%")
        obj.setdefault("status", {})
    elif kind == "poddisruptionbudgets":
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise api_errors.invalid(res, name, [("spec", "Required value")])
        if "minAvailable" in spec and "maxUnavailable" in spec:
            raise api_errors.invalid(res, name, [
                ("spec", "Invalid value: minAvailable and maxUnavailable cannot be both set")])
        obj.setdefault("status", {"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0})
    elif kind == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports") or []:
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind == "secrets":
        obj.setdefault("type", "Opaque")
        if isinstance(obj.get("stringData"), dict):  # write-only: folded into data
            import base64
            data = obj.setdefault("data", {})
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()
    elif kind == "namespaces":
        obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        obj.setdefault("status", {"phase": "Active"})
        md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md.get("name", "")
