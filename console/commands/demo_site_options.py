"""The demo site's shape, one definition for `dsconsole demo` and `dsconsole
sim serve` (same flags, same help, same defaults as start_demo_site)."""
from __future__ import annotations

import argparse

from console.commands.arg_types import gpus_per_node, non_negative_int, positive_float, positive_int

# the start_demo_site keyword each option sets
DEMO_SITE_OPTIONS = ("nodes", "gpus_per_node", "replicas", "time_scale", "seed", "green_fault")


def given(args: argparse.Namespace) -> dict:
    """start_demo_site keywords for the options given (the others: its defaults)."""
    return {name: value for name in DEMO_SITE_OPTIONS if (value := getattr(args, name, None)) is not None}


def add_demo_site_arguments(parser: argparse.ArgumentParser) -> None:
    """Unset options stay None: start_demo_site's own defaults apply (the help says which)."""
    parser.add_argument("--nodes", type=positive_int, metavar="N", help="GPU nodes (default 8)")
    parser.add_argument("--gpus-per-node", type=gpus_per_node, metavar="G", help="GPUs per node (default 8)")
    parser.add_argument("--replicas", type=non_negative_int, metavar="R",
                        help="model-server replicas (default: 3/4 of the GPUs, leaving room for a "
                             "rolling update and a green deployment)")
    parser.add_argument("--time-scale", type=positive_float, metavar="X",
                        help="simulated seconds per real second (default 1)")
    parser.add_argument("--seed", type=non_negative_int, metavar="S",
                        help="seed for names and telemetry (default 0)")
    parser.add_argument("--green-fault", choices=("5xx", "wrong", "slow"),
                        help="make the blue-green wizard's green servers fail (500s after 60 answers, wrong "
                             "completions, or 0.6 s slower), to watch the gate roll the switch back")
