"""RotNet (Gidaris et al. 2018): predict which of four rotations (0, 90, 180, 270 degrees) an image was turned by.
To tell an upright digit from an upside-down one the network has to recognise what is in the image."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import BatchAugment
from ..common import as_float_images, batch_images
from ..models import mlp
from ..pretext import rotate_batch
from .base import Method


class RotNet(Method):
    """encoder: any module (B, 3, H, W) -> (B, feature_dim); head: feature_dim -> 4 rotation logits
    (a linear layer with ``hidden_dim=0``, else an MLP with one hidden layer).

    ``loss`` rotates every image of the batch four times (a 4B batch, see ``rotate_batch``) and returns the
    4-way cross-entropy. Images must be square. ``augment``: an optional ``BatchAugment`` applied first (its output
    size must be square). ``last_accuracy`` holds the rotation accuracy of the last batch.
    """

    num_classes = 4

    def __init__(self, encoder: nn.Module, hidden_dim: int = 0, augment: BatchAugment | None = None):
        # by default the rotations are the task's only transformation; ``augment`` (e.g. random resized crops, as
        # the paper's training used) is applied to every image before its four rotations are made
        super().__init__(augment=augment)
        self.encoder = encoder
        dims = [encoder.feature_dim] + ([hidden_dim] if hidden_dim else []) + [self.num_classes]
        self.head = mlp(dims)
        self.last_accuracy = float("nan")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float -> rotation logits (B, 4)."""
        return self.head(self.encoder(images))

    def loss(self, batch, generator=None) -> torch.Tensor:
        images = as_float_images(batch_images(batch))
        if self.augment is not None:
            images = self.augment(images, generator)
        rotated, labels = rotate_batch(images)  # (4B, 3, H, W), (4B,)
        logits = self(rotated).float()
        self.last_accuracy = float((logits.argmax(1) == labels).float().mean())
        return F.cross_entropy(logits, labels)
