"""`dsconsole gpus`: one GPU telemetry round, printed, then exit.

With a site (--site FILE, else DSCONSOLE_SITE, else $XDG_CONFIG_HOME/dsconsole/
site.yaml when it exists, as for the dashboard): the site's GPU hosts (or
--hosts a,b by name) over SSH, all in parallel (nvidia-smi; console/telemetry).
Without one, or with --local: this machine through NVML.
Per host it says what went wrong (unreachable, untrusted key with its
fingerprint, no driver). Exit 0 when every host answered, 1 when any failed,
2 for bad input (site file errors, unknown host names).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.telemetry.sample import HostTelemetry
    from console.telemetry.source import TelemetrySource

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hosts", metavar="A,B",
                        help="only these hosts of the site file (by name; default: every gpu host)")
    parser.add_argument("--local", action="store_true",
                        help="this machine through NVML, even when a site is configured")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="S",
                        help="per-command timeout on each host (default 20)")


def _fail(msg: str) -> int:
    print(f"dsconsole gpus: {msg}", file=sys.stderr)
    return 2


def _site_file(args: argparse.Namespace) -> str | None:
    from console.site_config import site_file_path
    return site_file_path(getattr(args, "site", None))


def run(args: argparse.Namespace) -> int:
    if args.local and getattr(args, "site", None):
        return _fail("--local and --site exclude each other")
    site_file = None if args.local else _site_file(args)
    wanted = [h.strip() for h in (args.hosts or "").split(",") if h.strip()]
    if args.hosts is not None and not wanted:
        return _fail("--hosts: expected host names separated by commas, e.g. --hosts gpu-1,gpu-2")
    if args.timeout <= 0:
        return _fail(f"--timeout: expected a positive number of seconds, got {args.timeout:g}")
    if site_file is None:
        if wanted:
            return _fail("--hosts needs a site (--site FILE): host names come from the site file")
        from console.telemetry.nvml import NvmlSource
        nvml = NvmlSource("localhost")
        sources: list[TelemetrySource] = [nvml]
        close: Callable[[], None] = nvml.close
    else:
        result = _site_sources(site_file, wanted, args.timeout)
        if isinstance(result, int):
            return result
        sources, close = result
    from console.telemetry.poller import TelemetryPoller
    try:
        states = TelemetryPoller(sources).poll_once()  # every host at once, in parallel
    finally:
        close()  # never raises (close_transports): the round's results are kept
    rounds: list[HostTelemetry] = []
    for source in sources:
        latest = states[source.name].latest
        if latest is None:   # (poll_once gives every host a round, failed or not)
            return _fail(f"{source.name}: no telemetry round")
        rounds.append(latest)
    from console.safe_text import visible_text  # host errors are host output
    from console.telemetry.report import render_json, render_table
    print(render_json(rounds) if args.json else visible_text(render_table(rounds)))
    return 0 if all(r.state == "ok" for r in rounds) else 1


def _site_sources(site_file: str, wanted: list[str], timeout: float
                  ) -> tuple[list[TelemetrySource], Callable[[], None]] | int:
    from console.site_config import ConfigError, load_site
    try:
        site = load_site(site_file)
    except ConfigError as e:
        print(str(e), file=sys.stderr)
        return 2
    except OSError as e:
        return _fail(f"{site_file}: cannot read the site file: {e.strerror or e}")
    by_name = {h.name: h for h in site.hosts}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        return _fail(f"{site_file}: no host named {', '.join(map(repr, unknown))} "
                     f"(the site has: {', '.join(by_name) or 'no hosts'})")
    chosen = wanted or [h.name for h in site.hosts if h.role == "gpu"]
    if not chosen:
        return _fail(f"{site_file}: the site file lists no host with role gpu (use --hosts)")
    from console.hosts.ssh import close_transports, transports_for_hosts
    from console.telemetry.nvidia_smi import NvidiaSmiSource
    transports = transports_for_hosts(site.hosts)
    # one round: the kernel log is read in it too (interval 0)
    sources: list[TelemetrySource] = [NvidiaSmiSource(transports[n], timeout=timeout, xid_interval_s=0.0)
                                      for n in chosen]
    return sources, lambda: close_transports(transports.values())
