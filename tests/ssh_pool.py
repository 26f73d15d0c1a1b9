"""Bounded parallel fan-out of one function over many hosts.

Every host runs on its own worker thread (up to `max_workers` at once), so a
slow or dead host holds up nobody else: results come back as each host
finishes, a host's exception is its own result, and an overall `timeout`
gives every host still pending a CommandTimeout of its own instead of making
the caller wait for it. With more hosts than workers a host waits only for a
free worker; each transport's own connect and command timeouts bound how long
a dead host can occupy one.

Worker threads are daemon threads: a host that never answers (a function
without a timeout) cannot keep the program from exiting.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from console.hosts.transport import CommandTimeout, Transport


def _named(transports) -> list[tuple[str, Any]]:
    if isinstance(transports, Mapping):
        return list(transports.items())
    return [(t.name, t) for t in transports]


def fan_out_iter(transports: Mapping[str, Transport] | Iterable[Transport],
                 fn: Callable[[Transport], Any], *, max_workers: int = 32,
                 timeout: float | None = None) -> Iterator[tuple[str, Any]]:
    """Yield (host name, result or exception) in the order hosts finish."""
    items = _named(transports)
    if not items:
        return
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        jobs.put(item)
    done: queue.SimpleQueue = queue.SimpleQueue()

    def worker():
        while True:
            try:
                name, t = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                result = fn(t)
            except Exception as e:  # the host's own result
                result = e
            done.put((name, result))

    for i in range(max(1, min(max_workers, len(items)))):
        threading.Thread(target=worker, name=f"fan-out-{i}", daemon=True).start()
    deadline = None if timeout is None else time.monotonic() + timeout
    pending = {name for name, _ in items}
    while pending:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            break
        try:
            name, result = done.get(timeout=left)
        except queue.Empty:
            break
        pending.discard(name)
        yield name, result
    for name, _ in items:
        if name in pending:
            yield name, CommandTimeout(name, f"no result within {timeout:g} s")


def fan_out(transports: Mapping[str, Transport] | Iterable[Transport],
            fn: Callable[[Transport], Any], *, max_workers: int = 32,
            timeout: float | None = None,
            on_result: Callable[[str, Any], None] | None = None) -> dict[str, Any]:
    """Run fn(transport) for every host in parallel: {name: result or exception}.
    `on_result(name, result)` is called (on the caller's thread) as each host
    finishes."""
    results = {}
    for name, result in fan_out_iter(transports, fn, max_workers=max_workers, timeout=timeout):
        results[name] = result
        if on_result is not None:
            on_result(name, result)
    return results
