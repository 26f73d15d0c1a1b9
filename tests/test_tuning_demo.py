"""Host tuning headless (`dsconsole tune ... --demo --json`, parsed) against the
demo's simulated hosts, and the pieces that must be exact: the GRUB line edit
and the kernel's THP form."""
import json
import os
import subprocess
import sys

import pytest

from actions import journal
from actions.host_tuning import grub
from actions.host_tuning.knobs import parse_thp
from actions.step import StepError
from actions.wizard_runner import runner_for_session
from console.sim import tuning_demo
from console.site_config import load_site
from console.site_session import SiteSession


def tune(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "console", "tune", *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ), stdin=stdin)


def test_headless_demo_plan_apply_verify_rollback_json():
    p = tune("plan", "--demo", "--json")
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert plan["action"] == "plan"
    assert {h: r["status"] for h, r in plan["hosts"].items()} == \
        {"gpu-node-0001": "needed", "gpu-node-0002": "ok", "gpu-node-0003": "needed"}
    swap = plan["hosts"]["gpu-node-0001"]["steps"][0]
    assert swap["id"] == "swappiness" and swap["check"]["runtime"] == ["vm.swappiness: 60 -> 1"]

    p = tune("apply", "--demo", "--json", stdin=subprocess.DEVNULL)   # no terminal, no --yes
    assert p.returncode == 2 and "--yes" in p.stderr

    p = tune("apply", "--demo", "--json", "--yes", "--operator", "bob")
    assert p.returncode == 0, p.stderr
    applied = json.loads(p.stdout)
    assert applied["status"] == "complete" and applied["changed"] == 4 and applied["run_id"]

    p = tune("verify", "--demo", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)["status"] == "complete"

    p = tune("apply", "--demo", "--json", "--yes")
    again = json.loads(p.stdout)
    assert p.returncode == 0 and again["status"] == "no-change" and again["changed"] == 0

    p = tune("runs", "--json")
    assert [r["status"] for r in json.loads(p.stdout)] == ["complete"]

    p = tune("--read-only", "rollback", "--demo", "--yes")
    assert p.returncode == 2 and "read-only" in p.stderr and "Traceback" not in p.stderr

    p = tune("rollback", "--json", "--yes")          # the run says it was on the demo's hosts
    assert p.returncode == 0, p.stderr
    rolled = json.loads(p.stdout)
    assert rolled["run_id"] == applied["run_id"] and rolled["changed"] == 4

    p = tune("plan", "--demo", "--json")
    assert json.loads(p.stdout)["hosts"]["gpu-node-0001"]["status"] == "needed"

    audit = subprocess.run([sys.executable, "-m", "console", "audit", "show", "--json"],
                           capture_output=True, text=True, timeout=60)
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert any(r["operator"] == "bob" and r["action"] == "apply" for r in records)
    assert any(r["result"] == "refused: read-only session" for r in records)
    v = subprocess.run([sys.executable, "-m", "console", "audit", "verify"], capture_output=True,
                       text=True, timeout=60)
    assert v.returncode == 0, v.stderr


