"""Decoding a big list's pages in a helper process, off the UI process's interpreter.

The console is one Python process: its threads share one interpreter lock, so
while the ClusterCache decodes the initial list of 20,000 pods (~0.5 s of CPU)
the UI thread can neither import Textual nor render. A helper process decodes
on another core instead: the cache's fetch thread writes each page's raw JSON
to it, it answers with the page's rows (console.kube.rows.decode_page) as
msgpack, which the cache thread reads back in ~1 ms a page. The cache uses it
only for big lists on machines with more than one CPU, and decodes in process
when it cannot start or fails.

Protocol on the helper's stdin/stdout: messages of a 12-byte head (sequence
number, 4 bytes; length, 8 bytes; big-endian) and a body. In: the page's JSON.
Out: msgpack of [ok, rows | error text, resourceVersion, continue token,
remainingItemCount]. The kind is the helper's one argument; end of input ends it.

    python -m console.kube.list_decoder pods
"""
from __future__ import annotations

import os
import struct
import sys
import threading

import msgspec

from console.kube import rows as k8s_rows

_HEAD = struct.Struct(">IQ")
_CHILD = "import sys; from console.kube.list_decoder import main; sys.exit(main(sys.argv[1:]))"


class DecoderGone(ValueError):
    """The helper process ended or answered nonsense."""


class PageDecoder:
    """A helper process decoding pages of one kind, answers in submission order.
    submit() and result() may run on different threads (one each)."""

    def __init__(self, kind: str):
        self.kind = kind
        row = k8s_rows.ROW_TYPES[kind]
        self._decode = msgspec.msgpack.Decoder(  # (the row type is chosen at run time)
            tuple[bool, list[row] | str, str | None, str | None, int | None]).decode  # type: ignore[valid-type]
        import subprocess  # here: not on the path of a process that never offloads (nor the helper's)

        import console
        # -S (no site module, no .pth files: ~0.07 s less start-up on this machine),
        # with the directories of this package and of msgspec on its path instead.
        path = [os.path.dirname(os.path.dirname(os.path.abspath(str(m.__file__)))) for m in (console, msgspec)]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(filter(None, [*path, env.get("PYTHONPATH")])))
        self._proc = subprocess.Popen([sys.executable, "-S", "-c", _CHILD, kind],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, env=env, close_fds=True)
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None   # (both PIPE)
        self._stdin, self._stdout = stdin, stdout
        self._write_lock = threading.Lock()
        self._seq = 0
        self.closed = False

    def submit(self, body: bytes) -> int:
        """Send one page; returns its sequence number. Raises DecoderGone."""
        with self._write_lock:
            self._seq += 1
            seq = self._seq
            try:
                self._stdin.write(_HEAD.pack(seq, len(body)))
                self._stdin.write(body)
                self._stdin.flush()
            except (OSError, ValueError) as e:
                raise DecoderGone(f"list decoder process: {e}") from None
        return seq

    def result(self, seq: int) -> k8s_rows.Page:
        """The decoded page `seq` (answers to earlier, abandoned pages are
        skipped). Raises DecoderGone, or ValueError for a malformed page."""
        while True:
            head = self._read(_HEAD.size)
            got, n = _HEAD.unpack(head)
            body = self._read(n)
            if got < seq:
                continue
            if got != seq:
                raise DecoderGone(f"list decoder process answered page {got}, expected {seq}")
            try:
                ok, rows, rv, cont, remaining = self._decode(body)
            except msgspec.DecodeError as e:
                raise DecoderGone(f"list decoder process: {e}") from None
            if not ok or isinstance(rows, str):   # (a str is the helper's error message)
                raise ValueError(rows)
            return k8s_rows.Page(rows, rv, cont, remaining)

    def _read(self, n: int) -> bytes:
        data = self._stdout.read(n)
        if data is None or len(data) != n:
            raise DecoderGone("list decoder process ended")
        return data

    def close(self) -> None:
        """End the helper. Killed rather than asked: it holds no state, and a
        thread may be blocked writing to it."""
        if self.closed:
            return
        self.closed = True
        try:
            self._proc.kill()
        except OSError:
            pass
        self._proc.wait()
        for f in (self._stdin, self._stdout):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def main(argv: list[str]) -> int:
    kind = argv[0]
    if kind not in k8s_rows.ROW_TYPES:
        print(f"usage: python -m console.kube.list_decoder {{{','.join(k8s_rows.ROW_TYPES)}}}", file=sys.stderr)
        return 2
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    encode = msgspec.msgpack.Encoder().encode
    while True:
        head = inp.read(_HEAD.size)
        if len(head) < _HEAD.size:
            return 0
        seq, n = _HEAD.unpack(head)
        body = inp.read(n)
        try:
            page = k8s_rows.decode_page(kind, body)
            msg = encode((True, page.rows, page.resource_version, page.continue_token, page.remaining))
        except ValueError as e:
            msg = encode((False, str(e), None, None, None))
        out.write(_HEAD.pack(seq, len(msg)))
        out.write(msg)
        out.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
