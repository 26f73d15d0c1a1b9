"""Run journals that a killed console left behind: a torn line is set aside and
never merges with the next record; a resume checks each step on the host again
before it takes the journal's word that it was done."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from actions import journal
from actions.plan import build_plan
from actions.runner import DONE, Runner
from console import audit
from console.append_only import torn_path
from console.sim import tuning_demo
from tests.tuning_runs import host_state as _state
from tests.tuning_runs import run_killed_apply


def _runner():
    return Runner(audit=audit.AuditLog(operator="tester", site="demo"), operator="tester", site="demo")


def test_a_torn_line_does_not_swallow_the_records_after_it(tmp_path):
    saved = tmp_path / "hosts.json"
    p = run_killed_apply(saved)
    assert p.returncode == 137, p.stderr
    (state,) = journal.list_runs()
    torn = b'{"time":1764893000.5,"t":"outcome","host":"gpu-node-0001","step":"th'   # killed mid-write
    with open(state.path, "ab") as f:
        f.write(torn)
    hosts = tuning_demo.new_hosts(3)
    originals = {n: _state(h) for n, h in hosts.items()}
    for n, data in json.loads(saved.read_text()).items():
        tuning_demo.restore(hosts[n], data)
    _, plan = Runner.plan_for_run(state.run_id, hosts)
    resumed = _runner().resume(state.run_id, plan, confirmation="--yes")
    assert resumed.status == DONE, resumed.message
    assert resumed.notices == [f"journal of run {state.run_id}: a torn line ({len(torn)} bytes, "
                               f"a write cut short) was set aside in {state.path.name}.torn"]
    assert resumed.notices[0] in resumed.message            # reported with the result
    assert journal.load(state.run_id).status == journal.COMPLETE
    rolled = _runner().rollback(state.run_id, plan, confirmation="--yes")
    assert rolled.status == DONE, rolled.message
    assert {n: _state(h) for n, h in hosts.items()} == originals
    assert [(r.run_id, r.status) for r in journal.list_runs()] == [(state.run_id, journal.ROLLED_BACK_RUN)]
    assert journal.unfinished_runs() == []
    kept = [json.loads(line) for line in torn_path(state.path).read_text().splitlines()]
    assert [k["bytes"] for k in kept] == [torn.decode()]
    assert all(json.loads(line) for line in state.path.read_bytes().splitlines())   # whole lines only


def test_a_journal_with_a_merged_torn_line_is_read_past_it(tmp_path):
    """Journals written before the fix: the next record was glued to the torn line."""
    path = tmp_path / "run.jsonl"
    lines = [{"time": 1.0, "t": "run", "run_id": "r1", "wizard": "host-tuning", "hosts": ["h"]},
             {"time": 2.0, "t": "begin", "action": "apply"}]
    glued = b'{"time":3.0,"t":"outc' + json.dumps({"time": 4.0, "t": "begin", "action": "rollback"}).encode()
    after = {"time": 5.0, "t": "end", "action": "rollback", "status": "complete"}
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in lines) + glued + b"\n"
                     + json.dumps(after).encode() + b"\n")
    state = journal.load(path)
    assert state.status == journal.ROLLED_BACK_RUN and state.last_action == "rollback"


SIGTERM_RUN = textwrap.dedent("""
    import os, signal
    from actions.plan import build_plan
    from actions.runner import Runner
    from console.sim import tuning_demo
    # the demo's hosts live in the console's memory and are saved when it exits:
    # a SIGTERM mid-apply loses what was applied, not what was journaled
    hosts = tuning_demo.new_hosts(3)
    def term_after_first_change(ev):
        if ev.kind == "step-done" and ev.status == "applied":
            os.kill(os.getpid(), signal.SIGTERM)
    Runner(max_parallel=1, on_progress=term_after_first_change).apply(
        build_plan("host-tuning", hosts, {}), confirmation="--yes")
""")


def test_resume_checks_each_step_on_the_host_again():
    p = subprocess.run([sys.executable, "-c", SIGTERM_RUN], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ))
    assert p.returncode == -15, p.stderr
    (state,) = journal.list_runs()
    assert state.status == journal.INTERRUPTED
    done = [(h, s) for h, steps in state.steps.items() for s in steps if state.done(h, s)]
    assert done == [("gpu-node-0001", "swappiness")]
    hosts = tuning_demo.new_hosts(3)       # as the demo kept them: untouched
    plan = build_plan("host-tuning", hosts, {})
    resumed = _runner().resume(state.run_id, plan, confirmation="--yes")
    assert resumed.status == DONE, resumed.message
    step = {s.id: s for s in resumed.hosts["gpu-node-0001"].steps}["swappiness"]
    assert step.status == "applied" and "not in effect on the host" in step.notes[0]
    assert hosts["gpu-node-0001"].read("/proc/sys/vm/swappiness") == b"1\n"
    verified = _runner().verify(plan)
    assert verified.status == DONE, verified.message
    # a second resume finds every step in effect: nothing is claimed as changed
    again = _runner().resume(state.run_id, plan, confirmation="--yes")
    assert again.changed == 0
    assert "still in effect" in {s.id: s for s in again.hosts["gpu-node-0001"].steps}["swappiness"].notes[0]
