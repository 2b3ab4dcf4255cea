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

    def multi_crops(self, batch, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The crops of a multi-crop method (SwAV, DINO): ``self.augment`` (a ``MultiCrop``) of raw images, or the
        image tensors (B, 3, S, S) of a tuple of views made in DataLoader workers (labels are left out), as float."""
        if isinstance(batch, (tuple, list)):
            return [t.float() for t in batch if t.dim() == 4]
        if self.augment is None:
            raise ValueError(f"{type(self).__name__} got raw images but has no augmentation; pass augment=...")
        return self.augment(batch, generator)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, D): the output the collapse monitor measures (``TrainConfig.monitor_every``). The
        encoder's representation by default; a method without negatives overrides it with the output its paper
        monitors (SimSiam's figure 2 measures the projector's l2-normalised output)."""
        return self.encoder(x)

    def loss(self, batch, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


def forward_by_size(module, crops: list[torch.Tensor]) -> torch.Tensor:
    """``module`` applied to a list of V crops of the same N images, one forward per run of equal-sized crops (the
    global crops together, the local crops together, as SwAV's and DINO's code batch them: BatchNorm sees a whole
    resolution at once, and a ViT is called once per sequence length). Returns (V, N, D)."""
    outputs, start = [], 0
    while start < len(crops):
        end = start
        while end < len(crops) and crops[end].shape[-2:] == crops[start].shape[-2:]:
            end += 1
        outputs.append(module(torch.cat(crops[start:end])))
        start = end
    n = crops[0].shape[0]
    return torch.cat(outputs).view(len(crops), n, -1)
