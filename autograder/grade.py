"""Grading submissions: extract, run isolated, compare, report.

    grade_path("submissions/", "ps1", out_dir="grades/", seed=1234)

A submission is a .ipynb or .py file; a folder holds one submission per file (an LMS zip unpacked) or per
sub-folder (nbgrader's ``submitted/<student>/<assignment>/``). Every score is decided here from the arrays the
child wrote; the child's exit code and printed text only ever choose between failure statuses.
"""
from __future__ import annotations

import csv
import json
import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import ids
from . import specs as specs_mod
from .compare import FunctionResult, expected, judge
from .extract import SubmissionError, copy_similarity, extract, read_cells
from .sandbox import Limits, run_submission

COPY_THRESHOLD = 0.93
SUBMISSION_SUFFIXES = (".ipynb", ".py")


def plan(assignment: str, seed: int):
    """All calls of one problem set for one seed: (per function: (spec, calls, expected)), runner calls, arrays."""
    rng = np.random.default_rng(seed)
    per_function, runner_calls, arrays = [], [], {}
    for spec in specs_mod.SPECS[assignment]:
        calls = spec.cases(np.random.default_rng(rng.integers(0, 2**63)))
        exps = None if spec.property_check else [expected(spec, c) for c in calls]
        ids = []
        for i, call in enumerate(calls):
            cid = f"{spec.name}_{i}"
            ids.append(cid)
            args = []
            for j, a in enumerate(call.args):
                if isinstance(a, np.ndarray):
                    arrays[f"{cid}_a{j}.npy"] = a
                    args.append({"array": f"{cid}_a{j}.npy"})
                elif isinstance(a, specs_mod.Generator):
                    args.append({"generator": a.seed})
                else:
                    args.append({"value": a})
            gos = []
            for j, go in enumerate(exps[i].grad_outputs if exps else []):
                if go is None:
                    gos.append(None)
                else:
                    arrays[f"{cid}_go{j}.npy"] = np.asarray(go, dtype=np.float64)
                    gos.append(f"{cid}_go{j}.npy")
            runner_calls.append({"id": cid, "function": call.function, "args": args,
                                 "grad_args": list(call.grad_args), "grad_outputs": gos,
                                 "module": {"seed": call.module.seed, "init_args": list(call.module.init_args)}
                                 if call.module else None})
        per_function.append((spec, calls, exps, ids))
    return per_function, runner_calls, arrays


def _library_function(name: str):
    from ssl_course import losses
    return getattr(losses, {"nt_xent_loop": "nt_xent"}.get(name, name), None)


def grade_file(path: str | Path, assignment: str, seed: int | None = None, limits: Limits | None = None,
               student: str | None = None) -> dict:
    """Grade one submission file; returns the per-student report (a JSON-able dict)."""
    path = Path(path)
    seed = secrets.randbits(31) if seed is None else int(seed)
    student = student or path.stem
    started = time.monotonic()
    specs = specs_mod.SPECS[assignment]
    names = [s.name for s in specs]
    report = {"student": student, "submission": str(path), "assignment": assignment, "seed": seed,
              "functions": [], "notes": [], "run": {}}
    try:
        extracted = extract(read_cells(path), names)
    except SubmissionError as err:
        report["notes"].append(str(err))
        report["functions"] = [FunctionResult(s.name, "crashed", 0.0, s.points, f"the submission could not be "
                                              f"read: {err}").to_dict() for s in specs]
        return _finish(report, started)
    report["notes"].extend(extracted.notes)

    per_function, runner_calls, arrays = plan(assignment, seed)
    run = None
    if extracted.found - set(extracted.forbidden):
        run = run_submission(extracted.source, runner_calls, arrays, limits)
        report["run"] = {"seconds": round(run.seconds, 3), "peak_memory_mb": round(run.peak_memory_mb, 1),
                         "stopped": run.reason, "load_error": run.load_error,
                         "output_head": run.log[:1000]}  # the submission's own prints, for the instructor
    for spec, calls, exps, ids in per_function:
        if spec.name in extracted.forbidden:
            result = FunctionResult(spec.name, "forbidden_import", 0.0, spec.points,
                                    f"`{spec.name}` {extracted.forbidden[spec.name]}: graded functions must be your "
                                    "own code, not the course library's reference.")
        elif spec.name not in extracted.found:
            result = FunctionResult(spec.name, "missing_function", 0.0, spec.points,
                                    f"no function or class named `{spec.name}` was found in the submission.")
        else:
            outcomes = [_outcome_or_failure(run, cid) for cid in ids]
            result = judge(spec, calls, outcomes, exps)
            node = next((n for n in extracted.tree.body if getattr(n, "name", None) == spec.name), None)
            ref_fn = _library_function(spec.name)
            if node is not None and ref_fn is not None:
                similarity = copy_similarity(node, ref_fn)
                if similarity >= COPY_THRESHOLD:
                    result.flags.append(f"near-identical to the library's {ref_fn.__name__} "
                                        f"(normalised AST similarity {similarity:.2f}): review by hand")
        report["functions"].append(result.to_dict())
    return _finish(report, started)


