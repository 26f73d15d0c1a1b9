"""Audit log: an append-only JSON-lines file whose integrity can be verified.

One record per line: seq, time, user (OS), operator (--operator), site, host,
action, args (secrets redacted), result, prev, hash.
  prev = SHA-256 of the previous record's line as written (the first record's
         prev is GENESIS);
  hash = SHA-256 of this record's canonical JSON without "hash".
`verify()` names the first bad record: an edit breaks its own hash (or, if the
editor recomputed it, the next record's prev); a removal, insertion or
reordering breaks seq and prev. A head file beside the log remembers the last
seq and hash, so cutting records off the end is detected too.

Appends take an exclusive flock, write with O_APPEND and fsync, so concurrent
writers (threads or processes) never interleave or fork the chain.
"""
from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from console import paths

GENESIS = hashlib.sha256(b"dsconsole audit log genesis").hexdigest()
REDACTED = "***"

# Argument names whose values are secrets. Matched against the key, anywhere in it.
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|"
                         r"credential|authorization|cookie|bearer", re.I)
# Secret-looking values under innocent names.
_SECRET_VALUE = re.compile(r"(?i)\b(bearer|basic)\s+\S+|-----BEGIN [A-Z ]*PRIVATE KEY-----")


def default_path() -> Path:
    return paths.state_dir() / "audit.jsonl"


def redact(value):
    """Copy of `value` with secrets replaced by ***: values under secret-sounding
    keys, and strings that look like credentials."""
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v))
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.search(value):
        return _SECRET_VALUE.sub(REDACTED, value)
    return value


def _canonical(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _record_hash(record: dict) -> str:
    return hashlib.sha256(_canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return str(os.getuid())


class AuditLog:
    def __init__(self, path: Path | str | None = None, *, operator: str | None = None,
                 site: str | None = None):
        self.path = Path(path) if path else default_path()
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.operator = operator
        self.site = site
        self._lock = threading.Lock()

    def append(self, action: str, *, host: str | None = None, args: dict | None = None,
               result: str = "ok", site: str | None = None, operator: str | None = None) -> dict:
        """Append one record and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                last = _last_line(fd)
                if last is None:
                    seq, prev = 1, GENESIS
                else:
                    seq = int(json.loads(last).get("seq", 0)) + 1
                    prev = hashlib.sha256(last).hexdigest()
                record = {"seq": seq, "time": _iso(time.time()), "user": _os_user(),
                          "operator": operator or self.operator, "site": site or self.site,
                          "host": host, "action": action, "args": redact(args or {}),
                          "result": result, "prev": prev}
                record["hash"] = _record_hash(record)
                os.write(fd, _canonical(record) + b"\n")
                os.fsync(fd)
                self._write_head(seq, hashlib.sha256(_canonical(record)).hexdigest())
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        return record

    def _write_head(self, seq: int, line_hash: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump({"seq": seq, "hash": line_hash}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.head_path)

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    continue
        return out


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def parse_time(s: str) -> float:
    """Epoch seconds of an audit record time (or an ISO time given by the operator)."""
    from datetime import datetime
    s = s.strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _last_line(fd: int) -> bytes | None:
    """The last complete line of the file (without its newline), or None if empty."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return None
    chunk = 4096
    buf = b""
    pos = size
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        buf = os.pread(fd, step, pos) + buf
        body = buf.rstrip(b"\n")
        i = body.rfind(b"\n")
        if i >= 0:
            return body[i + 1:]
    return buf.rstrip(b"\n") or None


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    records: int
    bad_line: int | None = None
    reason: str | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit log OK: {self.records} record(s), hash chain intact"
        return f"line {self.bad_line}: {self.reason}"


def verify(path: Path | str | None = None) -> VerifyReport:
    """Check the whole chain; report the first bad record (1-based line number)."""
    log = AuditLog(path)
    if not log.path.exists():
        return VerifyReport(True, 0)
    prev_hash = GENESIS
    n = 0
    with open(log.path, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, raw in enumerate(lines, start=1):
        def bad(why: str, n: int = n) -> VerifyReport:
            return VerifyReport(False, len(lines), n, why)
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError
        except ValueError:
            return bad("not a JSON record (edited or torn)")
        if rec.get("hash") != _record_hash(rec):
            return bad(f"record seq {rec.get('seq')} does not match its own hash: it was edited")
        if rec.get("seq") != n:
            what = "removed" if isinstance(rec.get("seq"), int) and rec["seq"] > n else "inserted or reordered"
            return bad(f"sequence number {rec.get('seq')} where {n} was expected: "
                       f"a record was {what} here")
        if rec.get("prev") != prev_hash:
            return bad(f"record seq {n} does not chain to the record before it "
                       f"(line {n - 1} was edited, or this record was altered or inserted)"
                       if n > 1 else "first record does not chain to the genesis hash")
        prev_hash = hashlib.sha256(raw).hexdigest()
    if log.head_path.exists():
        try:
            head = json.loads(log.head_path.read_bytes())
        except ValueError:
            head = None
        if not (isinstance(head, dict) and type(head.get("seq")) is int
                and isinstance(head.get("hash"), str)):   # null, a list, a string, ...
            return VerifyReport(False, n, n + 1, f"the head file is damaged ({log.head_path}); "
                                                 f'expected {{"seq": N, "hash": "..."}}')
        if head.get("seq", 0) > n:
            return VerifyReport(False, n, n + 1,
                                f"record(s) {n + 1}..{head['seq']} were removed from the end of the log")
        if head.get("seq") == n and n and head.get("hash") != prev_hash:
            return VerifyReport(False, n, n, "the last record differs from the one the head file recorded")
    return VerifyReport(True, n)
