"""`dsconsole audit verify|show`: check the audit log's hash chain, list records.
verify exits 1 naming the first bad record (line number and why)."""
from __future__ import annotations

import argparse
import json
import re
import sys
import time

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("verify", "show"),
                        help="verify: check the hash chain; show: list records")
    parser.add_argument("--log", metavar="PATH", help="audit log file (default: in the XDG state dir)")
    parser.add_argument("--since", metavar="WHEN",
                        help="show records since an ISO time (2026-11-28T18:00) or an age (30m, 2h, 7d)")
    parser.add_argument("--host", metavar="NAME", help="show only records about this host")
    parser.add_argument("--json", action="store_true", help="print JSON lines / a JSON verify result")


def _since(value: str) -> float:
    from console.audit import parse_time
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if m:
        return time.time() - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        return parse_time(value)
    except ValueError:
        raise ValueError(f"--since: expected an ISO time (2026-11-28T18:00) or an age (30m, 2h, 7d), "
                         f"got {value!r}") from None


def run(args: argparse.Namespace) -> int:
    from console.audit import AuditLog, parse_time, verify
    from console.safe_text import visible
    if args.action == "verify":
        report = verify(args.log)
        if args.json:
            print(json.dumps({"ok": report.ok, "records": report.records, "bad_line": report.bad_line,
                              "reason": report.reason, "notes": list(report.notes)}))
        elif report.ok:
            print(str(report))
        else:
            print(f"audit log {AuditLog(args.log).path}: {report}", file=sys.stderr)
        return 0 if report.ok else 1
    try:
        since = _since(args.since) if args.since else None
    except ValueError as e:
        print(f"dsconsole audit: {e}", file=sys.stderr)
        return 2
    for rec in AuditLog(args.log).records():
        if since is not None and parse_time(rec.get("time", "1970-01-01T00:00:00Z")) < since:
            continue
        if args.host and args.host not in str(rec.get("host") or "").split(","):
            continue
        if args.json:
            print(json.dumps(rec))
        else:
            who = rec.get("user", "?") + (f" ({rec['operator']})" if rec.get("operator") else "")
            args_text = json.dumps(rec.get("args") or {}, separators=(",", ":"))
            # operator names, hosts and results (host output) are text from outside
            print(visible(f"{rec.get('time')}  {who}  {rec.get('site') or '-'}  {rec.get('host') or '-'}  "
                          f"{rec.get('action')}  {rec.get('result')}  {args_text}"))
    return 0
