"""A one-file FUSE filesystem that behaves like a kernel tunable (sysfs/procfs
attribute), for test hosts (tests/testhosts/hostinit.py mounts one over
/proc/sys/vm/swappiness and over each transparent-hugepage file).

Like the kernel: every write(2) is one request, answered synchronously; a
valid value replaces the file's contents with the kernel's own form of it
(`never` -> `always madvise [never]`), an invalid one fails with EINVAL and
changes nothing; reads always see the current form (direct I/O, no page
cache, no attribute caching). So `echo never > f; cat f` in the same instant
reads `always madvise [never]`, exactly as on a real machine.

It speaks the FUSE kernel protocol directly on /dev/fuse (linux/fuse.h,
protocol 7.31 answered), with only what a single regular file needs:
INIT, GETATTR, SETATTR (truncate on open), OPEN, READ, WRITE, FLUSH, FSYNC,
RELEASE, STATFS, DESTROY; everything else gets ENOSYS.
"""
import ctypes
import errno
import os
import stat
import struct
import threading
import time

MS_NOSUID, MS_NODEV = 2, 4
IN_HEADER = struct.Struct("<IIQQIIIHH")     # fuse_in_header (40 bytes)
OUT_HEADER = struct.Struct("<IiQ")          # fuse_out_header (16 bytes)
ATTR = struct.Struct("<QQQQQQIIIIIIIIII")   # fuse_attr (88 bytes)
FOPEN_DIRECT_IO = 1
(LOOKUP, FORGET, GETATTR, SETATTR, OPEN, READ, WRITE, STATFS, RELEASE, FSYNC,
 FLUSH, INIT, INTERRUPT, DESTROY, BATCH_FORGET) = (1, 2, 3, 4, 14, 15, 16, 17, 18, 20,
                                                   25, 26, 36, 38, 42)
NO_REPLY = {FORGET, INTERRUPT, BATCH_FORGET}
MAX_WRITE = 65536

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]


class TunableFile(threading.Thread):
    """Serve `target` (an existing file) with `value`; `normalize(text)` gives
    the new contents for a write, or None for EINVAL."""

    def __init__(self, target: str, value: str, normalize, mode: int = 0o644):
        super().__init__(daemon=True, name=f"tunable {target}")
        self.value = value.encode()
        self.normalize = normalize
        self.mode = stat.S_IFREG | mode
        self.fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
        opts = (f"fd={self.fd},rootmode={stat.S_IFREG:o},user_id=0,group_id=0,"
                "allow_other,default_permissions")
        if _libc.mount(b"dsconsole-tunable", target.encode(), b"fuse",
                       MS_NOSUID | MS_NODEV, opts.encode()) != 0:
            err = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(err, f"fuse mount on {target}: {os.strerror(err)}")
        self.start()

    def run(self):
        while True:
            try:
                buf = os.read(self.fd, MAX_WRITE + 65536)
            except OSError as e:
                if e.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue  # ENOENT: the request was interrupted
                return  # ENODEV: unmounted
            length, opcode, unique, _node, _uid, _gid, _pid, _ext, _pad = IN_HEADER.unpack_from(buf)
            body = buf[IN_HEADER.size:length]
            if opcode in NO_REPLY:
                continue
            try:
                err, payload = self.handle(opcode, body)
            except Exception as e:
                import sys
                print(f"tunablefs: {e!r}", file=sys.stderr, flush=True)
                err, payload = errno.EIO, b""
            try:
                os.write(self.fd, OUT_HEADER.pack(OUT_HEADER.size + len(payload), -err, unique)
                         + payload)
            except OSError:
                pass  # the caller went away (interrupted)
            if opcode == DESTROY:
                return

    def attr_out(self) -> bytes:
        now = int(time.time())
        attr = ATTR.pack(1, 4096, 0, now, now, now, 0, 0, 0, self.mode, 1, 0, 0, 0, 4096, 0)
        return struct.pack("<QII", 0, 0, 0) + attr  # attr_valid 0: never cached

    def handle(self, opcode: int, body: bytes):
        if opcode == INIT:
            major, minor = struct.unpack_from("<II", body)
            out = struct.pack("<IIIIHHIIHHI", 7, min(minor, 31), 0, 0, 16, 12, MAX_WRITE, 1,
                              0, 0, 0) + b"\0" * 28
            return 0, out
        if opcode in (GETATTR, SETATTR):  # SETATTR: O_TRUNC on open; a tunable ignores it
            return 0, self.attr_out()
        if opcode == OPEN:
            return 0, struct.pack("<QII", 0, FOPEN_DIRECT_IO, 0)
        if opcode == READ:
            _fh, offset, size = struct.unpack_from("<QQI", body)
            return 0, self.value[offset:offset + size]
        if opcode == WRITE:
            size = struct.unpack_from("<QQI", body)[2]
            data = body[40:40 + size]
            new = self.normalize(data.decode(errors="replace"))
            if new is None:
                return errno.EINVAL, b""
            self.value = new.encode()
            return 0, struct.pack("<II", size, 0)
        if opcode in (FLUSH, FSYNC, RELEASE, DESTROY):
            return 0, b""
        if opcode == STATFS:
            return 0, struct.pack("<QQQQQIIII", 0, 0, 0, 0, 0, 4096, 255, 4096, 0) + b"\0" * 24
        return errno.ENOSYS, b""
