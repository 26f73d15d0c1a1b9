"""`dsconsole sim serve`: serve the demo site's simulated GPU cluster over the
Kubernetes API until SIGINT/SIGTERM. Prints exactly one line
`ready <server-url> <kubeconfig-path>` once it serves."""
from __future__ import annotations

import argparse

from console.commands.arg_types import fraction, non_negative_float, port, positive_float
from console.commands.demo_site_options import add_demo_site_arguments, given

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["serve"], help="serve: run the simulated cluster")
    add_demo_site_arguments(parser)
    parser.add_argument("--port", type=port, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--model-load", type=positive_float, default=60.0, metavar="SECONDS",
                        help="simulated model-load time of a new pod (default 60)")
    parser.add_argument("--churn", type=non_negative_float, default=0.0, metavar="EVENTS_PER_S",
                        help="change model-server pods at this rate per real second (heartbeat "
                             "annotation / Ready lastProbeTime), one watch MODIFIED event each "
                             "(default 0: off)")
    parser.add_argument("--churn-visible", type=fraction, default=0.0, metavar="FRACTION",
                        help="the fraction (0..1) of churn changes that also bump a container's "
                             "restartCount, a change the pods table shows (default 0)")
    # SUPPRESS: a --kubeconfig given before `sim` (a site option of the top parser) counts too
    parser.add_argument("--kubeconfig", metavar="PATH", default=argparse.SUPPRESS,
                        help="the kubeconfig file to WRITE for the simulated cluster "
                             "(default: sim/kubeconfig in dsconsole's state dir)")


def run(args: argparse.Namespace) -> int:
    import signal
    import sys
    import threading

    from console import paths
    from console.sim.demo_site import start_demo_site

    kubeconfig = getattr(args, "kubeconfig", None)
    if not kubeconfig:
        kubeconfig = paths.ensure(paths.state_dir() / "sim") / "kubeconfig"
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            site = start_demo_site(**given(args), port=args.port, kubeconfig=kubeconfig,
                                   model_load_s=args.model_load, churn=args.churn,
                                   churn_visible=args.churn_visible)
        except OSError as e:
            print(f"dsconsole sim serve: cannot serve on 127.0.0.1:{args.port}: {e.strerror or e}", file=sys.stderr)
            return 1
        try:
            print(f"ready {site.url} {site.kubeconfig_path}", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            site.stop()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return 0
