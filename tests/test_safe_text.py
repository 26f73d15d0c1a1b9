"""console/safe_text.py: control characters made visible, and every text cell
renderer of the TUI going through it (property test over arbitrary strings)."""
from __future__ import annotations

import sys
import unicodedata
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from console.safe_text import CONTROL_RANGES, visible, visible_cells, visible_text
from screens.table_specs import SPECS
from screens.widgets.scrolling import ScrollLog
from screens.widgets.virtual_table import VirtualTable

CONTROL_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def controls(s: str) -> list[str]:
    return [c for c in s if unicodedata.category(c) in CONTROL_CATEGORIES]


def test_ranges_are_the_unicode_control_categories():
    listed = {cp for a, b in CONTROL_RANGES for cp in range(a, b + 1)}
    derived = {cp for cp in range(sys.maxunicode + 1) if unicodedata.category(chr(cp)) in CONTROL_CATEGORIES}
    assert listed == derived, f"unicodedata {unicodedata.unidata_version}: update CONTROL_RANGES"


def test_visible_escapes():
    assert visible("\x1b]0;title\x07") == r"\x1b]0;title\x07"
    assert visible("a\x00b\x7f\u009b[2J") == r"a\x00b\x7f\x9b[2J"
    assert visible("\u202eevil\u2066") == "<U+202E>evil<U+2066>"
    assert visible("\ud800") == "<U+D800>"                      # a lone surrogate
    plain = "gpu-node-0001 Ready 8/8 \u00e9t\u00e9 \u4e2d\u6587 \u00a0nbsp"
    assert visible(plain) == plain                               # printable text is kept as is
    assert visible_text("one\ntwo\x1b[2J\n") == "one\ntwo\\x1b[2J\n"
    cells = ("a", 1.5, None)
    assert visible_cells(cells) is cells
    assert visible_cells(("a\x1b", 1.5)) == ("a\\x1b", 1.5)


def _node(t):
    return SimpleNamespace(name=t, ready=False, cordoned=True, gpu_alloc=1, gpu_cap=8, pods=3)


def _pod(t):
    return SimpleNamespace(namespace=t, name=t, status=t, phase=t, ready_containers=t, ready=False,
                           restarts=2, node=t, created=1.0, version=t)


def _alert(t):
    return SimpleNamespace(severity=t, kind=t, target=t, message=t, since=1.0)


def _event(t):
    return SimpleNamespace(uid=t, namespace=t, type=t, reason=t, kind=t, name=t, message=t, time=1.0, count=3)


def _gpu(t):
    sample = SimpleNamespace(util_pct=1.0, mem_used_mib=1.0, mem_total_mib=2.0, temp_c=30.0, power_w=100.0,
                             health_flags=(t,))
    state = SimpleNamespace(latest=SimpleNamespace(samples=(sample,), state=t), xids=(), util_history={},
                            last_ok=1.0)
    return (t, state)


ITEMS = {"nodes": _node, "pods": _pod, "alerts": _alert, "events": _event, "gpus": _gpu}
TABLES = {kind: VirtualTable(spec.columns, key=spec.key, format=spec.format) for kind, spec in SPECS.items()}


def test_every_table_kind_is_covered():
    assert set(ITEMS) == set(SPECS)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.sampled_from(sorted(SPECS)))
def test_no_control_character_survives_a_table_cell(text, kind):
    cells, _styles = TABLES[kind]._format(ITEMS[kind](text))
    for cell in cells:
        if isinstance(cell, str):
            assert not controls(cell), (kind, cell)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_no_control_character_survives_a_log_line(text):
    assert not controls(ScrollLog._process_line(text))
    assert not controls(visible(text))
    assert not controls(visible_text(text).replace("\n", ""))
