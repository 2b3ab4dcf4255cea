"""``python -m autograder grade | validate | generate``."""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a submission (.ipynb / .py) or a folder of submissions in isolation")
    g.add_argument("path")
    g.add_argument("--assignment", required=True, choices=("ps1", "ps2", "ps3"))
    g.add_argument("--out", required=True, help="folder for <student>.json, Gradescope results, grades.csv")
    g.add_argument("--seed", type=int, default=None, help="replay a grade: the seed is in every report")
    g.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel")
    g.add_argument("--single", action="store_true",
                   help="PATH is a folder holding ONE student's files (Gradescope's /autograder/submission)")
    g.add_argument("--timeout", type=float, default=None, help="wall-clock seconds per submission")
    g.add_argument("--memory-mb", type=int, default=None, help="memory a submission may allocate (anonymous + shmem PSS, summed over its processes; default 2048)")
    v = sub.add_parser("validate", help="run a notebook's cells; exit 1 if any test cell fails")
    v.add_argument("notebooks", nargs="+")
    v.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    gen = sub.add_parser("generate", help="regenerate assignments/ from solutions/ with nbgrader")
    gen.add_argument("--check", action="store_true", help="fail (exit 1) if assignments/ differs")
    gen.add_argument("--root", default=None, help="repository root (default: the one holding autograder/)")
    args = parser.parse_args(argv)

    if args.command == "grade":
        from .grade import grade_path
        from .sandbox import Limits
        limits = Limits()
        if args.timeout:
            limits.wall_seconds = args.timeout
        if args.memory_mb:
            limits.memory_mb = args.memory_mb
        reports = grade_path(args.path, args.assignment, args.out, args.seed, limits, args.jobs, args.single)
        for r in reports:
            statuses = ", ".join(f"{f['name']}={f['status']}" for f in r["functions"])
            print(f"{r['student']}: {r['score']:g}/{r['max_score']:g} (seed {r['seed']}, {r['seconds']:.1f} s) "
                  f"{statuses}" + (f" FLAGS: {'; '.join(r['flags'])}" if r["flags"] else ""))
        if not reports:
            print("no submissions found", file=sys.stderr)
            return 1
        return 0
    if args.command == "validate":
        from .validate import validate
        ok = True
        for nb in args.notebooks:
            problems = validate(nb, args.timeout)
            print(json.dumps({"notebook": nb, "passed": not problems, "problems": problems}, indent=1))
            ok = ok and not problems
        return 0 if ok else 1
    if args.command == "generate":
        from .generate import generate
        return generate(check=args.check, root=args.root)
    return 2
