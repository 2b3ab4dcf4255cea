"""nbgrader end to end, in a temporary course directory: generate_assignment, zip_collect of an LMS download
(two students: the solution and the untouched student notebook), autograde, generate_feedback (no hidden test
source, no traceback), export. Then the isolated grader on nbgrader's submitted/ folder gives the same scores.
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from autograder.generate import nbgrader_env
from autograder.grade import grade_path
from autograder.sandbox import Limits

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "ps1_contrastive_basics.ipynb"
AUTO_POINTS = 8  # PS1's autograded points (the written answer is graded by hand)


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=nbgrader_env(course),
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(REPO / "solutions", course / "solutions")
    shutil.copyfile(REPO / "autograder" / "nbgrader_config.py", course / "nbgrader_config.py")
    nbgrader(course, "generate_assignment", "ps1", "--force")
    released = course / "assignments" / "ps1" / NOTEBOOK
    assert released.exists()
    # an LMS download: one zip holding "<student>_<notebook>" files
    archive = course / "downloaded" / "ps1" / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "submissions.zip", "w") as zf:
        zf.write(course / "solutions" / "ps1" / NOTEBOOK, f"alice_{NOTEBOOK}")
        zf.write(released, f"bob_{NOTEBOOK}")
    nbgrader(course, "zip_collect", "ps1", "--force")
    for student in ("alice", "bob"):
        assert (course / "grading" / "submitted" / student / "ps1" / NOTEBOOK).exists()
    nbgrader(course, "autograde", "ps1", "--create", "--force")
    nbgrader(course, "generate_feedback", "ps1", "--force")
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    return course


@pytest.mark.slow
@pytest.mark.notebooks
def test_export_scores(course):
    rows = {r["student_id"]: r for r in csv.DictReader(open(course / "grades.csv"))}
    assert float(rows["alice"]["raw_score"]) == AUTO_POINTS
    assert float(rows["bob"]["raw_score"]) == 0.0


@pytest.mark.slow
@pytest.mark.notebooks
def test_feedback_hides_hidden_tests(course):
    for student in ("alice", "bob"):
        html = (course / "grading" / "feedback" / student / "ps1" / NOTEBOOK.replace(".ipynb", ".html")).read_text()
        for secret in ("BEGIN HIDDEN TESTS", "autograder.checks", "check(&quot;nt_xent", 'check("nt_xent',
                       "Traceback (most recent call last)"):
            assert secret not in html, (student, secret)
    bob = (course / "grading" / "feedback" / "bob" / "ps1" / NOTEBOOK.replace(".ipynb", ".html")).read_text()
    assert "NotImplementedError" in bob  # the student still learns what failed


@pytest.mark.slow
@pytest.mark.notebooks
def test_isolated_grader_agrees_on_submitted_folder(course, tmp_path):
    reports = grade_path(course / "grading" / "submitted", "ps1", tmp_path, seed=3, limits=Limits(wall_seconds=60),
                         jobs=2)
    scores = {r["student"]: r["score"] for r in reports}
    assert scores == {"alice": AUTO_POINTS, "bob": 0.0}
    gradescope = json.loads((tmp_path / "alice.results.json").read_text())
    assert gradescope["score"] == AUTO_POINTS
