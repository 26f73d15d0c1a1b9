"""The wizard engine (Runner, journal, confirmation, audit) driving the
host-tuning plan on the demo's simulated hosts: plan -> apply -> verify ->
idempotent re-apply; a connection lost mid-apply and a console killed
mid-step, both resumed and rolled back to the byte; read-only refusals."""
import json

import pytest

from actions import journal
from actions.confirm import ConfirmationRequired, ReadOnlyRefused
from actions.plan import build_plan
from actions.runner import DONE, NO_CHANGE, RUN_FAILED, Runner
from console import audit
from console.sim import tuning_demo
from tests.tuning_runs import SWAP_FILE, THP, run_killed_apply
from tests.tuning_runs import host_state as _state


@pytest.fixture
def hosts():
    return tuning_demo.new_hosts(3)


def _runner(**kw):
    return Runner(audit=audit.AuditLog(operator="tester", site="demo"), operator="tester",
                  site="demo", **kw)


def test_plan_shows_each_hosts_own_diff(hosts):
    result = _runner().check(build_plan("host-tuning", hosts, {}))
    a, b, c = (result.hosts[n] for n in ("gpu-node-0001", "gpu-node-0002", "gpu-node-0003"))
    steps = lambda hr: {s.id: s for s in hr.steps}  # noqa: E731
    # untuned Ubuntu defaults: both files and both runtime values change
    sa = steps(a)
    assert a.status == "needed"
    assert sa["swappiness"].check.runtime == ("vm.swappiness: 60 -> 1",)
    assert "+vm.swappiness = 1" in sa["swappiness"].check.persistent
    assert sa["thp"].check.runtime == (f"{THP}: [madvise] -> [never]",)
    assert '-GRUB_CMDLINE_LINUX=""' in sa["thp"].check.persistent
    assert '+GRUB_CMDLINE_LINUX="transparent_hugepage=never"' in sa["thp"].check.persistent
    assert any("update-grub" in n for n in sa["thp"].check.notes)
    # already tuned: nothing needed
    assert b.status == "ok" and not any(s.check.needed for s in b.steps)
    # no GRUB, THP always, conflicting tuned profile, no OpenMPI
    sc = steps(c)
    assert sc["thp"].check.persistent == ()
    assert sc["thp"].check.runtime == (f"{THP}: [always] -> [never]",)
    assert any("no /etc/default/grub" in n for n in sc["thp"].check.notes)
    assert sc["report.tuned"].status == "warn"
    assert any("hpc-compute sets transparent hugepages to always" in n for n in sc["report.tuned"].check.notes)
    assert sc["report.openmpi"].status == "warn"
    # no daemon there, but the (simulated) GPUs are in persistence mode
    assert sc["report.persistenced"].check.facts == ("not seen, but persistence mode is Enabled on every GPU",)
    assert steps(b)["report.persistenced"].check.facts[0].startswith("running (pid ")
    assert steps(b)["report.openmpi"].check.facts == ("Open MPI 4.1.5",)
    # report-only steps never change anything
    assert all(not s.check.needed for hr in (a, b, c) for s in hr.steps if s.report_only)


def test_apply_verify_then_second_apply_changes_nothing(hosts):
    plan = build_plan("host-tuning", hosts, {})
    runner = _runner()
    with pytest.raises(ConfirmationRequired):
        runner.apply(plan, confirmation=None)
    result = runner.apply(plan, confirmation="--yes")
    assert result.status == DONE, result.message
    assert result.changed == 4
    for h in hosts.values():
        assert h.read("/proc/sys/vm/swappiness") == b"1\n"
        assert h.read(THP) == b"always madvise [never]\n"
        assert h.files[SWAP_FILE].endswith(b"vm.swappiness = 1\n")
    assert b'GRUB_CMDLINE_LINUX="transparent_hugepage=never"' in hosts["gpu-node-0001"].files["/etc/default/grub"]
    assert "sysctl --system" not in " ".join(c for h in hosts.values() for c in h.history)
    assert runner.verify(plan).status == DONE
    before = {n: _state(h) for n, h in hosts.items()}
    writes_before = {n: len(h.history) for n, h in hosts.items()}
    again = runner.apply(plan, confirmation="--yes")
    assert again.status == NO_CHANGE and again.changed == 0
    assert "already compliant" in again.message
    assert {n: _state(h) for n, h in hosts.items()} == before
    for n, h in hosts.items():  # only reads the second time: no sysctl -w, no tee
        assert not any(c.startswith(("sysctl -w", "tee", "rm")) for c in h.history[writes_before[n]:])
    assert journal.load(result.run_id).status == journal.COMPLETE
    actions = [(r["action"], r["host"], r["result"]) for r in audit.AuditLog().records()]
    assert ("confirm", "gpu-node-0001,gpu-node-0002,gpu-node-0003", "confirmed") in actions
    assert ("apply", "gpu-node-0001", "ok: applied swappiness, thp") in actions
    assert audit.verify().ok


