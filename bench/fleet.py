"""`unleak fleet scan` on a local Ray against a plain loop of `unleak scan --history`, and the figures a projection
to thousands of repositories needs.

    python bench/fleet.py MIRROR [MIRROR ...] [--workers 2]

Each MIRROR is a local (bare) repository, e.g. the mirrors `fetch` leaves under /work/.mirror/owner+name/repo.
Measured, in one run:
1. the loop: for each repository, a ``--no-checkout`` clone and ``unleak scan --history`` with a cold cache (one
   repository at a time, each scan using every core as it would alone);
2. ``unleak fleet scan`` of the same repositories on a local Ray with ``--workers`` CPUs, cold (clones made by the
   tasks) and warm (the nightly rescan: fetch, then only new commits);
3. Ray's own cost per task on this machine (1,000 empty tasks after start-up) and its start-up time.
It prints a table and the per-commit CPU cost used by docs/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the whole process tree, stdout)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), p.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mirrors", nargs="+", type=Path)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    unleak = [sys.executable, "-m", "unleak"]
    with tempfile.TemporaryDirectory(prefix="unleak-fleet-bench-") as tmp_s:
        tmp = Path(tmp_s)
        env.update(HOME=str(tmp), XDG_STATE_HOME=str(tmp / "state"), XDG_CACHE_HOME=str(tmp / "cache"))
        loop_wall = loop_cpu = 0.0
        commits = 0
        per_repo = []
        for m in args.mirrors:
            dest = tmp / "loop" / m.parent.name
            w1, c1, _ = _run(["git", "clone", "-q", "--no-checkout", str(m), str(dest)])
            w2, c2, out = _run([*unleak, "scan", "--history", "--format", "json", "--exit-zero"], cwd=dest, env=env)
            doc = json.loads(out)
            commits += doc["stats"]["commits"]
            per_repo.append((m.parent.name, doc["stats"]["commits"], len(doc["findings"]), w1 + w2))
            loop_wall += w1 + w2
            loop_cpu += c1 + c2
        fleet = [*unleak, "fleet", "scan", *map(str, args.mirrors), "--workers", str(args.workers), "--format", "json",
                 "-o", str(tmp / "report"), "--cache-dir", str(tmp / "fleet-cache")]
        cold_wall, cold_cpu, out = _run(fleet, env=env)
        fdoc = json.loads(out)
        warm_wall, warm_cpu, _ = _run(fleet, env=env)
        probe = (f"import ray,time;t=time.monotonic();ray.init(num_cpus={args.workers},include_dashboard=False,"
                 "log_to_driver=False,logging_level='ERROR');s=time.monotonic()-t\n@ray.remote\ndef f(x):\n"
                 "    return x\nray.get([f.remote(i) for i in range(50)]);t=time.monotonic();ray.get([f.remote(i) "
                 "for i in range(1000)]);print(s,(time.monotonic()-t)/1000);ray.shutdown()")
        _w, _c, ray_out = _run([sys.executable, "-c", probe], env=env)
        ray_start, per_task = (float(x) for x in ray_out.split()[-2:])
        shutil.rmtree(tmp / "loop", ignore_errors=True)
    same = all(len(fdoc["findings"][str(m)]) == n for m, (_name, _c, n, _w) in zip(args.mirrors, per_repo, strict=True))
    print(f"{len(args.mirrors)} repositories, {commits} commits, {args.workers} Ray CPUs; "
          f"load {os.getloadavg()[0]:.1f}")
    for name, c, n, w in per_repo:
        print(f"  {name:<28} {c:>7} commits {n:>6} findings  loop {w:6.1f} s")
    print(f"{'':<30}{'wall s':>9}{'CPU s':>9}")
    print(f"{'loop of unleak scan --history':<30}{loop_wall:>9.1f}{loop_cpu:>9.1f}")
    print(f"{'fleet scan, cold':<30}{cold_wall:>9.1f}{cold_cpu:>9.1f}")
    print(f"{'fleet scan, warm (rescan)':<30}{warm_wall:>9.1f}{warm_cpu:>9.1f}")
    print(f"Ray start-up {ray_start:.1f} s, {per_task * 1000:.2f} ms per task; "
          f"CPU per commit (loop) {loop_cpu / max(commits, 1) * 1000:.2f} ms; same findings: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
