"""A feedback preprocessor for nbgrader: removes hidden tests and tracebacks from the notebooks students see.

nbgrader's generate_feedback renders the autograded notebook, which holds the restored ``### BEGIN HIDDEN TESTS``
blocks and the full tracebacks of failing tests (the hidden test's source included). This keeps, for each test
cell, the visible part of its source and, for an error, only its type and message (our checks put the diagnosis,
never their code, in the message).
"""
from __future__ import annotations

import re

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[ \t]*\n?", re.S | re.M)


def strip_hidden(source: str) -> str:
    stripped = HIDDEN.sub("# (hidden tests)\n", source)
    if "BEGIN HIDDEN TESTS" in stripped:  # an unterminated block: drop everything after it
        stripped = stripped.split("### BEGIN HIDDEN TESTS")[0] + "# (hidden tests)\n"
    return stripped


class HideHiddenTests(Preprocessor):
    """Strip hidden-test blocks from every code cell and reduce error outputs to 'ErrorType: message'."""

    enabled = Bool(True, help="nbconvert preprocessors are off unless enabled").tag(config=True)
    max_message = 1500

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        cell.source = strip_hidden(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                message = str(output.get("evalue", ""))[: self.max_message]
                if "BEGIN HIDDEN TESTS" in message or "check_" in message:
                    message = "a hidden test failed"
                output["traceback"] = [f"{output.get('ename', 'Error')}: {message}"]
                output["evalue"] = message
            elif output.get("output_type") == "stream" and "BEGIN HIDDEN TESTS" in output.get("text", ""):
                output["text"] = ""
        return cell, resources
