"""HTTP/1.1 front of the simulated API server: routing of Kubernetes REST
paths onto api.Api, discovery, watch and log streams (chunked transfer
encoding), errors as metav1.Status. One thread per connection
(socketserver.ThreadingTCPServer), keep-alive, no TLS (loopback only). The
request head is parsed by console/http1.py (h11) rather than http.server, whose
import (the email package) weighs on the demo's first frame; _RequestHandler
keeps http.server's handler interface (command, path, headers, rfile, wfile,
send_response / send_header / end_headers, close_connection, do_<METHOD>)."""
from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from urllib.parse import parse_qs, unquote, urlsplit

from console import http1

from . import api_errors, discovery, metrics_api, openapi, patching, protobuf_body, tables
from .api import Api, object_predicate
from .api_errors import ApiError
from .resources import BY_PATH, GROUPS
from .store import dumps
from .watch_stream import WatchStream, error_line, parse_since

MAX_BODY = 3 * 1024 * 1024  # etcd's request limit
PROTOBUF = "application/vnd.kubernetes.protobuf"


def _method_not_allowed() -> ApiError:
    return ApiError("MethodNotAllowed", "the server does not allow this method on the requested resource", code=405)


def _not_found_path() -> ApiError:
    return ApiError("NotFound", "the server could not find the requested resource",
                    details={"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, app):
        self.app = app
        self.stopping = threading.Event()
        self.conns: set = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def process_request(self, request, client_address):
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)


_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized",
            403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone",
            413: "Request Entity Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
            429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
            503: "Service Unavailable", 504: "Gateway Timeout"}


def _http_date(t: float) -> str:
    """RFC 9110 date (not strftime: %a and %b follow the locale)."""
    g = time.gmtime(t)
    return (f"{'MonTueWedThuFriSatSun'[3 * g.tm_wday:3 * g.tm_wday + 3]}, {g.tm_mday:02d} "
            f"{'JanFebMarAprMayJunJulAugSepOctNovDec'[3 * g.tm_mon - 3:3 * g.tm_mon]} {g.tm_year} "
            f"{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} GMT")


