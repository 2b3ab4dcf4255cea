"""Student ids from download names: one set of rules for nbgrader's zip_collect and the isolated grader."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder.gradebook import ensure_assignment
from autograder.grade import find_submissions
from autograder.ids import folder_student, parse_name

REPO = Path(__file__).resolve().parents[2]
NB = "ps1_contrastive_basics"


@pytest.mark.parametrize("name, student", [
    (f"alice_{NB}.ipynb", "alice"),
    (f"john.doe_{NB}.ipynb", "john.doe"),                                   # a dot in the id
    (f"j_smith_{NB}.ipynb", "j_smith"),                                     # an underscore in the id
    (f"dave@uni.edu_{NB}.ipynb", "dave@uni.edu"),
    (f"bob_{NB} (1).ipynb", "bob"),                                         # the browser's second download
    (f"erin_Copy of {NB}.ipynb", "erin"),                                   # Colab's download name
    (f"carol_Copy_of_{NB} (2).ipynb", "carol"),
    (f"doefrank_12345_67890_{NB}.ipynb", "doefrank"),                       # Canvas
    (f"doefrank_LATE_12345_67890_{NB}-1.ipynb", "doefrank"),                # Canvas, late, second upload
    (f"smithj_99_100_Copy of {NB}.ipynb", "smithj"),                        # Canvas + Colab
    (f"Frank Doe_4711_assignsubmission_file_{NB}.ipynb", "Frank_Doe"),      # Moodle
    (f"alice_PS1-Contrastive Basics.ipynb", "alice"),                       # separators and case
    ("bob_ps1.ipynb", "bob"),                                               # the problem set's name alone
    ("alice.ipynb", "alice"),                                               # no notebook name: the id itself
    (f"{NB}.ipynb", None),                                                  # nobody's
    (f"Copy of {NB}.ipynb", None),
    (f"{NB} (1).ipynb", None),
])
def test_parse_name(name, student):
    parsed = parse_name(name, "ps1")
    assert parsed.student == student
    assert parsed.notebook == NB


def test_moodle_folders_and_nbgrader_folders():
    assert folder_student("Frank Doe_4711_assignsubmission_file") == "Frank_Doe"
    assert folder_student("john.doe") == "john.doe"
    assert folder_student("Alice Smith") == "Alice Smith"  # nbgrader's submitted/<id>/ is taken as it is


def test_isolated_grader_uses_the_same_ids(tmp_path):
    for name in (f"john.doe_{NB}.ipynb", f"j_smith_{NB} (1).ipynb", f"erin_Copy of {NB}.ipynb",
                 f"doefrank_12345_67890_{NB}.ipynb", f"{NB}.ipynb", "notes.pdf", ".DS_Store"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "Frank Doe_4711_assignsubmission_file").mkdir()
    (tmp_path / "Frank Doe_4711_assignsubmission_file" / f"{NB}.ipynb").write_text("{}")
    found = {student for student, _ in find_submissions(tmp_path, "ps1")}
    assert found == {"john.doe", "j_smith", "erin", "doefrank", "Frank_Doe"}


def test_two_downloads_of_one_student_grade_the_newer_and_say_so(tmp_path):
    import os

    from autograder.ids import scan_folder

    old, new = tmp_path / f"bob_{NB}.ipynb", tmp_path / f"bob_{NB} (1).ipynb"
    old.write_text("{}")
    new.write_text("{}")
    os.utime(old, (1_000_000, 1_000_000))
    matched, problems = scan_folder(tmp_path, "ps1")
    assert matched == [("bob", new)]
    assert problems == [f"{old.name}: another file of student bob; graded the newer {new.name}"]


def test_grade_lists_unmatched_files_and_exits_1(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / f"alice_{NB}.py").write_text("def rotate_batch(images):\n    raise NotImplementedError\n")
    (subs / f"{NB}.ipynb").write_text("{}")
    (subs / "alice_report.pdf").write_text("%PDF")
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--assignment", "ps1", "--out",
                           str(tmp_path / "out"), "--seed", "1", "--timeout", "60"], cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "alice: 0/12" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert f"not graded: {NB}.ipynb: the file name does not say which student" in proc.stderr
    assert "not graded: alice_report.pdf: not a notebook" in lines[-1] or "alice_report.pdf" in proc.stderr


def test_failed_autograde_hook_creates_no_student(tmp_path, capsys):
    """No solutions/psX to add it from: the hook stops nbgrader before any student is created."""
    (tmp_path / "solutions").mkdir()
    with pytest.raises(SystemExit):
        ensure_assignment("ps9", tmp_path)
    assert "no student was created" in capsys.readouterr().err
    assert not (tmp_path / "grading" / "gradebook.db").exists()
