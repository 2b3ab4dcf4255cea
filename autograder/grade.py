"""Grading submissions: extract, run isolated, compare, report.

    grade_path("submissions/", "ps1", out_dir="grades/", seed=1234)

A submission is a .ipynb or .py file; a folder holds one submission per file (an LMS zip unpacked) or per
sub-folder (nbgrader's ``submitted/<student>/<assignment>/``). Every score is decided here from the arrays the
child wrote; the child's exit code and printed text only ever choose between failure statuses.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import stat
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from . import ids
from . import specs as specs_mod
from .compare import FunctionResult, expected, judge
from .extract import (SubmissionError, copy_similarity, extract, graded_node, read_cells_from_bytes,
                      read_submission_bytes)
from .sandbox import Limits, detect_isolation, run_submission

COPY_THRESHOLD = 0.93
SUBMISSION_SUFFIXES = (".ipynb", ".py")
MAX_ENTRIES = 20_000  # files looked at in a submissions folder (and in one student's folder)
MAX_DEPTH = 8
REPORT_VERSION = 2


class GradingError(Exception):
    """The grader cannot do its job (an output path it cannot write); the message says what to fix."""


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
                    args.append({"generator": a.seed, "skip": a.skip})
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


# graded name -> the course library's functions a copy of it would come from (copy detection; calling them is
# already refused as a forbidden import of ssl_course, whichever module)
_LIBRARY = {"nt_xent_loop": (("losses", "nt_xent"),),
            "random_resized_crop": (("augment", "random_resized_crop"), ("augment", "crop_boxes"),
                                    ("augment", "resized_crop")),
            "knn_predict": (("evaluate", "knn_predict"),)}


def _library_functions(name: str) -> list:
    import importlib  # noqa: PLC0415 - the library is only needed for copy detection
    found = []
    for module, attr in _LIBRARY.get(name, (("losses", name),)):
        fn = getattr(importlib.import_module(f"ssl_course.{module}"), attr, None)
        if fn is not None:
            found.append(fn)
    return found


def grade_file(path: str | Path, assignment: str, seed: int | None = None, limits: Limits | None = None,
               student: str | None = None) -> dict:
    """Grade one submission file; returns the per-student report (a JSON-able dict)."""
    path = Path(path)
    seed = secrets.randbits(31) if seed is None else int(seed)
    student = student or path.stem
    started = time.monotonic()
    specs = specs_mod.SPECS[assignment]
    names = [s.name for s in specs]
    iso = detect_isolation()
    report = {"student": student, "submission": str(path), "assignment": assignment, "seed": seed,
              "functions": [], "notes": [], "run": {}, "isolation": iso.to_dict(), "sha256": None,
              "version": REPORT_VERSION}
    try:
        raw = read_submission_bytes(path)
        report["sha256"] = hashlib.sha256(raw).hexdigest()
        extracted = extract(read_cells_from_bytes(raw, path), names)
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
        if run.isolation:
            report["isolation"] = run.isolation
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
            node = graded_node(extracted, spec.name)
            scored = [(copy_similarity(node, f), f) for f in _library_functions(spec.name)] if node is not None else []
            if scored:
                similarity, ref_fn = max(scored, key=lambda sf: sf[0])
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
    why = {"too_many_processes": "it started too many processes",
           "disk_quota": "it wrote more files than its working folder may hold"}.get(run.reason if run else None,
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


def _walk(folder: Path, max_entries: int = MAX_ENTRIES, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Every entry under ``folder`` that is not a directory, without following symbolic links, bounded in
    entries and depth (a folder of a million files, or a deep chain, costs nothing)."""
    found, stack, seen = [], [(folder, 0)], 0
    while stack and seen < max_entries:
        current, depth = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            seen += 1
            if seen > max_entries:
                break
            if e.is_dir(follow_symlinks=False):
                if depth + 1 < max_depth and e.name != ".ipynb_checkpoints":
                    stack.append((Path(e.path), depth + 1))
            else:
                found.append(Path(e.path))
    return sorted(found)


def _pick(folder: Path, assignment: str) -> Path | None:
    """The one submission in a student's folder: a notebook named like the assignment, else any notebook, else
    a .py named like it, else any .py (a torch.py or conftest.py beside the notebook is never picked over it).
    Entries are never followed through symbolic links; a picked entry that is not a regular file (a symlink to
    the solution, a FIFO) is refused when it is read, and scores zero."""
    candidates = [p for p in _walk(folder) if p.suffix in SUBMISSION_SUFFIXES]
    notebooks = [p for p in candidates if p.suffix == ".ipynb"]
    pool = notebooks or candidates
    named = [p for p in pool if p.stem.lower().startswith(assignment)]
    return (named or pool or [None])[0]


