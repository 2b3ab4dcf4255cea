"""Student ids from submission file names: the one set of rules both graders use.

nbgrader's ``zip_collect`` (through ``autograder.zipcollect.SubmissionNameCollector``) and the isolated grader
(``python -m autograder grade FOLDER``) name a student by ``parse_name``, so their CSVs join on the same id.

    >>> parse_name("john.doe_ps1_contrastive_basics (1).ipynb", "ps1")
    SubmissionName(student='john.doe', notebook='ps1_contrastive_basics')

What an LMS or a browser does to a file name, and what is kept:

- plain ``<student>_<notebook>.ipynb``; the student id may hold ``.``, ``_``, ``-`` and ``@``
  (``john.doe_...``, ``j_smith_...``);
- Canvas: ``<lastfirst>_[LATE_]<user id>_<submission id>_<original name>`` -> ``lastfirst``;
- Moodle: ``<Full Name>_<participant id>_assignsubmission_file_<original name>`` (also as a folder name when
  downloaded "in folders") -> ``Full_Name``;
- Colab's ``Copy of`` (also ``Copy_of_``), the browser's `` (1)``, Canvas's ``-1`` for a second upload: dropped;
- a file named after the notebook alone (``ps1_contrastive_basics.ipynb``) names no student: ``None``;
- a name without the notebook's name (``alice.ipynb``) is the student id itself.
"""
from __future__ import annotations

import os
import re
import stat
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

REPO = Path(__file__).resolve().parent.parent
SUBMISSION_SUFFIXES = (".ipynb", ".py")
IGNORED = re.compile(r"^(\.|__MACOSX$|Thumbs\.db$|desktop\.ini$)", re.I)

_DUPLICATE = re.compile(r"(\s*\(\d+\)|-\d+)$")                                  # "x (1)", Canvas "x-1"
_COPY_OF_START = re.compile(r"^copy[ _-]+of([ _-]+|$)", re.I)                   # Colab's "Copy of <notebook>"
_COPY_OF_END = re.compile(r"(^|[ _-]+)copy[ _-]+of[ _-]*$", re.I)                # "<student>_Copy of " before it
_CANVAS = re.compile(r"^(?P<student>[a-z][a-z0-9]*)_(?:late_)?\d+_\d+_(?P<rest>.*)$", re.I)
_MOODLE = re.compile(r"^(?P<student>.+?)_\d+_assignsubmission_(?:file|onlinetext)_?(?P<rest>.*)$", re.I)
_SEPARATORS = re.compile(r"[ _-]+")


class SubmissionName(NamedTuple):
    student: str | None      # None: the name says whose it is not
    notebook: str | None     # the assignment's notebook (stem) the file is, when the name says so


@lru_cache(maxsize=None)
def notebooks(assignment: str, root: str | None = None) -> tuple[str, ...]:
    """The notebook stems of an assignment (``assignments/<ps>/*.ipynb``), e.g. ("ps1_contrastive_basics",)."""
    folder = Path(root or REPO) / "assignments" / assignment
    return tuple(sorted(p.stem for p in folder.glob("*.ipynb")))


def clean_id(text: str) -> str:
    """A student id safe as a folder name: runs of other characters become ``_``; case is kept."""
    return re.sub(r"[^A-Za-z0-9.@_-]+", "_", text).strip("._-")[:100]


def _find_notebook(stem: str, names: tuple[str, ...]) -> tuple[str, str] | None:
    """(prefix, notebook) when ``stem`` ends with a notebook's name (spaces, dashes and underscores alike, any
    case), e.g. ("alice_", "ps1_contrastive_basics") for "alice_PS1-contrastive basics"."""
    for name in sorted(names, key=len, reverse=True):
        token = "[ _-]+".join(re.escape(part) for part in _SEPARATORS.split(name) if part)
        m = re.search(rf"(?:^|[ _-]){token}$", stem, re.I)
        if m:
            return stem[: m.start()], name
    return None


