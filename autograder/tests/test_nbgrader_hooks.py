"""The quiet OverwriteCells (jupyter/nbgrader#1961): an untouched test cell is recognised as untouched, an edited
one is not (so nbgrader's tampering warning stays for real edits)."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.nbgrader_hooks import released_source

REPO = Path(__file__).resolve().parents[2]


def _cells(path: Path) -> dict:
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


@pytest.mark.parametrize("ps", ["ps1", "ps2", "ps3", "ps4"])
def test_released_source_is_what_students_get(ps):
    solution = _cells(next((REPO / "solutions" / ps).glob("*.ipynb")))
    student = _cells(next((REPO / "assignments" / ps).glob("*.ipynb")))
    locked_tests = [gid for gid, c in solution.items() if c.metadata["nbgrader"].get("locked")
                    and "BEGIN HIDDEN TESTS" in c.source]
    assert locked_tests
    for gid in locked_tests:
        assert released_source(solution[gid].source) == student[gid].source, gid
        edited = student[gid].source.replace("assert", "assert True or", 1)
        assert released_source(solution[gid].source) != edited


class _FakeGradebook:
    def __init__(self, source_cell, points):
        self.source_cell, self.points = source_cell, points

    def find_source_cell(self, grade_id, notebook_id, assignment_id):
        return self.source_cell

    def find_graded_cell(self, grade_id, notebook_id, assignment_id):
        return type("GradeCell", (), {"max_score": self.points})()


def test_untouched_cell_is_restored_silently_and_an_edit_still_warns(caplog):
    import logging
    from types import SimpleNamespace

    from nbgrader import utils

    from autograder.nbgrader_hooks import OverwriteCellsQuietly

    solution = _cells(next((REPO / "solutions" / "ps1").glob("*.ipynb")))["test_nt_xent"]
    student = _cells(next((REPO / "assignments" / "ps1").glob("*.ipynb")))["test_nt_xent"]
    db_checksum = utils.compute_checksum(solution)  # what generate_assignment stores: hidden tests included
    source_cell = SimpleNamespace(source=solution.source, cell_type="code", locked=True, checksum=db_checksum)
    pre = OverwriteCellsQuietly()
    pre.gradebook, pre.notebook_id, pre.assignment_id = _FakeGradebook(source_cell, 2.0), "nb", "ps1"
    for cell, warns in ((nbformat.from_dict(student), False),
                        (nbformat.from_dict({**student, "source": student.source + "\nassert True"}), True)):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            out, _ = pre.preprocess_cell(cell, {}, 0)
        assert out.source == solution.source  # hidden tests back in both cases
        assert ("checksum" in caplog.text) == warns, caplog.text
