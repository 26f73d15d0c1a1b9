"""`dsconsole doctor [--site FILE | --kubeconfig PATH [--context NAME]] [--json]`:
check the local environment (console/doctor.py) and print one verdict per line.
Exit 0 when nothing failed (warnings allowed), 1 on a failure."""
from __future__ import annotations

import argparse

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site", "kubeconfig", "context")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    import json

    from console.doctor import FAIL, run_checks, worst
    findings = run_checks(args)
    verdict = worst(findings)
    if args.json:
        print(json.dumps({"verdict": verdict, "checks": [{"name": f.name, "verdict": f.verdict, "detail": f.detail}
                                                         for f in findings]}, indent=2))
    else:
        width = max(len(f.name) for f in findings)
        for f in findings:
            print(f"{f.verdict:<4}  {f.name:<{width}}  {f.detail}")
    return 1 if verdict == FAIL else 0
