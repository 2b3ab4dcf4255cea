"""PS1 section 6 estimates MI with its own copy of the optimal critic: it must be the closed-form optimum
log p(y | x) - log p(y) (the library's ``mi.optimal_critic_scores``), not log p(y | x) alone."""
import ast
import math
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F

from ssl_course import mi

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "solutions/ps1/ps1_contrastive_basics.ipynb", ROOT / "assignments/ps1/ps1_contrastive_basics.ipynb"]


def ps1_functions(path):
    """The functions defined in PS1's locked MI cell (definitions only: the experiment itself is not run)."""
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mi-experiment"]
    tree = ast.parse(cell.source)
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    namespace = {"math": math, "torch": torch, "F": F}
    exec(compile(tree, str(path), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.parent.name)
def test_ps1_critic_is_the_closed_form_optimum(path):
    scores = ps1_functions(path)["optimal_critic_scores"]
    for dim, rho in ((1, 0.3), (4, 0.9)):
        x, y = mi.correlated_gaussians(7, dim, rho, torch.Generator().manual_seed(dim))
        x, y = x.double(), y.double()
        assert torch.allclose(scores(x, y, rho), mi.optimal_critic_scores(x, y, rho), atol=1e-9)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.parent.name)
def test_ps1_estimate_at_n_1024_is_close_to_the_true_mi(path):
    estimate = ps1_functions(path)["infonce_mi_estimate"]
    rho, d, n = 0.9, 4, 1024
    true_mi = mi.gaussian_mi(d, rho)  # 3.32 nats, well below log 1024 = 6.93
    g = torch.Generator().manual_seed(0)
    value = sum(estimate(rho, d, n, g) for _ in range(3)) / 3
    assert true_mi - 0.15 < value <= min(math.log(n), true_mi + 0.05)


def test_dropping_log_p_y_is_a_worse_critic():
    """Why the text insists on the denominator: log p(y | x) alone gives a looser estimate."""
    rho, d, n = 0.9, 4, 1024
    x, y = mi.correlated_gaussians(n, d, rho, torch.Generator().manual_seed(0))
    optimal = mi.optimal_critic_scores(x, y, rho)
    without_marginal = optimal - (y.pow(2).sum(1) / 2)[None, :]  # adds back log p(y_j) (up to a constant)
    labels = torch.arange(n)
    assert F.cross_entropy(optimal, labels) < F.cross_entropy(without_marginal, labels) - 0.05
