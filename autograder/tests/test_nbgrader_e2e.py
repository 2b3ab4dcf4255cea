"""The instructor workflow end to end, as README.md documents it, in a temporary copy of the repository.

Routes: nbgrader (gradebook, collect, autograde, feedback, export), the isolated grader on grading/submitted/, and
the Gradescope zip built by the documented command, unpacked into a simulated /autograder and run per student.

A class of four PS1 submissions with real download names (``classroom.py``: a correct one, one with a named
mistake, one that crashes, one downloaded from Colab as "Copy of") is zipped into ``~/Downloads`` (HOME is a
temporary folder), and the README's instructor block runs as written in bash: gradebook, collect, nbgrader
autograde, the isolated grader; then feedback and export. Every student is graded, both routes give each student
the same code score under the same id, the feedback names the mistake without leaking hidden tests, nbgrader prints
no false tampering warnings, and ``git status`` is clean afterwards (assignments/ untouched, student data ignored).
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import classroom

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.notebooks]


def readme_block(heading: str) -> str:
    """The first ```bash block after ``heading`` in README.md."""
    text = (REPO / "README.md").read_text()
    return re.search(r"```bash\n(.*?)```", text[text.index(heading):], re.S).group(1)


def temp_clone(dest: Path) -> Path:
    """The repository's files (tracked and untracked, not ignored), committed in a fresh git repository."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (REPO / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest / rel)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "clone"], cwd=dest, check=True)
    # `source .venv/bin/activate`: this interpreter's environment (.venv is git-ignored)
    (dest / ".venv" / "bin").mkdir(parents=True)
    (dest / ".venv" / "bin" / "activate").write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')
    return dest


def bash(script: str, cwd: Path, home: Path, timeout: int = 1500) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SSL_COURSE_GRADING_ROOT", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), PYTHONPATH=str(cwd), OMP_NUM_THREADS="1")
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    clone = temp_clone(tmp_path_factory.mktemp("clone"))
    home = tmp_path_factory.mktemp("home")
    classroom.write_zip(home / "Downloads" / "ps1_submissions.zip", clone)
    block = readme_block("## For instructors: assignments and grading")
    run = bash(block, clone, home)
    assert run.returncode == 0, f"README block failed:\n{block}\n{run.stdout[-4000:]}\n{run.stderr[-6000:]}"
    after = re.search(r"only after that release feedback and export\n\(`(.*?)`\)",
                      (REPO / "README.md").read_text(), re.S).group(1).replace("\n", " ")
    feedback = bash(f"source .venv/bin/activate\n{after}", clone, home)
    assert feedback.returncode == 0, feedback.stderr[-4000:]
    # Gradescope, with autograder/README.md's command: each student's download as their upload
    command = re.search(r"^(python -m autograder gradescope ps1 --out \S+)", (REPO / "autograder" / "README.md")
                        .read_text(), re.M).group(1)
    built = bash(f"source .venv/bin/activate\n{command}", clone, home)
    assert built.returncode == 0, built.stderr[-3000:]
    zip_path = clone / command.split("--out ")[1]
    gradescope = {}
    for i, (name, notebook) in enumerate(classroom.notebooks(clone).items()):
        root = home / f"gradescope{i}"
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(root / "source")
        (root / "source" / "run_autograder").chmod(0o755)
        (root / "submission").mkdir()
        (root / "submission" / name).write_text(nbformat.writes(notebook))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(AUTOGRADER_ROOT=str(root), PYTHON=sys.executable, OMP_NUM_THREADS="1")
        proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        gradescope[classroom.CLASS[name][0]] = json.loads((root / "results" / "results.json").read_text())
    return clone, home, run, gradescope


def test_every_student_is_graded_with_the_same_id_and_score_by_both_routes(workflow):
    clone, _, _, _ = workflow
    want = {student: score for student, score in classroom.CLASS.values()}
    rows = list(csv.DictReader(open(clone / "grading" / "grades.csv")))  # every problem set in the gradebook
    nbgrader_rows = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == "ps1"}
    isolated_rows = {r["student"]: float(r["score"]) for r in csv.DictReader(open(clone / "grading" / "isolated" /
                                                                                  "ps1" / "grades.csv"))}
    assert nbgrader_rows == want
    assert isolated_rows == want
    gradescope = {student: results["score"] for student, results in workflow[3].items()}
    assert gradescope == want


def test_feedback_names_the_mistake_and_hides_the_hidden_tests(workflow):
    clone, _, _, _ = workflow
    feedback = clone / "grading" / "feedback"
    for student in ("john.doe", "j_smith", "doefrank", "erin"):
        html = (feedback / student / "ps1" / f"{classroom.NOTEBOOK}.html").read_text()
        for secret in ("BEGIN HIDDEN TESTS", "autograder.checks", "check(&quot;nt_xent", 'check("nt_xent',
                       "Traceback (most recent call last)"):
            assert secret not in html, (student, secret)
    mistake = (feedback / "j_smith" / "ps1" / f"{classroom.NOTEBOOK}.html").read_text()
    assert "diagonal" in mistake and "not masked" in mistake
    crash = (feedback / "doefrank" / "ps1" / f"{classroom.NOTEBOOK}.html").read_text()
    assert "helper_that_was_never_written" in crash  # the student sees their own error


def test_no_false_tampering_or_config_warnings(workflow):
    _, _, run, _ = workflow
    log = run.stdout + run.stderr
    assert "Autograding" in log or "autograd" in log.lower()
    assert "checksum" not in log, [line for line in log.splitlines() if "checksum" in line]
    assert "allow_errors" not in log


def test_git_status_is_clean_after_the_workflow(workflow):
    clone, _, _, _ = workflow
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", status


def test_an_unmatched_download_is_an_error_listed_at_the_end(workflow):
    clone, home, _, _ = workflow
    extra = home / "late.zip"
    with zipfile.ZipFile(extra, "w") as zf:
        zf.writestr(f"{classroom.NOTEBOOK}.ipynb", (clone / "assignments" / "ps1" / f"{classroom.NOTEBOOK}.ipynb")
                    .read_text())
        zf.writestr("zoe_report.pdf", "%PDF-1.4")
        zf.writestr(f"Frank Doe_4711_assignsubmission_file_{classroom.NOTEBOOK}.ipynb",
                    (clone / "assignments" / "ps1" / f"{classroom.NOTEBOOK}.ipynb").read_text())
    run = bash(f"source .venv/bin/activate\npython -m autograder collect ps1 {extra}", clone, home)
    assert run.returncode == 1
    tail = run.stderr[run.stderr.rindex("could not be matched"):]
    assert f"{classroom.NOTEBOOK}.ipynb: no student id" in tail and "zoe_report.pdf: not a notebook" in tail
    assert (clone / "grading" / "submitted" / "Frank_Doe" / "ps1" / f"{classroom.NOTEBOOK}.ipynb").exists()
    json.dumps(tail)


def test_ps4_nbgrader_and_the_isolated_grader_agree_on_the_solution_and_the_stub(tmp_path):
    """PS4 through both routes in a temporary clone: nbgrader autograde and the isolated grader give the reference
    solution the full 8 code points (the written answer, 1 point, waits for a human) and the stub 0."""
    clone = temp_clone(tmp_path / "clone")
    home = tmp_path / "home"
    home.mkdir()
    nb = "ps4_without_negatives.ipynb"
    for student, folder in (("ref", "solutions"), ("stub", "assignments")):
        dest = clone / "grading" / "submitted" / student / "ps4"
        dest.mkdir(parents=True)
        shutil.copyfile(clone / folder / "ps4" / nb, dest / nb)
    run = bash("source .venv/bin/activate\npython -m autograder gradebook ps4\n"
               "(cd autograder && nbgrader autograde ps4 --create)\n"
               "(cd autograder && nbgrader export --to ../grading/grades.csv)\n"
               "python -m autograder grade grading/submitted --assignment ps4 --out grading/isolated/ps4 --jobs 2\n",
               clone, home)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    rows = csv.DictReader(open(clone / "grading" / "grades.csv"))
    nbgrader_scores = {r["student_id"]: float(r["raw_score"]) for r in rows if r["assignment"] == "ps4"}
    isolated = {r["student"]: float(r["score"]) for r in csv.DictReader(open(clone / "grading" / "isolated" / "ps4" /
                                                                             "grades.csv"))}
    assert nbgrader_scores == isolated == {"ref": 8.0, "stub": 0.0}
