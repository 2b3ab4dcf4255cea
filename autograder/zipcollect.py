"""nbgrader ``zip_collect`` for real LMS downloads: student ids by ``autograder.ids`` (the isolated grader's rules).

nbgrader's own ``FileNameCollectorPlugin`` matches one regular expression and skips every other file with a
warning and exit code 0. This collector names the student and the notebook with ``autograder.ids.parse_name``
(Canvas, Moodle, Colab's "Copy of", the browser's " (1)", ids with ``.`` and ``_``), collects every file it can
match, and then fails the command (exit 1) with one line per file it could not match, so none is lost quietly.
"""
from __future__ import annotations

import os

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin

from . import ids


class SubmissionNameCollector(FileNameCollectorPlugin):
    """``c.ZipCollectApp.collector_plugin = "autograder.zipcollect.SubmissionNameCollector"``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unmatched: list[str] = []
        app = self.parent
        # ZipCollectApp has no hook after its last file: report the unmatched files once the matched ones are
        # copied (nbgrader 0.9's _transfer_files), so the good submissions are collected and the command fails.
        if app is not None and hasattr(app, "_transfer_files"):
            transfer = app._transfer_files

            def transfer_then_report(collected):
                transfer(collected)
                if self.unmatched:
                    app.fail("{} file(s) could not be matched to a student and were NOT collected "
                             "(rename each to <student>_<notebook>.ipynb in the archive folder and run zip_collect "
                             "again):\n  {}".format(len(self.unmatched), "\n  ".join(self.unmatched)))

            app._transfer_files = transfer_then_report

    def _assignment(self) -> str:
        return getattr(getattr(self.parent, "coursedir", None), "assignment_id", "") or ""

    def collect(self, submitted_file: str):
        name = os.path.basename(submitted_file)
        folder = os.path.basename(os.path.dirname(submitted_file))
        if ids.is_ignored(name) or "__MACOSX" in submitted_file.split(os.sep):
            return None
        assignment = self._assignment()
        if os.path.splitext(name)[1].lower() not in self.valid_ext:
            self.unmatched.append(f"{name}: not a notebook (.ipynb)")
            return None
        coursedir = getattr(self.parent, "coursedir", None)
        root = getattr(coursedir, "root", None)
        names = ids.notebooks(assignment, root)
        parsed = ids.parse_name(name, assignment, names)
        if parsed.student is None and folder:  # Moodle "download in folders": the folder names the student
            student = ids.folder_student(folder)
            parsed = parsed._replace(student=student if student != folder else None)
        if parsed.student is None or parsed.notebook is None:
            why = "no student id in the name" if parsed.student is None else "not one of " + ", ".join(names)
            self.unmatched.append(f"{name}: {why}")
            return None
        self.log.info("%s -> student %s, notebook %s", name, parsed.student, parsed.notebook)
        return {"student_id": parsed.student, "file_id": parsed.notebook + ".ipynb"}
