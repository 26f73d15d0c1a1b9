"""Shared plumbing of the probes that talk to model-server pods directly.

Which pods are probed (Ready pods of the model-server namespace with an IP and
a port: annotation dsconsole.io/model-port, else the first container port), and
a round runner: bounded concurrency, bounded timeouts, at most `max_targets`
pods per round taken in rotation so that a 20,000-pod namespace is covered
over several rounds instead of one huge burst.

Requests go out on console/http1.py, one connection each (a pod is asked again
only a round later, 15-60 s, past any server's keep-alive): an HTTP client such
as httpx costs several times the CPU per request, which on a large site (512
pods a round) was half of the console's CPU under a stream of watch events.
"""
from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from console import http1
from console.snapshot import PodRow

CONNECT_TIMEOUT_S = 1.0


class ProbeHttpError(Exception):
    """The model server answered with an error status."""


def request(pod: PodRow, method: str, path: str, *, timeout: float, json_body: Any = None) -> bytes:
    """One request to a model-server pod; the body of a 2xx answer. Raises
    OSError (no answer in time, refused, reset), http1.ProtocolError or
    ProbeHttpError."""
    if pod.ip is None or pod.model_port is None:
        raise OSError(f"pod {pod.key} has no address or model port yet")
    conn = http1.Connection(pod.ip, pod.model_port, timeout=CONNECT_TIMEOUT_S)
    try:
        conn.connect()
        sock = conn.sock
        if sock is None:   # (connect() sets it or raises)
            raise OSError(f"pod {pod.key}: not connected")
        sock.settimeout(timeout)
        headers = {"Accept": "*/*", "Connection": "close", "User-Agent": "dsconsole"}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, headers, body)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status >= 300:
        raise ProbeHttpError(f"HTTP {resp.status} {resp.reason} from {base_url(pod)}{path}")
    return data


def probe_targets(pods: Iterable[PodRow]) -> list[PodRow]:
    return [p for p in pods if p.ready and p.ip and p.model_port and p.phase == "Running"]


def base_url(pod: PodRow) -> str:
    host = f"[{pod.ip}]" if ":" in (pod.ip or "") else pod.ip
    return f"http://{host}:{pod.model_port}"


class ProbeLoop:
    """Runs `round_fn(pods)` every `interval_s` (next round scheduled when the
    last finished) on its own thread, over pods from `targets()`."""

    def __init__(self, name: str, targets: Callable[[], Sequence[PodRow]], interval_s: float,
                 *, max_targets: int = 512, max_workers: int = 8, start_delay_s: float = 0.0):
        self.name = name
        self._targets = targets
        self.interval_s = interval_s
        self.max_targets = max_targets
        self.max_workers = max_workers
        self.start_delay_s = start_delay_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor = 0
        self.rounds = 0

    def start(self) -> ProbeLoop:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the round in flight; requests in flight end with their
        (bounded) timeouts on daemon threads, so stopping never waits for them."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=1.0)

    def run_round(self) -> int:
        """One round; the number of pods probed."""
        pods = probe_targets(self._targets())
        if len(pods) > self.max_targets:
            start = self._cursor % len(pods)
            batch = (pods[start:] + pods[:start])[: self.max_targets]
            self._cursor = start + self.max_targets
        else:
            batch = pods
        if batch:
            results = self._map(batch)
            if results is not None and not self._stop.is_set():
                self.finish_round(batch, results)
        self.rounds += 1
        return len(batch)

    def _map(self, batch: list[PodRow]) -> list | None:
        """probe() over the batch on daemon threads (a request in flight never
        holds up stop() or the process' exit); None when stopped meanwhile."""
        results: list = [None] * len(batch)
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(len(batch)):
            todo.put(i)
        done = threading.Semaphore(0)

        def worker() -> None:
            while not self._stop.is_set():
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[i] = self.probe(batch[i])
                finally:
                    done.release()
        for n in range(min(self.max_workers, len(batch))):
            threading.Thread(target=worker, name=f"{self.name}-{n}", daemon=True).start()
        for _ in batch:
            while not done.acquire(timeout=0.2):
                if self._stop.is_set():
                    return None
        return results

    def _run(self) -> None:
        if self._stop.wait(self.start_delay_s):
            return
        while not self._stop.is_set():
            probed = 0
            try:
                probed = self.run_round()
            except Exception:  # noqa: BLE001 - a probe bug must not end the loop
                import logging
                logging.getLogger(__name__).exception("%s round failed", self.name)
            # nothing to probe yet (cache not synced, pods not ready): look again soon
            self._stop.wait(self.interval_s if probed else min(self.interval_s, 1.0))

    # subclasses -----------------------------------------------------------
    def probe(self, pod: PodRow) -> Any:  # pragma: no cover - abstract; what finish_round gets
        raise NotImplementedError

    def finish_round(self, pods: list[PodRow], results: list) -> None:  # pragma: no cover
        raise NotImplementedError
