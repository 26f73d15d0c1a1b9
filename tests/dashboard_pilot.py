"""Helpers for pilot tests of the dashboard on the embedded demo site: a bounded
wait that lets the app run, and the demo's API server stopped and served again
on its port (the simulated cluster keeps running meanwhile)."""
from __future__ import annotations

import time

from screens.widgets.data_panel import DataPanel


async def wait_for(pilot, predicate, what: str, timeout: float = 20.0) -> None:
    """Let the app run until `predicate()` holds (bounded; not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for: {what}")
        await pilot.pause(0.05)


def stop_api(site) -> int:
    """Stop the demo site's API server (the simulated cluster keeps running)."""
    port = site.server.port
    site.server.stop()
    return port


def start_api(site, port: int) -> None:
    """Serve the same simulated cluster again on the same port."""
    from console.sim.disruption import make_evictor
    from console.sim.http_server import ApiServer
    site.server = ApiServer(site.store, site.logs, port=port, evictor=make_evictor(site.cluster)).start()


def panel(app, kind: str) -> DataPanel:
    return app.dashboard_screen().panel(kind)
