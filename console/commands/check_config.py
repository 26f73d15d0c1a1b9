"""`dsconsole check-config FILE`: validate a site file.

Prints every problem as `file:line: what is wrong, what was expected` and exits 2,
or prints a one-line OK summary and exits 0. Never a traceback.
"""
from __future__ import annotations

import argparse
import sys

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", nargs="?",
                        help="site YAML file (default: --site, then DSCONSOLE_SITE)")


def run(args: argparse.Namespace) -> int:
    import os

    from console.safe_text import visible_text
    from console.site_config import ENV_SITE, ConfigError, load_site, summary
    path = args.file or getattr(args, "site", None) or os.environ.get(ENV_SITE)
    if not path:
        print("dsconsole check-config: no site file given; expected FILE, --site FILE or DSCONSOLE_SITE",
              file=sys.stderr)
        return 2
    try:
        site = load_site(path)
    except ConfigError as e:
        print(visible_text(str(e)), file=sys.stderr)   # quotes the site file's text
        return 2
    print(visible_text(summary(site)))
    return 0
