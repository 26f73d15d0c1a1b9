"""KubeHttp: the thin HTTP client the ClusterCache and SiteSession use.

GET only: chunked lists as raw bytes, watches and logs as streams of lines,
single objects. HTTP/1.1 from console/http1.py and the standard library's ssl,
with the TLS settings and credentials of a console.kube.kubeconfig.KubeTarget
(kube_connect's docstring says why the official client is not on this path;
not urllib3: its import is ~0.1 s on the first frame's path; not http.client:
its import of the email package is ~45 M instructions there, http1.py says why).
One keep-alive connection per thread for plain requests; a connection of its
own for every stream.

Errors: ApiUnreachable (no answer: connection refused, reset, timeout) and
KubeApiError (the API answered with a Status: .status, .reason, .message).
A stream being read on one thread can be closed from another (`close()`, which
shuts its socket down), which is how a dead watch is torn down when the API
stops answering.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from urllib.parse import quote, urlencode, urlsplit

from console import http1
from console.kube.kubeconfig import KubeTarget


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


class _Response:
    """A fully read answer."""
    __slots__ = ("status", "data")

    def __init__(self, status: int, data: bytes):
        self.status, self.data = status, data


class KubeHttp:
    def __init__(self, target: KubeTarget, *, connect_timeout: float = 3.0):
        self.target = target
        self.connect_timeout = connect_timeout
        if target.plugin and not target.token:
            target.refresh_credentials()
        u = urlsplit(target.server)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ApiUnreachable(f"{target.server}: expected an http(s):// server URL")
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port or (443 if self._https else 80)
        self._prefix = u.path.rstrip("/")
        self._tmpdir: str | None = None
        self._ssl = self._ssl_context(target) if self._https else None
        self._local = threading.local()
        self._open: set = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ setup
    def _ssl_context(self, t: KubeTarget):
        import ssl  # only for https servers (the demo's simulator is plain http on loopback)
        ctx = ssl.create_default_context(cafile=None if t.ca_data else t.ca_file,
                                         cadata=t.ca_data.decode() if t.ca_data else None)
        if t.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        cert, key = t.client_cert_file, t.client_key_file
        if t.client_cert_data:
            cert = self._private_file("client.crt", t.client_cert_data)
        if t.client_key_data:
            key = self._private_file("client.key", t.client_key_data)
        if cert:
            ctx.load_cert_chain(cert, key)
        self._remove_private_files()
        return ctx

    def _private_file(self, name: str, data: bytes) -> str:
        # ssl's load_cert_chain only reads files: written 0600 into a private dir
        # and removed as soon as the context has loaded them (it keeps them in memory).
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
            pair = f"{self.target.username}:{self.target.password or ''}".encode()
            h["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return h

    def _new_conn(self) -> http1.Connection:
        # HTTPS: the kubeconfig's tls-server-name (if any) is the SNI and certificate name
        return http1.Connection(self._host, self._port, timeout=self.connect_timeout, ssl_context=self._ssl,
                                server_hostname=self.target.tls_server_name if self._https else None)

    # --------------------------------------------------------------- requests
    def _send(self, conn: http1.Connection, url: str, read_timeout: float | None):
        if conn.sock is None:
            conn.connect()
        conn.sock.settimeout(read_timeout)
        conn.request("GET", url, headers=self._headers())
        return conn.getresponse()

    def request(self, path: str, params: dict | None = None, *, read_timeout: float | None = 30.0,
                stream: bool = False):
        """GET. Plain: a read _Response (.status, .data); `stream`: a LineStream.
        Raises ApiUnreachable / KubeApiError / Gone."""
        url = self._prefix + path
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            if query:
                url += "?" + query
        for attempt in (0, 1):
            if stream:
                conn, reused = self._new_conn(), False
            else:
                conn = getattr(self._local, "conn", None)
                reused = conn is not None and conn.sock is not None
                if conn is None:
                    conn = self._local.conn = self._new_conn()
            try:
                resp = self._send(conn, url, read_timeout)
                if not stream or resp.status >= 400:
                    data = resp.read()
                    if resp.will_close or stream:
                        conn.close()
            except (OSError, http1.ProtocolError) as e:
                conn.close()
                if reused and attempt == 0:
                    continue          # a kept-alive connection the server had closed: once more
                raise ApiUnreachable(f"{self.target.server}: {_short(e)}") from None
            if resp.status == 401 and attempt == 0 and self.target.plugin:
                self.target.refresh_credentials()   # expired exec/auth-provider token
                continue
            if resp.status >= 400:
                raise _status_error(resp.status, data)
            return LineStream(self, conn, resp) if stream else _Response(resp.status, data)
        raise ApiUnreachable(f"{self.target.server}: no answer")  # pragma: no cover - loop always returns

    def get_json(self, path: str, params: dict | None = None, *, timeout: float = 15.0) -> dict:
        return json.loads(self.request(path, params, read_timeout=timeout).data)

    def get_bytes(self, path: str, params: dict | None = None, *, timeout: float = 30.0) -> bytes:
        return self.request(path, params, read_timeout=timeout).data

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict:
        return self.get_json(object_path(kind, namespace, name))

    def version(self, timeout: float = 2.0) -> dict:
        return self.get_json("/version", timeout=timeout)

    def watch(self, path: str, resource_version: str | None, *, timeout_s: int = 300,
              bookmarks: bool = True) -> LineStream:
        """A watch from `resource_version`: iterate it for lines (bytes, one event each)."""
        params = {"watch": "1", "resourceVersion": resource_version,
                  "allowWatchBookmarks": "true" if bookmarks else None,
                  "timeoutSeconds": str(timeout_s)}
        return self.request(path, params, read_timeout=timeout_s + 15, stream=True)

    def pod_log(self, namespace: str, name: str, *, follow: bool = True, tail_lines: int | None = 500,
                container: str | None = None) -> LineStream:
        path = object_path("pods", namespace, name) + "/log"
        params = {"follow": "true" if follow else None, "tailLines": tail_lines, "container": container}
        stream = self.request(path, params, read_timeout=None if follow else 30.0, stream=True)
        stream.text = True
        return stream

    def close_streams(self) -> None:
        """Close every open stream (watches, logs) from any thread: their readers
        see the end of the stream / an error and reconnect."""
        with self._lock:
            streams = list(self._open)
        for s in streams:
            s.close()

    def close(self) -> None:
        self.close_streams()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._remove_private_files()

    def _remove_private_files(self) -> None:
        if self._tmpdir:
            for name in os.listdir(self._tmpdir):
                os.unlink(os.path.join(self._tmpdir, name))
            os.rmdir(self._tmpdir)
            self._tmpdir = None


class LineStream:
    """Lines of a streaming response (bytes; str when .text); close() from any thread."""

    def __init__(self, http_: KubeHttp, conn: http1.Connection, resp: http1.Response):
        self._http = http_
        self._conn = conn
        self._resp = resp
        self._sock = conn.sock
        self.text = False
        self.closed = False
        with http_._lock:
            http_._open.add(self)

    def __iter__(self) -> Iterator:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list]:
        """Lists of the complete lines each network read brought."""
        buf = b""
        decode = (lambda b: b.decode("utf-8", "replace")) if self.text else (lambda b: b)
        try:
            while not self.closed:
                chunk = self._resp.read1(65536)
                if not chunk:
                    break
                buf += chunk
                if b"\n" not in chunk:
                    continue
                *lines, buf = buf.split(b"\n")
                yield [decode(line) for line in lines]
            if buf and not self.closed:   # a last line without a newline
                yield [decode(buf)]
        except (OSError, http1.ProtocolError, ValueError, AttributeError) as e:
            if not self.closed:
                raise ApiUnreachable(f"{self._http.target.server}: stream broke: {_short(e)}") from None
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._sock is not None:
                self._sock.shutdown(socket.SHUT_RDWR)   # unblocks a read in progress on another thread
        except OSError:
            pass
        try:
            self._conn.close()
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
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(e, ConnectionResetError):
        return "connection reset"
    if isinstance(e, socket.gaierror):
        return "unknown host"
    if isinstance(e, http1.RemoteDisconnected):
        return "connection closed by the server"
    text = str(e) or type(e).__name__
    for needle, short in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                          ("Connection reset", "connection reset"),
                          ("Name or service not known", "unknown host"),
                          ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted")):
        if needle in text:
            return short
    return text[:160]
