"""Gradescope: build the autograder zip, and grade one upload inside Gradescope's container.

    python -m autograder gradescope ps1 --out ps1.zip     # upload ps1.zip as the assignment's autograder
    python -m autograder gradescope ps1 --run /autograder  # what run_autograder calls for each submission

The zip holds this repository's grader and library at its root (Gradescope unpacks it into /autograder/source),
with ``setup.sh`` (apt-get update, Python, CPU PyTorch from the PyTorch CPU index, ``pip install`` of the
repository) and ``run_autograder`` (with its ``#!`` line, executable) next to them. It leaves out solutions/,
lectures/ and the tests: nothing in it is a solution.

``--run`` always writes /autograder/results/results.json: an upload without a notebook gets score 0 and a message
that says what to upload; an upload with several notebooks is graded on the one named like the problem set (the
newest, if there are several) and the output says which one was graded and which were not.
"""
from __future__ import annotations

import json
import os
import stat
import time
import traceback
import zipfile
from pathlib import Path

from .. import ids
from .. import specs as specs_mod

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPTS = ("setup.sh", "run_autograder")
HOW_TO_UPLOAD = ("Upload your notebook file (.ipynb): in Colab, File > Download > Download .ipynb; in JupyterLab, "
                 "File > Download. A PDF, a zip or a link cannot be graded.")


def zip_members(assignment: str, root: Path = REPO) -> dict[str, Path]:
    """{name in the zip: file}: pyproject/README, the library, the grader (no tests), the released notebooks."""
    members = {"pyproject.toml": root / "pyproject.toml", "README.md": root / "README.md"}
    for package in ("ssl_course", "autograder"):
        for path in sorted((root / package).rglob("*")):
            rel = path.relative_to(root)
            if (path.is_file() and "__pycache__" not in rel.parts and "tests" not in rel.parts
                    and not (package == "autograder" and rel.parts[1:2] == ("gradescope",) and path.name in SCRIPTS)):
                members[rel.as_posix()] = path
    for path in sorted((root / "assignments" / assignment).glob("*.ipynb")):
        members[path.relative_to(root).as_posix()] = path
    return members


def build_zip(assignment: str, out: str | Path, root: Path = REPO) -> Path:
    """Write the Gradescope autograder zip for ``assignment``; returns its path."""
    if assignment not in specs_mod.SPECS:
        raise ValueError(f"unknown problem set {assignment!r} (known: {', '.join(sorted(specs_mod.SPECS))})")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    fixed_time = (2020, 1, 1, 0, 0, 0)  # the same repository gives the same zip
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in SCRIPTS:
            text = (HERE / name).read_text().replace("@ASSIGNMENT@", assignment)
            info = zipfile.ZipInfo(name, fixed_time)
            info.external_attr = (stat.S_IFREG | 0o755) << 16
            zf.writestr(info, text)
        for name, path in zip_members(assignment, root).items():
            info = zipfile.ZipInfo(name, fixed_time)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    os.replace(tmp, out)
    return out


def _uploads(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.rglob("*")) if p.is_file()
            and not any(ids.is_ignored(part) or part == ".ipynb_checkpoints" for part in p.relative_to(folder).parts)]


def choose(files: list[Path], assignment: str) -> tuple[Path | None, str]:
    """The file to grade among an upload's files, and a sentence for the student about the choice."""
    candidates = [p for p in files if p.suffix.lower() in ids.SUBMISSION_SUFFIXES]
    notebooks = [p for p in candidates if p.suffix.lower() == ".ipynb"]
    pool = notebooks or candidates
    if not pool:
        listed = ", ".join(p.name for p in files[:10]) or "nothing"
        return None, f"No notebook (.ipynb) was found in your upload (it held: {listed}). {HOW_TO_UPLOAD}"
    names = ids.notebooks(assignment)

    def named_like_the_problem_set(p: Path) -> bool:
        return ids._find_notebook(ids._DUPLICATE.sub("", p.stem), names + (assignment,)) is not None

    ranked = sorted(pool, key=lambda p: (named_like_the_problem_set(p), p.stat().st_mtime, p.name), reverse=True)
    chosen = ranked[0]
    if len(pool) == 1:
        return chosen, f"Graded {chosen.name}."
    others = ", ".join(p.name for p in ranked[1:])
    return chosen, (f"Your upload held {len(pool)} notebooks: graded {chosen.name} (named like {assignment}"
                    f"{', the newest' if named_like_the_problem_set(ranked[1]) else ''}); not graded: {others}.")


def _zero_results(assignment: str, message: str) -> dict:
    tests = [{"name": s.name, "score": 0.0, "max_score": float(s.points), "status": "failed",
              "output": "not graded: " + message, "visibility": "visible"} for s in specs_mod.SPECS[assignment]]
    return {"score": 0.0, "tests": tests, "output": message, "visibility": "visible", "stdout_visibility": "hidden"}


def run(assignment: str, root: str | Path = "/autograder") -> int:
    """Grade /autograder/submission into /autograder/results/results.json (always written)."""
    from ..grade import gradescope_results, grade_file

    root = Path(root)
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        chosen, note = choose(_uploads(root / "submission"), assignment)
        if chosen is None:
            results = _zero_results(assignment, note)
        else:
            report = grade_file(chosen, assignment, student="submission")
            results = gradescope_results(report)
            results["output"] = note + " " + results.get("output", "")
        print(note)
    except Exception as err:  # noqa: BLE001 - the student must still get a results.json
        traceback.print_exc()
        results = _zero_results(assignment, f"The autograder failed on this upload ({type(err).__name__}); "
                                            "your instructor has been told. " + HOW_TO_UPLOAD)
    results["execution_time"] = round(time.monotonic() - started, 3)
    tmp = results_dir / "results.json.part"
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, results_dir / "results.json")
    print(f"score {results['score']:g}")
    return 0
