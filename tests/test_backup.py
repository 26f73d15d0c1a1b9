"""The 3-2-1 backup wizard with real restic, real sshd test hosts (sftp
copies) and the simulator's API read by our client (Kubernetes objects).

Layout of the 3-2-1 tests, chosen because a test host reaches this machine
but no other test host: the console runs on the storage host (`local`, no
SSH) where the model directory is; restic runs here and writes the
production copy to a local repository, the same-city and off-site copies
over sftp to two test hosts, and the offline copy to a removable target
(a directory here) that is then recorded as detached. The sftp repositories
live in /root of the test hosts: a tmpfs of each host's own (/srv would be this
machine's)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

PASSWORD = "pw-Zq81-never-shown"
SECRET_VALUE = "s3cr3t-api-key-Kq7"


def _model_dir(root: Path) -> Path:
    """A sample model directory: a 200 MB sparse weight file and a few small
    real ones (random bytes, so restic has something to store)."""
    d = root / "models" / "deepseek-mini"
    d.mkdir(parents=True)
    with open(d / "model-00001.safetensors", "wb") as f:
        f.truncate(200 * 1024 * 1024)
        f.seek(50 * 1024 * 1024)
        f.write(os.urandom(4096))          # not all zeros: a restore must get this right
    (d / "model-00002.safetensors").write_bytes(os.urandom(1024 * 1024))
    (d / "config.json").write_text('{"model_type": "deepseek_v3"}\n')
    (d / "tokenizer").mkdir()
    (d / "tokenizer" / "tokenizer.json").write_bytes(os.urandom(64 * 1024))
    return d


def _sha_tree(root: Path) -> dict[str, str]:
    import hashlib
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out[str(p.relative_to(root))] = h.hexdigest()
    return out


def _dsconsole(*args: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd="/")


class ProcWatch:
    """Reads /proc/*/cmdline of every restic and ssh process while a run goes on."""

    def __init__(self):
        self.seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
                except OSError:
                    continue
                if "restic" in cmd or "sftp" in cmd:
                    self.seen[int(pid)] = cmd
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        self._t.join(5)


@pytest.fixture
def sim_site(tmp_path):
    from tests.sim_kube import ServedSite, kubectl
    s = ServedSite(tmp_path / "kube" / "kubeconfig", "--nodes", "1", "--replicas", "1")
    try:
        kubectl(s.kubeconfig, "create", "secret", "generic", "model-api-key", "-n", "deepseek",
                f"--from-literal=key={SECRET_VALUE}")
        yield s
    finally:
        s.stop()


def _site_file(tmp_path: Path, model: Path, kubeconfig: Path, hosts, ssh_config: Path,
               removable: Path, **copy_extra) -> Path:
    site = tmp_path / "site.yaml"
    (tmp_path / "restic.pass").write_text(PASSWORD + "\n")
    copies = [("primary", "production", "ssd", str(tmp_path / "repo-primary"))]
    names = ("same-city", "off-site")
    for h, kind in zip(hosts, names, strict=True):
        copies.append((kind.replace("-", ""), kind, "hdd" if kind == "same-city" else "object",
                       f"sftp:{h.name}:/root/restic/{kind}"))
    copies.append(("vault", "offline", "removable", str(removable / "restic")))
    text = [f"name: bk-test\ncluster:\n  kubeconfig: {kubeconfig}\n  namespace: deepseek\n",
            f"backup:\n  password_file: {tmp_path / 'restic.pass'}\n  sources:\n"
            f"    - name: model\n      path: {model}\n"
            "    - name: objects\n      kind: kubernetes\n"
            "    - name: site\n      kind: site-file\n"
            "    - name: audit\n      kind: audit-log\n  copies:\n"]
    for name, kind, medium, repo in copies:
        text.append(f"    - name: {name}\n      kind: {kind}\n      medium: {medium}\n"
                    f"      repository: {repo}\n")
        if repo.startswith("sftp:"):
            text.append(f"      ssh_config: {ssh_config}\n")
            for k, v in copy_extra.items():
                text.append(f"      {k}: {v}\n")
    text.append(f"  policy:\n    read_data_subset_pct: 100\n    scratch_dir: {tmp_path / 'scratch'}\n"
                "    keep_last: 1\n")
    site.write_text("".join(text))
    return site


def _one_source_site(tmp_path: Path, name: str, source: str, path: Path, copies: str) -> Path:
    """A site file backing up one directory to `copies` (their YAML lines,
    and a policy after them if wanted), the password in a file."""
    (tmp_path / "pw").write_text(PASSWORD)
    site_path = tmp_path / "site.yaml"
    site_path.write_text(f"name: {name}\nbackup:\n  password_file: {tmp_path / 'pw'}\n  sources:\n"
                         f"    - name: {source}\n      path: {path}\n  copies:\n" + copies)
    return site_path


def _no_password_in(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            assert PASSWORD.encode() not in p.read_bytes(), p


def test_321_backup_restore_drill_matrix_and_corruption(test_hosts, sim_site, tmp_path):
    city, offsite = test_hosts.start(2, nvidia_smi=None)
    model = _model_dir(tmp_path / "data")
    removable = tmp_path / "usb"
    removable.mkdir()
    site = _site_file(tmp_path, model, sim_site.kubeconfig, [city, offsite],
                      test_hosts.ssh_config_file, removable)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           "XDG_STATE_HOME": os.environ["XDG_STATE_HOME"], "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"]}
    state = Path(env["XDG_STATE_HOME"])
    outputs = []

    watch = ProcWatch()
    try:
        r = _dsconsole("backup", "run", "--site", str(site), "--yes", "--json", env=env)
    finally:
        watch.stop()
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = json.loads(r.stdout)
    assert run["status"] == "complete" and set(run["copies"]) == {"primary", "samecity", "offsite", "vault"}
    for copy in run["copies"].values():
        assert copy["set"]["set"] == run["set"] and copy["set"]["complete"]
        assert copy["sources"]["model"]["bytes"] >= 200 * 1024 * 1024
    # restic ran (on this machine, the model's host), its ssh for the sftp
    # copies too, and no command line carried the password
    assert offsite.sh("test -f /root/restic/off-site/config").returncode == 0
    assert not Path("/root/restic/off-site").exists()   # on the host, not here
    restic_cmds = [c for c in watch.seen.values() if c.startswith("restic ")]
    assert any(" backup " in c for c in restic_cmds) and any("sftp" in c for c in watch.seen.values())
    assert not [c for c in watch.seen.values() if PASSWORD in c]

    # every copy proven: restic check, then the restore drill
    r = _dsconsole("backup", "verify", "--site", str(site), "--json", env=env)
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout[-3000:]
    r = _dsconsole("backup", "restore", "--site", str(site), "--json", env=env)
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 0, r.stdout[-3000:]
    drills = {d["copy"]: d for d in json.loads(r.stdout)["results"]}
    for d in drills.values():
        assert d["ok"] and not d["mismatches"] and d["rto"]["measured_s"] > 0
        assert d["rto"]["full_bytes"] >= 200 * 1024 * 1024

    # byte-identical, checked independently of the drill: restore by hand with restic
    out = tmp_path / "by-hand"
    pw_env = {**os.environ, "RESTIC_PASSWORD_FILE": str(tmp_path / "restic.pass")}
    snap = run["copies"]["offsite"]["sources"]["model"]["snapshot"]
    sftp_opt = f"sftp.command=ssh -F {test_hosts.ssh_config_file} {offsite.name} -s sftp"
    subprocess.run(["restic", "-r", f"sftp:{offsite.name}:/root/restic/off-site", "-o", sftp_opt,
                    "restore", snap, "--target", str(out)], env=pw_env, check=True, capture_output=True)
    assert _sha_tree(out / str(model).lstrip("/")) == _sha_tree(model)
    # the objects (a Secret among them) came back from the encrypted repository only
    objs = subprocess.run(["restic", "-r", str(tmp_path / "repo-primary"), "dump",
                           run["copies"]["primary"]["sources"]["objects"]["snapshot"], "/objects.yaml"],
                          env=pw_env, capture_output=True, check=True).stdout
    assert b"kind: Secret" in objs and b"model-api-key" in objs and b"kind: Deployment" in objs
    for d in (tmp_path / "repo-primary", removable, state):
        for p in d.rglob("*"):
            if p.is_file():
                import base64
                data = p.read_bytes()
                assert SECRET_VALUE.encode() not in data and base64.b64encode(SECRET_VALUE.encode()) not in data, p

    # the offline copy is unplugged; the matrix remembers it
    r = _dsconsole("backup", "detach", "--site", str(site), "--json", env=env)
    assert r.returncode == 0, r.stderr
    removable.rename(tmp_path / "usb-in-the-safe")
    r = _dsconsole("backup", "status", "--site", str(site), "--json", env=env)
    outputs.append(r.stdout + r.stderr)
    m = json.loads(r.stdout)
    assert r.returncode == 0 and m["all_met"], r.stdout
    assert {c["name"]: c["status"] for c in m["copies"]} == {
        "primary": "ok", "samecity": "ok", "offsite": "ok", "vault": "ok"}
    vault = next(c for c in m["copies"] if c["name"] == "vault")
    assert vault["detached_at"] and vault["rpo_s"] is not None
    assert all(c["rto"] and c["rto"]["measured_s"] > 0 for c in m["copies"])

    # a month later without a verification: every copy warns, the offline one for its age too
    import time

    from console.backup.context import BackupContext
    from console.backup.matrix import build_matrix
    from console.site_config import load_site
    ctx = BackupContext(load_site(site), PASSWORD)
    later = build_matrix(ctx, now=time.time() + 31 * 86400)
    assert {c.name: c.status for c in later.copies} == dict.fromkeys(
        ("primary", "samecity", "offsite", "vault"), "warn")
    assert later.all_met   # warnings, still copies
    vault = next(c for c in later.copies if c.name == "vault")
    assert any("offline copy is" in n and "policy 30 days" in n for n in vault.notes), vault.notes
    ctx.close()

    # one pack file of the off-site repository corrupted
    packs = offsite.sh("find /root/restic/off-site/data -type f -size +100k", check=True).stdout.split()
    assert packs
    offsite.sh(f"printf 'garbage' | dd of={packs[0]} bs=1 seek=200 conv=notrunc", check=True)
    r = _dsconsole("backup", "verify", "--site", str(site), "--copy", "offsite,samecity", "--json", env=env)
    outputs.append(r.stdout + r.stderr)
    assert r.returncode == 1
    res = {x["copy"]: x["ok"] for x in json.loads(r.stdout)["results"]}
    assert res == {"offsite": False, "samecity": True}
    r = _dsconsole("backup", "status", "--site", str(site), "--json", env=env)
    m = json.loads(r.stdout)
    assert r.returncode == 1 and not m["all_met"]
    assert {x["rule"]: x["met"] for x in m["rules"]} == {
        "3 copies": True, "2 media": True, "1 offline": True, "1 off-site": False}
    assert {c["name"]: c["status"] for c in m["copies"]} == {
        "primary": "ok", "samecity": "ok", "offsite": "failed", "vault": "ok"}

    # the password: in no output, no audit record, no journal, no log
    assert not [o for o in outputs if PASSWORD in o]
    _no_password_in(state)
    audit = (state / "dsconsole" / "audit.jsonl").read_text()
    assert '"backup.snapshots"' in audit and '"backup.drill"' in audit


def test_host_dropping_mid_backup_is_partial_and_a_rerun_completes(test_hosts, tmp_path):
    from actions import journal
    from actions.backup.plan import plan_for
    from actions.runner import Runner
    from console.audit import AuditLog
    from console.backup.context import BackupContext
    from console.backup.matrix import build_matrix
    from console.backup.sets import new_set_id
    from console.site_config import load_site

    (host,) = test_hosts.start(1, nvidia_smi=None)
    src = tmp_path / "models" / "m"
    src.mkdir(parents=True)
    for i in range(4):
        (src / f"shard-{i}.bin").write_bytes(os.urandom(1024 * 1024))
    site_path = _one_source_site(
        tmp_path, "drop", "model", src,
        f"    - name: far\n      kind: off-site\n      medium: hdd\n"
        f"      repository: sftp:{host.name}:/root/restic/far\n      ssh_config: {test_hosts.ssh_config_file}\n"
        # a thin link: the upload takes seconds, so the host can go away half way
        f"      limit_upload_kib: 400\n  policy:\n    keep_last: 1\n")
    ctx = BackupContext(load_site(site_path), PASSWORD)
    runner = Runner(audit=AuditLog(operator="test"))

    dropped = threading.Event()

    def drop(copy, source, prog):
        if prog.bytes_done > 0 and not dropped.is_set():
            dropped.set()
            host.kill_sshd()   # every process of the host ends: sshd, its sftp server

    plan = plan_for(ctx, new_set_id())
    plan.hosts[0].steps[0].on_progress = drop
    result = runner.apply(plan, confirmation="test")
    assert dropped.is_set(), "the backup ended before any progress was reported"
    assert not result.ok and journal.load(result.run_id).status == journal.PARTIAL
    host.start_sshd()
    # nothing half-written counts: no committed set, the copy is missing
    m = build_matrix(ctx)
    assert m.copies[0].status == "missing" and not m.rules[3].met

    rerun = plan_for(ctx, new_set_id())
    result = runner.apply(rerun, confirmation="test")
    assert result.ok, result.message
    from console.backup.verify import drill
    d = drill(ctx, "far")
    assert d["ok"], d
    m = build_matrix(ctx)
    assert m.copies[0].status == "ok" and m.rules[3].met

    # retention (keep_last: 1) after one more run: previewed, then applied
    from console.backup import retention
    from console.backup.sets import all_sets, latest_set
    assert runner.apply(plan_for(ctx, new_set_id()), confirmation="test").ok
    restic = ctx.restic(ctx.copy("far"))
    newest = latest_set(restic).set_id
    preview = retention.plan(restic, ctx.cfg.policy)
    assert preview.keep == [newest] and rerun.params["set"] in preview.remove
    assert plan.params["set"] not in preview.keep
    retention.apply(restic, preview)
    assert [s.set_id for s in all_sets(restic)] == [newest]
    ctx.close()


def test_the_set_check_alone_lists_a_path_repository_it_has_not_seen(tmp_path):
    """The `complete` step's verify in a process that has not run the source
    steps (the plan rebuilt for an existing set, e.g. from a journal): it
    lists the repository rather than reading the parts it has not got
    (it raised AttributeError on None), and tells a complete set from a
    missing one."""
    from actions.backup.plan import plan_for
    from actions.backup.steps import CompleteStep
    from actions.runner import Runner
    from console.audit import AuditLog
    from console.backup.context import BackupContext
    from console.backup.sets import new_set_id
    from console.site_config import load_site

    src = tmp_path / "data"
    src.mkdir()
    (src / "a.bin").write_bytes(os.urandom(4096))
    site_path = _one_source_site(
        tmp_path, "alone", "data", src,
        f"    - name: here\n      kind: production\n      medium: ssd\n"
        f"      repository: {tmp_path / 'repo'}\n")
    ctx = BackupContext(load_site(site_path), PASSWORD)
    try:
        set_id = new_set_id()
        result = Runner(audit=AuditLog(operator="test")).apply(plan_for(ctx, set_id), confirmation="test")
        assert result.ok, result.message

        def set_check(set_id: str) -> CompleteStep:
            step = plan_for(ctx, set_id, new_set=False).hosts[0].steps[-1]
            assert isinstance(step, CompleteStep)
            return step

        assert set_check(set_id).verify().ok
        assert not set_check(new_set_id()).verify().ok   # a set the repository does not hold
    finally:
        ctx.close()
