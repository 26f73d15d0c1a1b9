"""What a drill asks before it starts, beyond the blast radius typed by name:
the same rules for the headless CLI and the :drills screen, so neither can
forget one.

- production: a site file whose cluster says `production: true` needs the
  context's (or else the site's) name typed as well, or `--allow-production`
  headless; without it the drill is refused before anything is touched.
- node loss on a real site stops a real machine's kubelet: it needs the node
  named explicitly (typed, or `--confirm-node NAME`); --yes is not enough."""
from __future__ import annotations

from .catalog import DrillRefused


class ProductionRefused(DrillRefused):
    """A drill on a production site without its extra confirmation."""


def production_name(site: str | None, context: str | None) -> str:
    """What the operator types to confirm a drill on production."""
    return context or site or "production"


def production_prompt(site: str | None, context: str | None) -> str:
    return (f"Context {production_name(site, context)!r} of site {site or '?'} is marked production in the "
            f"site file. Type its name ({production_name(site, context)}) to drill it anyway: ")


def production_refusal(site: str | None, context: str | None) -> str:
    return (f"context {production_name(site, context)!r} of site {site or '?'} is marked production in the "
            f"site file (cluster.production: true): drill refused; expected --allow-production "
            f"(headless) or the context's name typed in the console")


def accepts_production(site: str | None, context: str | None, typed: str | None) -> bool:
    return (typed or "").strip() == production_name(site, context)


def node_refusal(node: str, given: str | None) -> str:
    if given:
        return (f"--confirm-node {given!r} does not name the node this drill stops ({node}); "
                f"expected --confirm-node {node}")
    return (f"node loss on a real site stops node {node}'s kubelet: expected --confirm-node {node} "
            f"(headless) or the node's name typed in the console")