def parse_name(filename: str, assignment: str, names: tuple[str, ...] | None = None) -> SubmissionName:
    """Who submitted ``filename`` (a file or folder name, no directories) and which notebook it is."""
    names = tuple(names) if names is not None else notebooks(assignment)
    aliases = names + ((assignment,) if len(names) == 1 else ())
    stem = filename
    for suffix in SUBMISSION_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = _DUPLICATE.sub("", stem.strip())
    for pattern in (_CANVAS, _MOODLE):
        m = pattern.match(stem)
        if m:
            rest = _COPY_OF_START.sub("", _DUPLICATE.sub("", m["rest"])).strip(" _-")
            found = _find_notebook(rest, aliases) if rest else None
            return SubmissionName(clean_id(m["student"]) or None, _notebook_of(found, names))
    found = _find_notebook(stem, aliases)
    if found is None:
        student = clean_id(_COPY_OF_START.sub("", stem))
        return SubmissionName(student or None, names[0] if len(names) == 1 else None)
    prefix = _COPY_OF_END.sub("", found[0]).strip(" _-")
    return SubmissionName(clean_id(prefix) or None, _notebook_of(found, names))


def _notebook_of(found, names) -> str | None:
    if found is None:
        return names[0] if len(names) == 1 else None
    return found[1] if found[1] in names else names[0]


def is_ignored(name: str) -> bool:
    """Files an archive or an OS adds that are nobody's submission (.DS_Store, __MACOSX/, Thumbs.db)."""
    return bool(IGNORED.match(name))


def scan_folder(folder: Path, assignment: str, max_entries: int = 20_000) -> tuple[list[tuple[str, Path]], list[str]]:
    """(student, file) for every file directly in ``folder`` that is a submission, and a line for each file that
    is not one of a known student (a PDF, a notebook named only after the assignment).

    Only ``lstat`` is used: a symbolic link, FIFO or device is never followed or opened here. One named like a
    submission (or any symbolic link) is listed like a file, so that grading refuses it and scores it zero with a
    note, instead of skipping it silently. At most ``max_entries`` entries are looked at."""
    matched, problems = [], []
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)[:max_entries]
    except OSError:
        return [], [f"{folder}: cannot list the folder"]
    mtimes = {}
    for entry in entries:
        if is_ignored(entry.name):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            continue
        path = Path(entry.path)
        mtimes[path] = st.st_mtime
        if path.suffix.lower() not in SUBMISSION_SUFFIXES and not stat.S_ISLNK(st.st_mode):
            problems.append(f"{entry.name}: not a notebook (.ipynb) or .py file")
            continue
        parsed = parse_name(entry.name, assignment)
        if parsed.student is None:
            if stat.S_ISLNK(st.st_mode):  # listed under its own name, and refused when it is graded
                matched.append((path.stem if path.suffix in SUBMISSION_SUFFIXES else entry.name, path))
                continue
            problems.append(f"{entry.name}: the file name does not say which student submitted it "
                            f"(expected <student>_{(notebooks(assignment) or (assignment,))[0]}.ipynb)")
            continue
        matched.append((parsed.student, path))
    by_student: dict[str, list[Path]] = {}
    for student, path in matched:
        by_student.setdefault(student, []).append(path)
    kept = []
    for student, paths in by_student.items():  # two downloads of one student: the newest is graded
        paths.sort(key=lambda p: (mtimes[p], p.name), reverse=True)
        kept.append((student, paths[0]))
        problems += [f"{p.name}: another file of student {student}; graded the newer {paths[0].name}"
                     for p in paths[1:]]
    return sorted(kept, key=lambda s: s[1].name), problems


def folder_student(name: str) -> str:
    """The student a sub-folder belongs to: nbgrader's ``submitted/<student>/`` as it is, a Moodle folder
    (``Frank Doe_12345_assignsubmission_file``) by the same rule as its file names."""
    m = _MOODLE.match(name)
    return clean_id(m["student"]) if m and clean_id(m["student"]) else name
