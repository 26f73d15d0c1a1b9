"""Unfinished wizard runs of the session's site, and the notice the dashboard
shows about them at start (issue 5: a run the console was killed in, or whose
SSH session dropped, is offered for resume or rollback on the next start).

Imports only the journal: the dashboard reads it in a worker at start, and
the wizard screen (with the runner and every step) is imported when opened."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from actions import journal
from actions.wizard_runner import session_site
from console.safe_text import visible_text

if TYPE_CHECKING:
    from console.session_view import SessionView


def unfinished_site_runs(session: SessionView) -> list[journal.RunState]:
    """Unfinished runs (any wizard) of the session's site, oldest first."""
    site = session_site(session)
    return [r for r in journal.unfinished_runs() if r.site == site]


def unfinished_notice(runs: list[journal.RunState], key: str) -> str:
    """Each run's wizard, hosts and start time, and the key that opens it."""
    lines = []
    for r in runs:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(r.started))
        hosts = ", ".join(r.hosts[:4]) + (f" and {len(r.hosts) - 4} more" if len(r.hosts) > 4 else "")
        lines.append(f"{r.wizard} run {r.run_id} ({r.status}) on {hosts}, started {when}")
    target = "the latest" if len(runs) > 1 else "it"
    # host names come from the site file: made visible (and shown without markup)
    return visible_text("\n".join(lines) + f"\nPress {key} to open {target}: resume or roll back.")
