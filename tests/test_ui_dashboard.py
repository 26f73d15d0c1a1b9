"""Pilot tests of the dashboard against the real embedded demo site (simulated
cluster over real HTTP, the real ClusterCache, the simulated GPU fleet)."""
from __future__ import annotations

import asyncio

import pytest
from textual.binding import Binding, BindingsMap

from console.site_session import SiteSession
from screens import keymap
from screens.app import DashboardApp
from screens.table_specs import PODS
from screens.widgets.data_panel import DataPanel
from screens.widgets.virtual_table import VirtualTable
from tests.dashboard_pilot import panel, start_api, stop_api, wait_for

pytestmark = pytest.mark.timeout(120)


REGISTRY_KEYS = {part for k in keymap.KEYS for part in k.key.split(",")}


def assert_active_keys_in_registry(app) -> None:
    """Every key that does something on the current screen is in the registry
    (and so on the `?` help screen)."""
    for key in app.screen.active_bindings:
        assert key in REGISTRY_KEYS, f"{key} bound on {type(app.screen).__name__} but not in the registry"


async def test_overview_fills_from_the_demo_site(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "every overview panel filled")
        snap = demo.snapshot()
        nodes = panel(app, "nodes")
        assert nodes.keys() == [n.name for n in snap.nodes] and len(snap.nodes) == 4
        pods = panel(app, "pods")
        await wait_for(pilot, lambda: pods.row_count == len(demo.snapshot().pods) > 0, "pods shown")
        gpus = panel(app, "gpus")
        await wait_for(pilot, lambda: gpus.row_count == 4, "a GPU row per node")
        row = gpus.row(gpus.keys()[0])
        assert row.cells[1] == "8" and row.cells[2].endswith("%")   # 8 GPUs, a util figure
        header = app.screen.query_one("#header")
        assert header.api_state == "live"
        assert "DEMO" in str(header.render())
        await wait_for(pilot, lambda: app.first_frame_at is not None, "first complete frame noted")


async def test_pods_command_filter_enter_and_escape(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        await pilot.press("colon", *"pods", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "kind", None) == "pods", ":pods opens the pods view")
        assert_active_keys_in_registry(app)
        table = app.screen.query_one(DataPanel)
        await wait_for(pilot, lambda: table.row_count == len(demo.snapshot().pods) > 0, "pods listed")
        pods = demo.snapshot().pods
        node = pods[0].node
        expected = sorted((p.namespace, p.name) for p in pods if node in (p.node or "")
                          or node in p.name)

        # `/` substring filter, applied as it is typed
        await pilot.press("slash", *node)
        await pilot.pause()
        assert sorted(table.keys()) == expected
        # an invalid regex is an error on the prompt line, not a crash; the filter stays
        await pilot.press("[")
        await pilot.pause()
        assert "invalid regex" in app.screen.error
        assert sorted(table.keys()) == expected
        await pilot.press("backspace", "enter")           # keep the filter, close the prompt
        await pilot.pause()
        assert table.filter_text == node and sorted(table.keys()) == expected

        # regex filter
        await pilot.press("slash", *(["backspace"] * len(node)), *f"^{pods[0].name}$", "enter")
        await pilot.pause()
        assert table.keys() == [(pods[0].namespace, pods[0].name)]

        # Enter: the pod's YAML, events and live log
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DetailScreen", "detail view")
        detail = app.screen
        yaml_log = detail.query_one("#yaml-text")
        await wait_for(pilot, lambda: any("kind: Pod" in line for line in yaml_log.lines), "pod YAML")
        assert any(pods[0].name in line for line in yaml_log.lines)
        assert_active_keys_in_registry(app)
        await pilot.press("o")                              # the log tab
        await wait_for(pilot, lambda: detail.log_lines > 0, "pod log lines")
        assert_active_keys_in_registry(app)
        # followed live: lines the pod writes now arrive, and the buffer stays capped
        from screens.detail_screen import LOG_MAX_LINES
        log_view = detail.query_one("#pod-log")
        demo.demo_site.logs.append(pods[0].namespace, pods[0].name, "INFO live line from the test")
        await wait_for(pilot, lambda: any("live line from the test" in line for line in log_view.lines),
                       "a new log line shown")
        for i in range(LOG_MAX_LINES + 500):
            demo.demo_site.logs.append(pods[0].namespace, pods[0].name, f"INFO flood {i}")
        await wait_for(pilot, lambda: any(f"flood {LOG_MAX_LINES + 499}" in line for line in log_view.lines[-3:]),
                       "the last flood line shown")
        assert log_view.line_count <= LOG_MAX_LINES

        await pilot.press("escape")                         # back to the pods view, filter kept
        await wait_for(pilot, lambda: getattr(app.screen, "kind", None) == "pods", "back to :pods")
        assert table.keys() == [(pods[0].namespace, pods[0].name)]
        await pilot.press("escape")                         # Esc clears the filter first
        await pilot.pause()
        assert table.filter_text == "" and table.visible_count == table.row_count
        await pilot.press("escape")                         # then goes back to the overview
        await wait_for(pilot, lambda: type(app.screen).__name__ == "OverviewScreen", "overview again")


