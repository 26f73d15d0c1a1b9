"""PageFetcher: the pages of one chunked list (limit/continue), decoded into rows.

The next page is fetched on a helper thread while the caller decodes the
current one (the network and the API server's time overlap the decoding; at
most two pages wait in memory). A big list (more than `offload_min_items`
remaining after its first page) is decoded by a helper process instead
(console.kube.list_decoder): the fetch thread hands each page to it and the caller
only reads the rows back, so the initial list of 20,000 pods costs the
console's interpreter ~0.06 s of CPU instead of ~0.5 s, which the UI thread
gets for its start-up and first frame. The first page is always decoded here,
while the helper starts.
"""
from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from typing import Any

from console.kube import rows as k8s_rows
from console.kube.client import Gone, KubeHttp, object_path
from console.kube.list_decoder import DecoderGone, PageDecoder

# The API server writes a list's `metadata` before its `items`: these are read
# from the head of a page without decoding it.
_CONTINUE = re.compile(rb'"continue"\s*:\s*"([^"]*)"')
# what the fetcher thread queues: ("page", body, token), ("sent", seq, token) for a
# page the helper decodes, ("error", exception), ("restart",), ("end",)
_Item = tuple[Any, ...]
_REMAINING = re.compile(rb'"remainingItemCount"\s*:\s*(\d+)')
_HEAD = 4096


class PageFetcher:
    """Iterates (Page, continue token the fetcher saw) over a chunked list of
    `kind`. The caller checks the token against the page's and calls
    restart(token) on a mismatch. (None, None) means the continue token expired
    (410) and the list starts over. Errors (DecoderGone included: the helper
    process failed) are raised in the caller's thread. close() when done."""

    def __init__(self, http: KubeHttp, kind: str, limit: int, stop: threading.Event,
                 offload_min_items: int | None = None):
        self.http, self.kind, self.limit, self.stop = http, kind, limit, stop
        self.path = object_path(kind)
        self.offload_min_items = offload_min_items
        self.decoder: PageDecoder | None = None
        self._decoder_lock = threading.Lock()  # adopting a helper vs. dropping it (restart, close)
        self._gen = 0
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=2)
        self._start(None)

    def _start(self, cont: str | None) -> None:
        self._gen += 1
        self._queue = queue.Queue(maxsize=2)
        threading.Thread(target=self._fetch, args=(self._gen, self._queue, cont),
                         name=f"list-{self.path}", daemon=True).start()

    def _put(self, gen: int, q: queue.Queue[_Item], item: _Item) -> bool:
        while gen == self._gen and not self.stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self, gen: int, q: queue.Queue[_Item], cont: str | None) -> None:
        while gen == self._gen and not self.stop.is_set():
            try:
                body = self.http.get_bytes(self.path, {"limit": self.limit, "continue": cont}, timeout=60)
            except Gone as e:
                if cont is None:
                    self._put(gen, q, ("error", e))
                    return
                if not self._put(gen, q, ("restart", None)):
                    return
                cont = None
                continue
            except Exception as e:  # noqa: BLE001 - handed to the caller's thread
                self._put(gen, q, ("error", e))
                return
            m = _CONTINUE.search(body, 0, _HEAD)
            token = m.group(1).decode() or None if m else None
            decoder = self.decoder
            item: _Item
            if decoder is not None:
                try:
                    item = ("sent", decoder.submit(body), token)
                except DecoderGone as e:
                    self._put(gen, q, ("error", e))
                    return
            else:
                item = ("page", body, token)
                if token is not None and cont is None:
                    self._maybe_offload(gen, body)
            # The "sent" item is queued before the next page is written to the
            # helper: the caller reads this page's answer, so the helper (which
            # answers before it reads on) never waits on a full pipe forever.
            if not self._put(gen, q, item) or token is None:
                return
            cont = token

    def _maybe_offload(self, gen: int, first_page: bytes) -> None:
        if self.offload_min_items is None or self.kind not in k8s_rows.ROW_TYPES:
            return
        m = _REMAINING.search(first_page, 0, _HEAD)
        if not m or int(m.group(1)) < self.offload_min_items:
            return
        try:
            decoder: PageDecoder | None = PageDecoder(self.kind)
        except Exception:  # noqa: BLE001 - no helper process (no executable, no fork): decoded here
            return
        with self._decoder_lock:
            if gen == self._gen and not self.stop.is_set():
                self.decoder, decoder = decoder, None
        if decoder is not None:
            decoder.close()         # the list was restarted or closed meanwhile

    def restart(self, cont: str | None) -> None:
        # Answers the helper owes for pages of the abandoned fetch would never be
        # read: the rest of the list is decoded here.
        with self._decoder_lock:
            self._gen += 1          # the fetch thread stops (and adopts no helper)
        self._drop_decoder()
        if cont is None:            # nothing more to fetch
            self._queue = queue.Queue()
            self._queue.put(("end",))
        else:
            self._start(cont)

    def _drop_decoder(self) -> None:
        with self._decoder_lock:
            decoder, self.decoder = self.decoder, None
        if decoder is not None:
            decoder.close()

    def close(self) -> None:
        with self._decoder_lock:
            self._gen += 1
        self._drop_decoder()

    def __iter__(self) -> Iterator[tuple[k8s_rows.Page | None, str | None]]:
        while not self.stop.is_set():
            q = self._queue
            try:
                item = q.get(timeout=0.2)
            except queue.Empty:
                continue
            if q is not self._queue:
                continue            # from a fetcher that was replaced
            kind = item[0]
            if kind == "error":
                raise item[1]
            if kind == "end":
                return
            if kind == "restart":
                yield None, None
                continue
            _, data, token = item
            if kind == "sent":
                decoder = self.decoder
                if decoder is None:   # (closed meanwhile)
                    raise DecoderGone("the list decoder was closed")
                page = decoder.result(data)
            else:
                page = k8s_rows.decode_page(self.kind, data)
            del data, item
            yield page, token
            if token is None and q is self._queue:
                return
