"""The one registry of key bindings and `:` commands.

Every key the dashboard binds is a `KeySpec` here: the footer (Textual builds it
from BINDINGS), the `?` help screen and the command palette all read this table,
so a key cannot exist in one place and be missing from another. Widgets and
screens take their BINDINGS from `bindings(scope)`; nothing else in screens/
writes a `Binding(...)` by hand.

`CommandSpec` is the same idea for `:` command mode and the command palette:
`:pods` and the palette entry "pods" run the same action.
"""
from __future__ import annotations

import msgspec
from textual.binding import Binding, BindingType


class KeySpec(msgspec.Struct, frozen=True):
    id: str           # stable id (Textual keymaps can rebind by id)
    key: str          # Textual key name(s), comma separated
    description: str  # what the key does, as the footer and help show it
    action: str       # Textual action string, run in the namespace of `scope`
    scope: str        # "app" | "table" | "scroll" | "detail" | "steps" | "wizard" | "confirm" | "backup"
    #                   | "drills" | "prompt"
    show: bool = True  # shown in the footer (help lists every key regardless)
    key_display: str | None = None
    priority: bool = False


KEYS: tuple[KeySpec, ...] = (
    # -- everywhere
    KeySpec("app.quit", "q", "Quit", "app.quit", "app"),
    KeySpec("app.quit_ctrl_c", "ctrl+c", "Quit", "app.quit", "app", show=False),
    KeySpec("app.help", "question_mark", "Help", "app.help", "app", key_display="?"),
    KeySpec("app.command", "colon", "Command", "app.command_mode", "app", key_display=":"),
    KeySpec("app.filter", "slash", "Filter", "app.filter_mode", "app", key_display="/"),
    KeySpec("app.back", "escape", "Back", "app.back", "app", key_display="esc"),
    KeySpec("app.palette", "ctrl+p", "Palette", "app.command_palette", "app",
            priority=True),
    KeySpec("app.next_panel", "tab", "Next panel", "app.focus_next", "app", show=False),
    KeySpec("app.prev_panel", "shift+tab", "Previous panel", "app.focus_previous", "app",
            show=False),
    KeySpec("app.next_theme", "ctrl+t", "Next theme", "app.next_theme", "app", show=False),
    KeySpec("app.unfinished_run", "w", "Unfinished wizard run: resume or roll back",
            "app.unfinished_run", "app", show=False),
    # -- in a table (nodes, pods, GPUs, alerts, events)
    KeySpec("table.up", "up,k", "Row up", "cursor_up", "table", show=False),
    KeySpec("table.down", "down,j", "Row down", "cursor_down", "table", show=False),
    KeySpec("table.page_up", "pageup", "Page up", "page_up", "table", show=False),
    KeySpec("table.page_down", "pagedown", "Page down", "page_down", "table", show=False),
    KeySpec("table.top", "home,g", "First row", "first_row", "table", show=False),
    KeySpec("table.bottom", "end,G", "Last row", "last_row", "table", show=False),
    KeySpec("table.left", "left,h", "Scroll left", "scroll_cols(-4)", "table", show=False),
    KeySpec("table.right", "right,l", "Scroll right", "scroll_cols(4)", "table", show=False),
    KeySpec("table.open", "enter", "Details", "open_row", "table"),
    # -- in scrolling text (YAML, a pod's log, this help)
    KeySpec("scroll.up", "up,k", "Scroll up", "scroll_up", "scroll", show=False),
    KeySpec("scroll.down", "down,j", "Scroll down", "scroll_down", "scroll", show=False),
    KeySpec("scroll.left", "left,h", "Scroll left", "scroll_left", "scroll", show=False),
    KeySpec("scroll.right", "right,l", "Scroll right", "scroll_right", "scroll", show=False),
    KeySpec("scroll.top", "home,g", "Top", "scroll_home", "scroll", show=False),
    KeySpec("scroll.bottom", "end,G", "Bottom", "scroll_end", "scroll", show=False),
    KeySpec("scroll.page_up", "pageup", "Page up", "page_up", "scroll", show=False),
    KeySpec("scroll.page_down", "pagedown", "Page down", "page_down", "scroll", show=False),
    # -- in a detail view (YAML / events / log)
    KeySpec("detail.yaml", "y", "YAML", "show_tab('yaml')", "detail"),
    KeySpec("detail.events", "e", "Events", "show_tab('events')", "detail"),
    KeySpec("detail.log", "o", "Log", "show_tab('log')", "detail"),
    KeySpec("detail.follow", "f", "Follow log", "toggle_follow", "detail"),
    # -- in the wizard screen's table of steps (a DataTable without Textual's own keys)
    KeySpec("steps.up", "up,k", "Row up", "cursor_up", "steps", show=False),
    KeySpec("steps.down", "down,j", "Row down", "cursor_down", "steps", show=False),
    KeySpec("steps.page_up", "pageup", "Page up", "page_up", "steps", show=False),
    KeySpec("steps.page_down", "pagedown", "Page down", "page_down", "steps", show=False),
    KeySpec("steps.top", "home,g", "First row", "scroll_top", "steps", show=False),
    KeySpec("steps.bottom", "end,G", "Last row", "scroll_bottom", "steps", show=False),
    KeySpec("steps.left", "left,h", "Scroll left", "cursor_left", "steps", show=False),
    KeySpec("steps.right", "right,l", "Scroll right", "cursor_right", "steps", show=False),
    # -- in the wizard screen (screens/wizard_screen.py) and its confirmation
    KeySpec("wizard.plan", "p", "Plan (check again)", "plan", "wizard"),
    KeySpec("wizard.apply", "a", "Apply", "apply", "wizard"),
    KeySpec("wizard.verify", "v", "Verify", "verify", "wizard"),
    KeySpec("wizard.rollback", "r", "Rollback", "rollback", "wizard"),
    KeySpec("wizard.resume", "u", "Resume unfinished run", "resume", "wizard"),
    KeySpec("wizard.pause", "s", "Pause / continue the running step", "pause", "wizard"),
    KeySpec("wizard.abort", "x", "Abort the running step", "abort", "wizard"),
    KeySpec("wizard.close", "escape", "Close", "close", "wizard", key_display="esc"),
    KeySpec("confirm.cancel", "escape", "Cancel", "cancel", "confirm", key_display="esc"),
    # -- in the backup matrix (screens/backup_screen.py)
    KeySpec("backup.refresh", "r", "Refresh the matrix", "refresh", "backup"),
    KeySpec("backup.run", "b", "Back up: plan, then apply", "backup", "backup"),
    KeySpec("backup.verify", "v", "Verify every copy (restic check)", "verify", "backup"),
    KeySpec("backup.drill", "d", "Restore drill of the selected copy", "drill", "backup"),
    KeySpec("backup.close", "escape", "Close", "close", "backup", key_display="esc"),
    # -- in the drills screen (screens/drills_screen.py)
    KeySpec("drills.run", "r", "Run the selected drill (blast radius confirmed by name)", "run", "drills"),
    KeySpec("drills.abort", "x", "Abort the running drill (its rollbacks run)", "abort", "drills"),
    KeySpec("drills.rollback", "u", "Run an unfinished drill's rollbacks", "rollback", "drills"),
    KeySpec("drills.close", "escape", "Close", "close", "drills", key_display="esc"),
    # -- in the `:` / `/` prompt
    KeySpec("prompt.submit", "enter", "Run / keep filter", "submit", "prompt"),
    KeySpec("prompt.cancel", "escape", "Cancel", "cancel", "prompt", key_display="esc"),
)


