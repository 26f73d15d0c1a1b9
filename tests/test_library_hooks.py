"""The private hooks of libraries we still rely on, pinned: an upgrade that
renames or reshapes one fails here, loudly, instead of silently changing what
the console does.

- Textual: DashboardScreen overrides Screen._compositor_refresh (no public API
  skips the full render Textual does inside a batch update after a layout; see
  screens/dashboard_screen.py), and DashboardApp starts on its theme through
  public API only (Initialize + available_themes), checked here by behaviour.
- Textual's App._log: the logger devtools use; DashboardApp must not shadow it.
- paramiko: console/hosts/ssh.py sends channel messages under the channel's
  lock (Channel.lock, Channel._send_eof, Transport._send_user_message) and
  builds the RFC 4254 "signal" request paramiko has no API for.
"""
from __future__ import annotations

import inspect

import paramiko
from textual.app import App
from textual.screen import Screen

from console.site_session import SiteSession
from screens.app import DashboardApp
from screens.dashboard_screen import DashboardScreen


def _params(fn) -> list[str]:
    return list(inspect.signature(fn).parameters)


def test_textual_compositor_refresh_hook_is_there_and_called_by_screen():
    assert _params(Screen._compositor_refresh) == ["self"]
    assert DashboardScreen._compositor_refresh is not Screen._compositor_refresh
    # Screen still routes its post-layout render through the hook we override
    assert "self._compositor_refresh()" in inspect.getsource(Screen)


def test_the_app_leaves_textuals_logger_alone():
    # App.__init__ binds self._log into the logger that `log(...)` writes through
    # when devtools are connected; an app method of that name broke it (TypeError)
    assert DashboardApp._log is App._log
    assert _params(App._log)[:4] == ["self", "group", "verbosity", "_textual_calling_frame"]


def test_textual_public_api_the_app_start_relies_on():
    # Initialize (a reactive's first value from the object) and available_themes
    from textual.reactive import Initialize, Reactive
    assert isinstance(App.__dict__["theme"], Reactive)
    assert isinstance(App.__dict__["available_themes"], property)
    assert _params(Initialize.__init__) == ["self", "callback"]


class _CssPassCounter(DashboardApp):
    def __init__(self, *a, **kw) -> None:
        self.css_refreshes = 0
        super().__init__(*a, **kw)

    def refresh_css(self, animate: bool = True) -> None:
        self.css_refreshes += 1
        super().refresh_css(animate)


async def test_the_start_theme_is_applied_without_a_second_css_pass():
    session = SiteSession.demo(nodes=2, gpus_per_node=2, frozen=True)   # never started: no data needed
    app = _CssPassCounter(session, theme="light")
    # before the app runs, what App.__init__ derived from the theme is the light theme's
    assert app.theme == "dsconsole-light" and app.current_theme.name == "dsconsole-light"
    assert app.has_class("-theme-dsconsole-light") and app.has_class("-light-mode")
    assert not app.has_class("-dark-mode")
    assert app.get_css_variables()["background"].lower() == app.current_theme.background.lower()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "dsconsole-light"
        assert app.css_refreshes == 0                      # the start theme cost no CSS refresh
        app.theme = "dsconsole-high-contrast"              # a later change goes through the watcher
        await pilot.pause()
        assert app.css_refreshes == 1
        assert app.has_class("-theme-dsconsole-high-contrast") and not app.has_class("-theme-dsconsole-light")


def test_paramiko_channel_internals_ssh_py_uses():
    init = inspect.getsource(paramiko.Channel.__init__)
    assert "self.lock = " in init and "self.remote_chanid" in init and "self.closed" in init
    assert _params(paramiko.Channel._send_eof) == ["self"]
    assert "return m" in inspect.getsource(paramiko.Channel._send_eof)     # builds the message, sends nothing
    assert _params(paramiko.Transport._send_user_message) == ["self", "data"]
    assert isinstance(paramiko.common.cMSG_CHANNEL_REQUEST, bytes)
    m = paramiko.Message()
    for method in ("add_byte", "add_int", "add_string", "add_boolean"):
        assert callable(getattr(m, method))
