"""Relative patch location (Doersch, Gupta & Efros 2015): given the centre tile of a 3x3 grid and one of its eight
neighbours, predict where the neighbour is. Both tiles go through the same encoder (shared weights); a small
head classifies the concatenated features into the 8 positions.

Tiles of a 32 px image are small (cell 10 px, tile 8 px with gap 2): ``tile_resize`` can upsample them before
the encoder. The encoder trained on tiles is evaluated, as usual, on whole images (its global average pool makes
it size-agnostic).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import as_float_images, batch_images
from ..models import mlp
from ..pretext import relative_patch_pairs
from .base import Method


class RelativePatch(Method):
    """encoder: (B, 3, t, t) -> (B, feature_dim), shared by both tiles; head: 2 * feature_dim -> hidden -> 8.

    gap: pixels between tiles (each tile is jittered by up to ``gap`` inside its cell); tile_resize: side the
    tiles are resized to before the encoder (None keeps them as cut).
    """

    num_classes = 8

    def __init__(self, encoder: nn.Module, gap: int = 2, jitter: bool = True, tile_resize: int | None = None,
                 hidden_dim: int = 256):
        super().__init__(augment=None)
        self.encoder, self.gap, self.jitter, self.tile_resize = encoder, gap, jitter, tile_resize
        self.head = mlp([2 * encoder.feature_dim, hidden_dim, self.num_classes])
        self.last_accuracy = float("nan")

    def _resize(self, tiles: torch.Tensor) -> torch.Tensor:
        if self.tile_resize is None or tiles.shape[-1] == self.tile_resize:
            return tiles
        return F.interpolate(tiles, size=self.tile_resize, mode="bilinear", align_corners=False)

    def forward(self, centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        """centre, neighbour: (B, 3, t, t) -> position logits (B, 8)."""
        b = centre.shape[0]
        # one encoder call on both tiles: shared weights and BatchNorm statistics over the 2B tiles
        h = self.encoder(self._resize(torch.cat([centre, neighbour])))
        return self.head(torch.cat([h[:b], h[b:]], dim=1))

    def loss(self, batch, generator=None) -> torch.Tensor:
        images = as_float_images(batch_images(batch))
        centre, neighbour, labels = relative_patch_pairs(images, self.gap, self.jitter, generator)
        logits = self(centre, neighbour).float()
        self.last_accuracy = float((logits.argmax(1) == labels).float().mean())
        return F.cross_entropy(logits, labels)
