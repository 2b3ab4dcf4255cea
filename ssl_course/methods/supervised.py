"""The reference every self-supervised representation is judged against: the same encoder trained with labels.

Cross-entropy through a linear classifier on top of the encoder, on augmented images, through the same training
loop as the self-supervised methods (it sets ``uses_labels``, so the loop hands it (images, labels) batches).
Started from a random encoder it is "supervised from scratch"; started from a self-supervised encoder it is
fine-tuning, the protocol of the papers' semi-supervised tables (SimCLR section 7, Table 7).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import AugmentConfig, BatchAugment
from ..common import as_float_images, eval_mode
from .base import Method

# the supervised baseline's augmentation: crops that keep most of the object and flips (the standard supervised
# recipe), with the same colour jitter and grayscale as SimCLR, so that scratch training and the
# self-supervised encoder see the same image changes
SUPERVISED_AUGMENT = AugmentConfig.recipe("simclr").with_(crop_scale=(0.5, 1.0))


class Supervised(Method):
    """encoder f and a linear classifier W: logits = W f(augment(x)); loss = cross-entropy with the labels.

    encoder: any module with ``feature_dim``; num_classes: classes of the labels; augment: the on-device
    augmentation (default ``SUPERVISED_AUGMENT``; ``BatchAugment.recipe("none", ...)`` for none).
    """

    uses_labels = True  # the training loop yields (images (B, 3, H, W), labels (B,)) batches

    def __init__(self, encoder: nn.Module, num_classes: int, augment: BatchAugment | None = None,
                 image_size: int = 32):
        super().__init__(augment if augment is not None else BatchAugment(image_size, SUPERVISED_AUGMENT))
        self.encoder = encoder
        self.classifier = nn.Linear(encoder.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) float in [0, 1] -> logits (B, num_classes)."""
        return self.classifier(self.encoder(x))

    def loss(self, batch, generator=None) -> torch.Tensor:
        images, labels = batch
        x = self.augment(images, generator) if images.dtype == torch.uint8 else images.float()
        return F.cross_entropy(self(x).float(), labels)

    @torch.no_grad()
    def accuracy(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
        """Test accuracy of the trained classifier itself (no augmentation, eval mode; the mode is restored).
        images: uint8 (N, 3, H, W), labels (N,)."""
        device = next(self.parameters()).device
        correct = 0
        with eval_mode(self):
            for start in range(0, len(images), batch_size):
                x = as_float_images(images[start:start + batch_size].to(device))
                correct += int((self(x).argmax(1).cpu() == labels[start:start + batch_size]).sum())
        return correct / len(images)
