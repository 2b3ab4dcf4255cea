"""``python -m autograder grade | isolation | validate | generate | gradebook | collect | gradescope``."""
from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a submission (.ipynb / .py) or a folder of submissions in isolation")
    g.add_argument("path")
    g.add_argument("--assignment", required=True, choices=("ps1", "ps2", "ps3", "ps4"))
    g.add_argument("--out", required=True, help="folder for <student>.json, Gradescope results, grades.csv")
    g.add_argument("--seed", type=int, default=None, help="replay a grade: the seed is in every report")
    g.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel")
    g.add_argument("--single", action="store_true",
                   help="PATH is a folder holding ONE student's files (Gradescope's /autograder/submission)")
    g.add_argument("--timeout", type=float, default=None, help="wall-clock seconds per submission")
    g.add_argument("--memory-mb", type=int, default=None, help="memory a submission may allocate (anonymous + shmem PSS, summed over its processes; default 2048)")
    g.add_argument("--force", action="store_true",
                   help="regrade every student, even those with a complete report in --out from an earlier run")
    g.add_argument("--no-bwrap", action="store_true",
                   help="do not use bubblewrap namespaces (same as SSL_COURSE_GRADER_NO_BWRAP=1; for tests)")
    sub.add_parser("isolation", help="print which isolation layers the grader can use on this machine")
    v = sub.add_parser("validate", help="run a notebook's cells; exit 1 if any test cell fails")
    v.add_argument("notebooks", nargs="+")
    v.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    gen = sub.add_parser("generate", help="regenerate assignments/ from solutions/ with nbgrader")
    gen.add_argument("--check", action="store_true", help="fail (exit 1) if assignments/ differs")
    gen.add_argument("--root", default=None, help="repository root (default: the one holding autograder/)")
    gb = sub.add_parser("gradebook", help="add the problem sets to nbgrader's gradebook (grading/gradebook.db) "
                                          "without touching assignments/; safe to run again")
    gb.add_argument("assignments", nargs="*", help="problem sets (default: all of solutions/)")
    gb.add_argument("--root", default=None, help="course root (default: $SSL_COURSE_GRADING_ROOT or the repository)")
    col = sub.add_parser("collect", help="nbgrader zip_collect of LMS downloads (zip or .ipynb files) into "
                                         "grading/submitted/; files naming no student are listed, exit 1")
    col.add_argument("assignment")
    col.add_argument("files", nargs="+", help="the LMS's zip archive(s) or loose notebooks")
    col.add_argument("--root", default=None, help="course root (default: $SSL_COURSE_GRADING_ROOT or the repository)")
    gs = sub.add_parser("gradescope", help="build the Gradescope autograder zip (--out), or grade one upload in "
                                           "Gradescope's /autograder layout (--run)")
    gs.add_argument("assignment", choices=("ps1", "ps2", "ps3", "ps4"))
    mode = gs.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", help="write the autograder zip here (e.g. ps1.zip)")
    mode.add_argument("--run", metavar="ROOT", help="grade ROOT/submission into ROOT/results/results.json")
    args = parser.parse_args(argv)

    if args.command == "isolation":
        from .sandbox import detect_isolation
        iso = detect_isolation()
        print(json.dumps(iso.to_dict(), indent=1))
        return 0 if iso.mode != "none" else 1
    if args.command == "grade":
        import os
        if args.no_bwrap:
            os.environ["SSL_COURSE_GRADER_NO_BWRAP"] = "1"
        from .grade import GradingError, grade_path
        from .sandbox import Limits, detect_isolation
        limits = Limits()
        if args.timeout:
            limits.wall_seconds = args.timeout
        if args.memory_mb:
            limits.memory_mb = args.memory_mb
        iso = detect_isolation()
        active = ", ".join(k for k, v in iso.layers.items() if v)
        print(f"isolation: {iso.mode} (active layers: {active})", file=sys.stderr)
        for w in iso.warnings:
            print(f"WARNING: isolation layer missing: {w}", file=sys.stderr)
        if iso.mode == "none":
            print("WARNING: " + "!" * 60 + "\nWARNING: submissions run WITHOUT a sandbox user or namespaces; see "
                  "autograder/README.md, 'What isolation you get'\nWARNING: " + "!" * 60, file=sys.stderr)

        def show(r):
            statuses = ", ".join(f"{f['name']}={f['status']}" for f in r["functions"])
            print(f"{r['student']}: {r['score']:g}/{r['max_score']:g} (seed {r['seed']}, {r['seconds']:.1f} s) "
                  f"{statuses}" + (f" FLAGS: {'; '.join(r['flags'])}" if r["flags"] else ""), flush=True)

        try:
            reports = grade_path(args.path, args.assignment, args.out, args.seed, limits, args.jobs, args.single,
                                 force=args.force, on_report=show)
        except GradingError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for r in reports:
            if r.get("resumed"):
                print(f"{r['student']}: {r['score']:g}/{r['max_score']:g} (kept from the earlier run; --force "
                      "regrades)")
        unmatched = _unmatched_files(args.path, args.assignment, args.single)
        for line in unmatched:
            print(f"not graded: {line}", file=sys.stderr)
        if not reports:
            print("no submissions found", file=sys.stderr)
            return 1
        return 1 if unmatched else 0
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
    if args.command == "gradescope":
        from . import gradescope
        if args.run:
            return gradescope.run(args.assignment, args.run)
        path = gradescope.build_zip(args.assignment, args.out)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB): upload it as the {args.assignment} autograder")
        return 0
    if args.command == "collect":
        from .collect import collect
        return collect(args.assignment, args.files, args.root)
    if args.command == "gradebook":
        from .gradebook import prepare
        return prepare(args.root, args.assignments)
    return 2


def _unmatched_files(path: str, assignment: str, single: bool) -> list[str]:
    """Files of a folder of submissions that name no student (listed at the end; the exit code is then 1)."""
    from pathlib import Path

    from .ids import scan_folder
    folder = Path(path)
    return [] if single or not folder.is_dir() else scan_folder(folder, assignment)[1]
