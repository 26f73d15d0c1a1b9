"""KubeHttp: the thin HTTP client the ClusterCache and SiteSession use.

Reads (`request` and the get_* helpers): chunked lists as raw bytes, watches
and logs as streams of lines, single objects. Writes, the wizards' and the
drills' alike, all through `send` (one retry policy for writes): server-side
apply with field manager `dsconsole` (`apply`), merge patches (`merge_patch`),
deletes (`delete`), evictions, POST/PUT.
HTTP/1.1 from console/http1.py and the standard library's ssl,
with the TLS settings and credentials of a console.kube.kubeconfig.KubeTarget
(kube_connect's docstring says why the official client is not on this path;
not urllib3: its import is ~0.1 s on the first frame's path; not http.client:
its import of the email package is ~45 M instructions there, http1.py says why).
One keep-alive connection per thread for plain requests; a connection of its
own for every stream.

Errors: ApiUnreachable (no answer: connection refused, reset, timeout),
CredentialError (an ApiUnreachable: the credentials could not be had, nothing
was sent) and KubeApiError (the API answered with a Status: .status, .reason,
.message). Every message names the server without its URL's user information.

Credentials: token / tokenFile (tokenFile wins, read at each request), basic
auth, client certificates (loaded from memory: console.kube.client_cert), exec plugins
(console.kube.exec_plugin; a 401 runs the plugin once more; a client
certificate it gives replaces the TLS context). Proxies: the cluster's
proxy-url, else HTTPS_PROXY / HTTP_PROXY unless NO_PROXY matches (Go's rules,
console.kube.proxy): CONNECT for https servers, absolute-form requests for http ones.
A 429 is sent again after its Retry-After (bounded).

close() from any thread shuts down every socket (a read blocked in another
thread returns at once), kills a credential plugin still running, and refuses
new requests: stopping never waits on the API. close_streams() closes only the
streams (watches, logs), which is how a dead watch is torn down when the API
stops answering.
"""
from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload
from urllib.parse import quote, urlencode, urlsplit

from console import http1
from console.kube.kubeconfig import KubeConfigError, KubeTarget
from console.kube.proxy import proxy_for

if TYPE_CHECKING:
    import ssl

    from console.kube.exec_plugin import ExecPlugin


class ApiUnreachable(Exception):
    """The API server did not answer."""