def _outcome_or_failure(run, cid) -> dict:
    """The call's outcome, or why there is none (the process was stopped or died before it)."""
    out = run.outcomes.get(cid) if run else None
    if out is not None:
        if out.get("error") and "forbidden import" in out["error"]:
            out["forbidden"] = True
        return out
    if run and run.reason == "out_of_memory":
        return {"out_of_memory": True}
    if run and run.reason == "timeout":
        return {"timeout": True}
    if run and run.load_error:
        return {"error": f"the submission failed to load: {run.load_error}"}
    why = {"too_many_processes": "it started too many processes"}.get(run.reason if run else None,
                                                                       "the grading process died")
    return {"error": f"no result ({why})"}


def _finish(report: dict, started: float) -> dict:
    report["score"] = round(sum(f["score"] for f in report["functions"]), 6)
    report["max_score"] = round(sum(f["max_score"] for f in report["functions"]), 6)
    report["flags"] = [f"{f['name']}: {flag}" for f in report["functions"] for flag in f["flags"]]
    report["seconds"] = round(time.monotonic() - started, 3)
    return report


def gradescope_results(report: dict) -> dict:
    """Gradescope's results.json (https://gradescope-autograders.readthedocs.io/en/latest/specs/)."""
    tests = [{"name": f["name"], "score": f["score"], "max_score": f["max_score"],
              "status": "passed" if f["status"] == "passed" else "failed",
              "output": f"[{f['status']}] {f['feedback']}", "visibility": "visible"} for f in report["functions"]]
    return {"score": report["score"], "execution_time": report["seconds"], "tests": tests,
            "output": f"seed {report['seed']}" + ("; " + "; ".join(report["notes"]) if report["notes"] else ""),
            "visibility": "visible", "stdout_visibility": "hidden"}


def _pick(folder: Path, assignment: str) -> Path | None:
    """The one submission in a student's folder: a notebook named like the assignment, else any notebook, else
    a .py named like it, else any .py (a torch.py or conftest.py beside the notebook is never picked over it)."""
    candidates = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in SUBMISSION_SUFFIXES
                  and ".ipynb_checkpoints" not in p.parts]
    notebooks = [p for p in candidates if p.suffix == ".ipynb"]
    pool = notebooks or candidates
    named = [p for p in pool if p.stem.lower().startswith(assignment)]
    return (named or pool or [None])[0]


def find_submissions(path: Path, assignment: str, single: bool = False) -> list[tuple[str, Path]]:
    """(student, file) pairs under ``path``: files directly in it, or one submission per sub-folder; with
    ``single``, the folder itself is one student's upload (Gradescope's /autograder/submission)."""
    if path.is_file():
        return [(ids.parse_name(path.name, assignment).student or path.stem, path)]
    if single:
        picked = _pick(path, assignment)
        return [("submission", picked)] if picked else []
    found, _ = ids.scan_folder(path, assignment)  # files: the student id by the same rules as zip_collect
    for entry in sorted(path.iterdir()):
        if entry.is_dir() and not ids.is_ignored(entry.name):
            picked = _pick(entry, assignment)
            if picked:
                found.append((ids.folder_student(entry.name), picked))
    return sorted(found, key=lambda s: str(s[1]))


def _safe_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", student)[:100] or "student"


def grade_path(path: str | Path, assignment: str, out_dir: str | Path, seed: int | None = None,
               limits: Limits | None = None, jobs: int = 1, single: bool = False) -> list[dict]:
    """Grade a submission or a folder of them; write <student>.json, <student>.results.json (Gradescope), the
    class CSV grades.csv, and results.json when there is one submission (Gradescope reads that one)."""
    path, out_dir = Path(path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = secrets.randbits(31) if seed is None else int(seed)
    subs = find_submissions(path, assignment, single)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reports = list(pool.map(lambda s: grade_file(s[1], assignment, seed, limits, s[0]), subs))
    for report in reports:
        name = _safe_name(report["student"])
        (out_dir / f"{name}.json").write_text(json.dumps(report, indent=1))
        (out_dir / f"{name}.results.json").write_text(json.dumps(gradescope_results(report), indent=1))
    if len(reports) == 1:
        (out_dir / "results.json").write_text(json.dumps(gradescope_results(reports[0]), indent=1))
    names = [s.name for s in specs_mod.SPECS[assignment]]
    with open(out_dir / "grades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "score", "max_score", "seed", *names, *[f"{n}_status" for n in names],
                         "flags"])
        for r in reports:
            by = {fn["name"]: fn for fn in r["functions"]}
            writer.writerow([r["student"], r["score"], r["max_score"], r["seed"],
                             *[by[n]["score"] for n in names], *[by[n]["status"] for n in names],
                             " | ".join(r["flags"])])
    return reports
