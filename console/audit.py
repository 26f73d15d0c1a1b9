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
from typing import Any

from console import paths
from console.append_only import append_whole, set_aside_torn_tail, torn_path

GENESIS = hashlib.sha256(b"dsconsole audit log genesis").hexdigest()
REDACTED = "***"

# Argument names whose values are secrets. Matched against the key, anywhere in it.
_SECRET_KEY = re.compile(r"pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|"
                         r"credential|authorization|cookie|bearer", re.I)
# Secret-looking values under innocent names.
_SECRET_VALUE = re.compile(r"(?i)\b(bearer|basic)\s+\S+|-----BEGIN [A-Z ]*PRIVATE KEY-----")


def default_path() -> Path:
    return paths.state_dir() / "audit.jsonl"


def redact(value: Any) -> Any:   # (JSON-shaped: dicts, lists, strings, numbers)
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
        self.notices: list[str] = []   # torn tails set aside by this writer (reported by the caller)

    def append(self, action: str, *, host: str | None = None, args: dict | None = None,
               result: str = "ok", site: str | None = None, operator: str | None = None) -> dict:
        """Append one record and return it.

        All or nothing: a write cut short (a full disk) is cut back off the file
        before AuditWriteError is raised, so the log always ends with a whole
        record. A torn tail left by an older writer (killed mid-write) is moved
        to the side file `<log>.torn` first (console/append_only.py)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as e:
                raise AuditWriteError(self.path, e) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    torn = set_aside_torn_tail(fd, self.path)
                except OSError as e:   # it stays where it is: never glued to a new record
                    raise AuditWriteError(self.path, e) from None
                if torn is not None:
                    self.notices.append(f"audit log: a torn record ({len(torn)} bytes, a write cut short) "
                                        f"was set aside in {torn_path(self.path)}")
                last = _last_line(fd)
                if last is None:
                    seq, prev = self._first_seq()
                else:
                    seq = _seq_after(fd, last)
                    prev = hashlib.sha256(last).hexdigest()
                record = {"seq": seq, "time": _iso(time.time()), "user": _os_user(),
                          "operator": operator or self.operator, "site": site or self.site,
                          "host": host, "action": action, "args": redact(args or {}),
                          "result": result, "prev": prev}
                record["hash"] = _record_hash(record)
                try:
                    append_whole(fd, _canonical(record) + b"\n")
                except OSError as e:
                    raise AuditWriteError(self.path, e) from None
                try:
                    self._write_head(seq, hashlib.sha256(_canonical(record)).hexdigest())
                except OSError:
                    # the record is in the log; a head file that lags behind is
                    # reported by verify as the last record differing, not lost
                    pass
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        return record

    def _first_seq(self) -> tuple[int, str]:
        """seq and prev of the first record of an empty log: 1 and GENESIS, or,
        when the head file remembers records (the log was deleted or emptied),
        the chain goes on from them, so that verify keeps reporting the loss
        rather than a fresh log overwriting the head's memory of it."""
        head, _damaged = _read_head(self.head_path)
        if head is not None and head["seq"] > 0:
            return head["seq"] + 1, head["hash"]
        return 1, GENESIS

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


class AuditWriteError(OSError):
    """A record could not be written whole (full disk, read-only file system):
    nothing of it is left in the log."""

    def __init__(self, path: Path, cause: OSError):
        super().__init__(cause.errno, f"audit log {path}: record not written: "
                                      f"{cause.strerror or cause}")


def _seq_after(fd: int, last: bytes) -> int:
    """The next seq after the record `last`; for a last line that is not a
    record (an edited log: verify names it) one more than the number of lines."""
    try:
        return int(json.loads(last)["seq"]) + 1
    except (ValueError, KeyError, TypeError):
        size = os.fstat(fd).st_size
        return os.pread(fd, size, 0).count(b"\n") + 1


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
    notes: tuple[str, ...] = ()   # torn tails: reported, not a broken chain

    def __str__(self) -> str:
        if self.ok:
            text = f"audit log OK: {self.records} record(s), hash chain intact"
        else:
            text = f"line {self.bad_line}: {self.reason}"
        return "; ".join((text, *self.notes))