def test_bad_input_exits_2_with_a_message():
    for args, expected in ((("plan", "--demo", "--hosts", "nope"), "unknown host(s) nope"),
                           (("plan",), "--site"),
                           (("resume", "no-such-run", "--demo", "--yes"), "no run no-such-run"),
                           (("frobnicate",), "invalid choice")):
        p = tune(*args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert expected in p.stderr and "Traceback" not in p.stderr


def test_site_file_errors_are_file_line_exit_2(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("name: lab\nhosts:\n  - name: a\n    address: 10.0.0.1\ntuning:\n  thp: sometimes\n")
    p = tune("plan", "--site", str(site))
    assert p.returncode == 2
    assert f"{site}:6" in p.stderr and "Traceback" not in p.stderr


def test_the_demo_hosts_keep_what_a_run_changed_between_processes():
    hosts = tuning_demo.saved_hosts()                 # nothing saved yet: the three new hosts
    fresh = {n: tuning_demo.snapshot(h) for n, h in tuning_demo.new_hosts().items()}
    assert {n: tuning_demo.snapshot(h) for n, h in hosts.items()} == fresh
    node = hosts["gpu-node-0001"]
    node.write("/etc/sysctl.d/60-dsconsole-swappiness.conf", b"vm.swappiness = 1\n")
    node.write("/sys/kernel/mm/transparent_hugepage/enabled", b"never\n")
    tuning_demo.save_hosts(hosts)
    again = tuning_demo.saved_hosts()
    assert again["gpu-node-0001"].read("/sys/kernel/mm/transparent_hugepage/enabled") == \
        b"always madvise [never]\n"
    assert {n: tuning_demo.snapshot(h) for n, h in again.items()} != fresh
    assert {n: tuning_demo.snapshot(h) for n, h in again.items()} == \
        {n: tuning_demo.snapshot(h) for n, h in hosts.items()}
    tuning_demo.state_path().write_text("{not json")   # a torn state file: start afresh
    assert {n: tuning_demo.snapshot(h) for n, h in tuning_demo.saved_hosts().items()} == fresh


def test_the_cli_and_the_dashboard_journal_a_site_under_one_name(tmp_path):
    p = tune("apply", "--demo", "--json", "--yes", "--hosts", "gpu-node-0001")
    assert p.returncode == 0, p.stderr
    (cli_run,) = journal.list_runs()
    demo_runner = runner_for_session(SiteSession.demo(operator="ann", read_only=True))
    assert (cli_run.site, demo_runner.site) == ("demo", "demo")
    assert demo_runner.audit is not None and demo_runner.operator == "ann" and demo_runner.read_only

    site_file = tmp_path / "site.yaml"
    site_file.write_text("name: lab\nhosts:\n  - name: gpu-a\n    address: 10.200.250.1\n")
    site_runner = runner_for_session(SiteSession(title=load_site(str(site_file)).name,
                                                 site=load_site(str(site_file))))
    assert site_runner.site == "lab" and not site_runner.read_only


GRUB = ('# If you change this file, run \'update-grub\' afterwards\nGRUB_DEFAULT=0\n'
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet splash"\n'
        'GRUB_CMDLINE_LINUX="console=tty0  iommu=pt   crashkernel=auto"   # keep\n'
        'GRUB_TIMEOUT=5\n')


def test_grub_edit_keeps_the_rest_of_the_line_and_file():
    out = grub.set_param(GRUB, "transparent_hugepage", "never")
    assert out == GRUB.replace('crashkernel=auto"', 'crashkernel=auto transparent_hugepage=never"')
    assert grub.set_param(out, "transparent_hugepage", "never") == out
    replaced = grub.set_param(out.replace("=never", "=always"), "transparent_hugepage", "never")
    assert replaced == out
    dup = 'GRUB_CMDLINE_LINUX="a transparent_hugepage=always b transparent_hugepage=madvise c"\n'
    assert grub.set_param(dup, "transparent_hugepage", "never") == \
        'GRUB_CMDLINE_LINUX="a transparent_hugepage=never b c"\n'
    assert grub.set_param('GRUB_DEFAULT=0', "transparent_hugepage", "never") == \
        'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX="transparent_hugepage=never"\n'
    assert grub.get_param(out, "transparent_hugepage") == "never"
    assert grub.get_param(GRUB, "transparent_hugepage") is None
    # GRUB_CMDLINE_LINUX_DEFAULT comes later on the command line: reported, not edited
    assert grub.default_line_param('GRUB_CMDLINE_LINUX_DEFAULT="transparent_hugepage=always"',
                                   "transparent_hugepage") == "always"


def test_thp_is_read_in_the_kernels_form_only():
    assert parse_thp("always madvise [never]\n") == "never"
    assert parse_thp("[always] madvise never\n") == "always"
    for text in ("never\n", "always [madvise] [never]\n", "", "[bogus] madvise never\n"):
        with pytest.raises(StepError, match="kernel's form"):
            parse_thp(text)


def _tune_on_a_terminal(answer: str, *args):
    """Run `dsconsole tune` with a pseudo-terminal as stdin and type `answer`."""
    import pty
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([sys.executable, "-m", "console", "tune", *args], stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
        os.write(master, answer.encode() + b"\n")
        out, err = p.communicate(timeout=120)
        return p.returncode, out, err
    finally:
        os.close(master)
        os.close(slave)


def test_interactive_confirmation_names_the_hosts_and_wants_the_count():
    rc, out, err = _tune_on_a_terminal("yes", "apply", "--demo", "--json")
    assert "gpu-node-0001, gpu-node-0002, gpu-node-0003" in err and "(3)" in err
    assert rc == 1 and "not confirmed" in err and out == ""
    rc, out, err = _tune_on_a_terminal("3", "apply", "--demo", "--json")
    assert rc == 0, err
    assert json.loads(out)["changed"] == 4                    # stdout is only the JSON
    rc, out, err = _tune_on_a_terminal("no", "rollback", "--demo")
    assert rc == 1
    records = subprocess.run([sys.executable, "-m", "console", "audit", "show", "--json"],
                             capture_output=True, text=True, timeout=60).stdout.splitlines()
    confirms = [json.loads(r) for r in records if json.loads(r)["action"] == "confirm"]
    assert [(c["args"]["confirms"], c["result"]) for c in confirms] == \
        [("apply", "declined"), ("apply", "confirmed"), ("rollback", "declined")]
    assert confirms[1]["args"]["how"] == "typed '3'"
