"""Every lecture executes end to end in fast mode, shows figures, and starts with the Colab install cell."""
import importlib.util
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from ssl_course.colab import CELL_SOURCE, INSTALL_COMMAND, REPO_URL, colab_url

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))


def test_there_are_lectures():
    assert len(LECTURES) >= 2


@pytest.mark.notebooks
@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_lecture_executes_in_fast_mode(path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("SSL_COURSE_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2, "a lecture shows its figures"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_committed_lecture_has_outputs_and_figures(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code[1:]), "committed lectures are executed"
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", []))
    assert images >= 2
    assert not [o for c in code for o in c.get("outputs", []) if o.output_type == "error"]


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_first_cell_installs_on_colab_only(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "code" and nb.cells[0].source == CELL_SOURCE
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    exec(compile(nb.cells[0].source, "cell0", "exec"), {})  # not on Colab: nothing happens
    assert calls == []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))  # Colab imports it at start
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ssl_course" else real_find_spec(name, *a))
    exec(compile(nb.cells[0].source, "cell0", "exec"), {})
    assert len(calls) == 1 and calls[0][:4] == [sys.executable, "-m", "pip", "install"]
    assert calls[0] == [sys.executable, "-m", *INSTALL_COMMAND]  # ssl-course[notebooks] from this version's tag


def test_readme_links_every_lecture_in_order_with_colab():
    readme = (ROOT / "README.md").read_text()
    positions = [readme.find(f"lectures/{p.name}") for p in LECTURES]
    assert all(pos >= 0 for pos in positions) and positions == sorted(positions)
    for p in LECTURES:
        assert colab_url(f"lectures/{p.name}") in readme
    assert set(re.findall(r"https://github\.com/[\w-]+/[\w-]+", readme)) == {REPO_URL}  # one repository address


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_default_mode_scales_up_on_a_gpu(path):
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert re.search(r"scale\([^()]*gpu=", code), f"{path.name} has no larger setting for a GPU (scale(..., gpu=...))"


def test_scale_picks_the_gpu_setting_in_default_mode_on_cuda_only(monkeypatch):
    import torch

    from ssl_course.experiment import scale

    monkeypatch.delenv("SSL_COURSE_FAST", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert scale(fast=1, default=2, gpu=3) == 3
    assert scale(fast=1, default=2) == 2  # no GPU setting: the default one
    monkeypatch.setenv("SSL_COURSE_FAST", "1")
    assert scale(fast=1, default=2, gpu=3) == 1  # fast mode wins, also on a GPU
    monkeypatch.delenv("SSL_COURSE_FAST")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert scale(fast=1, default=2, gpu=3) == 2
