"""InfoNCE as a mutual-information estimator, checked where the truth is known: correlated Gaussians.

For x ~ N(0, I_d) and y = rho x + sqrt(1 - rho^2) eps, the mutual information is I(x; y) = -d/2 log(1 - rho^2).
InfoNCE with N candidates gives the lower bound I >= log N - L (lecture 02 derives it), so the estimate can never
exceed log N: with a small batch it saturates however large the true MI is.

Two critics: the optimal one, f*(x, y) = log p(y | x) / p(y) (known in closed form here, so the bound is seen
without any training noise), and a learned separable critic g(x) . h(y) trained with the InfoNCE kernel.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .common import resolve_device
from .losses import info_nce, mi_lower_bound


def gaussian_mi(dim: int, rho: float) -> float:
    """True I(x; y) in nats for ``dim`` independent pairs with correlation ``rho``."""
    return -0.5 * dim * math.log(1.0 - rho ** 2)


def rho_for_mi(mi: float, dim: int) -> float:
    """The correlation that gives mutual information ``mi`` (nats) in ``dim`` dimensions."""
    return math.sqrt(1.0 - math.exp(-2.0 * mi / dim))


def correlated_gaussians(n: int, dim: int, rho: float, generator: torch.Generator | None = None, device=None):
    """(x, y), each (n, dim): x ~ N(0, I), y = rho x + sqrt(1 - rho^2) eps; row i of x and y are a positive pair.
    Drawn on the CPU (the same numbers on every device), then moved to ``device`` when one is given."""
    x = torch.randn(n, dim, generator=generator)
    eps = torch.randn(n, dim, generator=generator)
    y = rho * x + math.sqrt(1.0 - rho ** 2) * eps
    return (x, y) if device is None else (x.to(device), y.to(device))


def optimal_critic_scores(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    """(N, N) scores f*(x_i, y_j) = log p(y_j | x_i) - log p(y_j), the critic that makes InfoNCE tightest."""
    var = 1.0 - rho ** 2
    cond = -((y[None, :, :] - rho * x[:, None, :]) ** 2).sum(-1) / (2 * var) - 0.5 * x.shape[1] * math.log(var)
    marginal = -(y ** 2).sum(-1) / 2
    return cond - marginal[None, :]


def info_nce_from_scores(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE loss of an (N, N) score matrix whose positives are on the diagonal (log-sum-exp inside)."""
    return F.cross_entropy(scores, torch.arange(len(scores), device=scores.device))


def optimal_critic_estimate(mi: float, dim: int, batch_size: int, num_batches: int = 20, seed: int = 0,
                            device="auto") -> float:
    """Mean InfoNCE estimate log N - L over ``num_batches`` batches of N = ``batch_size``, optimal critic.
    Scored on ``device``; the samples are the same on every device."""
    g = torch.Generator().manual_seed(seed)
    device = resolve_device(device)
    rho = rho_for_mi(mi, dim)
    values = []
    for _ in range(num_batches):
        x, y = correlated_gaussians(batch_size, dim, rho, g, device)
        values.append(mi_lower_bound(info_nce_from_scores(optimal_critic_scores(x, y, rho)).item(), batch_size))
    return sum(values) / len(values)


class SeparableCritic(nn.Module):
    """f(x, y) = g(x) . h(y) with two small MLPs; scores (N, N) for all pairs of a batch."""

    def __init__(self, dim: int, hidden: int = 128, embed: int = 32):
        super().__init__()
        self.g = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, embed))
        self.h = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, embed))

    def forward(self, x, y):
        return self.g(x) @ self.h(y).T


def learned_critic_estimate(mi: float, dim: int, batch_size: int, steps: int = 300, lr: float = 3e-3,
                            seed: int = 0, device="auto") -> float:
    """Train a separable critic with InfoNCE (dot-product scores, temperature 1) on fresh batches, then return the
    mean estimate log N - L over 20 held-out batches. Trains on ``device`` ("auto": the GPU when there is one)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = resolve_device(device)
    rho = rho_for_mi(mi, dim)
    critic = SeparableCritic(dim).to(device)
    opt = torch.optim.Adam(critic.parameters(), lr=lr)
    for _ in range(steps):
        x, y = correlated_gaussians(batch_size, dim, rho, g, device)
        loss = info_nce(critic.g(x), critic.h(y), temperature=1.0, similarity="dot")
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        values = []
        for _ in range(20):
            x, y = correlated_gaussians(batch_size, dim, rho, g, device)
            values.append(mi_lower_bound(info_nce_from_scores(critic(x, y)).item(), batch_size))
    return sum(values) / len(values)


def estimate_curves(true_mis, batch_sizes, dim: int = 10, critic: str = "optimal", **kwargs) -> dict[int, list]:
    """{N: [estimate for each true MI]}, for plotting estimate against truth (``viz.mi_estimates``)."""
    estimator = optimal_critic_estimate if critic == "optimal" else learned_critic_estimate
    return {n: [estimator(mi, dim, n, **kwargs) for mi in true_mis] for n in batch_sizes}