async def test_help_lists_every_bound_key(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        assert_active_keys_in_registry(app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen", "help screen")
        from rich.console import Console

        from screens.help_screen import help_table
        console = Console(width=200, record=True, file=open("/dev/null", "w"))
        console.print(help_table())
        text = console.export_text()
        for k in keymap.KEYS:
            assert keymap.display_key(k.key) in text and k.description in text and k.id in text, k
        for c in keymap.COMMANDS:
            assert f":{c.name}" in text, c

        # every binding of every screen and widget of ours comes from the registry
        from screens.detail_screen import DetailScreen
        from screens.help_screen import HelpScreen
        from screens.overview_screen import OverviewScreen
        from screens.prompt_screen import PromptScreen
        from screens.resource_screen import ResourceScreen
        from screens.wizard_screen import ConfirmScreen, StepTable, WizardScreen
        registry_ids = {k.id for k in keymap.KEYS}
        for cls in (DashboardApp, OverviewScreen, ResourceScreen, DetailScreen, HelpScreen,
                    PromptScreen, VirtualTable, DataPanel, WizardScreen, StepTable, ConfirmScreen):
            for b in _own_bindings(cls):
                    if b.action.startswith("screen.") and cls is not DashboardApp:
                        # Textual's own Screen bindings (tab/shift+tab/ctrl+c) are
                        # overridden by the app's registry keys of the same names
                        assert b.key in {k.key for k in keymap.keys("app")}, b
                        continue
                    assert b.id in registry_ids, (cls.__name__, b)
        assert_active_keys_in_registry(app)


async def test_command_palette_has_the_same_commands(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        from textual.command import CommandList, CommandPalette
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette open")
        await pilot.press(*"gpus")

        def first_hit() -> str:
            hits = app.screen.query_one(CommandList)
            if not hits.option_count or hits.highlighted is None:
                return ""
            return str(hits.get_option_at_index(hits.highlighted).prompt)
        await wait_for(pilot, lambda: ":gpus" in first_hit(), "':gpus' the palette's first hit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: getattr(app.screen, "kind", None) == "gpus", "palette :gpus")
        from screens.palette import DashboardCommands
        hits = [h async for h in DashboardCommands(app.screen).discover()]
        assert [h.display for h in hits] == [f":{c.name}" for c in keymap.COMMANDS]


async def test_deleted_pod_disappears_and_its_replacement_appears(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        pods = panel(app, "pods")
        await wait_for(pilot, lambda: pods.row_count == len(demo.snapshot().pods) > 0, "pods listed")
        before = set(pods.keys())
        victim = sorted(before)[0]
        demo.demo_site.cluster.delete_pod(*victim)
        await wait_for(pilot, lambda: victim not in pods.keys(), f"{victim[1]} gone from the table")
        await wait_for(pilot, lambda: len(set(pods.keys()) - before) == 1 and pods.row_count == len(before),
                       "its replacement shown")
        # the replacement's detail view lists its events (Scheduled, Started...)
        replacement = (set(pods.keys()) - before).pop()
        pods.focus()
        pods.move_cursor(pods.keys().index(replacement))
        await pilot.press("enter", "e")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "DetailScreen", "detail view")
        events = app.screen.query_one("#object-events", DataPanel)
        await wait_for(pilot, lambda: any(events.row(k).cells[1] == "Scheduled" for k in events.keys()),
                       "the replacement's Scheduled event")


async def test_api_down_marks_stale_and_recovers_by_itself(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        header = app.screen.query_one("#header")
        nodes, pods = panel(app, "nodes"), panel(app, "pods")
        site = demo.demo_site
        port = await asyncio.to_thread(stop_api, site)
        await wait_for(pilot, lambda: header.api_state == "stale" and nodes.stale and pods.stale,
                       "header and tables marked stale")
        assert "STALE" in str(pods.border_title) and "UNREACHABLE" in str(header.render())
        assert nodes.row_count == 4                           # last good data still shown
        await asyncio.to_thread(start_api, site, port)
        await wait_for(pilot, lambda: header.api_state == "live" and not nodes.stale and not pods.stale,
                       "live again without user action", timeout=30)
        assert "STALE" not in str(pods.border_title)


async def test_read_only_and_theme_shown(demo):
    demo.read_only = True
    app = DashboardApp(demo, theme="high-contrast")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        assert "READ-ONLY" in str(app.screen.query_one("#header").render())
        assert app.theme == "dsconsole-high-contrast"
        await pilot.press("colon", *"theme light", "enter")
        await wait_for(pilot, lambda: app.theme == "dsconsole-light", ":theme light")


@pytest.mark.parametrize("name", ["light", "high-contrast"])
async def test_start_theme_styles_the_first_frame(demo, name):
    """The start theme (--theme) is selected before the CSS is parsed, not via
    App.theme's watcher: its colours and classes must be in the first frame."""
    import themes
    theme = themes.resolve(name)
    app = DashboardApp(demo, theme=name)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.first_frame_at is not None, "overview filled")
        assert app.theme == theme.name
        assert app.has_class(f"-theme-{theme.name}")
        assert app.has_class("-dark-mode") is theme.dark and app.has_class("-light-mode") is not theme.dark
        assert panel(app, "nodes").styles.background.hex.lower() == theme.surface.lower()
        assert app.screen.styles.background.hex.lower() == theme.background.lower()


async def test_no_color_renders_in_monochrome_with_states_in_words(demo, monkeypatch):
    import re
    monkeypatch.setenv("NO_COLOR", "1")
    app = DashboardApp(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.first_frame_at is not None, "overview filled")
        svg = app.export_screenshot()
    # the SVG's window frame (Rich's export template): its three buttons and title text
    frame = {"ff5f57", "febc2e", "28c840", "c5c8c6"}
    colours = set(re.findall(r"#([0-9a-fA-F]{6})\b", svg)) - frame
    assert colours
    greys = {c for c in colours if c[0:2] == c[2:4] == c[4:6]}
    assert colours == greys, f"colours under NO_COLOR: {sorted(colours - greys)[:5]}"
    text = re.sub(r"<[^>]+>", "", svg).replace("&#160;", " ")
    assert "DEMO" in text and "blue" in text and "Ready" in text   # states spelled out


async def test_tune_command_opens_the_wizard(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.first_frame_at is not None, "overview filled")
        await pilot.press("colon", *"tune", "enter")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "WizardScreen", ":tune opens the wizard")
        # every key of the wizard screen and its table of steps is in the registry (so `?` lists it)
        await wait_for(pilot, lambda: "plan" in app.screen.results, "the wizard's plan")
        app.screen.query_one("#wizard-steps").focus()
        await pilot.pause()
        assert_active_keys_in_registry(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "OverviewScreen", "Esc closes it")


async def test_unreachable_gpu_host_is_marked_and_recovers(demo):
    app = DashboardApp(demo)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.first_frame_at is not None, "overview filled")
        header = app.screen.query_one("#header")
        gpus = panel(app, "gpus")
        host = gpus.keys()[1]
        fleet = demo.demo_site.gpus
        fleet.set_reachable(host, False)
        await wait_for(pilot, lambda: header.hosts_down == (host,), "header names the host")
        row = gpus.row(host)
        assert row.cells[6].startswith("UNREACHABLE") and row.styles[0] == "stale"
        assert f"host {host} unreachable" in str(header.render())
        fleet.set_reachable(host, True)
        await wait_for(pilot, lambda: header.hosts_down == () and gpus.row(host).styles[0] is None,
                       "host live again without user action")


def _own_bindings(cls) -> list[Binding]:
    """The bindings our classes declare (BINDINGS of every class of ours in the
    MRO, as Textual reads them; Textual's own are checked on the running app)."""
    out = []
    for klass in cls.__mro__:
        if klass.__module__.startswith("screens.") and "BINDINGS" in vars(klass):
            out += [b for bs in BindingsMap(klass.BINDINGS).key_to_bindings.values() for b in bs]
    return out


class PaintRecordingApp(DashboardApp):
    """The real app, noting each time one of its tables is painted (the
    compositor calls a widget's render_lines to draw it into a frame) and
    whether the start-up paint hold was still on then."""

    def __init__(self, session, **kw) -> None:
        super().__init__(session, **kw)
        self.frames: list[tuple[bool, bool]] = []   # (paint_held, session complete)


@pytest.fixture
def record_table_paints(monkeypatch):
    original = VirtualTable.render_lines

    def render_lines(self, crop):
        app = self.app
        if isinstance(app, PaintRecordingApp):
            app.frames.append((app.paint_held, app.session.is_complete(app.session.snapshot())))
        return original(self, crop)
    monkeypatch.setattr(VirtualTable, "render_lines", render_lines)


async def test_first_paint_waits_for_complete_data(monkeypatch, record_table_paints):
    # A hold longer than the demo takes to start: the only way out is complete data.
    monkeypatch.setattr("screens.app.START_HOLD_S", 60.0)
    session = SiteSession.demo(nodes=4, gpus_per_node=8, seed=3).start()
    try:
        app = PaintRecordingApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.first_frame_at is not None, "the first complete frame")
            assert app.frames, "nothing was painted"
            assert app.frames[0] == (False, True), app.frames[:3]   # no empty skeleton went out first
            assert not app.paint_held
    finally:
        session.stop()


async def test_paint_hold_ends_when_the_api_never_answers(tmp_path, record_table_paints):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                  # closed again: connections are refused
    kc = tmp_path / "kc"
    kc.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: c\n  cluster:\n"
                  f"    server: http://127.0.0.1:{port}\ncontexts:\n- name: gone\n  context:\n    cluster: c\n"
                  "users: []\n")
    session = SiteSession(title="gone", kubeconfig=str(kc)).start()
    try:
        app = PaintRecordingApp(session)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.frames, "a frame although no data ever comes")
            assert not app.paint_held and app.frames[0] == (False, False)
            header = app.screen.query_one("#header")
            await wait_for(pilot, lambda: header.api_state != "live", "the header says the API is not there")
    finally:
        session.stop()


