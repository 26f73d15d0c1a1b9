"""A green Deployment beside the demo site's blue one, for the tests of the
demo's blue-green parts (the blue-green wizard makes it in real use)."""
from __future__ import annotations

import time

import httpx

PROMPT = {"model": "deepseek-r1-14b", "prompt": "hello", "max_tokens": 4, "temperature": 0}


def start_green(site, replicas: int = 1) -> list[str]:
    """A green Deployment beside the demo's blue one, as the blue-green wizard
    makes it (the colour label on its pods); its servers' upstream addresses
    once they answer /health (bounded wait)."""
    from console.sim import site_objects as so
    from console.sim.resources import BY_PLURAL
    # a new version ("v2") whose colour is green: the colour labels say green
    dep = so.model_deployment(replicas, site.model_servers.port, "2026-01-01T00:00:00Z", version="v2",
                              name=f"{so.MODEL}-green", colour="green")
    site.store.create(BY_PLURAL["deployments"], dep)
    pool = site.model_servers
    deadline = time.monotonic() + 60
    while True:
        green = sorted(ip for ip in pool.addresses() if pool.colour(ip) == "green" and pool.healthy(ip))
        if len(green) == replicas:
            break
        assert time.monotonic() < deadline, "green's servers did not come up"
        time.sleep(0.05)
    # warmed before traffic, as the wizard does: the probes' shape compiled
    with httpx.Client(timeout=60) as client:
        for ip in green:
            model = client.get(f"{pool.url(ip)}/v1/models").json()["data"][0]["id"]
            assert client.post(f"{pool.url(ip)}/v1/completions", json=dict(PROMPT, model=model)).status_code == 200
    return [f"{ip}:{pool.port}" for ip in green]
