"""The one place a wizard's Runner is built, for the CLI (`dsconsole tune`)
and the screens (`:tune`, an unfinished run opened from the dashboard) alike:
its audit log, its operator, its read-only flag, and the site name its runs
are journaled and audited under.

The site name matters beyond the label: a run journaled under DEMO_SITE was
made on the demo's simulated hosts, and `tune rollback|resume` without --demo
finds those hosts by it; the dashboard offers a site only its own unfinished runs.
The runner and the audit log are imported when a Runner is built: the dashboard
reads the journal's site names at start without them (screens/unfinished_runs.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .runner import Progress, Runner

DEMO_SITE = "demo"


class WizardSession(Protocol):
    """What a console session tells the wizard (console/site_session.py SiteSession;
    read-only, so that console.session_view.SessionView satisfies it too)."""
    @property
    def title(self) -> str: ...          # the site's name, or the context's

    @property
    def is_demo(self) -> bool: ...

    @property
    def operator(self) -> str | None: ...

    @property
    def read_only(self) -> bool: ...


def journal_site(*, is_demo: bool, name: str | None) -> str | None:
    """The site name runs are journaled and audited under."""
    return DEMO_SITE if is_demo else name


def made_on_demo_hosts(site: str | None) -> bool:
    """Whether a run journaled under `site` changed the demo's simulated hosts."""
    return site == DEMO_SITE


def build_runner(*, site: str | None, operator: str | None, read_only: bool,
                 max_parallel: int = 8, stop_all_on_failure: bool = False,
                 on_progress: Callable[[Progress], None] | None = None) -> Runner:
    """A Runner that audits to the audit log under `site` and `operator`."""
    from console.audit import AuditLog

    from .runner import Runner
    return Runner(audit=AuditLog(operator=operator, site=site), operator=operator, site=site,
                  read_only=read_only, max_parallel=max_parallel,
                  stop_all_on_failure=stop_all_on_failure, on_progress=on_progress)


def session_site(session: WizardSession) -> str | None:
    return journal_site(is_demo=session.is_demo, name=session.title)


def runner_for_session(session: WizardSession) -> Runner:
    """The Runner of a wizard opened in the dashboard on `session`."""
    return build_runner(site=session_site(session), operator=session.operator,
                        read_only=session.read_only)
