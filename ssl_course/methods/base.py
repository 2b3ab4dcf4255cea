"""What every method shares: an encoder to evaluate, an on-device augmentation, and the two-view convention."""
from __future__ import annotations

import torch
from torch import nn

from ..augment import BatchAugment


class Method(nn.Module):
    """Base of the self-supervised methods.

    A method owns ``encoder`` (the representation that evaluation uses) and its heads, and computes
    ``loss(batch, generator=None)`` -> scalar tensor. ``batch`` is either an image batch (B, 3, H, W) (uint8 or
    float in [0, 1]), which the method augments itself with ``self.augment`` on the batch's device, or a tuple
    whose first elements are views already made in DataLoader workers. The training loop passes a
    ``torch.Generator`` so that every random draw, and therefore a resumed run, is reproducible.
    """

    encoder: nn.Module

    def __init__(self, augment: BatchAugment | None = None):
        super().__init__()
        self.augment = augment

    def two_views(self, batch, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Two augmented views (B, 3, S, S) float of the same images."""
        if isinstance(batch, (tuple, list)):
            return batch[0].float(), batch[1].float()
        if self.augment is None:
            raise ValueError(f"{type(self).__name__} got raw images but has no augmentation; pass augment=...")
        return self.augment(batch, generator), self.augment(batch, generator)

    def loss(self, batch, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError
