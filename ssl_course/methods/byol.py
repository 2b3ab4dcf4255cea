"""BYOL (Grill et al. 2020, "Bootstrap your own latent"): an online network predicts a slowly moving target
network's projection of another view of the same image. No negatives: a predictor on the online side and a
target that moves only by an exponential moving average (EMA) of the online weights keep it from collapsing."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..augment import BatchAugment
from ..losses import momentum_update_, normalized_mse
from ..models import PredictionHead, ProjectionHead
from .base import Method


class BYOL(Method):
    """Online network: encoder f_theta, projector g_theta, predictor q_theta; target network: f_xi, g_xi, copies
    of the online encoder and projector with ``requires_grad=False``, moved by xi <- m xi + (1 - m) theta.

    encoder: any module with ``feature_dim``; projection_dim / hidden_dim: the projector's and predictor's sizes
    (the paper: 256 / 4096; here the course's 128 / 512 heads); momentum: m, 0.996 (the paper's base value). The
    paper raises m to 1 along a cosine schedule over training; this class keeps m constant (the simpler variant
    the paper's ablations also train). predictor: False replaces q_theta by the identity, the ablation of the
    paper's table 5 that collapses. augment: the two views' augmentation (default SimCLR's recipe; BYOL's own
    recipe is SimCLR's with asymmetric blur and solarisation, which the course's 32-pixel images do without).

    The EMA step is taken in ``loss``, before the targets are computed (as MoCo does): the target
    then moves once per optimiser step, after that step, which is BYOL's update (the first call's step is a
    no-op, the copies being equal; the last optimiser step's EMA is the one a further call would take).
    """

    def __init__(self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 512,
                 momentum: float = 0.996, predictor: bool = True, augment: BatchAugment | None = None,
                 image_size: int = 32):
        super().__init__(augment if augment is not None else BatchAugment.recipe("simclr", image_size))
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.online_encoder = encoder
        self.online_projector = ProjectionHead(encoder.feature_dim, hidden_dim, projection_dim, 2)
        self.predictor = PredictionHead(projection_dim, hidden_dim) if predictor else nn.Identity()
        self.target_encoder = copy.deepcopy(self.online_encoder)
        self.target_projector = copy.deepcopy(self.online_projector)
        for p in self.target_parameters():
            p.requires_grad = False  # moved by the EMA only, never by a gradient
        self.momentum = momentum

    @property
    def encoder(self) -> nn.Module:
        return self.online_encoder

    def online_parameters(self) -> list[nn.Parameter]:
        """The parameters the EMA follows (the predictor has no target counterpart)."""
        return list(self.online_encoder.parameters()) + list(self.online_projector.parameters())

    def target_parameters(self) -> list[nn.Parameter]:
        return list(self.target_encoder.parameters()) + list(self.target_projector.parameters())

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> z_theta (B, projection_dim): the online projection, what collapse would make constant."""
        return self.online_projector(self.online_encoder(x))

    def loss(self, batch, generator=None) -> torch.Tensor:
        """2 - 2 cos(q(z1), z'2) + 2 - 2 cos(q(z2), z'1), averaged over the batch: the paper's symmetrised loss
        (eq. 2, L + L~, a sum of the two directions), in float32."""
        x1, x2 = self.two_views(batch, generator)
        # both views in one forward, so BatchNorm sees the 2N batch (as SimCLR here)
        p1, p2 = self.predictor(self.embed(torch.cat([x1, x2]))).float().chunk(2)  # N x D each
        with torch.no_grad():
            momentum_update_(self.target_parameters(), self.online_parameters(), self.momentum)
            t1, t2 = self.target_projector(self.target_encoder(torch.cat([x1, x2]))).float().chunk(2)
        # each view's prediction regresses the target's projection of the *other* view
        return normalized_mse(p1, t2) + normalized_mse(p2, t1)