def verify(path: Path | str | None = None) -> VerifyReport:
    """Check the whole chain; report the first bad record (1-based line number).

    A torn last line (a write cut short) is named in `notes` and does not fail
    the check (its record was never complete; the next append sets it aside),
    nor do torn tails already set aside in the side file. A log that is gone
    while its head file remembers records fails."""
    log = AuditLog(path)
    notes = _torn_notes(log.path)
    head, head_damaged = _read_head(log.head_path)
    damaged = f"the head file is damaged ({log.head_path}); {HEAD_EXPECTED}"
    if not log.path.exists():
        if head_damaged:
            return VerifyReport(False, 0, 1, f"the log is missing and {damaged}", notes)
        if head and head.get("seq", 0) > 0:
            return VerifyReport(False, 0, 1, f"the log is missing, but its head file {log.head_path} "
                                             f"records {head['seq']} record(s): it was deleted", notes)
        return VerifyReport(True, 0, notes=notes)
    prev_hash = GENESIS
    n = 0
    with open(log.path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    tail = lines.pop()          # b"" after a final newline; else a torn last line
    if tail:
        notes = (f"line {len(lines) + 1}: torn record ({len(tail)} bytes, a write cut short); "
                 f"it will be set aside in {torn_path(log.path).name} by the next append", *notes)
    expected = 1
    for n, raw in enumerate(lines, start=1):
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict):
                raise ValueError
        except ValueError:
            return VerifyReport(False, len(lines), n, "not a JSON record (edited or torn)", notes)
        if n == 1 and rec.get("seq") != 1 and rec.get("prev") != GENESIS:
            return VerifyReport(False, len(lines), 1, f"the log starts at record {rec.get('seq')}: records "
                                f"1..{rec.get('seq', 1) - 1 if isinstance(rec.get('seq'), int) else '?'} "
                                "were removed (the log was deleted or emptied)", notes)
        why = _bad_record(rec, n, expected, prev_hash)
        if why:
            return VerifyReport(False, len(lines), n, why, notes)
        expected = rec["seq"] + 1
        prev_hash = hashlib.sha256(raw).hexdigest()
    last_seq = expected - 1
    if head_damaged:
        return VerifyReport(False, n, n + 1, damaged, notes)
    if head is not None:
        if head.get("seq", 0) > last_seq:
            return VerifyReport(False, n, n + 1,
                                f"record(s) {last_seq + 1}..{head['seq']} were removed from the end of the log",
                                notes)
        if head.get("seq") == last_seq and n and head.get("hash") != prev_hash:
            return VerifyReport(False, n, n, "the last record differs from the one the head file recorded", notes)
    return VerifyReport(True, n, notes=notes)


def _bad_record(rec: dict, n: int, expected: int, prev_hash: str) -> str | None:
    if rec.get("hash") != _record_hash(rec):
        return f"record seq {rec.get('seq')} does not match its own hash: it was edited"
    if rec.get("seq") != expected:
        what = "removed" if isinstance(rec.get("seq"), int) and rec["seq"] > expected else "inserted or reordered"
        return f"sequence number {rec.get('seq')} where {expected} was expected: a record was {what} here"
    if rec.get("prev") != prev_hash:
        return (f"record seq {rec['seq']} does not chain to the record before it "
                f"(line {n - 1} was edited, or this record was altered or inserted)"
                if n > 1 else "first record does not chain to the genesis hash")
    return None


HEAD_EXPECTED = 'expected {"seq": N, "hash": "..."}'


def _read_head(path: Path) -> tuple[dict | None, bool]:
    """The head file's record, and whether it is damaged (null, a list, a
    string, a seq that is not a number... rather than the record)."""
    try:
        head = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None, False
    except (OSError, ValueError):
        return None, True
    if not (isinstance(head, dict) and type(head.get("seq")) is int and isinstance(head.get("hash"), str)):
        return None, True
    return head, False


def _torn_notes(path: Path) -> tuple[str, ...]:
    torn = torn_path(path)
    try:
        count = sum(1 for line in torn.read_bytes().splitlines() if line.strip())
    except FileNotFoundError:
        return ()
    except OSError as e:
        return (f"{torn}: {e.strerror}",)
    return (f"{count} torn record(s) from writes cut short are set aside in {torn}",)