class CommandSpec(msgspec.Struct, frozen=True):
    name: str         # what is typed after `:` (and searched in the palette)
    description: str
    action: str       # app action
    aliases: tuple[str, ...] = ()


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("overview", "Overview: nodes, pods, GPUs and alerts on one screen",
                "app.view('overview')", ("home", "o")),
    CommandSpec("nodes", "All nodes", "app.view('nodes')", ("no", "node")),
    CommandSpec("pods", "Model-server pods", "app.view('pods')", ("po", "pod")),
    CommandSpec("gpus", "GPU telemetry per node", "app.view('gpus')", ("gpu",)),
    CommandSpec("events", "Cluster events", "app.view('events')", ("ev", "event")),
    CommandSpec("alerts", "Active alerts", "app.view('alerts')", ("alert",)),
    CommandSpec("tune", "Host tuning wizard", "app.tune", ()),
    CommandSpec("model", "Model load wizard", "app.model", ()),
    CommandSpec("bluegreen", "Blue-green switchover: green warmed, traffic moved through gates, live split",
                "app.bluegreen", ("bg",)),
    CommandSpec("backup", "3-2-1 backup: the matrix, backup, verify, restore drill", "app.backup", ()),
    CommandSpec("drills", "Disaster-recovery drills: run, abort, reports, unfinished rollbacks", "app.drills",
                ("drill",)),
    CommandSpec("help", "Every key and command", "app.help", ("h",)),
    CommandSpec("theme", "Switch theme: :theme dark | light | high-contrast",
                "app.next_theme", ()),
    CommandSpec("quit", "Quit dsconsole", "app.quit", ("q", "q!", "exit")),
)


def keys(scope: str | None = None) -> tuple[KeySpec, ...]:
    return tuple(k for k in KEYS if scope is None or k.scope == scope)


def bindings(scope: str) -> list[BindingType]:
    """Textual bindings for one scope, straight from the registry."""
    return [
        Binding(k.key, k.action.removeprefix("app.") if scope == "app" else k.action,
                k.description, show=k.show, key_display=k.key_display,
                priority=k.priority, id=k.id)
        for k in keys(scope)
    ]


def find_command(text: str) -> tuple[CommandSpec | None, str]:
    """`text` is what follows `:`; returns (command, argument) or (None, text)."""
    word, _, arg = text.strip().partition(" ")
    word = word.lower()
    for c in COMMANDS:
        if word == c.name or word in c.aliases:
            return c, arg.strip()
    return None, text.strip()


KEY_NAMES = {"question_mark": "?", "colon": ":", "slash": "/", "escape": "esc",
             "pageup": "PgUp", "pagedown": "PgDn"}


def display_key(key: str) -> str:
    """'up,k' -> 'up / k' as the help screen shows it."""
    return " / ".join(KEY_NAMES.get(part, part) for part in key.split(","))
