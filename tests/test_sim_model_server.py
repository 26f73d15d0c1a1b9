"""The demo site's simulated model servers, over real HTTP on loopback (httpx)."""
from __future__ import annotations

import asyncio
import re
import socket
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.sim.clock import SimClock
from console.sim.compile_profile import CompileProfile
from console.sim.model_server import ModelServerPool
from tests.waiting import wait_for

COMPILE_S = 30.0  # simulated; at time_scale 1000 a compile takes 0.03 s of real time


@pytest.fixture
def pool():
    p = ModelServerPool(CompileProfile(compile_s=COMPILE_S), clock=SimClock(time_scale=1000))
    p.start()
    yield p
    p.stop()


def _url(pool: ModelServerPool, ip: str, path: str) -> str:
    return f"http://{ip}:{pool.port}{path}"


def _complete(client: httpx.Client, pool, ip, prompt="hello", **kw) -> dict:
    r = client.post(_url(pool, ip, "/v1/completions"),
                    json={"model": kw.pop("model", "deepseek-v3"), "prompt": prompt, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def _metrics(client: httpx.Client, pool, ip) -> dict[str, dict]:
    """{sample name: {frozenset(labels): value}} from the pod's /metrics."""
    r = client.get(_url(pool, ip, "/metrics"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[str, dict] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return out


def _e2e(metrics: dict) -> tuple[float, float]:
    """(sum, count) of vllm:e2e_request_latency_seconds."""
    (total,) = metrics["vllm:e2e_request_latency_seconds_sum"].values()
    (count,) = metrics["vllm:e2e_request_latency_seconds_count"].values()
    return total, count


def test_each_pod_address_reaches_its_own_server(pool):
    a, b = pool.allocate_ip(), pool.allocate_ip()
    assert a != b and a.startswith("127.") and a != "127.0.0.1"
    pool.add(a, "deepseek-v3-aaa", "deepseek-v3", "gpu-node-0001")
    pool.add(b, "deepseek-green-bbb", "deepseek-v3-green", "gpu-node-0002")
    with httpx.Client(timeout=10) as c:
        assert c.get(_url(pool, a, "/health")).status_code == 200
        assert [m["id"] for m in c.get(_url(pool, a, "/v1/models")).json()["data"]] == ["deepseek-v3"]
        assert [m["id"] for m in c.get(_url(pool, b, "/v1/models")).json()["data"]] == ["deepseek-v3-green"]
        # b's model is unknown at a's address (a different server), and vice versa
        r = c.post(_url(pool, a, "/v1/completions"), json={"model": "deepseek-v3-green", "prompt": "x"})
        assert r.status_code == 404 and r.json()["type"] == "NotFoundError"
        # traffic to a's address is counted by a only
        _complete(c, pool, a, max_tokens=4)
        assert _e2e(_metrics(c, pool, a))[1] == 1
        assert _e2e(_metrics(c, pool, b))[1] == 0
        # an address without a pod is refused like a closed port, and so is a removed pod
        with pytest.raises(httpx.TransportError):
            c.get(_url(pool, pool.allocate_ip(), "/health"))
        pool.remove(b)
        with pytest.raises(httpx.TransportError):
            c.get(_url(pool, b, "/health"))
        assert not pool.healthy(b) and pool.healthy(a)


def test_non_loopback_destination_is_refused(pool):
    ip = pool.allocate_ip()
    pool.add(ip, "p", "deepseek-v3", "n")
    addrs = [a for a in _local_ipv4_addresses() if not a.startswith("127.")]
    if not addrs:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    try:
        with socket.create_connection((addrs[0], pool.port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = s.recv(1024)
    except (ConnectionResetError, BrokenPipeError):  # the reset may even beat connect()
        data = b""
    assert data == b""  # reset unread, nothing served


def _local_ipv4_addresses() -> list[str]:
    import subprocess
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines() if " inet " in line]


def test_compile_once_per_shape_then_fast(pool):
    ip = pool.allocate_ip()
    pool.add(ip, "p", "deepseek-v3", "n")
    prof = pool.profile
    with httpx.Client(timeout=10) as c:
        _complete(c, pool, ip, "short prompt", max_tokens=8)
        first, _ = _e2e(_metrics(c, pool, ip))
        assert first >= COMPILE_S  # the first request of a shape pays the compile
        _complete(c, pool, ip, "another short one", max_tokens=8)  # same (1, 128) shape
        second = _e2e(_metrics(c, pool, ip))[0] - first
        assert second < 1.0 and second > 0
        assert pool.compiled_shapes(ip) == {(1, 128)}
        # a longer prompt is a new shape: slow once more, then fast
        long_prompt = "word " * 300  # 1500 bytes ~ 375 tokens -> bucket 512
        before = _e2e(_metrics(c, pool, ip))[0]
        _complete(c, pool, ip, long_prompt, max_tokens=8)
        third = _e2e(_metrics(c, pool, ip))[0] - before
        assert third >= COMPILE_S
        # so is a batch of 3 prompts (batch bucket 4)
        before = _e2e(_metrics(c, pool, ip))[0]
        r = c.post(_url(pool, ip, "/v1/completions"),
                   json={"model": "deepseek-v3", "prompt": ["a", "b", "c"], "max_tokens": 8})
        assert r.status_code == 200 and len(r.json()["choices"]) == 3
        m = _metrics(c, pool, ip)
        assert (_e2e(m)[0] - before) / 3 >= COMPILE_S
        assert pool.compiled_shapes(ip) == {(1, 128), (1, 512), (4, 128)}
        # time to first token shows the same: compile requests are in the big buckets
        ttft = m["vllm:time_to_first_token_seconds_bucket"]
        le = {dict(k)["le"]: v for k, v in ttft.items()}
        assert le["0.1"] == 1  # only the one fast request of shape (1, 128)
        assert le["+Inf"] == 6
        assert prof.shape(3, 1) == (4, 128)


def test_a_warm_pod_has_every_shape_compiled(pool):
    # The demo site's initial pods are fully rolled out, compiled warmup done:
    # their first request must not pay a compile (else every demo start would
    # raise a P99 alert from the consistency probe's first request).
    ip = pool.allocate_ip()
    pool.add(ip, "warm", "deepseek-v3", "n", warm=True)
    assert pool.compiled_shapes(ip) == set(pool.profile.all_shapes())
    with httpx.Client(timeout=10) as c:
        _complete(c, pool, ip, "short prompt", max_tokens=8)
        first, _ = _e2e(_metrics(c, pool, ip))
        assert 0 < first < COMPILE_S


def test_concurrent_first_requests_share_one_compile():
    compile_s = 1.5  # real seconds (time scale 1): far longer than sending five requests takes
    pool = ModelServerPool(CompileProfile(compile_s=compile_s), clock=SimClock(time_scale=1))
    pool.start()
    try:
        ip = pool.allocate_ip()
        pool.add(ip, "p", "deepseek-v3", "n")

        async def burst():
            async with httpx.AsyncClient(timeout=30) as c:
                rs = await asyncio.gather(*[
                    c.post(_url(pool, ip, "/v1/completions"), json={"prompt": f"q{i}", "max_tokens": 2})
                    for i in range(5)])
                return [r.status_code for r in rs]

        assert asyncio.run(burst()) == [200] * 5
        assert pool.compiled_shapes(ip) == {(1, 128)} and pool.compile_count(ip) == 1
        with httpx.Client(timeout=10) as c:
            m = _metrics(c, pool, ip)
    finally:
        pool.stop()
    total, count = _e2e(m)
    assert count == 5
    # one compile (counted above, not inferred from how long requests took); each
    # request waited for at most what was left of it: the first for all of it, one
    # that came later for less, one that came after it for none
    ttft = {dict(k)["le"]: v for k, v in m["vllm:time_to_first_token_seconds_bucket"].items()}
    assert ttft["+Inf"] == 5 and ttft["1.0"] < 5     # the first one's 1.5 s is above 1.0
    assert total < 5 * (compile_s + 1.0)


def test_replies_are_deterministic_and_faults_change_them(pool):
    a, b = pool.allocate_ip(), pool.allocate_ip()
    pool.add(a, "blue-1", "deepseek-v3", "n1")
    pool.add(b, "blue-2", "deepseek-v3", "n2")
    with httpx.Client(timeout=10) as c:
        ra = _complete(c, pool, a, "What is 2+2?", max_tokens=12, seed=7)
        rb = _complete(c, pool, b, "What is 2+2?", max_tokens=12, seed=7)
        assert ra["object"] == "text_completion" and ra["model"] == "deepseek-v3"
        assert ra["choices"][0]["text"] == rb["choices"][0]["text"]
        assert len(ra["choices"][0]["text"].split()) == 12
        assert ra["usage"]["completion_tokens"] == 12
        assert ra["usage"]["total_tokens"] == ra["usage"]["prompt_tokens"] + 12
        other_seed = _complete(c, pool, b, "What is 2+2?", max_tokens=12, seed=8)
        assert other_seed["choices"][0]["text"] != ra["choices"][0]["text"]
        # a pod injected with a wrong reply disagrees with its replicas
        pool.inject_bad_reply(b)
        bad = _complete(c, pool, b, "What is 2+2?", max_tokens=12, seed=7)
        assert bad["choices"][0]["text"] != ra["choices"][0]["text"]
        pool.clear_faults(b)
        assert _complete(c, pool, b, "What is 2+2?", max_tokens=12, seed=7)["choices"] == rb["choices"]
        # chat completions have the OpenAI chat shape
        r = c.post(_url(pool, a, "/v1/chat/completions"),
                   json={"model": "deepseek-v3", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["role"] == "assistant"


def test_injected_latency_regression_shows_in_metrics(pool):
    ip = pool.allocate_ip()
    pool.add(ip, "p", "deepseek-v3", "n")
    with httpx.Client(timeout=10) as c:
        _complete(c, pool, ip, max_tokens=4)  # compile
        before = _e2e(_metrics(c, pool, ip))[0]
        _complete(c, pool, ip, max_tokens=4)
        fast = _e2e(_metrics(c, pool, ip))[0] - before
        pool.inject_latency(ip, 2.0)
        before = _e2e(_metrics(c, pool, ip))[0]
        _complete(c, pool, ip, max_tokens=4)
        slow = _e2e(_metrics(c, pool, ip))[0] - before
    assert slow == pytest.approx(fast + 2.0, abs=0.2)


class SteppedClock:
    """Simulated time that moves only when the test says; simulated waits cost no real time."""
    time_scale = 1e9
    frozen = False

    def __init__(self):
        self.t = 1_800_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_health_follows_loading_and_injected_failure():
    clock = SteppedClock()
    pool = ModelServerPool(clock=clock)
    pool.start()
    try:
        ip = pool.allocate_ip()
        pool.add(ip, "p", "deepseek-v3", "n", load_s=60.0)
        with httpx.Client(timeout=10) as c:
            assert c.get(_url(pool, ip, "/health")).status_code == 503 and not pool.healthy(ip)
            assert c.post(_url(pool, ip, "/v1/completions"), json={"prompt": "x"}).status_code == 503
            clock.sleep(61)  # the model has loaded
            assert c.get(_url(pool, ip, "/health")).status_code == 200 and pool.healthy(ip)
            assert c.post(_url(pool, ip, "/v1/completions"), json={"prompt": "x"}).status_code == 200
            pool.set_unhealthy(ip)
            assert c.get(_url(pool, ip, "/health")).status_code == 503 and not pool.healthy(ip)
            pool.clear_faults(ip)
            assert c.get(_url(pool, ip, "/health")).status_code == 200
    finally:
        pool.stop()


def test_metrics_are_prometheus_text_with_vllm_names(pool):
    ip = pool.allocate_ip()
    pool.add(ip, "p", "deepseek-v3", "n")
    with httpx.Client(timeout=10) as c:
        for i in range(3):
            _complete(c, pool, ip, f"prompt {i}", max_tokens=5)
        r = c.get(_url(pool, ip, "/metrics"))
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert families["vllm:e2e_request_latency_seconds"].type == "histogram"
    assert families["vllm:time_to_first_token_seconds"].type == "histogram"
    assert families["vllm:num_requests_running"].type == "gauge"
    assert families["vllm:num_requests_waiting"].type == "gauge"
    assert families["vllm:gpu_cache_usage_perc"].type == "gauge"
    for name in ("vllm:prompt_tokens", "vllm:generation_tokens", "vllm:request_success"):
        assert families[name].type == "counter"
    for family in families.values():
        for s in family.samples:
            assert s.labels["model_name"] == "deepseek-v3"
    gen = [s for s in families["vllm:generation_tokens"].samples if s.name.endswith("_total")]
    assert gen[0].value == 15
    e2e = families["vllm:e2e_request_latency_seconds"].samples
    buckets = [s.value for s in e2e if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == 3  # cumulative, +Inf = count


def test_bad_requests_get_openai_errors(pool):
    ip = pool.allocate_ip()
    pool.add(ip, "p", "deepseek-v3", "n")
    with httpx.Client(timeout=10) as c:
        r = c.post(_url(pool, ip, "/v1/completions"), content=b"{not json",
                   headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["object"] == "error"
        r = c.post(_url(pool, ip, "/v1/completions"), json={"prompt": "x", "max_tokens": 0})
        assert r.status_code == 400
        r = c.post(_url(pool, ip, "/v1/completions"), json={"prompt": "x" * 200_000})
        assert r.status_code == 400 and "prompt length" in r.json()["message"]
        assert c.get(_url(pool, ip, "/nope")).status_code == 404
        assert c.get(_url(pool, ip, "/v1/completions")).status_code == 405
        assert c.get(_url(pool, ip, "/health")).status_code == 200  # still serving


def _listening_sockets_on(port: int) -> int:
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def test_a_thousand_pods_share_one_socket_and_one_thread():
    threads_before = threading.active_count()
    pool = ModelServerPool(CompileProfile(compile_s=1.0), clock=SimClock(time_scale=1000))
    pool.start()
    try:
        ips = [pool.allocate_ip() for _ in range(1000)]
        assert len(set(ips)) == 1000
        assert all(not ip.startswith("127.0.") and not ip.endswith((".0", ".255")) for ip in ips)
        for i, ip in enumerate(ips):
            pool.add(ip, f"pod-{i}", "deepseek-v3", f"gpu-node-{i // 10:04d}")
        assert len(pool) == 1000

        async def health_all():  # a plain asyncio client: cheap enough for 1,000 connections
            gate = asyncio.Semaphore(100)

            async def one(ip):
                async with gate:
                    r, w = await asyncio.open_connection(ip, pool.port)
                    w.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    status = (await r.read()).split(b" ", 2)[1]
                    w.close()
                    return int(status)
            return await asyncio.gather(*[one(ip) for ip in ips])

        health = asyncio.run(health_all())

        async def complete_some():  # concurrent requests to 100 pods
            gate = asyncio.Semaphore(50)
            async with httpx.AsyncClient(timeout=20) as c:
                async def one(ip):
                    async with gate:
                        r = await c.post(_url(pool, ip, "/v1/completions"), json={"prompt": ip, "max_tokens": 2})
                        return r.json()["model"]
                return await asyncio.gather(*[one(ip) for ip in ips[::10]])

        models = asyncio.run(complete_some())
        assert health == [200] * 1000 and models == ["deepseek-v3"] * 100
        assert _listening_sockets_on(pool.port) == 1
        assert threading.active_count() == threads_before + 1
        assert pool.load(ips[1]) == {"requests_running": 0, "requests_waiting": 0, "requests_per_s": 0.0}
    finally:
        pool.stop()
    assert threading.active_count() == threads_before
    assert _listening_sockets_on(pool.port) == 0


def test_load_reports_running_requests_and_rate():
    pool = ModelServerPool(CompileProfile(compile_s=0.0), clock=SimClock(time_scale=1))
    pool.start()
    try:
        ip, idle = pool.allocate_ip(), pool.allocate_ip()
        pool.add(ip, "busy", "deepseek-v3", "n")
        pool.add(idle, "idle", "deepseek-v3", "n")
        with httpx.Client(timeout=10) as c:
            for i in range(5):
                _complete(c, pool, ip, f"p{i}", max_tokens=1)
            pool.inject_latency(ip, 3.0)   # long enough to be seen running on a loaded machine
            t = threading.Thread(target=_complete, args=(c, pool, ip, "slow"), kwargs={"max_tokens": 1})
            t.start()
            load = wait_for(lambda: (now := pool.load(ip))["requests_running"] and now, timeout=10,
                            interval=0.01, what="the slow request running")
            t.join()
        assert load["requests_running"] == 1
        assert load["requests_per_s"] == pytest.approx(5 / 10.0)  # 5 done in the 10 s window
        assert pool.load(idle)["requests_per_s"] == 0 and pool.load("127.9.9.9")["requests_running"] == 0
    finally:
        pool.stop()


def test_http_framing_keepalive_pipelining_and_split_bodies(pool):
    ip = pool.allocate_ip()
    pool.add(ip, "p", "deepseek-v3", "n")
    body = b'{"prompt": "split", "max_tokens": 3}'
    with socket.create_connection((ip, pool.port), timeout=10) as s:
        # two requests in one write, then a POST whose body arrives in a later write
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                  b"content-length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.05)
        s.sendall(body[10:] + b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    statuses = re.findall(rb"HTTP/1.1 (\d{3}) [A-Z]", data)
    assert statuses == [b"200", b"200", b"200", b"404"]
    assert b'"object":"text_completion"' in data


def test_streamed_completion_as_server_sent_events(pool):
    import json

    ip = pool.allocate_ip()
    pool.add(ip, "p", "deepseek-v3", "n")
    req = {"model": "deepseek-v3", "prompt": "stream me", "max_tokens": 20, "seed": 3}
    with httpx.Client(timeout=10) as c:
        whole = _complete(c, pool, ip, **{k: v for k, v in req.items() if k != "model"})
        with c.stream("POST", _url(pool, ip, "/v1/completions"),
                      json={**req, "stream": True, "stream_options": {"include_usage": True}}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text_chunks = [ch for ch in chunks if ch["choices"]]
        assert len(text_chunks) > 2 and all(ch["object"] == "text_completion" for ch in chunks)
        assert "".join(ch["choices"][0]["text"] for ch in text_chunks) == whole["choices"][0]["text"]
        assert text_chunks[-1]["choices"][0]["finish_reason"] == "length"
        assert chunks[-1]["usage"]["completion_tokens"] == 20
        with c.stream("POST", _url(pool, ip, "/v1/chat/completions"), json={
                "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "stream": True}) as r:
            events = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
        deltas = [json.loads(e)["choices"][0]["delta"] for e in events[:-1]]
        assert deltas[0]["role"] == "assistant" and len("".join(d.get("content", "") for d in deltas).split()) == 4
        assert _e2e(_metrics(c, pool, ip))[1] == 3  # streamed requests are counted too
