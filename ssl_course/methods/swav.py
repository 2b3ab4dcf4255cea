"""SwAV (Caron et al. 2020, "Unsupervised learning of visual features by contrasting cluster assignments"):
instead of comparing embeddings, each crop predicts the cluster assignment ("code") of another crop of the same
image. Codes come from Sinkhorn-Knopp, which spreads the batch equally over K learned prototypes: that
equipartition is what rules out the collapsed solution (every image in one cluster). Multi-crop adds small crops
that predict the large crops' codes."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import AugmentConfig, MultiCrop
from ..losses import sinkhorn_knopp, swapped_prediction_loss
from ..models import ProjectionHead
from .base import Method, forward_by_size


class SwAV(Method):
    """z = normalize(g(f(x))) per crop; scores z^T c_k with K unit-norm prototypes c_k; codes q = Sinkhorn-Knopp
    of the global crops' scores; loss: swapped prediction (``ssl_course.losses.swapped_prediction_loss``).

    encoder: any module with ``feature_dim``; projection_dim / hidden_dim: the projector (the paper: 128 / 2048);
    num_prototypes: K (the paper: 3,000 for ImageNet's 1,000 classes; 30, three per class, for the course's
    10-class data, the same ratio); temperature: t of the softmax over prototypes, 0.1; epsilon / iterations:
    Sinkhorn-Knopp's entropy weight 0.05 and 3 rounds (the paper's); freeze_prototypes_steps: the prototypes get
    an exactly zero gradient for this many ``loss`` calls (the paper freezes them during its first epoch, 313
    steps; 40 is about one epoch of the course's 5,000-image, batch-128 runs), so they are not dragged to
    wherever the still-random embeddings lie. num_global / num_local / local_size: multi-crop (2 crops at
    ``image_size`` and 4 at ``local_size``, default image_size // 2; num_local=0 turns multi-crop off);
    augment: the base AugmentConfig of the crops (their scales are MultiCrop's).
    all_reduce: set by the distributed trainer (``ssl_course.distributed.all_reduce``), so Sinkhorn-Knopp
    equipartitions the global batch. The paper's queue of earlier embeddings (for batches under 256) is not used.
    """

    def __init__(self, encoder: nn.Module, projection_dim: int = 128, hidden_dim: int = 512,
                 num_prototypes: int = 30, temperature: float = 0.1, epsilon: float = 0.05, iterations: int = 3,
                 freeze_prototypes_steps: int = 40, num_global: int = 2, num_local: int = 4,
                 local_size: int | None = None, augment: AugmentConfig | None = None, image_size: int = 32):
        super().__init__(MultiCrop(image_size, local_size, num_global, num_local, config=augment))
        if num_prototypes < 2 or temperature <= 0 or freeze_prototypes_steps < 0:
            raise ValueError("need num_prototypes >= 2, temperature > 0 and freeze_prototypes_steps >= 0")
        if num_global + num_local < 2:
            raise ValueError("swapped prediction needs at least 2 crops per image")
        self.encoder = encoder
        self.projector = ProjectionHead(encoder.feature_dim, hidden_dim, projection_dim, 2)
        self.prototypes = nn.Linear(projection_dim, num_prototypes, bias=False)  # K x D weight, rows = c_k
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        self.temperature, self.epsilon, self.iterations = temperature, epsilon, iterations
        self.freeze_prototypes_steps, self.num_global = freeze_prototypes_steps, num_global
        # loss calls so far: a buffer, so it is saved in checkpoints and a resumed run freezes exactly as long
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.all_reduce = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> z (B, projection_dim), l2-normalised: the embedding the prototypes score."""
        return F.normalize(self.projector(self.encoder(x)).float(), dim=1)

    def codes(self, scores: torch.Tensor) -> torch.Tensor:
        """(C, N, K) scores of the global crops -> (C, N, K) codes, each row a distribution over prototypes."""
        return torch.stack([sinkhorn_knopp(s, self.epsilon, self.iterations, all_reduce=self.all_reduce)
                            for s in scores])

    def loss(self, batch, generator=None) -> torch.Tensor:
        crops = self.multi_crops(batch, generator)  # num_global (B, 3, S, S) then num_local (B, 3, s, s)
        with torch.no_grad():  # the prototypes live on the unit sphere (the paper normalises them every step)
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        w = self.prototypes.weight
        if int(self.steps) < self.freeze_prototypes_steps:
            # frozen: a gradient of exactly zero, not a detach, so the prototypes still take part in the graph
            # (DDP with find_unused_parameters=False expects a gradient for every trainable parameter). Weight
            # decay or momentum may still scale the rows, which the normalisation above undoes.
            w = w.detach() + 0.0 * w
        z = forward_by_size(self.embed, crops)  # V x N x D, float32
        with torch.autocast(z.device.type, enabled=False):  # cosines in float32: they are divided by t = 0.1
            scores = z @ w.float().t()  # V x N x K
        codes = self.codes(scores[:self.num_global].detach())  # C x N x K, from the global crops only
        self.steps += 1
        return swapped_prediction_loss(scores, codes, self.temperature)
