"""`dsconsole sim serve`: serve the demo site's simulated GPU cluster over the
Kubernetes API until SIGINT/SIGTERM. Prints exactly one line
`ready <server-url> <kubeconfig-path>` once it serves."""
from __future__ import annotations

import argparse

from console.commands.arg_types import (
    fraction,
    gpus_per_node,
    non_negative_float,
    non_negative_int,
    port,
    positive_float,
    positive_int,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["serve"], help="serve: run the simulated cluster")
    parser.add_argument("--nodes", type=positive_int, default=8, help="GPU nodes (default 8)")
    parser.add_argument("--gpus-per-node", type=gpus_per_node, default=8, help="GPUs per node (default 8)")
    parser.add_argument("--replicas", type=non_negative_int, default=None,
                        help="model-server replicas (default: 3/4 of the GPUs)")
    parser.add_argument("--port", type=port, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--time-scale", type=positive_float, default=1.0,
                        help="simulated seconds per real second (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed for names and telemetry (default 0)")
    parser.add_argument("--model-load", type=positive_float, default=60.0, metavar="SECONDS",
                        help="simulated model-load time of a new pod (default 60)")
    parser.add_argument("--churn", type=non_negative_float, default=0.0, metavar="EVENTS_PER_S",
                        help="change model-server pods at this rate per real second (heartbeat "
                             "annotation / Ready lastProbeTime), one watch MODIFIED event each "
                             "(default 0: off)")
    parser.add_argument("--churn-visible", type=fraction, default=0.0, metavar="FRACTION",
                        help="the fraction (0..1) of churn changes that also bump a container's "
                             "restartCount, a change the pods table shows (default 0)")
    # --kubeconfig PATH comes from the site options cli.py adds to every command:
    # here it names the file to WRITE (default: a file in dsconsole's state dir)


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
            site = start_demo_site(nodes=args.nodes, gpus_per_node=args.gpus_per_node, replicas=args.replicas,
                                   port=args.port, kubeconfig=kubeconfig, time_scale=args.time_scale,
                                   seed=args.seed, model_load_s=args.model_load, churn=args.churn,
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