class _RequestHandler(socketserver.StreamRequestHandler):
    """Requests on one connection, one after the other while it is kept alive,
    each dispatched to do_<METHOD> (http.server's BaseHTTPRequestHandler
    interface, the part of it used here)."""
    server_version = "dsconsole-sim"

    def handle(self) -> None:
        self.close_connection = False
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        try:
            head = http1.read_request_head(self.rfile)
        except http1.ProtocolError as e:
            self.command, self.headers = "", http1.Headers()
            self.close_connection = True
            self._plain_error(400, str(e))
            return
        except OSError:                      # reset by the client, or the server stopping
            self.close_connection = True
            return
        if head is None:                     # the client closed the connection
            self.close_connection = True
            return
        self.command, self.path, self.request_version, self.headers = head
        self.close_connection = not http1.keeps_alive(self.request_version, self.headers)
        if (self.headers.get("expect") or "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        method = getattr(self, "do_" + self.command, None)
        if method is None:
            self._plain_error(501, f"unsupported method {self.command!r}")
            return
        method()
        self.wfile.flush()

    def _plain_error(self, code: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def send_response(self, code: int) -> None:
        self._head = [f"HTTP/1.1 {code} {_REASONS.get(code, 'Status')}",
                      f"Server: {self.server_version}",
                      "Date: " + _http_date(time.time())]

    def send_header(self, name: str, value: str) -> None:
        self._head.append(f"{name}: {value}")
        if name.lower() == "connection" and value.lower() == "close":
            self.close_connection = True

    def end_headers(self) -> None:
        if self.close_connection and not any(h.lower().startswith("connection:") for h in self._head):
            self._head.append("Connection: close")
        self.wfile.write(("\r\n".join(self._head) + "\r\n\r\n").encode("latin-1"))
        self._head = []


class Handler(_RequestHandler):
    server: _Server   # (socketserver sets it: the server this handler answers for)

    # ---- plumbing ------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, err: ApiError) -> None:
        self._send(err.code, err.body())

    def _start_stream(self, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError("RequestEntityTooLarge", "Request entity too large: limit is 3145728", code=413)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None
        ctype = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        if ctype == PROTOBUF:
            # kubectl's imperative `create` commands send protobuf
            try:
                return protobuf_body.decode_body(raw)
            except (protobuf_body.ProtobufError, UnicodeDecodeError, KeyError) as e:
                raise ApiError("UnsupportedMediaType", f"the simulator could not read this protobuf body ({e}); "
                               "send JSON or YAML (kubectl apply -f)", code=415) from None
        if ctype not in ("application/json", "*/*", "") and "json" not in ctype and "yaml" not in ctype:
            raise ApiError("UnsupportedMediaType", f"the body of the request was in an unknown format ({ctype}) "
                           "- accepted media types include: application/json, application/yaml, "
                           f"{PROTOBUF}", code=415)
        if "yaml" in ctype:
            try:
                import yaml
                return yaml.safe_load(raw)
            except Exception as e:
                raise api_errors.bad_request(f"error decoding YAML: {e}") from None
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise api_errors.bad_request(f"couldn't get version/kind; json parse error: {e}") from None

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_PATCH(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def _handle(self) -> None:
        try:
            self._dispatch()
        except ApiError as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug of ours: answer 500, keep serving
            import traceback
            traceback.print_exc()
            self._send_error(ApiError("InternalError", f"Internal error occurred: {e!r}", code=500))

    # ---- routing -------------------------------------------------------
    def _dispatch(self) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        # split, then decode each segment: a name kubectl percent-encodes is found
        parts = [unquote(p) for p in url.path.split("/") if p]
        method = self.command
        if method in ("GET", "HEAD"):
            doc = self._discovery(parts)
            if doc is not None:
                self._send(200, doc)
                return
        if len(parts) < 2 or parts[0] not in ("api", "apis"):
            raise _not_found_path()
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) < 3:
                raise _not_found_path()
            group, version, rest = parts[1], parts[2], parts[3:]
        if (group, version) == (metrics_api.GROUP, metrics_api.VERSION):
            self._metrics(rest, method, query)
            return
        watch = query.get("watch") in ("true", "1")
        if rest and rest[0] == "watch":
            watch, rest = True, rest[1:]
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and (group, version, rest[2]) in BY_PATH:
            ns, rest = rest[1], rest[2:]
        if not rest or (group, version, rest[0]) not in BY_PATH:
            raise _not_found_path()
        res = BY_PATH[(group, version, rest[0])]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3 or (res.namespaced and name is not None and ns is None):
            raise _not_found_path()
        if sub is not None and sub not in res.subresources:
            raise _not_found_path()
        api: Api = app.api
        dry_run = "dryRun" in query
        if name is None:
            if method in ("GET", "HEAD"):
                if watch:
                    self._watch(res, ns, query)
                elif tables.wants_table(self.headers.get("Accept")):
                    meta, items = api.page(res, ns, query)
                    self._send(200, dumps(tables.table(res, [o for o, _r in items], app.clock.now(), meta,
                                                       query.get("includeObject", "PartialObjectMetadata"))))
                else:
                    self._send(200, api.list(res, ns, query))
            elif method == "POST":
                if res.namespaced and ns is None:
                    raise _method_not_allowed()
                self._send(201, api.create(res, ns or "", self._body(), dry_run=dry_run,
                                           manager=self._field_manager(query)))
            elif method == "DELETE":
                self._send(200, api.delete_collection(res, ns, query, self._body() or {}))
            else:
                raise _method_not_allowed()
            return
        ns = ns or ""
        if watch:  # GET .../pods/NAME?watch=1 (old form): a watch on one object
            query["fieldSelector"] = ",".join(filter(None, [query.get("fieldSelector"), f"metadata.name={name}"]))
            self._watch(res, ns or None, query)
            return
        if sub is None:
            if method in ("GET", "HEAD"):
                if tables.wants_table(self.headers.get("Accept")):
                    obj = json.loads(api.get(res, ns, name))
                    self._send(200, dumps(tables.table(res, [obj], app.clock.now(), {},
                                                       query.get("includeObject", "PartialObjectMetadata"))))
                else:
                    self._send(200, api.get(res, ns, name))
            elif method == "PUT":
                self._send(200, api.replace(res, ns, name, self._body(), dry_run=dry_run,
                                            manager=self._field_manager(query)))
            elif method == "PATCH":
                self._send(200, api.patch(res, ns, name, self.headers.get("Content-Type", ""), self._body(),
                                          dry_run=dry_run, manager=self._field_manager(query, patch=True),
                                          force=query.get("force") in ("true", "1")))
            elif method == "DELETE":
                self._send(200, api.delete(res, ns, name, self._delete_options(query), dry_run=dry_run))
            else:
                raise _method_not_allowed()
            return
        self._subresource(api, res, ns, name, sub, method, query, dry_run)

    def _field_manager(self, query: dict, *, patch: bool = False) -> str:
        """The request's field manager: ?fieldManager=, else (as the apiserver
        does for non-apply writes) the User-Agent up to its first '/'; an apply
        must name one (the empty name is refused by field_manager.apply)."""
        if query.get("fieldManager"):
            return query["fieldManager"][:128]
        if patch and patching.is_apply_patch(self.headers.get("Content-Type", "")):
            return ""
        return (self.headers.get("User-Agent") or "unknown").split("/", 1)[0][:128] or "unknown"

    def _delete_options(self, query: dict) -> dict:
        opts = self._body() or {}
        if not isinstance(opts, dict):
            raise api_errors.bad_request("the body of the request must be a DeleteOptions object")
        if "propagationPolicy" in query:
            opts["propagationPolicy"] = query["propagationPolicy"]
        if "gracePeriodSeconds" in query:
            opts["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
        return opts

    def _subresource(self, api: Api, res, ns, name, sub, method, query, dry_run) -> None:
        if sub == "status":
            if method in ("GET", "HEAD"):
                self._send(200, api.get(res, ns, name))
            elif method == "PUT":
                self._send(200, api.replace(res, ns, name, self._body(), status_only=True, dry_run=dry_run))
            elif method == "PATCH":
                self._send(200, api.patch(res, ns, name, self.headers.get("Content-Type", ""), self._body(),
                                          status_only=True, dry_run=dry_run))
            else:
                raise _method_not_allowed()
        elif sub == "scale":
            if method in ("GET", "HEAD"):
                self._send(200, api.get_scale(res, ns, name))
            elif method == "PUT":
                self._send(200, api.set_scale(res, ns, name, self._body()))
            elif method == "PATCH":
                self._send(200, api.patch_scale(res, ns, name, self.headers.get("Content-Type", ""), self._body()))
            else:
                raise _method_not_allowed()
        elif sub == "eviction" and method == "POST":
            api.get(res, ns, name)  # 404 first
            self._send(201, api.evict(ns, name, self._body()))
        elif sub == "log" and method in ("GET", "HEAD"):
            self._log(ns, name, query)
        else:
            raise _method_not_allowed()

    def _discovery(self, parts: list[str]) -> bytes | None:
        app = self.server.app
        if parts == ["version"]:
            return dumps(discovery.version())
        if parts == ["api"]:
            return dumps(discovery.api_versions(f"127.0.0.1:{app.port}"))
        if parts == ["apis"]:
            return dumps(discovery.api_group_list())
        if len(parts) == 2 and parts[0] == "api":
            doc = discovery.resource_list("", parts[1])
            if doc is None:
                raise _not_found_path()
            return dumps(doc)
        if len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(parts[1])
            if doc is None:
                raise _not_found_path()
            return dumps(doc)
        if len(parts) == 3 and parts[0] == "apis":
            if parts[1] not in GROUPS and parts[1] != metrics_api.GROUP:
                raise _not_found_path()
            doc = discovery.resource_list(parts[1], parts[2])
            if doc is None:
                raise _not_found_path()
            return dumps(doc)
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return b"ok"
        if parts[:2] == ["openapi", "v3"]:
            spec = openapi.lookup(parts[2:])
            if spec is None:
                raise _not_found_path()
            return spec
        return None

    # ---- streams -------------------------------------------------------
    def _watch(self, res, ns, query) -> None:
        pred = object_predicate(res, query)
        send_initial = query.get("sendInitialEvents") in ("true", "1")
        since = None if send_initial else parse_since(query.get("resourceVersion"))
        try:
            timeout = float(query.get("timeoutSeconds") or 1800)
        except ValueError:
            raise api_errors.bad_request("invalid timeoutSeconds") from None
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        app = self.server.app
        render = self._table_renderer(res, query) if tables.wants_table(self.headers.get("Accept")) else None
        try:
            stream = WatchStream(app.store, res, ns, pred, since_rv=since, timeout_s=timeout, bookmarks=bookmarks,
                                 render=render, initial_events_end=send_initial and bookmarks)
        except ApiError as e:
            # like the apiserver: 200, then one ERROR event carrying the Status
            self._start_stream("application/json")
            self._chunk(error_line(e))
            self._end_stream()
            return
        try:
            self._start_stream("application/json")
            for data in stream.chunks(self.server.stopping):
                self._chunk(data)
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            stream.close()

    def _metrics(self, rest: list[str], method: str, query: dict) -> None:
        """metrics.k8s.io: nodes[/NAME], pods, namespaces/NS/pods[/NAME]."""
        app = self.server.app
        if method not in ("GET", "HEAD"):
            raise ApiError("MethodNotAllowed", "the server does not allow this method on the requested resource",
                           code=405)
        now = app.clock.timestamp()
        ns = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] == "pods":
            ns, rest = rest[1], rest[2:]
        if not rest or rest[0] not in ("nodes", "pods") or len(rest) > 2 or (rest[0] == "nodes" and ns):
            raise _not_found_path()
        res = BY_PATH[("", "v1", rest[0])]
        pred = object_predicate(res, query)
        if len(rest) == 2:
            def pred(o, n=rest[1], p=pred):
                return o["metadata"]["name"] == n and (p is None or p(o))
        doc = (metrics_api.list_nodes(app.store, pred, now, app.pool) if rest[0] == "nodes"
               else metrics_api.list_pods(app.store, ns, pred, now, app.pool))
        if len(rest) == 2:
            if not doc["items"]:
                raise ApiError("NotFound", f'{rest[0]}.metrics.k8s.io "{rest[1]}" not found',
                               details={"name": rest[1], "group": metrics_api.GROUP, "kind": rest[0]})
            self._send(200, dumps(doc["items"][0]))
        else:
            self._send(200, dumps(doc))

    def _table_renderer(self, res, query: dict):
        """Watch events as kubectl asks for them on `get -w`: one Table row each."""
        clock = self.server.app.clock
        include = query.get("includeObject", "PartialObjectMetadata")

        def render(type_: str, obj: dict) -> bytes:
            t = tables.table(res, [obj], clock.now(), {}, include)
            return b'{"type":"' + type_.encode() + b'","object":' + dumps(t) + b'}\n'
        return render

    def _log(self, ns: str, name: str, query: dict) -> None:
        app = self.server.app
        pod = app.store.get("pods", ns, name)
        if pod is None:
            raise api_errors.not_found(BY_PATH[("", "v1", "pods")], name)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        container = query.get("container")
        if container and container not in containers:
            raise api_errors.bad_request(f'container {container} is not valid for pod {name}')
        if not container and len(containers) > 1:
            raise api_errors.bad_request(f"a container name must be specified for pod {name}, "
                                         f"choose one of: {containers}")
        container = container or containers[0]
        if (pod.get("status") or {}).get("phase") == "Pending":
            raise api_errors.bad_request(f'container "{container}" in pod "{name}" is waiting to start: '
                                         "ContainerCreating")
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        ts = query.get("timestamps") in ("true", "1")
        since = _since_time(query.get("sinceTime"))
        book = app.logs
        if query.get("follow") not in ("true", "1"):
            body = "".join(line + "\n" for line in book.lines(ns, name, tail, ts, since=since)).encode()
            self._send(200, body, "text/plain")
            return
        self._start_stream("text/plain")
        gen = book.follow(ns, name, tail, ts, stop=self.server.stopping, since=since)
        try:
            for line in gen:
                self._chunk((line + "\n").encode())
            self._end_stream()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            gen.close()


def _since_time(value: str | None) -> str | None:
    """sinceTime (RFC 3339, fractions allowed) as the log book's timestamps
    (RFC 3339 seconds, which compare as strings); 400 when it is not a time."""
    if not value:
        return None
    from datetime import UTC, datetime
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise api_errors.bad_request(f'sinceTime: parsing time "{value}" as RFC 3339 failed') from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiServer:
    """The simulated kube-apiserver on 127.0.0.1:port (0 = a free port)."""

    def __init__(self, store, logs, *, port: int = 0, evictor=None, on_create=None, pool=None, pod_deleter=None):
        self.store = store
        self.pool = pool  # model servers: their load feeds metrics.k8s.io
        self.clock = store.clock
        self.logs = logs
        self.api = Api(store, evictor=evictor, on_create=on_create, pod_deleter=pod_deleter)
        self._httpd = _Server(("127.0.0.1", port), Handler, self)
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> ApiServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="sim-apiserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.stopping.set()
        if self._thread is not None:  # shutdown() waits for serve_forever to end
            self._httpd.shutdown()
        with self._httpd.conns_lock:
            conns = list(self._httpd.conns)
        for c in conns:  # end keep-alive connections and streams
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)
