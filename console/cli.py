"""`dsconsole` entry point: global options and the subcommand table.

Each subcommand lives in its own module under console/commands/ exposing
`SITE_OPTIONS` (which of the site options below it takes after its name),
`add_arguments(parser)` and `run(args) -> int`. A command module imports only
the standard library at module level and everything else inside `run()`, so
building the parser stays cheap and `dsconsole` reaches its first frame
without importing what it does not need (kubernetes is heavy; DESIGN.md).
Exit codes: 0 ok, 1 the operation failed, 2 bad input.
"""
from __future__ import annotations

import importlib
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

# name -> (module, one-line help). Order is the order shown in --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("console.commands.demo", "open the dashboard on the embedded demo site"),
    "status": ("console.commands.status", "print one snapshot of the overview and exit"),
    "check-config": ("console.commands.check_config", "validate a site file"),
    "gpus": ("console.commands.gpus", "print one GPU telemetry round and exit"),
    "hosts": ("console.commands.hosts", "manage hosts (trust a host key)"),
    "tune": ("console.commands.tune", "host tuning wizard: plan|apply|verify|rollback|resume"),
    "drill": ("console.commands.drill", "disaster-recovery drills: list|run NAME|report RUN|rollback RUN"),
    "model": ("console.commands.model", "model-load wizard: plan|apply|warmup|status|rollback|resume"),
    "bluegreen": ("console.commands.bluegreen", "blue-green switchover: plan|apply|pause|resume|abort|rollback|"
                                                "status"),
    "backup": ("console.commands.backup", "3-2-1 backup wizard: plan|run|verify|restore|status"),
    "audit": ("console.commands.audit", "audit log: verify|show"),
    "sim": ("console.commands.sim", "the demo site's simulated cluster (sim serve)"),
    "doctor": ("console.commands.doctor", "check this machine's terminal, locale, directories, kubeconfig, "
                                          "site file and tools"),
    "completion": ("console.commands.completion", "print the bash or zsh completion script"),
}


# The options about the site a command talks to: all of them before the
# command name (`dsconsole --site F status`), and after it only those the
# command uses (its module's SITE_OPTIONS), so each --help lists what applies.
SITE_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "site": ("--site", {"metavar": "FILE", "help": "site YAML file"}),
    "kubeconfig": ("--kubeconfig", {"metavar": "PATH", "help": "kubeconfig (default: KUBECONFIG, ~/.kube/config)"}),
    "context": ("--context", {"metavar": "NAME", "help": "kubeconfig context"}),
    "read_only": ("--read-only", {"action": "store_true", "help": "disable every action"}),
    "operator": ("--operator", {"metavar": "NAME", "help": "operator name for the audit log"}),
    "theme": ("--theme", {"metavar": "NAME", "help": "dark (default), light, high-contrast"}),
}


def add_site_arguments(parser: argparse.ArgumentParser, *, sub: bool = False,
                       only: tuple[str, ...] | None = None) -> None:
    """Add the site options (`only` those named, default all). On a subcommand
    they default to SUPPRESS so they do not overwrite what was given before it."""
    import argparse
    for name, (flag, kw) in SITE_OPTIONS.items():
        if only is None or name in only:
            extra: dict[str, Any] = {"default": argparse.SUPPRESS} if sub else {}
            parser.add_argument(flag, **kw, **extra)


# global options that take a value (the token after them is not a command)
_VALUE_OPTIONS = ("--site", "--kubeconfig", "--context", "--operator", "--theme")


def names_a_command(argv: list[str]) -> bool:
    """True unless `argv` is only global options (plain `dsconsole [--site F ...]`).
    Any positional token, or -h/--help, needs the full parser with every
    subcommand; plain `dsconsole` does not: building the eight subparsers
    (importing each command module) is time on the path to the first frame."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in ("-h", "--help") or token == "--" or not token.startswith("-"):
            return True
        elif token in _VALUE_OPTIONS:
            skip = True
    return False


def build_parser(*, commands: bool = True) -> argparse.ArgumentParser:
    import argparse
    parser = argparse.ArgumentParser(
        prog="dsconsole",
        description="Admin console for private DeepSeek deployments on GPU Kubernetes clusters. "
                    "With no command it opens the dashboard (the embedded demo site when no site is configured).")
    add_site_arguments(parser)
    parser.add_argument("--version", action=_version_action(), nargs=0, default=argparse.SUPPRESS,
                        help="print the versions of dsconsole, Python, textual, paramiko and msgspec, and exit")
    if not commands:
        parser.set_defaults(command=None)
        return parser
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        add_site_arguments(p, sub=True, only=module.SITE_OPTIONS)
        module.add_arguments(p)
    return parser


def _version_action() -> type[argparse.Action]:
    """--version, whose text (package metadata look-ups) is made only when asked."""
    import argparse

    class VersionAction(argparse.Action):
        def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                     values: object, option_string: str | None = None) -> None:
            from console.versions import version_text
            print(version_text())
            parser.exit(0)
    return VersionAction


def plain_args() -> SimpleNamespace:
    """What build_parser(commands=False).parse_args([]) returns, for plain
    `dsconsole` with no argument at all: importing argparse (and gettext) and
    building the parser is ~10 M instructions on the way to the demo's first
    frame. tests/test_cli.py checks that the two agree."""
    return SimpleNamespace(site=None, kubeconfig=None, context=None, read_only=False, operator=None,
                           theme=None, command=None)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args: argparse.Namespace | SimpleNamespace   # (the same attributes: tests/test_cli.py)
    if argv:
        parser = build_parser(commands=names_a_command(argv))
        args = parser.parse_args(argv)
        # `dsconsole completion` prints scripts made from it (without importing
        # this module back: no import loops, console/commands -> console/cli)
        args.parser = parser
    else:
        args = plain_args()
    module_name = COMMANDS[args.command][0] if args.command else "console.commands.open"
    module = importlib.import_module(module_name)
    # log records go to a file in the state directory, never the terminal
    from console.log_setup import setup_logging
    setup_logging()
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
