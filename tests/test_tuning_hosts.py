"""Host tuning on real sshd test hosts (tests/testhosts.py) over SshTransport:
three hosts in three states (one a non-root user with sudo, no
/etc/default/grub and a conflicting tuned profile), apply -> verify ->
idempotent re-apply; sshd killed mid-apply -> partial run -> resume after sshd
returns -> rollback restores every file byte for byte and every runtime value;
read-only refusal through the CLI."""
import json
import os
import subprocess
import sys

import pytest

from actions import journal
from actions.plan import build_plan
from actions.runner import DONE, NO_CHANGE, RUN_FAILED, Runner
from console import audit
from console.hosts.transport import Transport

pytestmark = [pytest.mark.hosts, pytest.mark.timeout(240)]

SWAP_FILE = "/etc/sysctl.d/60-dsconsole-swappiness.conf"
THP = "/sys/kernel/mm/transparent_hugepage/enabled"
SNAPSHOT = (f"for f in {SWAP_FILE} /etc/default/grub; do "
            "if [ -e $f ]; then echo \"== $f $(stat -c %a:%U $f)\"; base64 -w0 $f; echo; "
            "else echo \"== $f absent\"; fi; done; "
            f"cat /proc/sys/vm/swappiness {THP}")


def snapshot(h) -> str:
    """Files (bytes, mode, owner, or absence) and runtime values, from inside the host."""
    p = h.sh(SNAPSHOT, check=True)
    return p.stdout


def _runner(**kw):
    return Runner(audit=audit.AuditLog(operator="tester", site="lab"), operator="tester",
                  site="lab", **kw)


def _untuned(h, thp="madvise"):
    h.sh(f"sysctl -q -w vm.swappiness=60 && echo {thp} > {THP}", check=True)


def test_three_hosts_plan_apply_verify_reapply(test_hosts):
    a, b = test_hosts.start(2)
    (c,) = test_hosts.start(1, login="ops", grub=False, tuned="hpc-compute")
    _untuned(a)
    _untuned(c, "always")
    # b is already tuned by hand
    b.sh(f"printf 'vm.swappiness=1\\n' > {SWAP_FILE} && sysctl -q -w vm.swappiness=1 && "
         f"echo never > {THP} && "
         "sed -i 's/^GRUB_CMDLINE_LINUX=\"\"/GRUB_CMDLINE_LINUX=\"transparent_hugepage=never\"/' "
         "/etc/default/grub", check=True)
    grub_before = a.sh("cat /etc/default/grub").stdout
    # a process named like the daemon (the kernel keeps 15 characters of the name);
    # it lives in the host's network namespace, so the fixture's teardown ends it
    a.sh("cp /bin/sleep /usr/local/bin/nvidia-persistenced && "
         "(setsid /usr/local/bin/nvidia-persistenced 600 </dev/null >/dev/null 2>&1 &)", check=True)
    transports = {h.name: h.transport() for h in (a, b, c)}
    plan = build_plan("host-tuning", transports, {})
    planned = _runner().check(plan)
    steps = {h: {s.id: s for s in r.steps} for h, r in planned.hosts.items()}
    assert {h: r.status for h, r in planned.hosts.items()} == {a.name: "needed", b.name: "ok", c.name: "needed"}
    assert steps[a.name]["swappiness"].check.runtime == ("vm.swappiness: 60 -> 1",)
    assert steps[a.name]["thp"].check.runtime == (f"{THP}: [madvise] -> [never]",)
    assert '+GRUB_CMDLINE_LINUX="transparent_hugepage=never"' in steps[a.name]["thp"].check.persistent
    assert steps[c.name]["thp"].check.runtime == (f"{THP}: [always] -> [never]",)
    assert steps[c.name]["thp"].check.persistent == ()
    assert any("no /etc/default/grub" in n for n in steps[c.name]["thp"].check.notes)
    assert steps[c.name]["report.tuned"].status == "warn"
    assert any("hpc-compute sets transparent hugepages to always" in n
               for n in steps[c.name]["report.tuned"].check.notes)
    assert steps[a.name]["report.tuned"].check.facts == ("no tuned profile active",)
    assert steps[a.name]["report.driver"].check.facts[0].startswith("driver ")  # replayed H200 nvidia-smi
    assert steps[a.name]["report.persistenced"].check.facts[0].startswith("running (pid ")

    result = _runner().apply(plan, confirmation="--yes")
    assert result.status == DONE, result.message
    for h in (a, b, c):
        assert h.sh("cat /proc/sys/vm/swappiness").stdout == "1\n"
        assert h.sh(f"cat {THP}").stdout == "always madvise [never]\n"
    assert b.sh(f"cat {SWAP_FILE}").stdout == "vm.swappiness=1\n"        # already right: left alone
    for h in (a, c):
        assert h.sh(f"cat {SWAP_FILE}").stdout.endswith("\nvm.swappiness = 1\n")
    grub_after = a.sh("cat /etc/default/grub").stdout
    assert grub_after == grub_before.replace('GRUB_CMDLINE_LINUX=""',
                                             'GRUB_CMDLINE_LINUX="transparent_hugepage=never"')
    assert c.sh("test -e /etc/default/grub").returncode == 1       # not created
    assert c.sh(f"stat -c %U:%a {SWAP_FILE}").stdout == "root:644\n"  # written through sudo
    assert _runner().verify(plan).status == DONE

    before = {h.name: snapshot(h) for h in (a, b, c)}
    again = _runner().apply(plan, confirmation="--yes")
    assert again.status == NO_CHANGE and again.changed == 0
    assert {h.name: snapshot(h) for h in (a, b, c)} == before
    assert audit.verify().ok


