"""Backup of one sample model directory: through dsconsole vs restic by hand,
and rsync for scale; restore throughput. Figures only; nothing is asserted.

The sample directory is the tests' shape: a 200 MB sparse weight file with a
little real data in it, plus `--random-mb` of random bytes over a few files
(restic has to store those). Each round, in the same run and alternating:
  - restic by hand: `restic -r REPO backup DIR` (password file), wall time;
  - dsconsole in process: the backup plan (one directory source, one copy)
    through the Runner: check, restic detached with progress polled, the
    SHA-256 manifest alongside, the manifest snapshot, the commit, verify;
  - dsconsole CLI: `python3 -m console backup run --yes --json`, the same
    plan plus Python start and imports;
  - rsync -a of the same directory to a fresh directory on the same host;
each into a fresh, already initialised repository (init is not timed).
Then restore: the drill (restore + SHA-256 of every file) and plain
`restic restore` of the same snapshot, bytes per second.

    python3 benchmarks/bench_backup.py [--random-mb 64] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-password"


def make_sample(d: Path, random_mb: int) -> int:
    d.mkdir(parents=True)
    with open(d / "model-00001.safetensors", "wb") as f:
        f.truncate(200 * 1024 * 1024)
        f.seek(64 * 1024 * 1024)
        f.write(os.urandom(4096))
    left, i = random_mb * 1024 * 1024, 2
    while left > 0:
        n = min(left, 16 * 1024 * 1024)
        (d / f"model-{i:05d}.safetensors").write_bytes(os.urandom(n))
        left -= n
        i += 1
    (d / "config.json").write_text('{"model_type": "deepseek_v3"}\n')
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def restic(repo: Path, pwfile: Path, *args: str, out=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    return subprocess.run(["restic", "-r", str(repo), "--password-file", str(pwfile), *args],
                          stdout=out, stderr=subprocess.PIPE, check=True)


def site_file(work: Path, sample: Path, repo: Path, pwfile: Path) -> Path:
    p = work / f"site-{repo.name}.yaml"
    p.write_text(f"name: bench\nbackup:\n  password_file: {pwfile}\n  sources:\n"
                 f"    - name: model\n      path: {sample}\n  copies:\n"
                 f"    - name: c\n      kind: production\n      medium: ssd\n      repository: {repo}\n"
                 f"  policy:\n    scratch_dir: {work / 'scratch'}\n")
    return p


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--random-mb", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("restic") or not shutil.which("rsync"):
        print("needs restic and rsync on PATH", file=sys.stderr)
        return 2
    from actions.backup.plan import plan_for
    from actions.runner import Runner
    from console.audit import AuditLog
    from console.backup.context import BackupContext
    from console.backup.sets import new_set_id
    from console.backup.verify import drill
    from console.site_config import load_site

    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    os.environ["XDG_STATE_HOME"] = str(work / "state")
    try:
        sample = work / "models" / "sample"
        size = make_sample(sample, args.random_mb)
        pwfile = work / "pw"
        pwfile.write_text(PASSWORD + "\n")
        times: dict[str, list[float]] = {"restic by hand": [], "dsconsole (in process)": [],
                                         "dsconsole CLI": [], "rsync -a": []}
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        last_ctx = None
        for r in range(args.rounds):
            repos = {k: work / f"repo-{r}-{i}" for i, k in enumerate(times) if k != "rsync -a"}
            for repo in repos.values():
                restic(repo, pwfile, "init")
            times["restic by hand"].append(timed(
                lambda repos=repos: restic(repos["restic by hand"], pwfile, "backup", str(sample))))
            ctx = BackupContext(load_site(site_file(work, sample, repos["dsconsole (in process)"], pwfile)),
                                PASSWORD)

            def in_process(ctx: BackupContext = ctx) -> None:
                res = Runner(audit=AuditLog(work / "audit.jsonl")).apply(plan_for(ctx, new_set_id()),
                                                                         confirmation="bench")
                assert res.ok, res.message
            times["dsconsole (in process)"].append(timed(in_process))
            last_ctx = ctx
            cli_site = site_file(work, sample, repos["dsconsole CLI"], pwfile)
            times["dsconsole CLI"].append(timed(lambda cli_site=cli_site: subprocess.run(
                [sys.executable, "-m", "console", "backup", "run", "--site", str(cli_site), "--yes", "--json"],
                env=env, check=True, stdout=subprocess.DEVNULL)))
            dest = work / f"rsync-{r}"
            times["rsync -a"].append(timed(lambda dest=dest: subprocess.run(
                ["rsync", "-a", str(sample) + "/", str(dest) + "/"], check=True)))
            shutil.rmtree(dest)
        print(f"sample: {size / 2**20:.0f} MiB apparent ({args.random_mb} MiB random, the rest sparse), "
              f"{len(list(sample.rglob('*')))} files; {args.rounds} rounds, medians")
        base = statistics.median(times["restic by hand"])
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  {name:<24} {med:7.2f} s   x{med / base:5.2f} of restic by hand   "
                  f"({', '.join(f'{t:.2f}' for t in ts)})")
        extra = statistics.median(times["dsconsole (in process)"]) - base
        print(f"  dsconsole's fixed cost over restic: {extra:.2f} s a copy; at restic's rate here "
              f"({size / base / 2**20:.0f} MiB/s) the ratio is <= 1.1 from "
              f"{max(0.0, extra / 0.1) * size / base / 2**30:.1f} GiB up")
        # restore: the drill (restore + SHA-256 of every file) vs restic restore by hand
        d = drill(last_ctx, "c")
        assert d["ok"], d
        snaps = json.loads(restic(repos["restic by hand"], pwfile, "snapshots", "--json",
                                  out=subprocess.PIPE).stdout)
        tgt = work / "restore-by-hand"
        t = timed(lambda: restic(repos["restic by hand"], pwfile, "restore", snaps[-1]["id"], "--target", str(tgt)))
        print(f"restore: drill restore {d['rto']['measured_s']:.2f} s ({size / d['rto']['measured_s'] / 2**20:.0f} "
              f"MiB/s), whole drill with hashing {d['duration_s']:.2f} s; restic restore by hand {t:.2f} s "
              f"({size / t / 2**20:.0f} MiB/s)")
        last_ctx.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
