"""Alignment, uniformity and the collapse monitor: closed forms and the directions the lecture reads them in."""
import math

import pytest
import torch
import torch.nn.functional as F

from ssl_course import distributed
from ssl_course import evaluate as ev


def test_alignment_matches_float64_loop():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(9, 4, generator=g), torch.randn(9, 4, generator=g)
    a, b = F.normalize(z1.double(), dim=1), F.normalize(z2.double(), dim=1)
    expected = sum(float((a[i] - b[i]).norm()) ** 2 for i in range(9)) / 9
    assert abs(ev.alignment(z1, z2) - expected) < 1e-6
    assert ev.alignment(z1, 2 * z1) < 1e-10  # the same direction: perfectly aligned


def test_uniformity_matches_float64_loop_and_orders_collapsed_below_spread():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(10, 3, generator=g)
    u = F.normalize(z.double(), dim=1)
    pairs = [(i, j) for i in range(10) for j in range(i + 1, 10)]
    expected = math.log(sum(math.exp(-2 * float((u[i] - u[j]).norm()) ** 2) for i, j in pairs) / len(pairs))
    assert abs(ev.uniformity(z) - expected) < 1e-5
    collapsed = torch.ones(10, 3) + 1e-6 * z
    assert ev.uniformity(collapsed) > -1e-3  # every distance ~0: log 1 = 0
    spread = torch.randn(500, 64, generator=g)
    assert ev.uniformity(spread) < -3.5  # close to -4 on a high-dimensional sphere
    assert math.isfinite(ev.uniformity(spread, t=1000.0))  # log-sum-exp: no log 0


def test_collapse_monitor_tells_a_collapsed_output_from_a_spread_one():
    g = torch.Generator().manual_seed(2)
    spread = torch.randn(256, 32, generator=g)
    collapsed = torch.randn(1, 32, generator=g).expand(256, 32) + 1e-4 * torch.randn(256, 32, generator=g)
    line = torch.randn(256, 1, generator=g) * torch.randn(1, 32, generator=g)  # one direction only
    s, c, lin = ev.collapse_monitor(spread), ev.collapse_monitor(collapsed), ev.collapse_monitor(line)
    assert abs(s["output_std"] - 1 / math.sqrt(32)) < 0.02
    assert c["output_std"] < 1e-3
    assert s["effective_rank"] > 20 and lin["effective_rank"] < 1.01
    assert ev.effective_rank(torch.zeros(8, 4)) == 1.0


def test_all_reduce_is_the_identity_in_one_process():
    x = torch.tensor([1.0, 2.0])
    assert torch.equal(distributed.all_reduce(x, "sum"), x) and torch.equal(distributed.all_reduce(x, "max"), x)
    with pytest.raises(ValueError):
        distributed.all_reduce(x, "mean")
