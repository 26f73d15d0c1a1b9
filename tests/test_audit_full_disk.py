"""The audit log on a full disk (a real 64 KiB tmpfs), with a torn tail left by
a killed writer, and deleted under its head file: appends are all or nothing,
a torn tail is set aside and named, a rollback is never blocked, and a deleted
log does not verify as an empty one."""
from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from actions.plan import build_plan
from actions.runner import DONE, Runner
from console import audit
from console.sim import tuning_demo
from tests.tuning_runs import SWAP_FILE


@pytest.fixture
def tiny_fs(tmp_path):
    """A 64 KiB tmpfs of our own (root only): a disk that really fills up."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(mnt) -> os.PathLike:
    """Fill the file system to the last byte; returns the filler (delete it to free space)."""
    filler = mnt / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (b"\0" * 4096, b"\0"):
            while True:
                try:
                    if f.write(chunk) < len(chunk):
                        break
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
    return filler


def cli_verify(log) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", "audit", "verify", "--log", str(log)],
                          capture_output=True, text=True, timeout=60)


def test_a_write_cut_short_by_a_full_disk_leaves_no_half_record(tiny_fs):
    log = tiny_fs / "audit.jsonl"
    a = audit.AuditLog(log, operator="op", site="lab")
    a.append("apply", host="gpu-1")
    a.append("apply", host="gpu-2")
    size = log.stat().st_size
    filler = fill(tiny_fs)
    # bigger than the slack of the log's last page: the kernel writes part of it
    with pytest.raises(OSError, match="record not written"):   # audit.AuditWriteError
        a.append("rollback", host="gpu-1", args={"big": "x" * 6000})
    assert log.stat().st_size == size and log.read_bytes().endswith(b"\n")
    assert audit.verify(log).ok and audit.verify(log).records == 2
    os.unlink(filler)                       # space freed: the log works again, no traceback
    a.append("rollback", host="gpu-1")
    report = audit.verify(log)
    assert report.ok and report.records == 3, report
    assert [r["seq"] for r in a.records()] == [1, 2, 3]


def test_a_torn_tail_is_named_set_aside_and_does_not_stop_appends(tmp_path):
    log = tmp_path / "audit.jsonl"
    a = audit.AuditLog(log, operator="op", site="lab")
    a.append("apply", host="gpu-1")
    a.append("apply", host="gpu-2")
    torn = b'{"seq":3,"time":"2026-12-05T00:00:00.000Z","user":"ro'   # a writer killed mid-write
    whole = log.stat().st_size
    with open(log, "ab") as f:
        f.write(torn)
    r = cli_verify(log)
    assert r.returncode == 0, r.stderr
    assert "2 record(s), hash chain intact" in r.stdout and "line 3: torn record" in r.stdout
    a.append("rollback", host="gpu-1")      # the next append sets it aside, chains to record 2
    assert a.notices == [f"audit log: a torn record ({len(torn)} bytes, a write cut short) was set aside "
                         f"in {audit.torn_path(log)}"]
    assert [rec["seq"] for rec in a.records()] == [1, 2, 3]
    side = audit.torn_path(log)
    kept = [json.loads(line) for line in side.read_text().splitlines()]
    assert kept == [{"time": kept[0]["time"], "offset": whole, "bytes": torn.decode()}]
    r = cli_verify(log)
    assert r.returncode == 0 and "3 record(s), hash chain intact" in r.stdout
    assert f"1 torn record(s) from writes cut short are set aside in {side}" in r.stdout


def test_rollback_runs_when_the_audit_log_cannot_be_written(tiny_fs, tmp_path):
    hosts = tuning_demo.new_hosts(3)
    before = {name: h.files.get(SWAP_FILE) for name, h in hosts.items()}
    log = tiny_fs / "audit.jsonl"
    runner = Runner(audit=audit.AuditLog(log, operator="op", site="demo"), operator="op", site="demo")
    applied = runner.apply(build_plan("host-tuning", hosts, {}), confirmation="yes")
    assert applied.status == DONE
    filler = fill(tiny_fs)
    for _ in range(100):                 # records until the last page of the log is full too
        try:
            runner.audit.append("note", result="filling the disk")
        except OSError:
            break
    result = runner.rollback(applied.run_id, build_plan("host-tuning", hosts, {}), confirmation="yes")
    assert result.status == DONE, result.message
    assert not applied.audit_missing
    assert {name: h.files.get(SWAP_FILE) for name, h in hosts.items()} == before
    assert result.audit_missing and "NOT written" in result.message
    assert any(m.startswith("confirm") for m in result.audit_missing)
    assert audit.verify(log).ok                      # whole records only, even so
    os.unlink(filler)


def test_a_deleted_log_whose_head_remains_fails_verify(tmp_path):
    log = tmp_path / "audit.jsonl"
    a = audit.AuditLog(log)
    for host in ("gpu-1", "gpu-2", "gpu-3"):
        a.append("apply", host=host)
    log.unlink()
    report = audit.verify(log)
    assert not report.ok and "records 3 record(s)" in report.reason and "deleted" in report.reason
    r = cli_verify(log)
    assert r.returncode == 1 and "deleted" in r.stderr and "OK" not in r.stdout
    a.append("apply", host="gpu-4")          # a new log goes on from the head: the loss stays visible
    report = audit.verify(log)
    assert not report.ok and "records 1..3 were removed" in report.reason, report
