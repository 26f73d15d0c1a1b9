"""The Textual Theme objects of the dashboard (imported by the app; the
package's __init__ stays free of Textual so that `--theme` can be checked
before Textual is imported, off the path to the first frame)."""
from __future__ import annotations

from textual.theme import Theme

DARK = Theme(
    name="dsconsole-dark", dark=True,
    primary="#2f81f7", secondary="#1f6feb", accent="#e3b341",
    warning="#d29922", error="#f85149", success="#3fb950",
    foreground="#e6edf3", background="#0d1117", surface="#161b22", panel="#1c2330",
    variables={"vt-blue": "#58a6ff", "vt-green": "#3fb950",
               "footer-key-foreground": "#e3b341"},
)
LIGHT = Theme(
    name="dsconsole-light", dark=False,
    primary="#0969da", secondary="#0550ae", accent="#9a6700",
    warning="#9a6700", error="#cf222e", success="#1a7f37",
    foreground="#1f2328", background="#ffffff", surface="#f6f8fa", panel="#eaeef2",
    variables={"vt-blue": "#0550ae", "vt-green": "#1a7f37",
               "footer-key-foreground": "#0550ae"},
)
HIGH_CONTRAST = Theme(
    name="dsconsole-high-contrast", dark=True,
    primary="#ffffff", secondary="#ffff00", accent="#ffff00",
    warning="#ffff00", error="#ff5f5f", success="#00ff00",
    foreground="#ffffff", background="#000000", surface="#000000", panel="#000000",
    luminosity_spread=0.0, text_alpha=1.0,
    variables={"vt-blue": "#00ffff", "vt-green": "#00ff00", "vt-emphasis": "underline",
               "footer-key-foreground": "#ffff00", "footer-background": "#000000"},
)

THEMES: dict[str, Theme] = {"dark": DARK, "light": LIGHT, "high-contrast": HIGH_CONTRAST}
