"""The restore drill (issue 15): the backup wizard's restore drill
(console/backup/verify.drill) run as a drill with real restic on the demo's
local repositories: steady state (restic check) first, journaled, the report
with a verdict against the site file's RTO target; a repository that fails
its check stops the drill before any restore."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

from actions.drills import store


def _dsconsole(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _site_with_rto(tmp_path, target: float):
    from console.backup.demo import demo_site_file
    text = demo_site_file().read_text()
    assert text.rstrip().endswith("keep_last: 3")
    f = tmp_path / f"site-rto-{target:g}.yaml"
    f.write_text(text.rstrip() + f"\n    rto_target_s: {target:g}\n")
    return f


def test_restore_drill_with_restic_against_the_rto(tmp_path):
    assert shutil.which("restic")
    site = _site_with_rto(tmp_path, 600)
    b = _dsconsole("backup", "run", "--site", str(site), "--copy", "primary", "--yes", "--json")
    assert b.returncode == 0, b.stderr
    p = _dsconsole("drill", "run", "restore", "--site", str(site), "--copy", "primary", "--yes", "--json")
    assert p.returncode == 0, p.stderr
    rep = json.loads(p.stdout)
    assert rep["status"] == "completed" and not rep["deviated"], rep
    assert rep["steady_state"]["before"]["ok"] and rep["steady_state"]["after"]["ok"]
    assert rep["measurements"]["files"] >= 3 and rep["measurements"]["restore_s"] > 0
    v = rep["verdicts"]
    assert v["integrity"]["met"] and v["rto"]["target_s"] == 600 and v["rto"]["met"]
    assert v["rto"]["measured_s"] == rep["measurements"]["rto"]["extrapolated_s"]
    saved = json.loads((store.drills_dir() / f"{rep['run_id']}.json").read_text())
    assert saved == rep and store.unfinished() == []
    assert "## Verdicts" in (store.drills_dir() / f"{rep['run_id']}.md").read_text()
    # a target the restore cannot meet: the verdict says so, exit 1
    tight = _site_with_rto(tmp_path, 0.001)
    p = _dsconsole("drill", "run", "restore", "--site", str(tight), "--copy", "primary", "--yes", "--json")
    rep = json.loads(p.stdout)
    assert p.returncode == 1 and rep["deviated"] and rep["verdicts"]["rto"]["met"] is False
    assert rep["verdicts"]["integrity"]["met"]
    # a repository that fails restic check: the drill does not start
    from console.backup.demo import demo_dir
    repo = demo_dir() / "repositories" / "primary"
    for f in (repo / "index").iterdir():
        f.write_bytes(b"broken")
    p = _dsconsole("drill", "run", "restore", "--site", str(site), "--copy", "primary", "--yes", "--json")
    rep = json.loads(p.stdout)
    assert p.returncode == 1 and rep["status"] == "not-started", rep
    assert not rep["steady_state"]["before"]["ok"] and rep["measurements"]["restore_s"] is None


def test_restore_drill_bad_input(tmp_path):
    p = _dsconsole("drill", "run", "restore", "--yes")
    assert p.returncode == 2 and "--site FILE" in p.stderr
    site = _site_with_rto(tmp_path, 600)
    p = _dsconsole("drill", "run", "restore", "--site", str(site), "--copy", "nope", "--yes")
    assert p.returncode == 2 and "no backup copy 'nope'" in p.stderr and "Traceback" not in p.stderr


def test_restore_drill_on_the_demo_proves_a_set_with_parts_its_site_file_lacks():
    """`backup run --demo` backs up the demo cluster's objects too (a --stdin
    part); `drill run restore --demo` has no cluster running, so its site file
    does not name that part: the restored part is still found and hashed as
    the file it is, not taken for a directory."""
    b = _dsconsole("backup", "run", "--demo", "--copy", "primary", "--yes", "--json")
    assert b.returncode == 0, b.stderr
    p = _dsconsole("drill", "run", "restore", "--demo", "--yes", "--json")
    rep = json.loads(p.stdout)
    assert p.returncode == 0 and rep["status"] == "completed", rep
    assert rep["verdicts"]["integrity"]["met"], rep["verdicts"]
    assert rep["measurements"]["files"] >= 4       # weights (3 files) and the objects file at least
