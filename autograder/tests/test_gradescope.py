"""The Gradescope autograder in a simulated /autograder folder: the zip as Gradescope unpacks it, run_autograder
as Gradescope runs it (only setup.sh, which needs the network, is not run)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

import classroom

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("zip") / "ps1.zip"
    proc = subprocess.run([sys.executable, "-m", "autograder", "gradescope", "ps1", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_zip_has_the_scripts_and_the_repository_at_its_root(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "pyproject.toml", "README.md", "autograder/grade.py",
                "ssl_course/losses.py", "assignments/ps1/ps1_contrastive_basics.ipynb"} <= names
        assert not [n for n in names if n.startswith(("solutions/", "lectures/")) or "/tests/" in n]
        for script in ("setup.sh", "run_autograder"):
            assert zf.read(script).startswith(b"#!/usr/bin/env bash\n")
            assert (zf.getinfo(script).external_attr >> 16) & stat.S_IXUSR
        setup = zf.read("setup.sh").decode()
        assert "apt-get update" in setup and "--index-url https://download.pytorch.org/whl/cpu" in setup
        assert "pip install /autograder/source" in setup
        assert b"gradescope ps1 --run" in zf.read("run_autograder")


def _gradescope(autograder_zip, tmp_path, uploads: dict[str, bytes]) -> dict:
    """Unpack like Gradescope (zip -> /autograder/source), put the upload in submission/, run run_autograder."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(root / "source")
    os.chmod(root / "source" / "run_autograder", 0o755)
    (root / "submission").mkdir()
    for name, data in uploads.items():
        (root / "submission" / name).write_bytes(data)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(AUTOGRADER_ROOT=str(root), PYTHON=sys.executable, OMP_NUM_THREADS="1")
    proc = subprocess.run([str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def _nb(name: str) -> bytes:
    return nbformat.writes(classroom.notebooks()[name]).encode()


CORRECT = f"john.doe_{classroom.NOTEBOOK}.ipynb"


@pytest.mark.slow
def test_reference_solution_gets_full_marks(autograder_zip, tmp_path):
    results = _gradescope(autograder_zip, tmp_path, {f"{classroom.NOTEBOOK}.ipynb": _nb(CORRECT)})
    assert results["score"] == classroom.AUTO_POINTS
    assert len(results["tests"]) == 7 and all(t["status"] == "passed" for t in results["tests"])


def test_a_pdf_only_upload_gets_zero_and_a_message(autograder_zip, tmp_path):
    results = _gradescope(autograder_zip, tmp_path, {"ps1.pdf": b"%PDF-1.4 not a notebook"})
    assert results["score"] == 0
    assert "No notebook (.ipynb) was found" in results["output"] and "ps1.pdf" in results["output"]
    assert "Download .ipynb" in results["output"]
    assert sum(t["max_score"] for t in results["tests"]) == classroom.AUTO_POINTS


@pytest.mark.slow
def test_two_notebooks_grade_the_right_one_and_say_which(autograder_zip, tmp_path):
    scratch = nbformat.v4.new_notebook()
    scratch.cells = [nbformat.v4.new_code_cell("def nt_xent(z1, z2, temperature=0.5):\n    return 0")]
    results = _gradescope(autograder_zip, tmp_path, {
        "scratch.ipynb": nbformat.writes(scratch).encode(),
        f"Copy of {classroom.NOTEBOOK}.ipynb": _nb(f"j_smith_{classroom.NOTEBOOK} (1).ipynb"),
    })
    assert results["score"] == 10  # the mistake notebook (diagonal not masked: 12 - 2), not the scratch file
    assert f"graded Copy of {classroom.NOTEBOOK}.ipynb" in results["output"]
    assert "not graded: scratch.ipynb" in results["output"]
    nt_xent = next(t for t in results["tests"] if t["name"] == "nt_xent")
    assert "diagonal" in nt_xent["output"]
