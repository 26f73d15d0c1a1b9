"""VirtualTable: a keyed table on Textual's Line API, fast at 20,000 rows.

Textual's DataTable measures every cell and keeps an index it rebuilds on each
remove_row: 3.5 s of frozen event loop for 20,000 rows (DESIGN.md, "Measured
facts"). This widget instead keeps plain rows (tuples of strings) by key and
renders only the lines on screen in `render_line`, so its cost is:

- `set_rows(items)`: one pass over the items; an item identical (or equal) to the
  one shown before keeps its formatted row, only new or changed items are
  formatted. Widths grow as rows arrive (cheap) rather than being re-measured.
- filtering: one list comprehension over precomputed lower-case search strings.
- painting: the visible lines only (~25), whatever the number of rows.

Columns of kind "age" hold a unix time and are formatted at paint time, so an
age ticking up never makes a row "changed".
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Hashable, Sequence
from operator import itemgetter
from typing import Any

import msgspec
from rich.segment import Segment
from rich.style import Style
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console.lazy_regex import LazyRegex
from console.safe_text import visible, visible_cells
from screens import keymap
from screens.formatting import format_age

# Per-cell style names a formatter may use. They are built from the theme's
# colour variables (cell_styles below) rather than CSS component classes: a
# component class costs a stylesheet pass per widget on every restyle, and
# these only ever need a colour.
CELL_STYLES = ("ok", "bad", "warn", "blue", "green", "dim", "crit", "stale")


def cell_styles(variables: dict[str, str]) -> dict[str, Style]:
    """Rich styles for CELL_STYLES from a theme's CSS variables ($success,
    $error, $warning, $vt-blue, $vt-green; `vt-emphasis: underline` adds an
    underline to errors, for the high-contrast theme)."""
    from textual.color import Color

    def colour(name: str, fallback: str) -> str:
        return Color.parse(variables.get(name) or variables.get(fallback) or "white").hex

    fg = Color.parse(variables.get("foreground") or "white")
    bg = Color.parse(variables.get("background") or "black")
    underline = variables.get("vt-emphasis") == "underline"
    return {
        "ok": Style(color=colour("success", "foreground")),
        "bad": Style(color=colour("error", "foreground"), bold=True, underline=underline),
        "crit": Style(color=colour("error", "foreground"), bold=True, reverse=True),
        "warn": Style(color=colour("warning", "foreground")),
        "blue": Style(color=colour("vt-blue", "primary"), bold=True),
        "green": Style(color=colour("vt-green", "success"), bold=True),
        "dim": Style(color=fg.blend(bg, 0.4).hex),
        "stale": Style(color=fg.blend(bg, 0.55).hex, italic=True),
    }
_REGEX_CHARS = LazyRegex(r"[\\^$.|?*+()\[\]{}]")


class Column(msgspec.Struct, frozen=True):
    label: str
    min_width: int = 3
    max_width: int = 40
    justify: str = "left"   # "left" | "right"
    kind: str = "text"      # "text" | "age" (value: unix time or None)
    expand: bool = False    # takes the spare width (message-like columns)


class Row:
    """One formatted row. `cells` are strings (or unix times for age columns),
    `styles` per-cell style names or None, `source` the object it came from."""
    __slots__ = ("key", "cells", "styles", "_search", "source")

    def __init__(self, key: Hashable, cells: tuple, styles: tuple | None, source: Any):
        self.key = key
        self.cells = cells
        self.styles = styles
        self.source = source
        self._search: str | None = None

    @property
    def search(self) -> str:
        """The text a filter looks at, built on the first filter (not on every
        update): cells joined by newlines, so a regex's ^ and $ anchor at each
        cell (re.M) and a substring never matches across two cells."""
        if self._search is None:
            self._search = "\n".join(c for c in self.cells if isinstance(c, str)).lower()
        return self._search


Formatter = Callable[[Any], tuple[tuple, "tuple | None"]]


def _visible_format(format: Formatter) -> Formatter:
    """`format` with its cells' control characters made visible: every cell
    shown comes through here, and cells hold text from the cluster (event
    messages, reasons, names), which must never reach the terminal raw."""
    def formatted(item: Any) -> tuple[tuple, tuple | None]:
        cells, styles = format(item)
        return visible_cells(cells), styles
    return formatted


def compile_filter(text: str) -> Callable[[str], bool] | None:
    """A predicate over a row's lower-case search string. Plain text matches as a
    case-insensitive substring; text with regex characters as a case-insensitive
    regular expression, where ^ and $ anchor at the start and end of any cell.
    Raises re.error for an invalid expression."""
    text = text.strip()
    if not text:
        return None
    if _REGEX_CHARS.search(text):
        pattern = re.compile(text, re.IGNORECASE | re.MULTILINE)
        return lambda s: pattern.search(s) is not None
    needle = text.lower()
    return lambda s: needle in s


class _PaintContext:
    """What painting needs, computed once per render pass rather than per line
    (rich_style and component styles walk the DOM; the clock is read once)."""
    __slots__ = ("width", "scroll", "base", "header", "row", "cursor", "empty", "stale",
                 "stale_style", "named", "widths", "now", "focused")

    def __init__(self, t: VirtualTable) -> None:
        self.width = t.scrollable_content_region.width
        self.scroll = t.scroll_offset
        self.base = base = t.rich_style
        self.header = base + t.get_component_rich_style("vt--header", partial=True)
        self.stale = bool(t.stale)
        self.stale_style = t.get_component_rich_style("vt--stale", partial=True)
        self.row = base + self.stale_style if self.stale else base
        self.cursor = t.get_component_rich_style("vt--cursor", partial=True)
        self.empty = base + t.get_component_rich_style("vt--empty", partial=True)
        self.named = t._styles_for_theme()
        self.widths = t._column_widths(self.width)
        self.now = t.clock()
        self.focused = t.has_focus


class VirtualTable(ScrollView, can_focus=True, inherit_bindings=False):
    """A keyed, filterable table that renders only its visible rows."""

    BINDINGS = keymap.bindings("table")
    COMPONENT_CLASSES = {"vt--header", "vt--cursor", "vt--stale", "vt--empty"}

    stale: reactive[bool] = reactive(False)

    class RowOpened(Message):
        """Enter (or a double click) on a row."""
        def __init__(self, table: VirtualTable, key: Hashable, source: Any) -> None:
            super().__init__()
            self.table = table
            self.key = key
            self.source = source

    class FilterChanged(Message):
        def __init__(self, table: VirtualTable) -> None:
            super().__init__()
            self.table = table

    def __init__(self, columns: Sequence[Column], *, key: Callable[[Any], Hashable],
                 format: Formatter, clock: Callable[[], float] = time.time,
                 empty_text: str = "no rows", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns = tuple(columns)
        self._key_of = key
        self._format = _visible_format(format)
        self.clock = clock
        self.empty_text = empty_text
        self._rows: dict[Hashable, Row] = {}
        self._order: list[Hashable] = []
        self._view: list[Hashable] = []
        self._last_items: Any = None
        self._match: Callable[[str], bool] | None = None
        self.filter_text = ""
        self.cursor = 0
        self._cursor_key: Hashable | None = None
        self._widths = [max(c.min_width, len(c.label)) if c.kind != "age" else 5
                        for c in self.columns]
        self.updates = 0  # count of set_rows calls that changed something
        self._paint: _PaintContext | None = None
        self._pos: dict[Hashable, int] | None = None
        self._cell_styles: dict[str, Style] = {}
        self._cell_styles_theme: str | None = None

    # ------------------------------------------------------------- data
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def visible_count(self) -> int:
        return len(self._view)

    def keys(self) -> list[Hashable]:
        """Keys of the rows that pass the filter, in display order."""
        return list(self._view)

    def row(self, key: Hashable) -> Row | None:
        return self._rows.get(key)

    @property
    def cursor_key(self) -> Hashable | None:
        return self._view[self.cursor] if 0 <= self.cursor < len(self._view) else None

    def set_rows(self, items: Sequence[Any]) -> bool:
        """Show `items` (in order). Returns True when anything changed.

        Formats only items that are new or differ from the shown ones (identity
        first, then equality), keeps the cursor on the same key."""
        if items is self._last_items:
            return False
        prev, self._last_items = self._last_items, items
        rows = self._rows
        key_of = self._key_of
        if prev is not None and len(prev) == len(items):
            changed = self._positional_changes(prev, items)
            if changed is not None:  # same keys in the same order: only rows changed
                if not changed:
                    return False
                widths = list(self._widths)
                self._grow_widths(changed)
                self.updates += 1
                if self._match is not None:
                    self._rebuild_view()  # a changed row may now match or not
                    self.refresh()
                elif widths != self._widths:
                    self.refresh()
                else:
                    # repaint only the lines of changed rows on screen: most of
                    # 20,000 rows are off screen, and a whole-table repaint per
                    # update would cost the event loop a frame each time
                    self._refresh_rows(changed)
                return True
        changed = []
        order: list[Hashable] = []
        append = order.append
        for item in items:
            key = key_of(item)
            append(key)
            old = rows.get(key)
            if old is not None and (old.source is item or old.source == item):
                continue
            cells, styles = self._format(item)
            row = Row(key, cells, styles, item)
            rows[key] = row
            changed.append(row)
        structural = order != self._order
        if structural and len(rows) != len(order):
            keep = set(order)
            for key in [k for k in rows if k not in keep]:
                del rows[key]
        if not changed and not structural:
            return False
        self._grow_widths(changed)
        if structural:
            self._order = order
            self._rebuild_view()
        elif self._match is not None and changed:
            self._rebuild_view()  # a changed row may now match or not
        self.updates += 1
        self._sync_size()
        self.refresh()
        return True

    def _refresh_rows(self, rows: list[Row]) -> None:
        """Repaint the lines of those of `rows` that are on screen (none: no paint)."""
        if self._pos is None:
            self._pos = {k: i for i, k in enumerate(self._view)}
        top = int(self.scroll_offset.y)
        bottom = top + self._visible_rows()
        pos = self._pos
        lines = [pos[r.key] for r in rows if top <= pos.get(r.key, -1) < bottom]
        if lines:
            self._refresh_view_lines(lines)

    def _refresh_view_lines(self, indices) -> None:
        """Repaint the lines showing these view indices (line 0 is the header;
        regions are in content coordinates, as ScrollView.refresh_line's)."""
        top = int(self.scroll_offset.y)
        width = max(self.virtual_size.width, self.size.width)
        self.refresh(*(Region(0, i - top + 1, width, 1) for i in indices))

    def _positional_changes(self, prev: Sequence[Any], items: Sequence[Any]) -> list[Row] | None:
        """The fast path for a stream of updates: the source (ClusterCache) reuses
        the objects of unchanged rows, so comparing old and new item by position
        and identity finds the few changed ones without hashing 20,000 keys.
        Returns the re-formatted rows, or None when a key moved (rows were
        added, removed or reordered: the caller takes the keyed path)."""
        key_of, rows, fmt = self._key_of, self._rows, self._format
        pairs = [(a, b) for a, b in zip(prev, items, strict=True) if a is not b]
        changed = []
        for a, b in pairs:
            key = key_of(b)
            if key != key_of(a):
                return None
            if a == b:
                rows[key].source = b
                continue
            cells, styles = fmt(b)
            row = Row(key, cells, styles, b)
            rows[key] = row
            changed.append(row)
        return changed

    def set_filter(self, text: str) -> str | None:
        """Filter the rows; returns an error message (and keeps the previous
        filter) for an invalid regular expression."""
        try:
            match = compile_filter(text)
        except re.error as exc:
            return f"invalid regex {text!r}: {exc}"
        self._match = match
        self.filter_text = text.strip()
        self._rebuild_view()
        self._sync_size()
        self.refresh()
        self.post_message(self.FilterChanged(self))
        return None

    def _rebuild_view(self) -> None:
        self._pos = None  # key -> view index, rebuilt when next needed
        if self._match is None:
            self._view = self._order
        else:
            match, rows = self._match, self._rows
            self._view = [k for k in self._order if match(rows[k].search)]
        # keep the cursor on the same row if it is still shown
        key = self._cursor_key
        if key is not None and (self.cursor >= len(self._view) or self._view[self.cursor] != key):
            try:
                self.cursor = self._view.index(key)
            except ValueError:
                pass
        self.cursor = max(0, min(self.cursor, len(self._view) - 1))
        self._cursor_key = self.cursor_key

    def _grow_widths(self, rows: list[Row]) -> None:
        if not rows:
            return
        widths = self._widths
        cells = [row.cells for row in rows]
        for i, col in enumerate(self.columns):
            if col.kind != "age":
                longest = max(map(len, map(itemgetter(i), cells)))  # C loops: 20,000 rows
                widths[i] = min(max(widths[i], longest), col.max_width)

    def _sync_size(self) -> None:
        width = sum(self._widths) + len(self._widths) - 1
        self.virtual_size = Size(width, len(self._view) + 1)

    # ------------------------------------------------------------- painting
    def watch_stale(self, _old: bool, _new: bool) -> None:
        self.refresh()

    def _column_widths(self, width: int) -> list[int]:
        """Widths as painted: an `expand` column takes any spare room."""
        widths = list(self._widths)
        spare = width - (sum(widths) + len(widths) - 1)
        if spare > 0:
            for i, col in enumerate(self.columns):
                if col.expand:
                    widths[i] += spare
                    break
        return widths

    def render_lines(self, crop):
        """Work out once per paint what every line needs (styles, widths, now)."""
        self._paint = _PaintContext(self)
        try:
            return super().render_lines(crop)
        finally:
            self._paint = None

    def render_line(self, y: int) -> Strip:
        ctx = self._paint or _PaintContext(self)
        width, base = ctx.width, ctx.base
        scroll_x, scroll_y = ctx.scroll
        if y == 0:
            strip = self._strip([(c.label, None) for c in self.columns], ctx, ctx.header, False)
        else:
            index = scroll_y + y - 1
            if index >= len(self._view):
                if index == 0:
                    text = self.empty_text if not self._match else f"no row matches /{visible(self.filter_text)}"
                    return Strip([Segment(" " + text, ctx.empty)]).adjust_cell_length(width, base)
                return Strip.blank(width, base)
            row = self._rows[self._view[index]]
            style = ctx.row
            if index == self.cursor and ctx.focused:
                style = style + ctx.cursor
            styles = row.styles
            cells = []
            for i, col in enumerate(self.columns):
                value = row.cells[i]
                if col.kind == "age":
                    value = format_age(ctx.now - value) if value else "-"
                cells.append((value, styles[i] if styles else None))
            strip = self._strip(cells, ctx, style, ctx.stale)
        return strip.crop(scroll_x, scroll_x + width).adjust_cell_length(width, base)

    def _styles_for_theme(self) -> dict[str, Style]:
        theme = self.app.theme
        if theme != self._cell_styles_theme:
            self._cell_styles = cell_styles(self.app.theme_variables)
            self._cell_styles_theme = theme
        return self._cell_styles

    def _strip(self, cells, ctx: _PaintContext, style: Style, stale: bool) -> Strip:
        segments = []
        last = len(cells) - 1
        widths, named, columns = ctx.widths, ctx.named, self.columns
        gap = Segment(" ", style)
        for i, (text, cell_style) in enumerate(cells):
            w = widths[i]
            if len(text) > w:
                text = text[: max(0, w - 1)] + "…"
            text = text.rjust(w) if columns[i].justify == "right" else text.ljust(w)
            s = style
            if cell_style:
                s = style + named[cell_style]
                if stale:  # the stale mark wins over cell colours
                    s = s + ctx.stale_style
            segments.append(Segment(text, s))
            if i != last:
                segments.append(gap)
        return Strip(segments)

    # ------------------------------------------------------------- cursor
    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def move_cursor(self, row: int) -> None:
        if not self._view:
            return
        was = self.cursor
        self.cursor = max(0, min(row, len(self._view) - 1))
        self._cursor_key = self._view[self.cursor]
        top = int(self.scroll_offset.y)
        visible = self._visible_rows()
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
            self.refresh()
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)
            self.refresh()
        else:  # no scroll: only the old and the new cursor line change
            self._refresh_view_lines({was, self.cursor} if top <= was < top + visible else {self.cursor})
        hook = getattr(self.app, "cursor_painted_hook", None)  # benchmarks only
        if hook is not None:
            self.call_after_refresh(hook)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor - self._visible_rows())

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor + self._visible_rows())

    def action_first_row(self) -> None:
        self.move_cursor(0)

    def action_last_row(self) -> None:
        self.move_cursor(len(self._view) - 1)

    def action_scroll_cols(self, delta: int) -> None:
        self.scroll_to(x=max(0, self.scroll_offset.x + delta), animate=False, immediate=True)

    def action_open_row(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowOpened(self, key, self._rows[key].source))

    def on_click(self, event: Click) -> None:
        index = int(self.scroll_offset.y) + event.y - 1
        if event.y >= 1 and 0 <= index < len(self._view):
            self.move_cursor(index)
            if event.chain >= 2:
                self.action_open_row()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