def find_submissions(path: Path, assignment: str, single: bool = False) -> list[tuple[str, Path]]:
    """(student, file) pairs under ``path``: files directly in it, or one submission per sub-folder; with
    ``single``, the folder itself is one student's upload (Gradescope's /autograder/submission). Student ids follow
    the same rules as nbgrader's collection (``autograder.ids``).

    Uses lstat only: a symbolic link, FIFO or device named like a submission is listed (and refused when graded,
    scoring zero with a note), never followed or opened here."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError:
        return []
    if not stat.S_ISDIR(st.st_mode):
        return [(ids.parse_name(path.name, assignment).student or path.stem, path)]
    if single:
        picked = _pick(path, assignment)
        return [("submission", picked)] if picked else []
    found, _ = ids.scan_folder(path, assignment, MAX_ENTRIES)  # files directly in the folder
    try:
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)[:MAX_ENTRIES]
    except OSError:
        entries = []
    for entry in entries:  # one submission per student folder (nbgrader's submitted/<student>/, Moodle folders)
        if ids.is_ignored(entry.name) or entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
            continue
        picked = _pick(Path(entry.path), assignment)
        if picked:
            found.append((ids.folder_student(entry.name), picked))
    return sorted(found, key=lambda s: str(s[1]))


RESERVED_NAMES = {"results", "grades"}


def _safe_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", student)[:100] or "student"


def _is_free(out_dir: Path, name: str) -> bool:
    """Neither report path of ``name`` is taken by something that is not a regular file (a directory...)."""
    for suffix in (".json", ".results.json"):
        try:
            st = os.lstat(out_dir / f"{name}{suffix}")
        except FileNotFoundError:
            continue
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
    return True


def report_names(students: list[str], out_dir: Path) -> tuple[list[str], list[str]]:
    """A report name per student (same order) that cannot collide, case-insensitively, with another student's,
    with grades.csv / results.json, or with something already in ``out_dir`` that is not a report; and the
    warnings for every name that needed a suffix."""
    taken, names, warnings = set(RESERVED_NAMES), [], []
    for student in students:
        base = _safe_name(student)
        name, k = base, 1
        while name.lower() in taken or not _is_free(out_dir, name):
            k += 1
            name = f"{base}-{k}"
        if name != base:
            warnings.append(f"the report name {base!r} of student {student!r} is taken; written as {name!r}")
        taken.add(name.lower())
        names.append(name)
    return names, warnings


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text, never evaluates: formula-like text gets a leading apostrophe."""
    if isinstance(value, str):
        value = value.replace("\r", " ").replace("\n", " ")
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%"):
        return "'" + value
    return value


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename: a reader (or a
    grader killed in between) sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _check_out_dir(out_dir: Path, single: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise GradingError(f"--out {out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("grades.csv", "results.json"):
        target = out_dir / name
        if os.path.lexists(target) and not stat.S_ISREG(os.lstat(target).st_mode):
            raise GradingError(f"{target} exists and is not a regular file (a folder or a link): remove it or "
                               "choose another --out; nothing was graded")
    if not os.access(out_dir, os.W_OK):
        raise GradingError(f"--out {out_dir} is not writable")


def _previous_report(out_dir: Path, name: str, student: str, submission: Path, assignment: str) -> dict | None:
    """The complete report of this student's unchanged submission from an earlier run into the same folder."""
    path = out_dir / f"{name}.json"
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 5_000_000:
            return None
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(report, dict) or report.get("version") != REPORT_VERSION or not report.get("complete") \
            or report.get("student") != student or report.get("submission") != str(submission) \
            or report.get("assignment") != assignment:
        return None
    try:
        digest = hashlib.sha256(read_submission_bytes(submission)).hexdigest()
    except SubmissionError:
        digest = None
    return report if report.get("sha256") == digest else None


def _write_report(out_dir: Path, name: str, report: dict) -> None:
    write_atomic(out_dir / f"{name}.results.json", json.dumps(gradescope_results(report), indent=1))
    write_atomic(out_dir / f"{name}.json", json.dumps(report, indent=1))  # last: its presence means "complete"


def grade_path(path: str | Path, assignment: str, out_dir: str | Path, seed: int | None = None,
               limits: Limits | None = None, jobs: int = 1, single: bool = False, force: bool = False,
               on_report=None) -> list[dict]:
    """Grade a submission or a folder of them; write <student>.json, <student>.results.json (Gradescope) as each
    student finishes, then the class CSV grades.csv, and results.json when there is one submission (Gradescope
    reads that one). A rerun into the same ``out_dir`` skips students whose complete report is there for the same
    submission (unless ``force``). ``on_report(report)`` is called as each report is written."""
    path, out_dir = Path(path), Path(out_dir)
    _check_out_dir(out_dir, single)
    seed = secrets.randbits(31) if seed is None else int(seed)
    subs = find_submissions(path, assignment, single)
    names, warnings = report_names([s for s, _ in subs], out_dir)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    reports: list[dict | None] = [None] * len(subs)
    todo = []
    for i, ((student, sub), name) in enumerate(zip(subs, names)):
        previous = None if force else _previous_report(out_dir, name, student, sub, assignment)
        if previous is not None:
            previous["resumed"] = True
            reports[i] = previous
        else:
            todo.append(i)

    def one(i):
        student, sub = subs[i]
        report = grade_file(sub, assignment, seed, limits, student)
        report["report_name"] = names[i]
        report["notes"].extend(w for w in warnings if f"student {student!r}" in w)
        report["complete"] = True
        return i, report

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, i) for i in todo]
        for fut in as_completed(futures):
            i, report = fut.result()
            _write_report(out_dir, names[i], report)  # at once: a later crash or kill loses nothing finished
            reports[i] = report
            if on_report is not None:
                on_report(report)
    done = [r for r in reports if r is not None]
    if len(done) == 1:
        write_atomic(out_dir / "results.json", json.dumps(gradescope_results(done[0]), indent=1))
    specs = specs_mod.SPECS[assignment]
    fn_names = [s.name for s in specs]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["student", "score", "max_score", "seed", *fn_names,
                     *[f"{n}_status" for n in fn_names], "flags", "report", "isolation", "notes"])
    for r in done:
        by = {fn["name"]: fn for fn in r["functions"]}
        writer.writerow([csv_cell(c) for c in
                         [r["student"], r["score"], r["max_score"], r["seed"],
                          *[by[n]["score"] if n in by else 0 for n in fn_names],
                          *[by[n]["status"] if n in by else "missing" for n in fn_names],
                          " | ".join(r["flags"]), r.get("report_name", ""),
                          (r.get("isolation") or {}).get("mode", "?"), " | ".join(r["notes"])[:500]]])
    write_atomic(out_dir / "grades.csv", buf.getvalue())
    return done
