"""A followed pod log whose stream drops (the simulated API server stopped and
started again on its port) says so and reconnects without repeating or losing
lines; the alerts panel goes stale with the others when the API is unreachable."""
from __future__ import annotations

import asyncio

import pytest

from console.kube.pod_log import LogFollower
from screens.app import DashboardApp
from tests.dashboard_pilot import panel, start_api, stop_api, wait_for
from tests.waiting import wait_for as wait_until

pytestmark = pytest.mark.timeout(120)


def _content(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("[log stream ended:")]


def test_a_dropped_log_stream_is_marked_and_resumed_without_repeats(demo):
    site = demo.demo_site
    pod = wait_until(lambda: demo.snapshot().pods, what="pods")[0]
    follower = demo.follow_pod_log(pod.namespace, pod.name)
    try:
        wait_until(lambda: any("startup complete" in line for line in follower.lines()), what="the log's tail")
        head = follower.lines()
        for i in range(10):
            site.logs.append(pod.namespace, pod.name, f"before {i}")
        wait_until(lambda: "before 9" in follower.lines(), what="lines before the drop")
        port = stop_api(site)
        wait_until(lambda: any(line.startswith("[log stream ended:") for line in follower.lines()),
                   what="the drop marked in the log")
        for i in range(5):                                   # written while the stream is down
            site.logs.append(pod.namespace, pod.name, f"during {i}")
        start_api(site, port)
        wait_until(lambda: "during 4" in follower.lines(), timeout=40, what="the lines missed while down")
        for i in range(5):
            site.logs.append(pod.namespace, pod.name, f"after {i}")
        wait_until(lambda: "after 4" in follower.lines(), what="lines after the reconnect")
        lines = follower.lines()
        marks = [line for line in lines if line.startswith("[log stream ended:")]
        assert marks and "reconnecting" in marks[0]
        expected = (head + [f"before {i}" for i in range(10)] + [f"during {i}" for i in range(5)]
                    + [f"after {i}" for i in range(5)])
        assert _content(lines) == expected                   # nothing repeated, nothing lost
        assert follower.reconnects >= 1 and not follower.ended
    finally:
        follower.stop()


def test_a_deleted_pod_ends_the_follow_with_a_reason(demo):
    site = demo.demo_site
    pod = wait_until(lambda: demo.snapshot().pods, what="pods")[0]
    follower = LogFollower(demo, pod.namespace, pod.name).start()
    try:
        wait_until(lambda: any("startup complete" in line for line in follower.lines()), what="the log's tail")
        site.cluster.delete_pod(pod.namespace, pod.name)
        wait_until(lambda: follower.ended, timeout=60, what="the follow to end")
        assert follower.lines()[-1] == f"[log stream ended: pod {pod.namespace}/{pod.name} not found]"
    finally:
        follower.stop()


async def test_detail_log_tab_shows_the_drop_and_resumes(demo):
    site = demo.demo_site
    app = DashboardApp(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        pod = demo.snapshot().pods[0]
        from screens.detail_screen import DetailScreen, target_for
        app.push_screen(DetailScreen(target_for("pods", pod)))
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DetailScreen"
                       and app.screen.query("#pod-log"), "detail view")
        log = app.screen.query_one("#pod-log")
        text = lambda: "\n".join(log.lines)  # noqa: E731
        await wait_for(pilot, lambda: "startup complete" in text(), "the log")
        port = await asyncio.to_thread(stop_api, site)
        await wait_for(pilot, lambda: "[log stream ended:" in text(), "the drop shown in the Log tab")
        site.logs.append(pod.namespace, pod.name, "written while down")
        await asyncio.to_thread(start_api, site, port)
        await wait_for(pilot, lambda: "written while down" in text(), "resumed", timeout=40)
        assert text().count("Application startup complete") == 1


async def test_alerts_panel_goes_stale_with_the_others(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        alerts, nodes = panel(app, "alerts"), panel(app, "nodes")
        site = demo.demo_site
        port = await asyncio.to_thread(stop_api, site)
        await wait_for(pilot, lambda: nodes.stale, "nodes stale")
        await wait_for(pilot, lambda: alerts.stale, "alerts stale")
        assert "STALE" in str(alerts.border_title)
        await asyncio.to_thread(start_api, site, port)
        await wait_for(pilot, lambda: not nodes.stale and not alerts.stale, "live again", timeout=30)


def test_kubectl_logs_since_time_on_the_simulator(tmp_path):
    """The simulator's sinceTime, which the follower resumes with, as kubectl uses it."""
    from console.sim.demo_site import start_demo_site
    from tests.sim_kube import kubectl
    with start_demo_site(nodes=1, gpus_per_node=1, replicas=1, time_scale=50.0,
                         kubeconfig=tmp_path / "kc") as site:
        pod = next(p for p in site.store.values("pods") if p["metadata"]["namespace"] == "deepseek")
        ns, name = "deepseek", pod["metadata"]["name"]
        wait_until(lambda: site.logs.lines(ns, name), what="the pod's log")
        site.logs.append(ns, name, "old line")
        old_ts = site.logs.lines(ns, name, timestamps=True)[-1].split(" ", 1)[0]
        wait_until(lambda: site.clock.timestamp() > old_ts, what="the next simulated second")
        site.logs.append(ns, name, "new line")
        stamped = kubectl(site.kubeconfig_path, "logs", name, "-n", ns, "--timestamps").stdout.splitlines()
        new_ts = stamped[-1].split(" ", 1)[0]
        assert stamped[-1] == f"{new_ts} new line" and new_ts > old_ts
        since = kubectl(site.kubeconfig_path, "logs", name, "-n", ns, f"--since-time={new_ts}").stdout
        assert since.splitlines() == ["new line"]
        bad = kubectl(site.kubeconfig_path, "get", "--raw",
                      f"/api/v1/namespaces/{ns}/pods/{name}/log?sinceTime=yesterday", check=False)
        assert bad.returncode != 0 and "sinceTime" in bad.stderr
