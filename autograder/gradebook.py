"""``python -m autograder gradebook [ps1 ...]``: put the problem sets into nbgrader's gradebook.

``nbgrader autograde`` needs each assignment, its notebooks and their graded cells in the gradebook
(``grading/gradebook.db``, git-ignored). nbgrader only writes them there from ``generate_assignment``, which also
rewrites the committed ``assignments/``. This runs ``generate_assignment`` in a throwaway copy of the course
(``autograder.generate.build``) with the real gradebook as its database: the gradebook gets every problem set,
the committed student notebooks are never touched. Running it again updates the same entries (idempotent), and
existing students and grades stay.

``nbgrader autograde psN`` also calls ``ensure_assignment`` before its first student (a ``pre_convert_hook`` in
``nbgrader_config.py``), so on a fresh clone it works without this command; if the problem set cannot be added,
it stops before creating any student in the gradebook.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .generate import build, problem_sets

HERE = Path(__file__).resolve().parent
COURSE_ID = "ssl-course"


def course_root(root: str | Path | None = None) -> Path:
    """The course directory nbgrader_config.py uses: ``SSL_COURSE_GRADING_ROOT`` or the repository root."""
    return Path(root or os.environ.get("SSL_COURSE_GRADING_ROOT") or HERE.parent).resolve()


def gradebook_url(root: Path) -> str:
    return "sqlite:///" + str(root / "grading" / "gradebook.db")


def assignments_in_gradebook(root: Path) -> set[str]:
    if not (root / "grading" / "gradebook.db").exists():
        return set()
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(root), COURSE_ID) as gb:
        return {a.name for a in gb.assignments}


def prepare(root: str | Path | None = None, assignments: list[str] | None = None, log=print) -> int:
    """Add or update ``assignments`` (default: every problem set) in the gradebook; 1 if assignments/ is stale."""
    root = course_root(root)
    known = problem_sets(root)
    unknown = sorted(set(assignments or []) - set(known))
    if unknown:
        log(f"error: no problem set {', '.join(unknown)} in {root / 'solutions'} (known: {', '.join(known)})")
        return 2
    assignments = assignments or known
    (root / "grading").mkdir(exist_ok=True)
    generated = build(root, db_url=gradebook_url(root), assignments=assignments)
    stale = [rel for rel, text in sorted(generated.items())
             if not (root / "assignments" / rel).exists()
             or (root / "assignments" / rel).read_text(encoding="utf-8") != text]
    log(f"gradebook {root / 'grading' / 'gradebook.db'}: {', '.join(assignments)} ready "
        "(assignments/ left as it is)")
    _report_students(root, assignments, log)
    if stale:
        log("warning: assignments/ differs from what solutions/ generates for " + ", ".join(stale) + ": the "
            "gradebook describes the solutions' test cells; run `python -m autograder generate` and release again")
        return 1
    return 0


def _report_students(root: Path, assignments: list[str], log) -> None:
    """Per problem set: submissions waiting in grading/submitted/ that the gradebook has not autograded yet."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_url(root), COURSE_ID) as gb:
        for assignment in assignments:
            graded = {s.student.id for s in gb.find_assignment(assignment).submissions}
            submitted = sorted(p.parent.name for p in (root / "grading" / "submitted").glob(f"*/{assignment}")
                               if p.is_dir())
            waiting = [s for s in submitted if s not in graded]
            line = f"  {assignment}: {len(submitted)} submitted, {len(graded)} autograded"
            log(line + (f"; not autograded yet: {', '.join(waiting)}" if waiting else ""))


def ensure_assignment(assignment: str, root: str | Path | None = None, log=None) -> None:
    """Add ``assignment`` to the gradebook unless it is there (nbgrader autograde's pre_convert_hook).

    On failure this exits the nbgrader command (SystemExit passes through nbgrader's hook wrapper, which swallows
    exceptions) before the first student is created."""
    log = log or (lambda text: print(text, file=sys.stderr))
    root = course_root(root)
    if not assignment or any(ch in assignment for ch in "*?["):
        return
    if assignment in assignments_in_gradebook(root):
        return
    if not (root / "solutions" / assignment).is_dir():
        log(f"[autograder] error: {assignment} is not in the gradebook and there is no solutions/{assignment} to "
            "add it from; no student was created")
        raise SystemExit(1)
    log(f"[autograder] {assignment} is not in the gradebook yet: adding it from solutions/{assignment} "
        "(what `python -m autograder gradebook` does)")
    try:
        build(root, db_url=gradebook_url(root), assignments=[assignment])
    except Exception as err:  # noqa: BLE001 - any failure: stop before nbgrader creates students
        log(f"[autograder] error: could not add {assignment} to the gradebook: {err}; no student was created")
        raise SystemExit(1) from None
