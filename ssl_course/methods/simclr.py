"""SimCLR (Chen et al. 2020): two augmented views, encoder f, projection head g, NT-Xent over the 2N views."""
from __future__ import annotations

import torch
from torch import nn

from ..augment import BatchAugment
from ..losses import nt_xent
from ..models import ProjectionHead
from .base import Method


class SimCLR(Method):
    """h = f(x) is the representation kept after training; z = g(h) is what the loss compares.

    encoder: any module with ``feature_dim``; head_layers: 2 (MLP, the paper), 1 (linear) or 0 (no head, the
    ablation); temperature: t of NT-Xent (None: ``default_temperature`` = 0.2, the value the course's CPU-scale runs use, lecture 03's
    temperature ablation; the paper's CIFAR-10 value 0.5 is set by the GPU presets in ``ssl_course.cli``); gather: optional function that concatenates embeddings from all
    processes with gradients (set by the distributed trainer), so negatives come from the global batch.
    """

    default_temperature = 0.2  # what temperature=None means

    def __init__(self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 512, head_layers: int = 2,
                 temperature: float | None = None, augment: BatchAugment | None = None, image_size: int = 32):
        super().__init__(augment if augment is not None else BatchAugment.recipe("simclr", image_size))
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.feature_dim, hidden_dim, projection_dim, head_layers)
        # None: the method's own default (what ExperimentConfig(temperature=None) means)
        self.temperature = self.default_temperature if temperature is None else temperature
        self.gather = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> z (B, projection_dim)."""
        return self.projector(self.encoder(x))

    def loss(self, batch, generator=None) -> torch.Tensor:
        x1, x2 = self.two_views(batch, generator)
        # one forward pass over both views, so BatchNorm sees the whole 2N batch, as in the paper
        z1, z2 = self(torch.cat([x1, x2])).float().chunk(2)
        if self.gather is not None:
            z1, z2 = self.gather(z1), self.gather(z2)
        return nt_xent(z1, z2, self.temperature)