class KillsSshdAfterWriting(Transport):
    """A real SshTransport whose host's sshd is killed right after one file
    was written: the connection drops in the middle of a step."""

    def __init__(self, inner, host, path):
        self.inner, self.host, self.path, self.name = inner, host, path, inner.name

    def run(self, cmd, **kw):
        return self.inner.run(cmd, **kw)

    def read(self, path, **kw):
        return self.inner.read(path, **kw)

    def write(self, path, data, **kw):
        self.inner.write(path, data, **kw)
        if path == self.path:
            self.host.kill_sshd()


def test_sshd_killed_mid_apply_resume_then_rollback_to_the_byte(test_hosts):
    hosts = test_hosts.start(2)
    x, y = hosts
    for h in hosts:
        _untuned(h)
    x.sh("printf '# site tweak\\nGRUB_CMDLINE_LINUX=\"quiet transparent_hugepage=always\"\\n' >> /etc/default/grub "
         "&& chmod 600 /etc/default/grub", check=True)
    originals = {h.name: snapshot(h) for h in hosts}
    transports = {x.name: KillsSshdAfterWriting(x.transport(), x, "/etc/default/grub"),
                  y.name: y.transport()}
    plan = build_plan("host-tuning", transports, {})
    result = _runner().apply(plan, confirmation="--yes")
    assert result.status == RUN_FAILED
    assert result.hosts[x.name].status == "failed" and "thp" in result.hosts[x.name].error
    assert result.hosts[y.name].status == "changed"
    state = journal.load(result.run_id)
    assert state.status == journal.PARTIAL
    assert state.done(x.name, "swappiness") and not state.done(x.name, "thp")
    # half-way through the THP step: GRUB edited, the runtime value not yet
    assert "quiet transparent_hugepage=never" in x.sh("cat /etc/default/grub").stdout
    assert x.sh(f"cat {THP}").stdout == "always [madvise] never\n"

    # the next start of the console: the unfinished run is offered
    p = subprocess.run([sys.executable, "-m", "console", "tune", "runs", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert [r["status"] for r in json.loads(p.stdout)] == ["partial"]

    x.start_sshd()
    fresh = {h.name: h.transport() for h in hosts}                   # a new console process
    _, plan2 = Runner.plan_for_run(result.run_id, fresh)
    resumed = _runner().resume(result.run_id, plan2, confirmation="--yes")
    assert resumed.status == DONE, resumed.message
    assert x.sh(f"cat {THP}").stdout == "always madvise [never]\n"
    assert 'GRUB_CMDLINE_LINUX="quiet transparent_hugepage=never"' in x.sh("cat /etc/default/grub").stdout
    assert _runner().verify(plan2).status == DONE

    rolled = _runner().rollback(result.run_id, plan2, confirmation="--yes")
    assert rolled.status == DONE, rolled.message
    assert {h.name: snapshot(h) for h in hosts} == originals
    assert journal.load(result.run_id).status == journal.ROLLED_BACK_RUN
    assert audit.verify().ok


def test_read_only_session_refuses_apply_on_a_real_host(test_hosts, tmp_path):
    (h,) = test_hosts.start(1)
    _untuned(h)
    original = snapshot(h)
    site = tmp_path / "site.yaml"
    site.write_text(f"name: lab\nhosts:\n  - name: {h.name}\n    address: {h.address}\n"
                    f"    user: root\n    identity_file: {h.identity_file}\n")
    env = dict(os.environ)
    env["HOME"] = str(tmp_path)            # ~/.ssh/known_hosts: the test hosts' keys
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "known_hosts").write_text(test_hosts.known_hosts_file.read_text())
    run = lambda *a: subprocess.run([sys.executable, "-m", "console", *a], capture_output=True,  # noqa: E731
                                    text=True, timeout=120, env=env)
    p = run("tune", "plan", "--site", str(site), "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["hosts"][h.name]["status"] == "needed"
    p = run("--read-only", "tune", "apply", "--site", str(site), "--yes")
    assert p.returncode == 2 and "read-only" in p.stderr
    assert snapshot(h) == original
    p = run("tune", "apply", "--site", str(site), "--yes", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["changed"] == 2
    p = run("audit", "show", "--host", h.name, "--json")
    results = [json.loads(line)["result"] for line in p.stdout.splitlines()]
    assert results[0] == "refused: read-only session" and results[-1].startswith("ok: applied")


def test_sudo_wanting_a_password_fails_the_host_clearly(test_hosts):
    (h,) = test_hosts.start(1, login="ops-pw")
    _untuned(h)
    original = snapshot(h)
    result = _runner().apply(build_plan("host-tuning", {h.name: h.transport()}, {}), confirmation="--yes")
    assert result.status == RUN_FAILED
    hr = result.hosts[h.name]
    assert hr.status == "failed" and "password" in hr.error and "NOPASSWD" in hr.error
    assert snapshot(h) == original
