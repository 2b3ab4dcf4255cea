"""A small class of PS1 submissions with the file names real downloads have, for the end-to-end tests.

    correct     the reference solution                         john.doe_ps1_contrastive_basics.ipynb
    mistake     nt_xent without the diagonal mask (10/12)        j_smith_ps1_contrastive_basics (1).ipynb
    crash       every function raises NameError (0/12)          doefrank_12345_67890_ps1_contrastive_basics.ipynb
    copy_of     the solution, downloaded from Colab             erin_Copy of ps1_contrastive_basics.ipynb
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "ps1_contrastive_basics"
AUTO_POINTS = 12
MASK = 'logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))\n'

# file name in the download -> (student id both graders must use, isolated score out of 12)
CLASS = {
    f"john.doe_{NOTEBOOK}.ipynb": ("john.doe", 12.0),
    f"j_smith_{NOTEBOOK} (1).ipynb": ("j_smith", 10.0),
    f"doefrank_12345_67890_{NOTEBOOK}.ipynb": ("doefrank", 0.0),
    f"erin_Copy of {NOTEBOOK}.ipynb": ("erin", 12.0),
}


def _solution(root: Path = REPO) -> nbformat.NotebookNode:
    """The released student notebook with every solution region filled in from solutions/ (what a good student
    submits: the released metadata and test cells, no hidden tests, no solution markers)."""
    released = nbformat.read(root / "assignments" / "ps1" / f"{NOTEBOOK}.ipynb", as_version=4)
    source = nbformat.read(root / "solutions" / "ps1" / f"{NOTEBOOK}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            lines = [line for line in answers[grade_id].splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")]
            cell.source = "\n".join(lines) if cell.cell_type == "code" else "The bound saturates at log N."
    return released


def notebooks(root: Path = REPO) -> dict[str, nbformat.NotebookNode]:
    """{file name: notebook} for the class above."""
    correct = _solution(root)
    mistake = _solution(root)
    cell = next(c for c in mistake.cells if c.source.startswith("def nt_xent(z1"))
    assert MASK.strip() in cell.source
    cell.source = cell.source.replace(MASK.strip(), "pass  # forgot the mask")
    crash = _solution(root)
    for c in crash.cells:  # each graded function calls a helper the student never wrote
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"):
            c.source = c.source.replace('"""\n', '"""\n    helper_that_was_never_written()\n', 1)
            assert "helper_that_was_never_written" in c.source, c.source
    names = list(CLASS)
    return {names[0]: correct, names[1]: mistake, names[2]: crash, names[3]: _solution(root)}


def write_folder(folder: Path, root: Path = REPO) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks(root).items():
        nbformat.write(nb, folder / name)
    return folder


def write_zip(path: Path, root: Path = REPO) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, nb in notebooks(root).items():
            zf.writestr(name, nbformat.writes(nb))
    return path
