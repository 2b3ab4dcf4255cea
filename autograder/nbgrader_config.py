"""nbgrader configuration for this repository's layout.

    nbgrader <command> --config autograder/nbgrader_config.py   (from the repository root)

solutions/<ps>/      source notebooks (### BEGIN SOLUTION, ### BEGIN HIDDEN TESTS), the instructor's truth
assignments/<ps>/    student notebooks generated from them (committed; `python -m autograder generate --check`)
grading/             student data: submitted/, autograded/, feedback/, gradebook.db (git-ignored, never committed)

SSL_COURSE_GRADING_ROOT moves the whole course directory elsewhere (the tests use a temporary one).
"""
import os
import sys

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

# nbgrader's gradebook shells out to the `alembic` command, which lives next to this interpreter. An instructor who
# starts `.venv/bin/jupyter lab` (or `.venv/bin/nbgrader`) without activating the environment has no such directory
# on PATH, and formgrader then fails with "No such file or directory: 'alembic'". Put it there for this process.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join(p for p in (_bin, os.environ.get("PATH", "")) if p)

ROOT = os.environ.get("SSL_COURSE_GRADING_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "ssl-course"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
os.makedirs(os.path.join(ROOT, "grading"), exist_ok=True)
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "grading", "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
# the JupyterHub exchange (release_assignment / fetch / submit / collect): a folder every student's server can read
# and write, the same in the students' nbgrader config. nbgrader's default is /usr/local/share/nbgrader/exchange,
# which release_assignment creates silently when run as root; SSL_COURSE_EXCHANGE names another (autograder/README.md)
if os.environ.get("SSL_COURSE_EXCHANGE"):
    c.Exchange.root = os.environ["SSL_COURSE_EXCHANGE"]

# student notebooks: one stub for every solution region
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# autograding: a per-cell limit (nbgrader has no whole-notebook limit; the isolated grader has one)
c.Execute.timeout = 300
c.Execute.interrupt_on_timeout = True
# (nbgrader's Execute always continues after an error: `allow_errors` is not a setting of it, and setting it only
# printed "Config option `allow_errors` not recognized by `Execute`" twice per notebook)
# a deleted or edited test cell comes back from the gradebook
c.OverwriteCells.add_missing_cells = True
# ... and an untouched one comes back without the false "checksum has changed" warning (jupyter/nbgrader#1961)
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "autograder.nbgrader_hooks.OverwriteCellsQuietly",
    "nbgrader.preprocessors.CheckCellMetadata",
]


def _ensure_in_gradebook(assignment, student, notebooks):
    """Before autograde's first student: add the problem set to the gradebook if it is not there (fresh clone)."""
    from autograder.gradebook import ensure_assignment

    ensure_assignment(assignment, ROOT)


c.Autograde.pre_convert_hook = _ensure_in_gradebook

# LMS downloads: the student id and the notebook from the file name by autograder.ids (Canvas, Moodle, Colab's
# "Copy of", the browser's " (1)", ids with "." and "_"); a file it cannot match fails the command at the end
c.ZipCollectApp.collector_plugin = "autograder.zipcollect.SubmissionNameCollector"

# feedback: hidden-test source and tracebacks never reach the student
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
