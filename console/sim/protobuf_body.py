"""Reads the protobuf request bodies kubectl's imperative commands send
(`kubectl create namespace|configmap|secret|service|deployment`): the
`k8s\\x00` envelope (runtime.Unknown) and, for those kinds, the messages and
fields they use, turned into the same dicts a JSON body gives. Field numbers
are those of the k8s.io/api generated protobuf. Fields not listed here are
skipped, as is every empty value (protobuf sends zero values; JSON omits
them). Anything else gets 415 and `kubectl apply -f` (JSON) works."""
from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"

# message -> field number -> (json name, type, repeated). Types: "s" string,
# "i" integer, "b" bool, "map" string->string, "bmap" string->bytes (base64),
# "qmap" string->Quantity, "intstr", or another message's name.
S = {
    "TypeMeta": {1: ("apiVersion", "s", False), 2: ("kind", "s", False)},
    "Unknown": {1: ("typeMeta", "TypeMeta", False), 2: ("raw", "raw", False),
                3: ("contentEncoding", "s", False), 4: ("contentType", "s", False)},
    "ObjectMeta": {1: ("name", "s", False), 2: ("generateName", "s", False), 3: ("namespace", "s", False),
                   11: ("labels", "map", False), 12: ("annotations", "map", False),
                   14: ("finalizers", "s", True)},
    "Namespace": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "NamespaceSpec", False)},
    "NamespaceSpec": {1: ("finalizers", "s", True)},
    "ConfigMap": {1: ("metadata", "ObjectMeta", False), 2: ("data", "map", False),
                  3: ("binaryData", "bmap", False), 4: ("immutable", "b", False)},
    "Secret": {1: ("metadata", "ObjectMeta", False), 2: ("data", "bmap", False), 3: ("type", "s", False),
               4: ("stringData", "map", False), 5: ("immutable", "b", False)},
    "Service": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "ServiceSpec", False)},
    "ServiceSpec": {1: ("ports", "ServicePort", True), 2: ("selector", "map", False), 3: ("clusterIP", "s", False),
                    4: ("type", "s", False), 5: ("externalIPs", "s", True), 7: ("sessionAffinity", "s", False),
                    8: ("loadBalancerIP", "s", False), 10: ("externalName", "s", False)},
    "ServicePort": {1: ("name", "s", False), 2: ("protocol", "s", False), 3: ("port", "i", False),
                    4: ("targetPort", "intstr", False), 5: ("nodePort", "i", False)},
    "Deployment": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "DeploymentSpec", False)},
    "DeploymentSpec": {1: ("replicas", "i", False), 2: ("selector", "LabelSelector", False),
                       3: ("template", "PodTemplateSpec", False), 4: ("strategy", "DeploymentStrategy", False),
                       5: ("minReadySeconds", "i", False), 6: ("revisionHistoryLimit", "i", False),
                       7: ("paused", "b", False), 9: ("progressDeadlineSeconds", "i", False)},
    "DeploymentStrategy": {1: ("type", "s", False)},
    "LabelSelector": {1: ("matchLabels", "map", False)},
    "PodTemplateSpec": {1: ("metadata", "ObjectMeta", False), 2: ("spec", "PodSpec", False)},
    "PodSpec": {2: ("containers", "Container", True), 3: ("restartPolicy", "s", False),
                4: ("terminationGracePeriodSeconds", "i", False), 6: ("dnsPolicy", "s", False),
                7: ("nodeSelector", "map", False), 8: ("serviceAccountName", "s", False),
                10: ("nodeName", "s", False), 11: ("hostNetwork", "b", False), 19: ("schedulerName", "s", False)},
    "Container": {1: ("name", "s", False), 2: ("image", "s", False), 3: ("command", "s", True),
                  4: ("args", "s", True), 5: ("workingDir", "s", False), 6: ("ports", "ContainerPort", True),
                  7: ("env", "EnvVar", True), 8: ("resources", "ResourceRequirements", False),
                  14: ("imagePullPolicy", "s", False)},
    "ContainerPort": {1: ("name", "s", False), 2: ("hostPort", "i", False), 3: ("containerPort", "i", False),
                      4: ("protocol", "s", False)},
    "EnvVar": {1: ("name", "s", False), 2: ("value", "s", False)},
    "ResourceRequirements": {1: ("limits", "qmap", False), 2: ("requests", "qmap", False)},
}
KINDS = {"Namespace", "ConfigMap", "Secret", "Service", "Deployment"}
KEEP_ZERO = {"replicas"}  # optional pointers in Go: a 0 that was sent means 0


class ProtobufError(ValueError):
    pass


def _varint(b: bytes, i: int) -> tuple[int, int]:
    x = shift = 0
    while True:
        if i >= len(b):
            raise ProtobufError("truncated varint")
        c = b[i]
        i += 1
        x |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return x, i


def _fields(b: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        v: int | bytes
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            if i + n > len(b):
                raise ProtobufError("truncated field")
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ProtobufError(f"unsupported wire type {wt}")
        yield f, wt, v


def _entry(b: bytes) -> tuple[str, bytes]:
    key, val = "", b""
    for f, _wt, v in _fields(b):
        if f == 1:
            key = v.decode()
        elif f == 2:
            val = v
    return key, val


def _value(kind: str, wt: int, v):
    if kind == "raw":
        return bytes(v)
    if kind == "s":
        return v.decode()
    if kind == "i":
        return v - (1 << 64) if v >= 1 << 63 else v
    if kind == "b":
        return bool(v)
    if kind == "intstr":
        t = iv = 0
        sv = ""
        for f, _w, x in _fields(v):
            t, iv, sv = (x, iv, sv) if f == 1 else (t, x, sv) if f == 2 else (t, iv, x.decode())
        return sv if t == 1 else iv
    return decode_message(kind, v)


def _empty(val) -> bool:
    return val is False or val == "" or val == {} or val == b"" or (type(val) is int and val == 0)


def decode_message(name: str, b: bytes) -> dict:
    schema = S[name]
    out: dict = {}
    for f, wt, v in _fields(b):
        if f not in schema:
            continue
        field, kind, repeated = schema[f]
        if kind in ("map", "bmap", "qmap"):
            k, raw = _entry(v)
            if kind == "map":
                val = raw.decode()
            elif kind == "bmap":
                val = base64.b64encode(raw).decode()
            else:  # resource.Quantity {string = 1}
                val = next((x.decode() for q, _w, x in _fields(raw) if q == 1), "")
            out.setdefault(field, {})[k] = val
            continue
        val = _value(kind, wt, v)
        if repeated:
            out.setdefault(field, []).append(val)
        elif _empty(val) and field not in KEEP_ZERO:
            continue
        else:
            out[field] = val
    return out


def decode_body(raw: bytes) -> dict:
    """A protobuf request body -> the object as a JSON body would give it.
    Raises ProtobufError for what it cannot read."""
    if not raw.startswith(MAGIC):
        raise ProtobufError("not a Kubernetes protobuf body (no k8s\\x00 magic)")
    unknown = decode_message("Unknown", raw[len(MAGIC):])
    tm = unknown.get("typeMeta") or {}
    kind = tm.get("kind", "")
    if kind not in KINDS:
        raise ProtobufError(f"protobuf bodies of kind {kind or '?'} are not read by the simulator")
    body = unknown.get("raw")
    obj = decode_message(kind, body if isinstance(body, bytes) else b"")
    obj["apiVersion"], obj["kind"] = tm.get("apiVersion", ""), kind
    return obj
