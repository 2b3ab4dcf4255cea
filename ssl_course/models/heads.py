"""Heads that sit on top of an encoder: SimCLR / MoCo v2 projection MLPs, a BYOL-style prediction MLP, DINO's head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
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


class DINOHead(nn.Module):
    """DINO's projection head (Caron et al. 2021, section 3.1 and its code's ``DINOHead``): (B, in_dim) -> (B, K).

    An MLP (in_dim -> hidden_dim -> hidden_dim -> bottleneck_dim, GELU between, no BatchNorm: the paper's ViT
    setting), an l2 normalisation of the bottleneck, then a weight-normalised linear layer to ``out_dim`` = K
    outputs without bias. The weight norm's gain is fixed to 1 (the code's ``norm_last_layer=True``), so that
    layer is the cosine between the bottleneck and K unit vectors. K: the paper's 65,536; 256 suits the course's
    10-class data. The last layer is computed in float32 also under bf16 autocast: its outputs are divided by a
    teacher temperature of 0.04 before the softmax, where bf16's 3 significant digits would show.
    """

    def __init__(self, in_dim: int, out_dim: int = 256, hidden_dim: int = 512, bottleneck_dim: int = 64):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        self.last_layer = nn.Linear(bottleneck_dim, out_dim, bias=False)  # its rows are normalised when used
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        with torch.autocast(x.device.type, enabled=False):
            x = F.normalize(x.float(), dim=-1)
            return F.linear(x, F.normalize(self.last_layer.weight.float(), dim=1))
