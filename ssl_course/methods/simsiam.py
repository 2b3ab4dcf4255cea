"""SimSiam (Chen & He 2021, "Exploring simple Siamese representation learning"): BYOL without the momentum
encoder. One shared encoder and projector for both views, a predictor on one side, and a stop-gradient on the
other; the paper shows (figure 2) that the stop-gradient is what keeps the output from collapsing."""
from __future__ import annotations

import torch
from torch import nn

from ..augment import BatchAugment
from ..losses import negative_cosine
from ..models import PredictionHead, ProjectionHead
from .base import Method


class SimSiam(Method):
    """z = g(f(x)) (projector), p = h(z) (predictor); loss D(p1, stopgrad(z2)) / 2 + D(p2, stopgrad(z1)) / 2 with
    D = negative cosine (the paper's eq. 2).

    encoder: any module with ``feature_dim``; projection_dim / hidden_dim: the projector's sizes (the paper:
    2048 / 2048; the course's 128 / 512); predictor_hidden_dim: the predictor's bottleneck (None: projection_dim
    // 4, the paper's 2048 -> 512 -> 2048 ratio); stop_gradient: False is the paper's ablation, which collapses to
    a constant output (figure 2); augment: default SimCLR's recipe (the paper's is the same composition).
    """

    def __init__(self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 512,
                 predictor_hidden_dim: int | None = None, stop_gradient: bool = True,
                 augment: BatchAugment | None = None, image_size: int = 32):
        super().__init__(augment if augment is not None else BatchAugment.recipe("simclr", image_size))
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.feature_dim, hidden_dim, projection_dim, 2)
        bottleneck = predictor_hidden_dim if predictor_hidden_dim is not None else max(1, projection_dim // 4)
        self.predictor = PredictionHead(projection_dim, bottleneck)
        self.stop_gradient = stop_gradient

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> z (B, projection_dim): the projector's output, whose l2-normalised standard deviation
        the paper plots to show collapse (figure 2, middle)."""
        return self.projector(self.encoder(x))

    def loss(self, batch, generator=None) -> torch.Tensor:
        x1, x2 = self.two_views(batch, generator)
        z = self.embed(torch.cat([x1, x2]))  # 2N x D, both views in one forward (BatchNorm sees the 2N batch)
        p1, p2 = self.predictor(z).float().chunk(2)
        z1, z2 = z.float().chunk(2)
        # the stop-gradient: z of the other view is a constant target (negative_cosine detaches it)
        return (negative_cosine(p1, z2, self.stop_gradient) + negative_cosine(p2, z1, self.stop_gradient)) / 2