def test_connection_lost_mid_apply_then_resume_then_rollback_to_the_byte(hosts):
    originals = {n: _state(h) for n, h in hosts.items()}
    victim = hosts["gpu-node-0003"]

    def drop(ev):  # the link to one host goes down as its THP step starts
        if ev.kind == "step-start" and ev.host == victim.name and ev.step == "thp":
            victim.set_reachable(False)
    plan = build_plan("host-tuning", hosts, {})
    result = _runner(on_progress=drop).apply(plan, confirmation="--yes")
    assert result.status == RUN_FAILED
    hr = result.hosts[victim.name]
    assert hr.status == "failed" and "thp" in hr.error and "connection timed out" in hr.error
    assert {s.id: s.status for s in hr.steps}["report.tuned"] == "skipped"  # its plan stopped
    assert result.hosts["gpu-node-0001"].status == "changed"                # the others finished
    state = journal.load(result.run_id)
    assert state.status == journal.PARTIAL and state.unfinished
    assert [r.run_id for r in journal.unfinished_runs("host-tuning")] == [result.run_id]
    assert state.done(victim.name, "swappiness") and not state.done(victim.name, "thp")

    victim.set_reachable(True)                      # the host is back
    state, plan2 = Runner.plan_for_run(result.run_id, hosts)
    resumed = _runner().resume(result.run_id, plan2, confirmation="--yes")
    assert resumed.status == DONE, resumed.message
    assert {s.id: s.status for s in resumed.hosts[victim.name].steps}["thp"] == "applied"
    assert victim.read(THP) == b"always madvise [never]\n"
    assert journal.load(result.run_id).status == journal.COMPLETE
    assert _runner().verify(plan2).status == DONE

    rolled = _runner().rollback(result.run_id, plan2, confirmation="--yes")
    assert rolled.status == DONE, rolled.message
    assert {n: _state(h) for n, h in hosts.items()} == originals
    assert SWAP_FILE not in victim.files             # created by the run: removed again
    assert journal.load(result.run_id).status == journal.ROLLED_BACK_RUN
    assert audit.verify().ok
    records = [r for r in audit.AuditLog().records() if r["host"] == victim.name]
    assert [r["action"] for r in records if not r["action"].endswith("-step")] == ["apply", "resume", "rollback"]
    # and a record per step, each before its target's summary: the lost link shows on its step
    steps = [(r["action"], r["args"]["step"], r["result"].split(":")[0]) for r in records
             if r["action"].endswith("-step")]
    assert ("apply-step", "swappiness", "applied") in steps and ("apply-step", "thp", "failed") in steps
    assert ("resume-step", "thp", "applied") in steps
    assert ("rollback-step", "thp", "rolled-back") in steps and ("rollback-step", "swappiness", "rolled-back") in steps
    assert records[-1]["action"] == "rollback"


def test_a_failure_can_stop_every_host(hosts):
    first = hosts["gpu-node-0001"]
    first.set_reachable(False)
    result = _runner(max_parallel=1, stop_all_on_failure=True).apply(
        build_plan("host-tuning", hosts, {}), confirmation="--yes")
    assert result.status == RUN_FAILED
    assert result.hosts["gpu-node-0001"].status == "failed"
    for n in ("gpu-node-0002", "gpu-node-0003"):
        assert {s.status for s in result.hosts[n].steps} == {"skipped"}
    assert hosts["gpu-node-0003"].read("/proc/sys/vm/swappiness") == b"60\n"


def test_console_killed_mid_step_resume_and_rollback(tmp_path):
    saved = tmp_path / "hosts.json"
    p = run_killed_apply(saved)
    assert p.returncode == 137, p.stderr
    (state,) = journal.list_runs()
    assert state.status == journal.INTERRUPTED
    assert state.steps["gpu-node-0001"]["thp"].status is None            # intent, no outcome
    assert state.steps["gpu-node-0001"]["thp"].before.runtime == {THP: "madvise"}

    # the "same" hosts as the killed console left them
    hosts = tuning_demo.new_hosts(3)
    originals = {n: _state(h) for n, h in hosts.items()}
    for n, data in json.loads(saved.read_text()).items():
        tuning_demo.restore(hosts[n], data)
    assert hosts["gpu-node-0001"].read(THP) == b"always madvise [never]\n"

    _, plan = Runner.plan_for_run(state.run_id, hosts)
    with pytest.raises(ReadOnlyRefused):
        _runner(read_only=True).resume(state.run_id, plan, confirmation="--yes")
    resumed = _runner().resume(state.run_id, plan, confirmation="--yes")
    assert resumed.status == DONE, resumed.message
    # rollback uses the before-state journaled by the killed process, not what resume saw
    rolled = _runner().rollback(state.run_id, plan, confirmation="--yes")
    assert rolled.status == DONE, rolled.message
    assert {n: _state(h) for n, h in hosts.items()} == originals


