"""The UI's contract with the core: the demo site's session and a real site's
(a site file; a kubeconfig) both satisfy console.session_view.SessionView,
and every member the Protocol names is there with the Protocol's signature."""
from __future__ import annotations

import inspect

from console.session_view import SessionView
from console.site_session import SiteSession


def _members() -> list[str]:
    return [n for n in vars(SessionView) if not n.startswith("_")]


def test_demo_and_real_sessions_satisfy_the_protocol(tmp_path):
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n  cluster:\n"
                  "    server: http://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\nusers: []\n")
    demo = SiteSession.demo(nodes=2, gpus_per_node=2)
    real = SiteSession(title="prod", kubeconfig=str(kc), context="c")
    for session in (demo, real):   # built, not started: the contract holds before any data
        assert isinstance(session, SessionView)
        for name in _members():
            assert hasattr(session, name), name
        assert session.snapshot().version == 0 and session.alerts_evaluated_at is None
    assert demo.is_demo and demo.title == "DEMO" and not real.is_demo and real.context == "c"


def test_methods_take_what_the_protocol_passes():
    for name in _members():
        proto = vars(SessionView)[name]
        impl = vars(SiteSession).get(name)
        if isinstance(proto, property):   # a property, or an attribute __init__ sets
            assert isinstance(impl, property) or name in SiteSession.__init__.__code__.co_names, name
            continue
        assert callable(impl), name
        want = list(inspect.signature(proto).parameters.values())
        got = inspect.signature(impl).parameters
        for p in want:
            assert p.name in got and got[p.name].kind == p.kind, (name, p.name)
            assert (got[p.name].default == p.default), (name, p.name)
