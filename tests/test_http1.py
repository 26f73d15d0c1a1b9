"""console/http1.py on real loopback sockets: the client against scripted raw
responses (chunked with extensions and trailers, Content-Length, read until
close, a kept-alive connection the server dropped, malformed answers) and
against the standard library's http.server; the simulator's request handler
against raw requests (malformed, HTTP/1.0, Expect: 100-continue, an unknown
method) and against http.client."""
from __future__ import annotations

import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console import http1
from console.kube.client import ApiUnreachable, KubeHttp
from console.kube.kubeconfig import KubeTarget
from tests.kube_servers import ScriptedServer

pytestmark = pytest.mark.timeout(60)


def get(port: int, target: str = "/x", conn: http1.Connection | None = None) -> tuple[http1.Response, bytes]:
    conn = conn or http1.Connection("127.0.0.1", port, timeout=5)
    conn.request("GET", target, {"Accept": "application/json"})
    resp = conn.getresponse()
    return resp, resp.read()


def test_bodies_by_length_chunked_and_until_close():
    srv = ScriptedServer([
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nwiki\r\n6\r\npedia \r\n0\r\nX-Trailer: yes\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    ])
    try:
        conn = http1.Connection("127.0.0.1", srv.port, timeout=5)
        resp, body = get(srv.port, conn=conn)
        assert (resp.status, resp.reason, body, resp.will_close) == (200, "OK", b"hello", False)
        assert resp.headers.get("CONTENT-LENGTH") == "5"
        resp, body = get(srv.port, conn=conn)   # the same connection, kept alive
        assert body == b"wikipedia " and not resp.will_close
        resp, body = get(srv.port, conn=conn)
        assert (resp.status, body) == (204, b"")
        resp, body = get(srv.port, conn=conn)
        assert body == b"ok" and resp.will_close
        assert srv.connections == 1
        assert srv.requests[0].startswith(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:")
        conn.close()
    finally:
        srv.close()
    srv = ScriptedServer([b"HTTP/1.0 200 OK\r\n\r\nall of it"])   # no length: until the server closes
    try:
        conn = http1.Connection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/", {})
        resp = conn.getresponse()
        assert resp.will_close and resp.read() == b"all of it"
        conn.close()
    finally:
        srv.close()


def test_stream_read_as_it_arrives():
    """read1 hands over each chunk as it arrives, without waiting for the end."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    go_on = threading.Event()

    def serve():
        conn, _ = sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nline1\n\r\n")
            go_on.wait(10)
            conn.sendall(b"6\r\nline2\n\r\n0\r\n\r\n")
    threading.Thread(target=serve, daemon=True).start()
    try:
        conn = http1.Connection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/watch", {})
        resp = conn.getresponse()
        assert resp.read1(65536) == b"line1\n"      # while the rest is still to come
        go_on.set()
        assert resp.read1(65536) == b"line2\n" and resp.read1(65536) == b""
        conn.close()
    finally:
        sock.close()


@pytest.mark.parametrize("answer, error", [
    (b"HTTP/1.1 2000 OK\r\n\r\n", "illegal status line"),
    (b"SPDY/3 200 OK\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "illegal header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk header"),
    (b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(101)) + b"\r\n", "more than 100"),
    # issue 11 item 10: what the hand-written parser let through
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", "chunk header"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\n0123456789abcdef\r\n0\r\n\r\n",
     "chunk header"),
    # a chunk longer than its size line says: the CRLF after it is missing
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloEXTRA\r\n0\r\n\r\n", "chunk"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "Content-Length"),
])
def test_malformed_answers_are_protocol_errors(answer, error):
    srv = ScriptedServer([answer])
    try:
        with pytest.raises(http1.ProtocolError, match=error):
            get(srv.port)
    finally:
        srv.close()


def test_informational_answers_are_not_the_answer():
    """A 1xx (100 Continue, 103 Early Hints) is skipped; the final answer follows it."""
    srv = ScriptedServer([b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
                          b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    try:
        resp, body = get(srv.port)
        assert (resp.status, body) == (200, b"ok")
    finally:
        srv.close()


@pytest.mark.parametrize("name, value", [
    ("Authorization", "Bearer abc\r\nX-Injected: 1"),
    ("Authorization", "Bearer abc\nX-Injected: 1"),
    ("Authorization", "Bearer abc\rX-Injected: 1"),
    ("X-Nul", "a\0b"),
])
def test_header_values_with_cr_lf_nul_are_refused_before_sending(name, value):
    srv = ScriptedServer([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
    try:
        conn = http1.Connection("127.0.0.1", srv.port, timeout=5)
        with pytest.raises(http1.HeaderValueError) as err:
            conn.request("GET", "/x", {name: value})
        assert "abc" not in str(err.value) and name in str(err.value)   # the value may be a secret
        conn.close()
        assert srv.requests == [] and srv.connections == 0              # nothing was sent
    finally:
        srv.close()


def test_kube_http_refuses_a_token_with_crlf_without_showing_it():
    srv = ScriptedServer([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"] * 2)
    try:
        kube = KubeHttp(KubeTarget(context="c", cluster="c", user="u", server=f"http://127.0.0.1:{srv.port}",
                                   token="s3cret\r\nX-Injected: yes"))
        with pytest.raises(Exception) as err:
            kube.version()
        assert "s3cret" not in str(err.value) and "Authorization" in str(err.value)
        assert not any(b"X-Injected" in r for r in srv.requests)
        kube.close()
    finally:
        srv.close()


def test_cut_off_answers_are_disconnects():
    for answer in (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
                   b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"):
        srv = ScriptedServer([answer])     # answered, then the connection closes
        try:
            with pytest.raises(http1.RemoteDisconnected):
                get(srv.port)
        finally:
            srv.close()


def test_kube_http_sends_again_when_a_kept_alive_connection_was_dropped():
    # the first answer keeps the connection open; the server then drops it
    # without answering the second request; the third, on a new connection, answers
    srv = ScriptedServer([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", None,
                          b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{\"again\": 1}\n"])
    try:
        kube = KubeHttp(KubeTarget(context="c", cluster="c", user=None, server=f"http://127.0.0.1:{srv.port}"))
        assert kube.get_json("/version") == {}
        assert kube.get_json("/version") == {"again": 1}
        assert srv.connections == 2
        kube.close()
    finally:
        srv.close()
    srv = ScriptedServer([b"HTTP/1.1 2xx Nope\r\n\r\n"])
    try:
        kube = KubeHttp(KubeTarget(context="c", cluster="c", user=None, server=f"http://127.0.0.1:{srv.port}"))
        with pytest.raises(ApiUnreachable, match="illegal status line"):
            kube.version()
    finally:
        srv.close()


def test_client_against_the_standard_librarys_server():
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = f"{self.path} {self.headers.get('Accept')}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        conn = http1.Connection("127.0.0.1", srv.server_address[1], timeout=5)
        for i in range(3):
            resp, body = get(srv.server_address[1], f"/p{i}?q=1", conn=conn)
            assert body == f"/p{i}?q=1 application/json".encode()
        conn.close()
    finally:
        srv.shutdown()
        srv.server_close()


# ------------------------------------------------------------- the simulator's side
@pytest.fixture(scope="module")
def api():
    from console.sim.demo_site import start_demo_site
    with start_demo_site(nodes=1, gpus_per_node=1, hosts=False, traffic=False) as site:
        yield site


def raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while True:
            data = s.recv(65536)
            if not data:
                return out
            out += data


def test_sim_server_answers_http_client_on_one_connection(api):
    conn = http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=5)
    for path in ("/version", "/api/v1/nodes", "/api/v1/namespaces/nope/pods/nothing"):
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status in (200, 404) and body.startswith(b"{")
        assert resp.getheader("Date", "").endswith(" GMT")
    conn.close()


def test_sim_server_malformed_old_and_odd_requests(api):
    port = api.server.port
    out = raw(port, b"NONSENSE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and b"illegal request line" in out
    out = raw(port, b"GET /version HTTP/1.1\r\n\r\n")     # HTTP/1.1 needs a Host, as Go's server says
    assert out.startswith(b"HTTP/1.1 400 ") and b"Host" in out
    for bad in (b"Content-Length: -1", b"Content-Length: 0x10", b"Content-Length: 1_0", b"Transfer-Encoding: gzip"):
        out = raw(port, b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n" % bad)
        assert out.startswith(b"HTTP/1.1 400 "), bad
    out = raw(port, b"GET /version HTTP/1.1\r\nbad header\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    # HTTP/1.0 without keep-alive: one answer, then the server closes (raw() returns)
    out = raw(port, b"GET /version HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and b"gitVersion" in out
    out = raw(port, b"BREW /pot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 501 ")
    body = b'{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tea"}}'
    out = raw(port, b"POST /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert out.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 ")
    assert api.store.get("namespaces", None, "tea") is not None