def test_read_only_refuses_and_audits(hosts):
    originals = {n: _state(h) for n, h in hosts.items()}
    plan = build_plan("host-tuning", hosts, {})
    ro = _runner(read_only=True)
    assert ro.check(plan).status == DONE            # looking is allowed
    with pytest.raises(ReadOnlyRefused):
        ro.apply(plan, confirmation="--yes")
    applied = _runner().apply(plan, confirmation="--yes")
    with pytest.raises(ReadOnlyRefused):
        ro.rollback(applied.run_id, plan, confirmation="--yes")
    refused = [r for r in audit.AuditLog().records() if r["result"].startswith("refused")]
    assert [r["action"] for r in refused] == ["apply", "rollback"]
    assert journal.load(applied.run_id).status == journal.COMPLETE
    _runner().rollback(applied.run_id, plan, confirmation="--yes")
    assert {n: _state(h) for n, h in hosts.items()} == originals


def test_update_grub_only_when_asked(hosts):
    h = {"gpu-node-0001": hosts["gpu-node-0001"]}
    _runner().apply(build_plan("host-tuning", h, {}), confirmation="--yes")
    assert not any(c.startswith("update-grub") for c in hosts["gpu-node-0001"].history)
    fresh = tuning_demo.new_hosts(1)
    result = _runner().apply(build_plan("host-tuning", fresh, {"update_grub": True}), confirmation="--yes")
    node = fresh["gpu-node-0001"]
    assert "update-grub" in node.history
    assert b"transparent_hugepage=never" in node.files["/boot/grub/grub.cfg"]
    notes = [n for s in result.hosts["gpu-node-0001"].steps for n in s.notes]
    assert any("reboot is needed" in n for n in notes)
    assert not any("reboot" == c.split()[0] for c in node.history)


def test_a_later_sysctl_file_that_wins_at_boot_is_reported(hosts):
    h = hosts["gpu-node-0002"]                     # tuned, except for an admin's later file
    h.files["/etc/sysctl.d/99-zz-local.conf"] = b"vm.swappiness=60\n"
    h.files["/etc/sysctl.d/10-early.conf"] = b"vm.swappiness=30\n"   # read before ours: harmless
    r = _runner().check(build_plan("host-tuning", {h.name: h}, {}))
    swap = next(s for s in r.hosts[h.name].steps if s.id == "swappiness")
    assert swap.status == "warn" and not swap.check.needed
    assert swap.check.notes == ("/etc/sysctl.d/99-zz-local.conf sets vm.swappiness = 60 and is read after "
                                "/etc/sysctl.d/60-dsconsole-swappiness.conf: it wins at boot; remove that line",)
    assert _runner().verify(build_plan("host-tuning", {h.name: h}, {})).status == "complete"


def test_rollback_says_what_changed_on_the_host_since_the_run(hosts):
    h = {"gpu-node-0001": hosts["gpu-node-0001"]}
    original = _state(hosts["gpu-node-0001"])
    runner = _runner()
    applied = runner.apply(build_plan("host-tuning", h, {}), confirmation="--yes")
    node = hosts["gpu-node-0001"]
    node.files[SWAP_FILE] = b"vm.swappiness = 5\n"     # an admin edits our file afterwards
    node.write("/proc/sys/vm/swappiness", b"5\n")
    _, plan = Runner.plan_for_run(applied.run_id, hosts)
    rolled = runner.rollback(applied.run_id, plan, confirmation="--yes")
    notes = [n for s in rolled.hosts["gpu-node-0001"].steps for n in s.notes]
    assert notes == [f"{SWAP_FILE} was changed after this run wrote it; rollback restored the state "
                     "from before the run over that change",
                     "vm.swappiness was 5 (changed after this run set 1); rollback restored 60"]
    assert _state(node) == original
    last = audit.AuditLog().records()[-1]
    assert last["action"] == "rollback" and last["args"]["changed_since_run"] == notes


def test_a_stuck_host_does_not_hold_up_the_others(hosts):
    import threading
    gate = threading.Event()
    stuck = hosts["gpu-node-0001"]
    real_cat = stuck.commands["cat"]

    def cat_waits(host, argv, stdin):
        gate.wait(60)                       # bounded: the test opens the gate below
        return real_cat(host, argv, stdin)
    stuck.register_command("cat", cat_waits)
    done = set()
    finished = threading.Event()

    def progress(ev):
        if ev.kind == "host-done":
            done.add(ev.host)
            if done >= {"gpu-node-0002", "gpu-node-0003"}:
                finished.set()
    result = {}
    t = threading.Thread(target=lambda: result.update(
        r=_runner(on_progress=progress).apply(build_plan("host-tuning", hosts, {}), confirmation="--yes")))
    t.start()
    try:
        assert finished.wait(60), "the other hosts waited for the stuck one"
        assert "gpu-node-0001" not in done
    finally:
        gate.set()
        t.join(60)
    assert result["r"].status == DONE
