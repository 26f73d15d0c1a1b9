"""All-or-nothing appends of whole lines, for the audit log and the run journals.

A line is written whole or not at all: a write cut short (a full disk) is cut
back off the file (ftruncate to the size before) and the error raised. A torn
tail that a killed writer left (bytes after the last newline) is moved to a
side file `<file>.torn`, kept for whoever investigates, never deleted, and never
glued to the next line.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path


def torn_path(path: Path) -> Path:
    """Where a file's torn tails are kept."""
    return path.with_name(path.name + ".torn")


def append_whole(fd: int, data: bytes) -> None:
    """Write all of `data` at the end of the file and fsync it, or, when that
    fails part way, cut the file back to its size before and raise the OSError."""
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            if n <= 0:
                raise OSError(28, "short write")
            view = view[n:]
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass
        raise


def whole_lines_end(fd: int, size: int | None = None) -> int:
    """Offset just after the file's last newline (0 when there is none)."""
    pos = os.fstat(fd).st_size if size is None else size
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        i = os.pread(fd, step, pos).rfind(b"\n")
        if i >= 0:
            return pos + i + 1
    return 0


def set_aside_torn_tail(fd: int, path: Path) -> bytes | None:
    """Move the bytes after the last newline of the file open at `fd` (a line
    whose write was cut short) to torn_path(path) and cut them off the file.
    Returns them, or None when the file ends with a whole line. The caller
    holds the file's lock."""
    size = os.fstat(fd).st_size
    whole = whole_lines_end(fd, size)
    if whole == size:
        return None
    tail = os.pread(fd, size - whole, whole)
    note = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "offset": whole,
            "bytes": tail.decode("utf-8", "replace")}
    side = os.open(torn_path(path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        append_whole(side, json.dumps(note).encode() + b"\n")
    finally:
        os.close(side)
    os.ftruncate(fd, whole)
    os.fsync(fd)
    return tail
