"""`python3 -m console.bundle build DIR [--python-version X.Y] [--machine M] [--glibc X.Y] [--extra NAME]`

Run from a source checkout on a machine with a package index. Prints the
bundle's size and its tarball's SHA-256. Exit 0 built, 1 failed, 2 bad input.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from console.bundle.target import MACHINES, PYTHONS
    parser = argparse.ArgumentParser(
        prog="python3 -m console.bundle",
        description="Offline bundle of dsconsole: its wheel and every runtime dependency's wheel for one "
                    "target, requirements.txt with hashes, install.sh; DIR and DIR.tar.gz.")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="build DIR and DIR.tar.gz", description="build DIR and DIR.tar.gz")
    b.add_argument("dir", metavar="DIR", help="the bundle directory to create (must be new or empty)")
    b.add_argument("--python-version", metavar="X.Y",
                   help=f"the target's Python: {', '.join(PYTHONS)} (default: this one)")
    b.add_argument("--machine", metavar="ARCH", help=f"the target's CPU: {', '.join(MACHINES)} (default: this one)")
    b.add_argument("--glibc", metavar="X.Y", help="the target's glibc version, at least 2.17 (default: this one's)")
    b.add_argument("--extra", action="append", default=[], metavar="NAME",
                   help="an optional-dependencies group of pyproject.toml to include (repeatable)")
    b.add_argument("--project", metavar="DIR", help="the source checkout (default: the one this runs from)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from console.bundle import build as bundle_build
    from console.bundle import target as bundle_target
    try:
        target = bundle_target.parse(args.python_version, args.machine, args.glibc)
    except ValueError as e:
        print(f"console.bundle: {e}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        bundle = bundle_build.build(Path(args.dir), target, extras=tuple(args.extra),
                                    root=Path(args.project) if args.project else None,
                                    log=lambda msg: print(msg, file=sys.stderr))
    except bundle_build.BadInput as e:
        print(f"console.bundle: {e}", file=sys.stderr)
        return 2
    except bundle_build.BundleError as e:
        print(f"console.bundle: {e}", file=sys.stderr)
        return 1
    mib = 1024 * 1024
    print(f"bundle {bundle.directory} for {target.name}: {len(bundle.wheels)} wheels, "
          f"{bundle.directory_bytes / mib:.1f} MiB; built in {time.monotonic() - started:.1f} s")
    print(f"tarball {bundle.tarball}: {bundle.tarball_bytes / mib:.1f} MiB")
    print(f"sha256 {bundle.sha256}  {bundle.tarball.name}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