class CredentialError(ApiUnreachable):
    """The credentials could not be had (a tokenFile that cannot be read, an exec
    plugin that failed, a client certificate that cannot be loaded): nothing was
    sent. Retried like an unreachable API, since the cause may go away (a token
    file mounted late, a login done in another terminal)."""


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
    "persistentvolumeclaims": ("/api/v1", "persistentvolumeclaims", "PersistentVolumeClaim"),
}
FIELD_MANAGER = "dsconsole"
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
CLUSTER_SCOPED = {"nodes", "namespaces"}
_BY_KIND = {v[2].lower(): k for k, v in RESOURCES.items()}
# Methods a server cannot have acted on twice (RFC 9110 9.2.2): the only writes
# sent again after a kept-alive connection broke under them.
_IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})


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
    def __init__(self, target: KubeTarget, *, connect_timeout: float = 3.0, max_throttle_wait_s: float = 10.0):
        self.target = target
        self.connect_timeout = connect_timeout
        self.max_throttle_wait_s = max_throttle_wait_s
        self.server_shown = target.server_shown
        if target.plugin == "auth-provider" and not target.token:
            target.refresh_credentials()
        u = urlsplit(target.server)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ApiUnreachable(f"{self.server_shown}: expected an http(s):// server URL")
        self._https = u.scheme == "https"
        self._host = u.hostname
        self._port = u.port or (443 if self._https else 80)
        self._prefix = u.path.rstrip("/")
        try:
            self._proxy = proxy_for(target, self._https, self._host)
        except KubeConfigError as e:
            raise ApiUnreachable(str(e)) from None
        self._exec: ExecPlugin | None = None
        if target.exec_config is not None:
            from console.kube.exec_plugin import ExecPlugin, cluster_info
            cluster = next((c.get("cluster") or {} for c in target.raw.get("clusters") or []
                            if c.get("name") == target.cluster), {})
            exec_ext = next((x.get("extension") for x in cluster.get("extensions") or []
                             if isinstance(x, dict) and x.get("name") == "client.authentication.k8s.io/exec"), None)
            self._exec = ExecPlugin(target.exec_config, user=target.user, cluster=cluster_info(
                target.server, target.ca_data, target.insecure, target.tls_server_name, target.proxy_url, exec_ext))
        self._exec_cert: tuple[bytes, bytes | None] | None = None   # the plugin's client cert the TLS context holds
        self._ssl = self._ssl_context(target) if self._https else None
        self._local = threading.local()
        self._open: set[LineStream] = set()
        self._conns: set[http1.Connection] = set()           # every connection, for close()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    # ------------------------------------------------------------------ setup
    def _ssl_context(self, t: KubeTarget,
                     plugin_cert: tuple[bytes, bytes | None] | None = None) -> ssl.SSLContext:
        import ssl  # only for https servers (the demo's simulator is plain http on loopback)
        try:
            ctx = ssl.create_default_context(cafile=None if t.ca_data else t.ca_file,
                                             cadata=t.ca_data.decode() if t.ca_data else None)
        except (ssl.SSLError, OSError, ValueError) as e:
            raise CredentialError(f"{self.server_shown}: certificate-authority of cluster {t.cluster} "
                                  f"cannot be loaded: {_short(e)}") from None
        if t.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if plugin_cert is not None:
            cert, key = plugin_cert
            _load_cert(ctx, cert, key, f"the client certificate of user {t.user}'s exec plugin")
        elif t.client_cert_data or t.client_key_data:
            try:
                cert = t.client_cert_data or Path(t.client_cert_file or "").read_bytes()
                key = t.client_key_data or (Path(t.client_key_file).read_bytes() if t.client_key_file else None)
            except OSError as e:
                raise CredentialError(f"client certificate/key file of user {t.user}: {e.strerror}") from None
            _load_cert(ctx, cert, key, f"the client certificate of user {t.user}")
        elif t.client_cert_file:
            try:
                ctx.load_cert_chain(t.client_cert_file, t.client_key_file)
            except (ssl.SSLError, OSError) as e:
                raise CredentialError(f"{t.client_cert_file}: client certificate of user {t.user} cannot be "
                                      f"loaded: {_short(e)}") from None
        return ctx

    def _headers(self) -> dict[str, str]:
        """Request headers with the credentials; CredentialError when they cannot be had."""
        h = {"Accept": "application/json", "User-Agent": "dsconsole"}
        if self._exec is not None:
            from console.kube.exec_plugin import ExecPluginError
            try:
                cred = self._exec.credential()
            except ExecPluginError as e:
                raise CredentialError(str(e)) from None
            if cred.client_cert and self._https and self._exec_cert != (cred.client_cert, cred.client_key):
                self._use_plugin_cert(cred.client_cert, cred.client_key)
            if cred.token:
                h["Authorization"] = f"Bearer {cred.token}"
            return h
        try:
            token = self.target.bearer_token()
        except KubeConfigError as e:
            raise CredentialError(str(e)) from None
        if token:
            h["Authorization"] = f"Bearer {token}"
        elif self.target.username:
            pair = f"{self.target.username}:{self.target.password or ''}".encode()
            h["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return h

    def _use_plugin_cert(self, cert: bytes, key: bytes | None) -> None:
        """The plugin gave a (new) client certificate: a new TLS context. Each
        thread's kept-alive connection made with the old one is closed by that
        thread before its next request (request()); open streams run on."""
        with self._lock:
            if self._exec_cert == (cert, key):
                return
            self._ssl = self._ssl_context(self.target, (cert, key))
            self._exec_cert = (cert, key)

    def _new_conn(self) -> http1.Connection:
        # HTTPS: the kubeconfig's tls-server-name (if any) is the SNI and certificate name
        proxy = self._proxy
        if proxy is not None and not self._https:
            # plain http through a proxy: absolute-form requests to the proxy (as Go's client does)
            conn = http1.Connection(proxy.host, proxy.port, timeout=self.connect_timeout)
        else:
            tunnel = (proxy.host, proxy.port, proxy.headers) if proxy is not None else None
            conn = http1.Connection(self._host, self._port, timeout=self.connect_timeout, ssl_context=self._ssl,
                                    server_hostname=self.target.tls_server_name if self._https else None,
                                    tunnel_via=tunnel)
        with self._lock:
            self._conns.add(conn)
        return conn

    # --------------------------------------------------------------- requests
    def _send(self, conn: http1.Connection, url: str, headers: dict[str, str], read_timeout: float | None, *,
              method: str = "GET", body: bytes | None = None) -> http1.Response:
        sock = conn.sock
        if sock is None:
            if self._https:
                conn.ssl_context = self._ssl    # the newest: a plugin may just have given a client certificate
            sock = conn.connect()
        sock.settimeout(read_timeout)
        if self._proxy is not None and not self._https:
            headers = {**headers, **self._proxy.headers, "Host": self._authority}
            url = f"http://{self._authority}{url}"
        conn.request(method, url, headers=headers, body=body)
        return conn.getresponse()

    @property
    def _authority(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self._port}"

    def _url(self, path: str, params: Mapping[str, object] | None) -> str:
        url = self._prefix + path
        if params:
            query = urlencode({k: v for k, v in params.items() if v is not None})
            if query:
                url += "?" + query
        return url

    def send(self, method: str, path: str, body: Mapping[str, Any] | None = None,
             params: Mapping[str, object] | None = None, *, content_type: str = "application/json",
             timeout: float = 30.0, retry_throttled: bool = True) -> dict[str, Any]:
        """The one write path (PATCH, POST, PUT, DELETE), for every wizard and
        drill: `body` sent as JSON, the answer's JSON returned. Raises
        ApiUnreachable (CredentialError among them) / KubeApiError. Sent again
        only where the server cannot have acted on it: after a 401 with a
        plugin's fresh credential, after a 429 (unless retry_throttled=False: a
        drill that must see each 429), and, for PUT and DELETE (idempotent),
        once on a kept-alive connection the server had dropped; a POST or PATCH
        whose connection broke is not sent again (it may have happened). A
        kept-alive connection the server closed while idle is seen before
        sending (http1.Connection.idle_closed) and replaced."""
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        _, _, out = self._exchange(self._url(path, params), method=method, body=data,
                                   content_type=content_type if data is not None else None, read_timeout=timeout,
                                   stream=False, retry_throttled=retry_throttled,
                                   resend_on_drop=method in _IDEMPOTENT)
        return json.loads(out) if out else {}

    def apply(self, obj: Mapping[str, Any], *, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
        """Server-side apply of `obj` (field manager dsconsole): idempotent, and
        another manager's fields are left alone (409 on a clash unless force)."""
        md = obj["metadata"]
        path = object_path(obj["kind"], md.get("namespace"), md["name"])
        return self.send("PATCH", path, obj, {"fieldManager": FIELD_MANAGER, "force": "true" if force else None,
                                              "dryRun": "All" if dry_run else None}, content_type=APPLY_PATCH)

    def merge_patch(self, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        return self.send("PATCH", object_path(kind, namespace, name), patch, {"fieldManager": FIELD_MANAGER},
                         content_type=MERGE_PATCH)

    def delete(self, kind: str, namespace: str | None, name: str, *, resource_version: str | None = None) -> None:
        """Delete (dependents cascade in the background); absent already is fine."""
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if resource_version:
            body["preconditions"] = {"resourceVersion": resource_version}
        try:
            self.send("DELETE", object_path(kind, namespace, name), body)
        except KubeApiError as e:
            if e.status != 404:
                raise

    @overload
    def request(self, path: str, params: Mapping[str, object] | None = ..., *,
                read_timeout: float | None = ..., stream: Literal[False] = ...) -> _Response: ...

    @overload
    def request(self, path: str, params: Mapping[str, object] | None = ..., *,
                read_timeout: float | None = ..., stream: Literal[True]) -> LineStream: ...

    def request(self, path: str, params: Mapping[str, object] | None = None, *,
                read_timeout: float | None = 30.0, stream: bool = False) -> _Response | LineStream:
        """A GET (writes go through send()). Plain: a read _Response (.status,
        .data); `stream`: a LineStream.
        Raises ApiUnreachable (CredentialError among them) / KubeApiError / Gone.
        Sent again: once on a kept-alive connection the server had dropped, once
        after a 401 with a plugin's credential, and after a 429 (at most 3 times,
        waiting as its Retry-After says, up to max_throttle_wait_s)."""
        url = self._url(path, params)
        conn, resp, data = self._exchange(url, method="GET", body=None, content_type=None,
                                          read_timeout=read_timeout, stream=stream, retry_throttled=True,
                                          resend_on_drop=True)
        return LineStream(self, conn, resp) if stream else _Response(resp.status, data)

    def _exchange(self, url: str, *, method: str, body: bytes | None, content_type: str | None,
                  read_timeout: float | None, stream: bool, retry_throttled: bool,
                  resend_on_drop: bool) -> tuple[http1.Connection, http1.Response, bytes]:
        """Send one request, again where request()/send() say; the connection,
        the response and its body (b"" for a stream that answered 2xx/3xx)."""
        resent = refreshed = False
        throttled = 0
        while True:
            if self._closed.is_set():
                raise ApiUnreachable(f"{self.server_shown}: the client is closed")
            cred = self._exec.cached if self._exec is not None else None
            headers = self._headers()             # CredentialError: nothing is sent
            if content_type:
                headers["Content-Type"] = content_type
            if stream:
                conn, reused = self._new_conn(), False
            else:
                kept: http1.Connection | None = getattr(self._local, "conn", None)
                if kept is not None and kept.sock is not None and (
                        kept.ssl_context is not self._ssl      # made with a client certificate since replaced
                        or kept.idle_closed()):                # the server timed it out: no good for a POST
                    kept.close()
                reused = kept is not None and kept.sock is not None
                if kept is None:
                    kept = self._local.conn = self._new_conn()
                conn = kept
            data = b""
            try:
                resp = self._send(conn, url, headers, read_timeout, method=method, body=body)
                if not stream or resp.status >= 400:
                    data = resp.read()
                    if resp.will_close or stream:
                        conn.close()
            except (OSError, http1.ProtocolError, http1.HeaderValueError) as e:
                conn.close()
                if stream:
                    self._forget(conn)
                if isinstance(e, http1.HeaderValueError):
                    raise CredentialError(f"{self.server_shown}: {e}") from None
                if reused and resend_on_drop and not resent and not self._closed.is_set():
                    resent = True
                    continue          # a kept-alive connection the server had closed: once more
                raise ApiUnreachable(f"{self.server_shown}: {_short(e)}") from None
            if resp.status == 401 and not refreshed and self._exec is not None:
                refreshed = True
                self._exec.invalidate(cred)        # expired or revoked: the plugin once more
                continue
            if resp.status == 401 and not refreshed and self.target.plugin == "auth-provider":
                refreshed = True
                self.target.refresh_credentials()
                continue
            if resp.status == 429 and throttled < 3 and retry_throttled:
                throttled += 1
                if stream:
                    self._forget(conn)
                wait = _retry_after(resp.headers.get("retry-after"), self.max_throttle_wait_s)
                if self._closed.wait(wait):
                    raise ApiUnreachable(f"{self.server_shown}: the client is closed")
                continue
            if stream and resp.status >= 400:
                self._forget(conn)
            if resp.status >= 400:
                raise _status_error(resp.status, data)
            return conn, resp, data

    def _forget(self, conn: http1.Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

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
                container: str | None = None, timestamps: bool = False,
                since_time: str | None = None) -> LineStream:
        """A pod's log; `timestamps` prefixes each line with its RFC 3339 time and
        a space, `since_time` (RFC 3339) starts at that time."""
        path = object_path("pods", namespace, name) + "/log"
        params = {"follow": "true" if follow else None, "tailLines": tail_lines, "container": container,
                  "timestamps": "true" if timestamps else None, "sinceTime": since_time}
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
        """Close everything, from any thread, without waiting on the server: every
        socket is shut down (a thread blocked reading one returns at once), a
        credential plugin still running is killed, and no request is sent after."""
        self._closed.set()
        if self._exec is not None:
            self._exec.close()
        self.close_streams()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort()


def _load_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes | None, what: str) -> None:
    from console.kube.client_cert import ClientCertError, load_client_cert
    try:
        load_client_cert(ctx, cert, key, what)
    except ClientCertError as e:
        raise CredentialError(str(e)) from None


def _retry_after(value: str | None, cap: float) -> float:
    """Seconds a 429's Retry-After asks for (an integer; 1 s when absent or not a
    number), at most `cap`."""
    try:
        return max(0.0, min(float(int((value or "1").strip())), cap))
    except ValueError:
        return min(1.0, cap)


class LineStream:
    """Lines of a streaming response (bytes; str when .text); close() from any thread."""

    def __init__(self, http_: KubeHttp, conn: http1.Connection, resp: http1.Response):
        self._http = http_
        self._conn = conn
        self._resp = resp
        self._sock = conn.sock
        self.text = False
        self.closed = False
        self._reading = False
        with http_._lock:
            http_._open.add(self)

    def __iter__(self) -> Iterator:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list]:
        """Lists of the complete lines each network read brought."""
        buf = b""
        decode = (lambda b: b.decode("utf-8", "replace")) if self.text else (lambda b: b)
        self._reading = True
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
                raise ApiUnreachable(f"{self._http.server_shown}: stream broke: {_short(e)}") from None
        finally:
            self._reading = False
            self.close()
            self._release()

    def close(self) -> None:
        """From any thread. While a reader is in batches(), only shut the socket
        down (its read returns at once) and let the reader close it: closing the
        descriptor under a thread about to poll it could let that thread wait on
        a new socket that reused the number."""
        if not self.closed:
            self.closed = True
            try:
                if self._sock is not None:
                    self._sock.shutdown(socket.SHUT_RDWR)   # unblocks a read in progress on another thread
            except OSError:
                pass
        if not self._reading:
            self._release()

    def _release(self) -> None:
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001
            pass
        with self._http._lock:
            self._http._open.discard(self)
            self._http._conns.discard(self._conn)


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
