"""The audit log: hash chain, tamper detection naming the record, redaction,
concurrent writers, and `dsconsole audit verify|show`."""
import json
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor

import pytest

from console import audit


def _log_with(n: int, path) -> audit.AuditLog:
    log = audit.AuditLog(path, operator="alice", site="prod")
    for i in range(n):
        log.append("apply", host=f"gpu-{i}", args={"run_id": f"r{i}"}, result="ok")
    return log


def _lines(path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "console", "audit", *args],
                          capture_output=True, text=True, timeout=60, env=env)


def test_records_carry_who_what_and_chain(tmp_path):
    log = _log_with(3, tmp_path / "a.jsonl")
    recs = log.records()
    assert [r["seq"] for r in recs] == [1, 2, 3]
    assert recs[0]["prev"] == audit.GENESIS
    raw = _lines(tmp_path / "a.jsonl")
    import hashlib
    assert recs[1]["prev"] == hashlib.sha256(raw[0].rstrip(b"\n")).hexdigest()
    assert recs[2]["operator"] == "alice" and recs[2]["site"] == "prod" and recs[2]["user"]
    assert recs[2]["host"] == "gpu-2" and recs[2]["action"] == "apply" and recs[2]["result"] == "ok"
    assert audit.verify(tmp_path / "a.jsonl").ok


def test_secrets_are_redacted(tmp_path):
    log = audit.AuditLog(tmp_path / "a.jsonl")
    log.append("apply", host="h", args={"password": "hunter2", "ssh": {"private_key": "AAAA"},
                                        "api_token": "t0k", "header": "Bearer abc.def",
                                        "hosts": ["a"], "identity_file": "/root/.ssh/id"})
    text = (tmp_path / "a.jsonl").read_text()
    for secret in ("hunter2", "AAAA", "t0k", "abc.def"):
        assert secret not in text
    args = log.records()[0]["args"]
    assert args["password"] == "***" and args["ssh"]["private_key"] == "***"
    assert args["hosts"] == ["a"] and args["identity_file"] == "/root/.ssh/id"


def _tamper_edit(path):
    lines = _lines(path)
    rec = json.loads(lines[2])
    rec["result"] = "failed"                       # hash left as it was
    lines[2] = (json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n").encode()
    path.write_bytes(b"".join(lines))
    return 3


def _tamper_edit_rehashed(path):
    lines = _lines(path)
    rec = json.loads(lines[2])
    rec["operator"] = "mallory"
    rec["hash"] = audit._record_hash(rec)          # a careful forger recomputes the record hash
    lines[2] = (json.dumps(rec, sort_keys=True, separators=(",", ":")) + "\n").encode()
    path.write_bytes(b"".join(lines))
    return 4                                       # ... and the next record's prev exposes it


def _tamper_remove(path):
    lines = _lines(path)
    del lines[1]
    path.write_bytes(b"".join(lines))
    return 2


def _tamper_insert(path):
    lines = _lines(path)
    forged = json.loads(lines[1])
    forged["host"] = "gpu-x"
    forged["hash"] = audit._record_hash(forged)
    lines.insert(2, (json.dumps(forged, sort_keys=True, separators=(",", ":")) + "\n").encode())
    path.write_bytes(b"".join(lines))
    return 3


def _tamper_reorder(path):
    lines = _lines(path)
    lines[1], lines[2] = lines[2], lines[1]
    path.write_bytes(b"".join(lines))
    return 2


def _tamper_truncate(path):
    lines = _lines(path)
    path.write_bytes(b"".join(lines[:-1]))
    return 5


@pytest.mark.parametrize("tamper", [_tamper_edit, _tamper_edit_rehashed, _tamper_remove,
                                    _tamper_insert, _tamper_reorder, _tamper_truncate],
                         ids=["edit", "edit-rehashed", "remove", "insert", "reorder", "remove-last"])
def test_verify_names_the_first_bad_record(tmp_path, tamper):
    path = tmp_path / "a.jsonl"
    _log_with(5, path)
    assert audit.verify(path).ok
    bad_line = tamper(path)
    report = audit.verify(path)
    assert not report.ok
    assert report.bad_line == bad_line, str(report)
    assert f"line {bad_line}:" in str(report)


def test_cli_verify_and_show(tmp_path, monkeypatch):
    import os
    path = tmp_path / "xdg-state" / "dsconsole" / "audit.jsonl"
    path.parent.mkdir(parents=True)
    log = audit.AuditLog(path, site="prod")
    log.append("apply", host="gpu-1", result="ok")
    log.append("rollback", host="gpu-2", result="ok")
    log.append("confirm", host="gpu-1,gpu-2", result="confirmed")
    env = dict(os.environ)
    p = _cli("verify", env=env)
    assert p.returncode == 0, p.stderr
    assert "3 record(s)" in p.stdout
    p = _cli("show", "--host", "gpu-2", "--json", env=env)
    shown = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["action"] for r in shown] == ["rollback", "confirm"]
    p = _cli("show", "--since", "1h", env=env)
    assert "gpu-1" in p.stdout and "gpu-2" in p.stdout
    p = _cli("show", "--since", "2999-01-01T00:00", env=env)
    assert p.stdout == ""
    p = _cli("show", "--since", "yesterday-ish", env=env)
    assert p.returncode == 2 and "--since" in p.stderr and "Traceback" not in p.stderr
    _tamper_reorder(path)
    p = _cli("verify", env=env)
    assert p.returncode == 1
    assert "line 2:" in p.stderr


def _append_many(args):
    path, worker, n = args
    log = audit.AuditLog(path)
    for i in range(n):
        log.append("apply", host=f"w{worker}", args={"i": i}, result="ok")
    return n


def test_concurrent_writers_keep_one_chain(tmp_path):
    path = str(tmp_path / "a.jsonl")
    # processes and threads at once
    with ProcessPoolExecutor(max_workers=2) as pool:
        futs = [pool.submit(_append_many, (path, w, 25)) for w in range(2)]
        threads = [threading.Thread(target=_append_many, args=((path, 10 + t, 25),)) for t in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(f.result() for f in futs) == 50
    report = audit.verify(path)
    assert report.ok, str(report)
    assert report.records == 100


@pytest.mark.parametrize("head", ["null", "[1, 2]", '"seq"', "42", '{"seq": "3"}', '{"seq": null}',
                                  '{"seq": 3, "hash": 7}', b"\xff\xfe"],
                         ids=["null", "list", "string", "number", "seq-string", "seq-null",
                              "hash-number", "binary"])
def test_a_damaged_head_file_is_reported_not_a_traceback(tmp_path, head):
    path = tmp_path / "a.jsonl"
    _log_with(3, path)
    head_path = path.with_name(path.name + ".head")
    head_path.write_bytes(head if isinstance(head, bytes) else head.encode())
    report = audit.verify(path)
    assert not report.ok and "head file is damaged" in str(report)
    assert "expected" in str(report)
    p = _cli("verify", "--log", str(path))
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert "head file is damaged" in p.stderr
