"""VirtualTable on its own: keyed diffs, filter (substring, regex, invalid regex),
cursor kept on its row across updates, only visible lines rendered."""
from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import App, ComposeResult

import themes
from screens.widgets.virtual_table import Column, VirtualTable


@dataclass(frozen=True)
class Item:
    name: str
    node: str
    restarts: int = 0


def fmt(item: Item):
    return (item.name, item.node, str(item.restarts)), None


def items(n: int) -> tuple[Item, ...]:
    return tuple(Item(f"pod-{i:05d}", f"gpu-node-{i % 2000:04d}") for i in range(n))


class TableApp(App):
    CSS_PATH = [themes.HERE / "widgets.tcss"]   # the widgets' styles, as the console loads them

    def __init__(self) -> None:
        super().__init__()
        self.rendered: list[int] = []

    def compose(self) -> ComposeResult:
        table = VirtualTable([Column("NAME"), Column("NODE"), Column("RESTARTS", justify="right")],
                             key=lambda i: i.name, format=fmt)
        original = table.render_line

        def counting(y: int):
            self.rendered.append(y)
            return original(y)
        table.render_line = counting
        yield table


async def test_twenty_thousand_rows_render_only_visible_lines_and_filter():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(VirtualTable)
        table.focus()
        table.set_rows(items(20_000))
        app.rendered.clear()
        await pilot.pause()
        assert table.row_count == 20_000
        assert 0 < len(app.rendered) <= 24 * 3  # a few repaints of 24 lines, never 20,000

        assert table.set_filter("gpu-node-0007") is None          # substring
        assert table.visible_count == 10
        assert all("gpu-node-0007" in table.row(k).cells[1] for k in table.keys())
        assert table.set_filter(r"pod-0000[0-4]$") is None          # regex
        assert table.keys() == [f"pod-0000{i}" for i in range(5)]
        error = table.set_filter("pod-[")                           # invalid regex
        assert error and "invalid regex" in error
        assert table.keys() == [f"pod-0000{i}" for i in range(5)]   # previous filter kept
        assert table.set_filter("") is None
        assert table.visible_count == 20_000


async def test_keyed_update_changes_only_changed_rows_and_keeps_the_cursor():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(VirtualTable)
        table.focus()
        rows = items(100)
        table.set_rows(rows)
        await pilot.press("down", "down", "down")
        assert table.cursor_key == "pod-00003"
        before = {k: table.row(k) for k in table.keys()}

        changed = list(rows)
        changed[50] = replace(changed[50], restarts=4)
        del changed[0]                                  # a row above the cursor goes away
        changed.append(Item("pod-new", "gpu-node-0001"))
        assert table.set_rows(tuple(changed))
        assert table.cursor_key == "pod-00003"          # the cursor stays on its row
        assert table.row("pod-00050").cells[2] == "4"
        assert table.row("pod-00000") is None
        assert table.row("pod-new") is not None
        # unchanged rows were not re-formatted
        assert all(table.row(k) is before[k] for k in table.keys() if k not in ("pod-00050", "pod-new"))
        assert not table.set_rows(tuple(changed))       # same items: nothing to do


async def test_enter_posts_row_opened_with_the_source_object():
    opened = []

    class OpenApp(TableApp):
        def on_virtual_table_row_opened(self, event: VirtualTable.RowOpened) -> None:
            opened.append(event.source)

    app = OpenApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(VirtualTable)
        table.focus()
        rows = items(10)
        table.set_rows(rows)
        await pilot.press("end", "enter")
        await pilot.pause()
        assert opened == [rows[-1]]


async def test_in_place_change_takes_the_positional_path_and_reformats_one_row():
    app = TableApp()
    async with app.run_test(size=(80, 24)):
        table = app.query_one(VirtualTable)
        rows = items(1000)
        table.set_rows(rows)
        before = {k: table.row(k) for k in table.keys()}
        changed = list(rows)
        changed[500] = replace(changed[500], restarts=7)
        changed[600] = replace(changed[600])          # a new but equal object: no re-format
        assert table.set_rows(tuple(changed))
        assert table.row("pod-00500").cells[2] == "7"
        assert [k for k in table.keys() if table.row(k) is not before[k]] == ["pod-00500"]
        assert table.row("pod-00600").source is changed[600]
        swapped = list(changed)
        swapped[1], swapped[2] = swapped[2], swapped[1]  # same length, keys moved
        assert table.set_rows(tuple(swapped))
        assert table.keys()[1:3] == ["pod-00002", "pod-00001"]


def _screen_lines(app) -> list[str]:
    """The screen as painted now (through the widgets' line caches: a line
    not repainted after a change still shows its old text), read back from
    Textual's screenshot: each run of text is placed at its column."""
    import html
    import re
    svg = app.export_screenshot()
    lines = [[" "] * app.size.width for _ in range(app.size.height)]
    cell_width = 12.2   # Rich's SVG export: the width of one character cell
    for x, line, text in re.findall(r'<text class="[^"]*-r\d+" x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" '
                                    r'clip-path="url\(#[^)]*-line-(\d+)\)">([^<]*)</text>', svg):
        col = round(float(x) / cell_width)
        for i, ch in enumerate(html.unescape(text).replace("\xa0", " ")):
            if int(line) < len(lines) and col + i < app.size.width:
                lines[int(line)][col + i] = ch
    return ["".join(chars) for chars in lines]


async def test_changed_row_and_cursor_move_repaint_only_their_lines():
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(VirtualTable)
        table.focus()
        rows = list(items(20_000))
        table.set_rows(tuple(rows))
        await pilot.pause()
        app.rendered.clear()
        rows[3] = replace(rows[3], restarts=7)            # on screen (line 4)
        rows[15_000] = replace(rows[15_000], restarts=9)  # off screen
        table.set_rows(tuple(rows))
        await pilot.pause()
        assert app.rendered == [4]                       # that line only, not the table
        line = next(t for t in _screen_lines(app) if "pod-00003" in t)
        assert line.rstrip().endswith("7")
        app.rendered.clear()
        await pilot.press("down")                         # cursor row 0 -> 1: lines 1 and 2
        assert sorted(app.rendered) == [1, 2]
        assert table.cursor_key == "pod-00001"
        app.rendered.clear()
        rows[15_001] = replace(rows[15_001], restarts=1)  # only off-screen changes: no paint
        table.set_rows(tuple(rows))
        await pilot.pause()
        assert app.rendered == []