async def test_data_ready_before_the_screen_is_shown_at_once(demo, monkeypatch):
    # The demo's data is complete before the app starts (the console starts the
    # session first). With no later snapshot notice and a hold that never runs
    # out, the screen must show that data when it comes up, not wait for a change.
    monkeypatch.setattr("screens.app.START_HOLD_S", 60.0)
    monkeypatch.setattr(demo, "subscribe", lambda cb: (lambda: None))
    assert demo.is_complete(demo.snapshot())
    app = DashboardApp(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.first_frame_at is not None, "the first complete frame")
        assert not app.paint_held


async def test_pods_table_colours_blue_and_green_pods(demo):
    """Issue 13: during a blue-green switch the pods table shows each pod's
    colour (dsconsole.io/colour, else its version label) in the theme's
    blue/green styles: the demo's model pods blue, a green beside them green."""
    from tests.demo_green import start_green
    app = DashboardApp(demo)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.screen.is_complete(), "overview filled")
        await asyncio.to_thread(start_green, demo.demo_site)
        await pilot.press("colon", *"pods", "enter")
        await wait_for(pilot, lambda: getattr(app.screen, "kind", None) == "pods", ":pods opens the pods view")
        table = app.screen.query_one(DataPanel)

        vi = [c.label for c in PODS.columns].index("VERSION")

        def versions() -> dict[str, set]:
            out: dict[str, set] = {}
            for key in table.keys():
                row = table.row(key)
                out.setdefault(row.cells[vi], set()).add(row.styles[vi])
            return out

        await wait_for(pilot, lambda: "green" in versions(), "the green pod listed")
        got = versions()
        assert got["green"] == {"green"} and got["blue"] == {"blue"}, got
        green = [k for k in table.keys() if table.row(k).cells[vi] == "green"]
        assert len(green) == 1 and green[0][1].startswith("deepseek-v3-green-")
