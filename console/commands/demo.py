"""`dsconsole demo`: the dashboard on the embedded demo site, with the
simulator's options (what plain `dsconsole` does when no site is configured)."""
from __future__ import annotations

import argparse

from console.commands.arg_types import gpus_per_node, non_negative_int, positive_float, positive_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=positive_int, metavar="N", help="GPU nodes (default 8)")
    parser.add_argument("--gpus-per-node", type=gpus_per_node, metavar="G", help="GPUs per node (default 8)")
    parser.add_argument("--replicas", type=non_negative_int, metavar="R",
                        help="model-server replicas (default: fill the GPUs)")
    parser.add_argument("--time-scale", type=positive_float, metavar="X",
                        help="simulated seconds per real second (default 1)")
    parser.add_argument("--seed", type=non_negative_int, metavar="S", help="random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from console.commands import open as open_command
    args.demo = True
    return open_command.run(args)
