"""One watch request: turns store events into the watch-stream lines a client
with this namespace / selector sees (like the apiserver's watch cache:
an object that stops matching the selector is sent as DELETED, one that
starts matching as ADDED), plus BOOKMARK lines when asked for."""
from __future__ import annotations

import queue
import time

from . import api_errors
from .store import dumps

BOOKMARK_INTERVAL_S = 5.0
MAX_BATCH = 256
MAX_BACKLOG = 100_000  # events queued for one slow client before its watch is closed


def error_line(err: api_errors.ApiError) -> bytes:
    return b'{"type":"ERROR","object":' + err.body() + b'}\n'


class WatchStream:
    def __init__(self, store, res, ns: str | None, pred, *, since_rv: int | None,
                 timeout_s: float, bookmarks: bool, render=None, initial_events_end: bool = False):
        self.store = store
        self.res = res
        self.ns = ns
        self.pred = pred
        self.timeout_s = timeout_s
        self.bookmarks = bookmarks
        self.render = render  # (type, obj) -> line, e.g. a Table row for kubectl
        # raises ApiError(410) for a too-old resourceVersion
        with store.lock:
            self.watcher, self.backlog = store.watch(res.plural, since_rv, limit=MAX_BACKLOG)
            self.snapshot_rv = store.resource_version
        # WatchList (sendInitialEvents=true): after the initial ADDED events, a
        # BOOKMARK annotated k8s.io/initial-events-end tells the client its
        # list is complete (client-go's reflector waits for it)
        self.initial_events_end = initial_events_end

    def close(self) -> None:
        self.store.unwatch(self.watcher)

    def _matches(self, obj: dict | None) -> bool:
        if obj is None:
            return False
        if self.ns and obj["metadata"].get("namespace") != self.ns:
            return False
        return self.pred is None or self.pred(obj)

    def line_for(self, ev) -> bytes | None:
        line = self._line_for(ev)
        if line is None or self.render is None:
            return line
        type_ = line[9:line.index(b'"', 9)].decode()
        return self.render(type_, ev.obj)

    def _line_for(self, ev) -> bytes | None:
        if self.ns is None and self.pred is None:
            return ev.line
        if ev.type == "ADDED":
            return ev.line if self._matches(ev.obj) else None
        if ev.type == "DELETED":
            return ev.line if self._matches(ev.obj) or self._matches(ev.old) else None
        now, before = self._matches(ev.obj), self._matches(ev.old)
        if now and before:
            return ev.line
        if now:
            return b'{"type":"ADDED","object":' + ev.raw + b'}\n'
        if before:
            return b'{"type":"DELETED","object":' + ev.raw + b'}\n'
        return None

    def bookmark_line(self) -> bytes | None:
        """A BOOKMARK at the store's current resourceVersion, if every event up
        to it has been handed to this stream (pushes happen under the store
        lock, so an empty queue under the lock proves it)."""
        with self.store.lock:
            if not self.watcher.queue.empty():
                return None
            rv = self.store.resource_version
        obj = {"kind": self.res.kind, "apiVersion": self.res.api_version,
               "metadata": {"resourceVersion": str(rv)}}
        return b'{"type":"BOOKMARK","object":' + dumps(obj) + b'}\n'

    def chunks(self, stopping):
        """Yields byte chunks (each one or more lines) until the timeout, the
        server stopping, or the consumer closing the generator."""
        deadline = time.monotonic() + self.timeout_s
        next_bookmark = time.monotonic() + BOOKMARK_INTERVAL_S
        batch = [ln for ln in map(self.line_for, self.backlog) if ln]
        self.backlog = []
        for i in range(0, len(batch), MAX_BATCH):
            yield b"".join(batch[i:i + MAX_BATCH])
        if self.initial_events_end:
            obj = {"kind": self.res.kind, "apiVersion": self.res.api_version,
                   "metadata": {"resourceVersion": str(self.snapshot_rv),
                                "annotations": {"k8s.io/initial-events-end": "true"}}}
            yield b'{"type":"BOOKMARK","object":' + dumps(obj) + b'}\n'
        q = self.watcher.queue
        while not stopping.is_set():
            now = time.monotonic()
            if now >= deadline:
                return
            try:
                ev = q.get(timeout=min(0.5, deadline - now))
            except queue.Empty:
                ev = None
            if self.watcher.overflowed:
                return  # the client fell behind: end the stream, it relists
            lines = []
            if ev is not None:
                ln = self.line_for(ev)
                if ln:
                    lines.append(ln)
                while len(lines) < MAX_BATCH:
                    try:
                        ev = q.get_nowait()
                    except queue.Empty:
                        break
                    if ev is None:  # the overflow wake-up
                        break
                    ln = self.line_for(ev)
                    if ln:
                        lines.append(ln)
            if lines:
                yield b"".join(lines)
            if self.bookmarks and time.monotonic() >= next_bookmark:
                next_bookmark = time.monotonic() + BOOKMARK_INTERVAL_S
                bm = self.bookmark_line()
                if bm:
                    yield bm


def parse_since(rv: str | None) -> int | None:
    if rv in (None, "", "0"):
        return None
    try:
        return int(rv)
    except ValueError:
        raise api_errors.bad_request(f"invalid resource version: {rv!r}") from None

