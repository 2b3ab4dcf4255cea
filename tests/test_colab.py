"""The Colab install cell: its exact pip command, the release tag it pins, and that every notebook starts with it."""
import importlib.util
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

import ssl_course
from ssl_course.colab import CELL_SOURCE, INSTALL_COMMAND, REPO_URL, TAG, colab_url

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT_TEXT = (ROOT / "pyproject.toml").read_text()
VERSION = re.search(r'^version = "([^"]+)"', PYPROJECT_TEXT, re.M).group(1)  # (tomllib needs Python 3.11)
ASSIGNMENTS = sorted(ROOT.glob("assignments/*/*.ipynb"))
SOLUTIONS = sorted(ROOT.glob("solutions/*/*.ipynb"))


def test_the_tag_is_the_version_in_pyproject():
    assert ssl_course.__version__ == VERSION
    assert TAG == "v" + VERSION


def test_install_command_is_exactly_the_notebook_extra_at_the_tag():
    assert INSTALL_COMMAND == ["pip", "install", "-q",
                               f"ssl-course[notebooks] @ git+https://github.com/ssl-course/ssl-course@v{VERSION}"]
    notebooks_extra = PYPROJECT_TEXT.split("notebooks = [", 1)[1].split("]", 1)[0]
    assert '"ipywidgets' in notebooks_extra and '"jupyterlab' in notebooks_extra
    # no --upgrade / --force-reinstall: Colab's preinstalled torch stays
    assert not {"-U", "--upgrade", "--force-reinstall", "--no-deps"} & set(INSTALL_COMMAND)


def _run_cell(source, monkeypatch, on_colab):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    if on_colab:
        real_find_spec = importlib.util.find_spec
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name == "ssl_course" else real_find_spec(name, *a))
    exec(compile(source, "cell0", "exec"), {})
    return calls


@pytest.mark.parametrize("path", ASSIGNMENTS + SOLUTIONS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_problem_set_starts_with_the_install_cell(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "code" and first.source == CELL_SOURCE
    assert first.metadata["nbgrader"]["locked"] and not first.metadata["nbgrader"]["grade"]
    assert _run_cell(first.source, monkeypatch, on_colab=False) == []
    assert _run_cell(first.source, monkeypatch, on_colab=True) == [[sys.executable, "-m", *INSTALL_COMMAND]]


def test_readme_links_every_problem_set_to_colab_and_says_how_to_submit():
    readme = (ROOT / "README.md").read_text()
    for path in ASSIGNMENTS:
        assert colab_url(path.relative_to(ROOT).as_posix()) in readme, path
    assert "blob/main/" not in readme  # every link opens the release the install cell installs
    section = readme[readme.index("### Submitting from Colab"):]
    assert "Download .ipynb" in section and "<your id>_" in section
    assert set(re.findall(r"https://github\.com/[\w-]+/[\w-]+", readme)) == {REPO_URL}


def test_environments_are_documented_and_split():
    def spec(name):  # the file without its comments
        return "\n".join(l for l in (ROOT / name).read_text().splitlines() if not l.lstrip().startswith("#"))

    student, instructor = spec("environment.yml"), spec("environment-instructor.yml")
    assert "-e .[notebooks]" in student and "nbgrader" not in student and "[dev]" not in student
    assert "-e .[dev]" in instructor
    readme = (ROOT / "README.md").read_text()
    assert "conda env create -f environment.yml" in readme
    assert "conda env create -f environment-instructor.yml" in readme
