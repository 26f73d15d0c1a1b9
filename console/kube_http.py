"""KubeHttp: the thin HTTP client the ClusterCache and SiteSession use.

GET only: chunked lists as raw bytes, watches as a stream of decoded events,
single objects, pod logs. urllib3 (what the official client runs on) with the
TLS and credentials of a console.kube_connect.KubeTarget; kube_connect's
docstring says why the official client is not on this path.

Errors: ApiUnreachable (no answer: connection refused, reset, timeout) and
KubeApiError (the API answered with a Status: .status, .reason, .message).
A response being read on one thread can be closed from another (`close()`),
which is how a dead watch is torn down when the API stops answering.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from typing import Any, Iterator
from urllib.parse import quote, urlencode

import urllib3

from console.kube_connect import KubeTarget


class ApiUnreachable(Exception):
    """The API server did not answer."""


class KubeApiError(Exception):
    """The API server answered with an error Status."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message


class Gone(KubeApiError):
    """410: the resourceVersion (or continue token) is older than the server keeps."""


# kind (plural, as the cache names it) -> (API prefix, resource, Kind)
RESOURCES: dict[str, tuple[str, str, str]] = {
    "nodes": ("/api/v1", "nodes", "Node"),
    "pods": ("/api/v1", "pods", "Pod"),
    "services": ("/api/v1", "services", "Service"),
    "events": ("/api/v1", "events", "Event"),
    "deployments": ("/apis/apps/v1", "deployments", "Deployment"),
    "replicasets": ("/apis/apps/v1", "replicasets", "ReplicaSet"),
    "pdbs": ("/apis/policy/v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    "namespaces": ("/api/v1", "namespaces", "Namespace"),
    "configmaps": ("/api/v1", "configmaps", "ConfigMap"),
    "endpoints": ("/api/v1", "endpoints", "Endpoints"),
}
CLUSTER_SCOPED = {"nodes", "namespaces"}
_BY_KIND = {v[2].lower(): k for k, v in RESOURCES.items()}


def resource_for(kind: str) -> str:
    """'Pod' / 'pod' / 'pods' / 'pdb' -> the cache's plural name."""
    k = kind.lower()
    if k in RESOURCES:
        return k
    if k in _BY_KIND:
        return _BY_KIND[k]
    if k in ("pdb", "poddisruptionbudgets"):
        return "pdbs"
    raise ValueError(f"unknown kind {kind!r}")


def object_path(kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """Collection path (all namespaces when namespace is None) or object path."""
    res = resource_for(kind)
    prefix, plural, _ = RESOURCES[res]
    if res in CLUSTER_SCOPED or not namespace:
        path = f"{prefix}/{plural}"
    else:
        path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{plural}"
    if name:
        path += "/" + quote(name, safe="")
    return path


class KubeHttp:
    def __init__(self, target: KubeTarget, *, connect_timeout: float = 3.0, maxsize: int = 16):
        self.target = target
        self.connect_timeout = connect_timeout
        if target.plugin and not target.token:
            target.refresh_credentials()
        self._tmpdir: str | None = None
        kw: dict[str, Any] = {"maxsize": maxsize, "block": False, "retries": False}
        if target.server.startswith("https"):
            kw.update(self._tls_options(target))
        self._pool = urllib3.PoolManager(**kw)
        self._open: set = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ setup
    def _tls_options(self, t: KubeTarget) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if t.insecure:
            kw["cert_reqs"] = "CERT_NONE"
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        else:
            kw["cert_reqs"] = "CERT_REQUIRED"
            if t.ca_data:
                kw["ca_cert_data"] = t.ca_data.decode()
            elif t.ca_file:
                kw["ca_certs"] = t.ca_file
        if t.tls_server_name:
            kw["server_hostname"] = t.tls_server_name
        cert, key = t.client_cert_file, t.client_key_file
        if t.client_cert_data:
            cert = self._private_file("client.crt", t.client_cert_data)
        if t.client_key_data:
            key = self._private_file("client.key", t.client_key_data)
        if cert:
            kw["cert_file"], kw["key_file"] = cert, key
        return kw

    def _private_file(self, name: str, data: bytes) -> str:
        # ssl's load_cert_chain only reads files: keep them 0600 in a private dir,
        # removed again by close().
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="dsconsole-kube-")
        path = os.path.join(self._tmpdir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "dsconsole"}
        token = self.target.bearer_token()
        if token:
            h["Authorization"] = f"Bearer {token}"
        elif self.target.username:
            h.update(urllib3.make_headers(basic_auth=f"{self.target.username}:{self.target.password or ''}"))
        return h

    # --------------------------------------------------------------- requests
    def request(self, path: str, params: dict | None = None, *, read_timeout: float | None = 30.0,
                stream: bool = False):
        """GET; returns the urllib3 response (unread when `stream`). Raises
        ApiUnreachable / KubeApiError / Gone."""
        url = self.target.server + path
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        timeout = urllib3.Timeout(connect=self.connect_timeout, read=read_timeout)
        for attempt in (0, 1):
            try:
                resp = self._pool.request("GET", url, headers=self._headers(), timeout=timeout,
                                          preload_content=not stream, redirect=False)
            except urllib3.exceptions.HTTPError as e:
                raise ApiUnreachable(f"{self.target.server}: {_short(e)}") from None
            if resp.status == 401 and attempt == 0 and self.target.plugin:
                resp.release_conn()
                self.target.refresh_credentials()   # expired exec/auth-provider token
                continue
            break
        if resp.status >= 400:
            body = resp.data if not stream else resp.read()
            resp.release_conn()
            raise _status_error(resp.status, body)
        return resp

    def get_json(self, path: str, params: dict | None = None, *, timeout: float = 15.0) -> dict:
        resp = self.request(path, params, read_timeout=timeout)
        return json.loads(resp.data)

    def get_bytes(self, path: str, params: dict | None = None, *, timeout: float = 30.0) -> bytes:
        return self.request(path, params, read_timeout=timeout).data

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict:
        return self.get_json(object_path(kind, namespace, name))

    def version(self, timeout: float = 2.0) -> dict:
        return self.get_json("/version", timeout=timeout)

    def watch(self, path: str, resource_version: str | None, *, timeout_s: int = 300,
              bookmarks: bool = True) -> "LineStream":
        """A watch from `resource_version`: iterate it for lines (bytes, one event each)."""
        params = {"watch": "1", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true" if bookmarks else None,
                  "timeoutSeconds": str(timeout_s)}
        resp = self.request(path, params, read_timeout=timeout_s + 15, stream=True)
        return LineStream(self, resp)

    def pod_log(self, namespace: str, name: str, *, follow: bool = True, tail_lines: int | None = 500,
                container: str | None = None) -> "LineStream":
        path = object_path("pods", namespace, name) + "/log"
        params = {"follow": "true" if follow else None, "tailLines": tail_lines, "container": container}
        resp = self.request(path, params, read_timeout=None if follow else 30.0, stream=True)
        return LineStream(self, resp, text=True)

    def close_streams(self) -> None:
        """Close every open stream (watches, logs) from any thread: their readers
        see the end of the stream / an error and reconnect."""
        with self._lock:
            streams = list(self._open)
        for s in streams:
            s.close()

    def close(self) -> None:
        self.close_streams()
        self._pool.clear()
        if self._tmpdir:
            for name in os.listdir(self._tmpdir):
                os.unlink(os.path.join(self._tmpdir, name))
            os.rmdir(self._tmpdir)
            self._tmpdir = None


class LineStream:
    """Lines of a streaming response (bytes, or str for logs); close() from any thread."""

    def __init__(self, http: KubeHttp, resp, *, text: bool = False):
        self._http = http
        self._resp = resp
        self._text = text
        self.closed = False
        with http._lock:
            http._open.add(self)

    def __iter__(self) -> Iterator:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list]:
        """Lists of the complete lines each network read brought."""
        buf = b""
        try:
            for chunk in self._resp.stream(65536, decode_content=True):
                if self.closed:
                    break
                buf += chunk
                if b"\n" not in chunk:
                    continue
                *lines, buf = buf.split(b"\n")
                yield [line.decode("utf-8", "replace") for line in lines] if self._text else lines
            if buf and not self.closed:   # a last line without a newline
                yield [buf.decode("utf-8", "replace") if self._text else buf]
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError) as e:
            if not self.closed:
                raise ApiUnreachable(f"{self._http.target.server}: stream broke: {_short(e)}") from None
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._resp.shutdown()   # unblocks a read in progress on another thread
        except Exception:  # noqa: BLE001
            pass
        try:
            self._resp.release_conn()
            self._resp.close()
        except Exception:  # noqa: BLE001
            pass
        with self._http._lock:
            self._http._open.discard(self)


def _status_error(status: int, body: bytes) -> KubeApiError:
    reason, message = "", ""
    try:
        doc = json.loads(body)
        reason, message = doc.get("reason", ""), doc.get("message", "")
    except (ValueError, AttributeError):
        message = body[:200].decode("utf-8", "replace")
    cls = Gone if status == 410 else KubeApiError
    return cls(status, reason or _REASONS.get(status, "Error"), message)


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            409: "Conflict", 410: "Gone", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def _short(e: BaseException) -> str:
    """A short reason for the header: 'connection refused', 'timed out', ..."""
    text = str(getattr(e, "reason", None) or e)
    for needle, short in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                          ("Connection reset", "connection reset"),
                          ("Name or service not known", "unknown host"),
                          ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted")):
        if needle in text:
            return short
    return text[:160]
