"""How long the isolated grader takes per submission, and what 100 submissions of one problem set cost.

    PYTHONPATH=. python benchmarks/grading_throughput.py [--copies 6] [--jobs 1 2]

Grades copies of the solution notebook of each problem set (plus one failing submission) with the real
isolated grader, serially and in parallel, and prints a table. The cost is dominated by starting a fresh Python
that imports torch (~1.5-3 s on a 2-core machine); the checks themselves take a fraction of a second.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.grade import grade_path  # noqa: E402
from autograder.sandbox import Limits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="submissions per problem set")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--assignments", nargs="+", default=["ps1", "ps2", "ps3"])
    args = parser.parse_args()
    rows = []
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
                rows.append((ps, jobs, len(reports), wall / len(reports), statistics.median(child),
                             max(rss), wall / len(reports) * 100, ok))
    print(f"{'set':4} {'jobs':>4} {'subs':>4} {'s/sub (wall)':>12} {'child s (median)':>16} "
          f"{'peak mem MB':>11} {'100 subs (min)':>14} {'scores ok':>9}")
    for ps, jobs, n, per, child, rss, hundred, ok in rows:
        print(f"{ps:4} {jobs:4d} {n:4d} {per:12.2f} {child:16.2f} {rss:11.0f} {hundred / 60:14.1f} {str(ok):>9}")


if __name__ == "__main__":
    main()
