"""The first cell of every notebook (lectures and problem sets): on Colab it installs this library, with the
notebook extras (ipywidgets for ``ssl_course.widgets``), from the release tag of this version; anywhere else it
does nothing. ``REPO_URL`` is the one place the repository address is written (the README's Colab links and the
notebooks' first cells are built from it and checked by tests/test_lectures.py and tests/test_colab.py).

The tag is ``v`` + the version in pyproject.toml (``ssl_course.__version__``, kept equal by a test): a notebook
opened from the README's links and the library it installs come from the same release. To release: bump the
version in both places, run ``python -m ssl_course.colab`` (rewrites the first cell of lectures/ and
solutions/) and ``python -m autograder generate``, then tag ``v<version>`` and push the tag.

pip is called without ``--upgrade``: Colab's preinstalled torch and torchvision satisfy the requirements
(``torch>=2.2``) and are left alone.
"""
from __future__ import annotations

from . import __version__

REPO_URL = "https://github.com/ssl-course/ssl-course"
TAG = f"v{__version__}"
REQUIREMENT = f"ssl-course[notebooks] @ git+{REPO_URL}@{TAG}"
INSTALL_COMMAND = ["pip", "install", "-q", REQUIREMENT]  # run as [sys.executable, "-m", *INSTALL_COMMAND]

CELL_SOURCE = f'''# Colab only: install the course library (on your own machine this cell does nothing).
# Colab's own torch is kept: pip installs only what is missing.
import importlib.util, subprocess, sys
if "google.colab" in sys.modules and importlib.util.find_spec("ssl_course") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "{REQUIREMENT}"], check=True)'''


def colab_url(notebook_path: str) -> str:
    """'Open in Colab' address of a notebook of this release, e.g. colab_url("lectures/03_simclr.ipynb")."""
    return f"https://colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}/blob/{TAG}/{notebook_path}"


NBGRADER_METADATA = {"grade": False, "grade_id": "colab-install", "locked": True, "schema_version": 3,
                     "solution": False}


def set_first_cell(path) -> bool:
    """Make ``CELL_SOURCE`` the first cell of the notebook at ``path`` (inserted in a problem set's source, which
    gets nbgrader metadata: locked, not graded); True if the file changed. Outputs of other cells are kept."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0] if nb.cells else None
    is_install = first is not None and first.cell_type == "code" and first.source.startswith("# Colab only")
    graded = any("nbgrader" in c.metadata for c in nb.cells)
    if is_install and first.source == CELL_SOURCE:
        return False
    if is_install:
        first.source = CELL_SOURCE
    else:
        cell = nbformat.v4.new_code_cell(CELL_SOURCE, id="colab-install")
        if graded:
            cell.metadata["nbgrader"] = dict(NBGRADER_METADATA)
        nb.cells.insert(0, cell)
    nbformat.write(nb, path)
    return True


def main(root=None) -> int:
    """Rewrite the first cell of lectures/*.ipynb and solutions/*/*.ipynb (then: python -m autograder generate)."""
    from pathlib import Path

    root = Path(root or Path(__file__).resolve().parent.parent)
    for path in sorted(root.glob("lectures/*.ipynb")) + sorted(root.glob("solutions/*/*.ipynb")):
        if set_first_cell(path):
            print(f"updated {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
