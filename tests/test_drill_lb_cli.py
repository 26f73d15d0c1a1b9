"""`dsconsole drill run lb-upstream-loss` (issue 15) end to end, headless:

- on the demo site, through the demo's balancer (console/sim/lb_proxy.py) in
  front of its model servers;
- on a site file's `balancer:` section with a real nginx on loopback
  (tests/nginx_lb.py) in front of two upstream server processes that the
  section's stop_command kills and start_command starts again, through the
  site's `local` host; nginx's own error log read from where the section says;
- a killed console's LB drill: `drill rollback RUN --site FILE` runs the
  journaled start_command, and the upstream serves again;
- bad input: no balancer: section, an upstream the section does not name."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actions.drills import store
from tests.nginx_lb import Nginx, free_port, wait_until

pytestmark = pytest.mark.timeout(240)
NGINX_LB = Path(__file__).with_name("nginx_lb.py")


def _dsconsole(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _serving(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_lb_drill_on_the_demo_site():
    p = _dsconsole("drill", "run", "lb-upstream-loss", "--demo", "--yes", "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["drill"] == "lb-upstream-loss" and rep["status"] == "completed" and not rep["deviated"], rep
    m = rep["measurements"]
    # the demo balancer passes a refused connection on to the next server, as nginx does
    assert m["errors_seen"] == 0 and m["attempts_at_dead_upstream"] >= 1
    assert m["out_of_rotation_s"] is not None and m["out_of_rotation_s"] <= m["fail_timeout_s"]
    assert rep["steady_state"]["during"]["sent"] > 0
    assert [(b["op"], b["ok"]) for b in rep["rollbacks"]] == [("start_upstream", True)]


def _site(tmp_path, nginx: Nginx, ports: dict[str, int]) -> Path:
    ups = ""
    for colour, port in ports.items():
        pid = tmp_path / f"{colour}.pid"
        start = (f"setsid {sys.executable} {NGINX_LB} {colour} {port} >/dev/null 2>&1 < /dev/null & "
                 f"echo $! > {pid}")
        ups += (f"    - address: 127.0.0.1:{port}\n      host: local\n"
                f"      stop_command: kill $(cat {pid})\n      start_command: {start}\n")
    f = tmp_path / "site.yaml"
    f.write_text(f"name: lb-test\nbalancer:\n  host: local\n  url: {nginx.url}\n  error_log: {nginx.error_log}\n"
                 f"  max_fails: 1\n  fail_timeout_s: 5\n  upstreams:\n{ups}")
    return f


def test_lb_drill_on_a_site_file_with_real_nginx(tmp_path):
    ports = {"blue": free_port(), "green": free_port()}
    for colour, port in ports.items():
        proc = subprocess.Popen([sys.executable, str(NGINX_LB), colour, str(port)], start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        (tmp_path / f"{colour}.pid").write_text(f"{proc.pid}\n")
    block = "upstream deepseek {\n" + "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"
                                              for p in ports.values()) + "}\n"
    try:
        for port in ports.values():
            wait_until(lambda port=port: _serving(port), 20, f"the upstream on {port}")
        with Nginx(str(tmp_path), block) as nginx:
            site = _site(tmp_path, nginx, ports)
            green = f"127.0.0.1:{ports['green']}"
            p = _dsconsole("drill", "run", "lb-upstream-loss", "--site", str(site), "--target", green,
                           "--yes", "--json")
            rep = json.loads(p.stdout)
            assert rep["status"] == "completed" and rep["blast_radius"]["upstream"] == green, rep
            # exit 1 when a target was missed: a POST in flight when the process died is lost
            # (nginx does not resend a non-idempotent request), which can cost the 99.95 %
            assert p.returncode == (1 if rep["deviated"] else 0), p.stderr
            m, during = rep["measurements"], rep["steady_state"]["during"]
            assert m["errors_seen"] == during["sent"] - during["succeeded"] <= 4      # at most the prober's workers
            assert rep["verdicts"]["availability"]["met"] == (during["succeeded"] / during["sent"] >= 0.9995)
            assert m["attempts_at_dead_upstream"] >= 1 and m["out_of_rotation_s"] is not None
            assert m["out_of_rotation_s"] <= 5 and rep["verdicts"]["out_of_rotation"]["met"]
            assert "upstream server temporarily disabled" in nginx.error_log_text()
            # the rollback ran start_command: green serves again
            wait_until(lambda: _serving(ports["green"]), 20, "green started again")

            # a killed console: the journal holds the undo and no end; rollback --site starts it
            subprocess.run(f"kill $(cat {tmp_path / 'green.pid'})", shell=True, check=True)
            wait_until(lambda: not _serving(ports["green"]), 20, "green stopped")
            j = store.new_journal({"drill": "lb-upstream-loss", "title": "t", "site": "lb-test", "context": None,
                                   "blast_radius": {"upstream": green}, "time_scale": 1.0})
            j.write({"t": "undo", "id": 1, "op": "start_upstream", "upstream": green})
            j.close()
            r = _dsconsole("drill", "rollback", j.run_id, "--site", str(site))
            assert r.returncode == 0, r.stdout + r.stderr
            wait_until(lambda: _serving(ports["green"]), 20, "green started by the later rollback")
            assert store.unfinished() == []

            # bad input: an upstream the section does not name; no balancer: section
            p = _dsconsole("drill", "run", "lb-upstream-loss", "--site", str(site), "--target", "10.9.9.9:1",
                           "--yes")
            assert p.returncode == 2 and "no stoppable upstream '10.9.9.9:1'" in p.stderr, p.stderr
            assert "Traceback" not in p.stderr
            bare = tmp_path / "bare.yaml"
            bare.write_text("name: bare\n")
            p = _dsconsole("drill", "run", "lb-upstream-loss", "--site", str(bare), "--yes")
            assert p.returncode == 2 and "no balancer: section" in p.stderr, p.stderr
    finally:
        for colour in ports:
            try:
                os.kill(int((tmp_path / f"{colour}.pid").read_text()), 15)
            except (OSError, ValueError):
                pass
