"""Heads that sit on top of an encoder: SimCLR / MoCo v2 projection MLPs and a BYOL-style prediction MLP."""
from __future__ import annotations

from torch import nn


def mlp(dims: list[int], batch_norm: bool = True, last_batch_norm: bool = False) -> nn.Sequential:
    """Linear layers through ``dims`` with BN + ReLU between them (not after the last, unless last_batch_norm)."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Linear(d_in, d_out, bias=last or not batch_norm))
        if not last:
            if batch_norm:
                layers.append(nn.BatchNorm1d(d_out))
            layers.append(nn.ReLU(inplace=True))
        elif last_batch_norm:
            layers.append(nn.BatchNorm1d(d_out, affine=False))
    return nn.Sequential(*layers)


class ProjectionHead(nn.Sequential):
    """g(h): (B, in_dim) -> (B, out_dim). ``num_layers`` = 1 is a linear projection (MoCo v1), 2 is SimCLR's /
    MoCo v2's MLP (in -> hidden -> out with BN + ReLU between), 0 is the identity (the "no head" ablation)."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128, num_layers: int = 2,
                 batch_norm: bool = True):
        if num_layers == 0:
            super().__init__(nn.Identity())
            self.out_dim = in_dim
            return
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        super().__init__(*mlp(dims, batch_norm))
        self.out_dim = out_dim


class PredictionHead(nn.Sequential):
    """q(z): (B, dim) -> (B, dim), the predictor of BYOL / SimSiam (dim -> hidden -> dim)."""

    def __init__(self, dim: int = 128, hidden_dim: int = 512):
        super().__init__(*mlp([dim, hidden_dim, dim]))
        self.out_dim = dim
