"""nbgrader pieces configured in ``nbgrader_config.py``.

``OverwriteCellsQuietly``: nbgrader's ``OverwriteCells`` compares a locked cell of the submission with the
gradebook's copy, whose checksum nbgrader computes *before* it removes the ``### BEGIN HIDDEN TESTS`` block
(jupyter/nbgrader#1961). Every untouched test cell with hidden tests then warns "Attribute 'checksum' for cell
test_* has changed!", which reads like tampering. This subclass restores such a cell silently when the student's
source is exactly the gradebook's source with the hidden tests removed, i.e. what the student was given; any
other difference still gets nbgrader's warning (and the cell is still restored).
"""
from __future__ import annotations

from nbformat.v4 import new_code_cell
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


def released_source(source: str) -> str:
    """A test cell's source as nbgrader released it: hidden-test regions removed."""
    cell = new_code_cell(source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


class OverwriteCellsQuietly(OverwriteCells):
    """``OverwriteCells`` without the false "checksum has changed" warning of jupyter/nbgrader#1961."""

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and cell.metadata.get("nbgrader", {}).get("locked"):
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None
            if (source_cell is not None and source_cell.locked and cell.cell_type == source_cell.cell_type
                    and source_cell.source != cell.source and released_source(source_cell.source) == cell.source):
                cell.source = source_cell.source  # untouched: put the hidden tests back without a warning
        return super().preprocess_cell(cell, resources, cell_index)
