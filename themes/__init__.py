"""Themes: dark (default), light and high-contrast, as Textual Theme definitions,
plus the stylesheets (.tcss) the dashboard loads.

Colours in the .tcss files are theme variables ($error, $warning, $success,
$accent, and the $vt-blue / $vt-green version colours defined here; table cells
take the same variables, see screens/widgets/virtual_table.py cell_styles), so a theme
is data: a Theme object. NO_COLOR is honoured by Textual itself (it renders in
monochrome when the variable is set); every state that colour shows (stale,
not ready, DEMO, READ-ONLY, blue/green) is also spelled out in text.
"""
from __future__ import annotations

from pathlib import Path, PurePath
from typing import Any

HERE = Path(__file__).parent
# In this order: where two rules are equally specific, the later file wins.
CSS_PATHS: list[str | PurePath] = [HERE / "widgets.tcss", HERE / "screens.tcss", HERE / "dashboard.tcss",
                                   HERE / "high_contrast.tcss"]

# key -> Textual theme name. The Theme objects live in themes/definitions.py and
# are imported on first use (THEMES, DARK, ... below): importing Textual costs
# ~0.2 s, and `dsconsole` checks --theme before it starts the site's threads.
NAMES: dict[str, str] = {"dark": "dsconsole-dark", "light": "dsconsole-light",
                         "high-contrast": "dsconsole-high-contrast"}
DEFAULT = "dark"


def check(name: str | None) -> str:
    """The key (dark, light, high-contrast) for `name`; ValueError otherwise.
    Standard library only."""
    key = (name or DEFAULT).strip().lower()
    if key not in NAMES:
        raise ValueError(f"unknown theme {name!r}: expected one of {', '.join(NAMES)}")
    return key


def resolve(name: str | None) -> Any:
    """The Textual Theme called `name` (dark, light, high-contrast); ValueError otherwise."""
    from themes.definitions import THEMES
    return THEMES[check(name)]


def next_name(current: str) -> str:
    names = list(NAMES)
    for i, n in enumerate(names):
        if NAMES[n] == current:
            return names[(i + 1) % len(names)]
    return DEFAULT


def __getattr__(attr: str) -> Any:
    # THEMES, DARK, LIGHT, HIGH_CONTRAST: the Theme objects, imported when first asked for
    if attr in ("THEMES", "DARK", "LIGHT", "HIGH_CONTRAST"):
        from themes import definitions
        return getattr(definitions, attr)
    raise AttributeError(f"module 'themes' has no attribute {attr!r}")
