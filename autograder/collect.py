"""``python -m autograder collect ps1 ARCHIVE_OR_FILE...``: nbgrader's zip_collect for an LMS download, in one step.

Copies the archives (or loose notebooks) into ``downloaded/<ps>/archive/`` (git-ignored; emptied first, so an
old download is not collected again) and runs ``nbgrader zip_collect <ps> --force`` with this course's
configuration: student ids by ``autograder.ids`` (Canvas, Moodle, Colab's "Copy of", the browser's " (1)"), every
file it cannot match listed at the end and the exit code 1.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .generate import nbgrader_env
from .gradebook import course_root

HERE = Path(__file__).resolve().parent


def collect(assignment: str, sources: list[str], root: str | Path | None = None) -> int:
    root = course_root(root)
    missing = [s for s in sources if not Path(s).is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not (root / "assignments" / assignment).is_dir():
        print(f"error: no problem set {assignment} in {root / 'assignments'}", file=sys.stderr)
        return 2
    archive = root / "downloaded" / assignment / "archive"
    if archive.exists():
        shutil.rmtree(archive)
    archive.mkdir(parents=True)
    for source in sources:
        shutil.copy(source, archive / Path(source).name)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force"], cwd=HERE,
                          env=nbgrader_env(root))
    return proc.returncode
