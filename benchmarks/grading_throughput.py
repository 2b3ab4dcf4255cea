"""How long the isolated grader takes per submission, with each isolation layer, and what 100 submissions cost.

    PYTHONPATH=. python benchmarks/grading_throughput.py [--copies 6] [--jobs 1 2] [--modes namespaces unprivileged_user]

Grades copies of the solution notebook of each problem set (plus the untouched student notebook, which fails)
with the real isolated grader, serially and in parallel, once per isolation mode (``namespaces``: bubblewrap;
``unprivileged_user``: chroot + setuid, root only; ``none``: no sandbox, root only, for the overhead), and prints
a Markdown table. The cost is dominated by starting a fresh Python that imports torch (~1.5-3 s on a 2-core
machine); the checks themselves take a fraction of a second.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import sandbox  # noqa: E402
from autograder.grade import grade_path  # noqa: E402
from autograder.sandbox import Limits  # noqa: E402

MODE_ENV = {"namespaces": {}, "unprivileged_user": {sandbox.NO_BWRAP_ENV: "1"},
            "none": {sandbox.NO_BWRAP_ENV: "1", sandbox.NO_SETUID_ENV: "1"}}


def set_mode(mode: str) -> str:
    for key in (sandbox.NO_BWRAP_ENV, sandbox.NO_SETUID_ENV):
        os.environ.pop(key, None)
    os.environ.update(MODE_ENV[mode])
    return sandbox.detect_isolation(refresh=True).mode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="submissions per problem set")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--assignments", nargs="+", default=["ps1", "ps2", "ps3"])
    parser.add_argument("--modes", nargs="+", default=["namespaces"], choices=list(MODE_ENV))
    args = parser.parse_args()
    rows = []
    load_before = os.getloadavg()[0]
    for mode in args.modes:
        got = set_mode(mode)
        if got != mode:
            print(f"mode {mode} is not available here (got {got}); skipped", file=sys.stderr)
            continue
        for ps in args.assignments:
            solution = next((ROOT / "solutions" / ps).glob("*.ipynb"))
            released = next((ROOT / "assignments" / ps).glob("*.ipynb"))
            with tempfile.TemporaryDirectory() as tmp:
                subs = Path(tmp) / "subs"
                subs.mkdir()
                for i in range(args.copies - 1):
                    shutil.copy(solution, subs / f"student{i:03d}.ipynb")
                shutil.copy(released, subs / "untouched.ipynb")
                for jobs in args.jobs:
                    start = time.perf_counter()
                    reports = grade_path(subs, ps, Path(tmp) / f"out{jobs}", seed=1, limits=Limits(), jobs=jobs)
                    wall = time.perf_counter() - start
                    child = [r["run"].get("seconds", 0.0) for r in reports]
                    rss = [r["run"].get("peak_memory_mb", 0.0) for r in reports]
                    ok = sum(r["score"] == r["max_score"] for r in reports) == args.copies - 1
                    rows.append((mode, ps, jobs, len(reports), wall / len(reports), statistics.median(child),
                                 max(rss), wall / len(reports) * 100, ok))
                    print(f"{mode} {ps} jobs={jobs}: {wall / len(reports):.2f} s/submission", file=sys.stderr,
                          flush=True)
    print(f"load average (1 min) before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}; "
          f"{os.cpu_count()} CPUs")
    print("| isolation | set | jobs | subs | s/sub (wall) | child s (median) | peak mem MB | 100 subs (min) | scores ok |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for mode, ps, jobs, n, per, child, rss, hundred, ok in rows:
        print(f"| {mode} | {ps} | {jobs} | {n} | {per:.2f} | {child:.2f} | {rss:.0f} | {hundred / 60:.1f} | {ok} |")


if __name__ == "__main__":
    main()
