"""Plain `dsconsole`: open the dashboard.

With no site configured (no --site, DSCONSOLE_SITE, --kubeconfig, --context or
~/.config/dsconsole/site.yaml) it starts the embedded demo site in this process
and opens the dashboard on it, labelled DEMO. Only the standard library is
imported at module level; the session starts first (its threads bring the demo
site and the cache up) and Textual is imported while they work.
"""
from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass  # plain `dsconsole` takes only the global site options (console/cli.py)


def run(args: argparse.Namespace) -> int:
    # Until the first frame nearly everything allocated lives as long as the
    # process (modules, classes, the demo site, Textual's DOM): young collections
    # at Python's default rate (every 700 allocations, ~150 of them) find nothing
    # to free and cost ~40 ms; at the console's rate: ~10 collections.
    from console import gc_policy
    gc_policy.use_console_thresholds()
    import themes
    try:
        themes.check(getattr(args, "theme", None))   # stdlib only: Textual is not imported yet
    except ValueError as exc:
        print(f"dsconsole: --theme: {exc}", file=sys.stderr)
        return 2
    from console.site_session import SessionError, SiteSession
    try:
        session = SiteSession.from_args(args)
    except Exception as exc:
        # bad input (site file, kubeconfig, context): the message, exit 2, no traceback
        from console.kube.kubeconfig import KubeConfigError
        from console.site_config import ConfigError
        if isinstance(exc, (ConfigError, KubeConfigError, SessionError, FileNotFoundError)):
            print(f"dsconsole: {exc}", file=sys.stderr)
            return 2
        raise
    session.start()
    try:
        from screens.app import DashboardApp
        app = DashboardApp(session, theme=getattr(args, "theme", None),
                           frame_log=os.environ.get("DSCONSOLE_FRAME_LOG"))
        app.run()
    finally:
        session.stop()
    return int(app.return_code or 0)
