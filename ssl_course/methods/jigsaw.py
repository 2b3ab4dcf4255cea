"""Jigsaw puzzles (Noroozi & Favaro 2016): cut an image into grid x grid tiles (with gaps and jitter), shuffle them
by one permutation from a fixed set chosen for maximal Hamming distance, and predict which permutation it was.
Each tile goes through the same encoder (the paper's "context-free network": shared weights, so no tile sees
another before the head); the head reads the concatenated tile features in the shuffled order.

On 32 px images a 3x3 grid gives 8 px tiles (gap 2); a 2x2 grid (14 px tiles, 24 permutations in all) is the
easier variant. ``tile_resize`` upsamples tiles before the encoder if it needs larger inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import as_float_images, batch_images
from ..models import mlp
from ..pretext import grid_tiles, hamming_permutations
from .base import Method


class Jigsaw(Method):
    """encoder: (B, 3, t, t) -> (B, feature_dim), shared by all tiles; head: n * feature_dim -> hidden -> K.

    grid: tiles per side (n = grid^2 tiles); num_permutations: K classes (at most n!); gap / jitter as in
    ``grid_tiles``; permutation_seed: seed of the greedy maximal-Hamming selection. The set is a buffer, so it is
    saved with the checkpoint.
    """

    def __init__(self, encoder: nn.Module, grid: int = 3, num_permutations: int = 64, gap: int = 2,
                 jitter: bool = True, tile_resize: int | None = None, hidden_dim: int = 512,
                 permutation_seed: int = 0):
        super().__init__(augment=None)
        self.encoder, self.grid, self.gap, self.jitter, self.tile_resize = encoder, grid, gap, jitter, tile_resize
        self.register_buffer("permutations", hamming_permutations(num_permutations, grid * grid, permutation_seed))
        self.head = mlp([grid * grid * encoder.feature_dim, hidden_dim, num_permutations])
        self.last_accuracy = float("nan")

    def shuffle(self, tiles: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """tiles (B, n, C, t, t) -> (shuffled tiles (B, n, C, t, t), labels (B,)): a random permutation class k
        per image, shuffled[:, j] = tiles[:, permutations[k, j]]."""
        b = tiles.shape[0]
        labels = torch.randint(0, len(self.permutations), (b,), generator=generator, device=tiles.device)
        order = self.permutations[labels]  # (B, n)
        return tiles[torch.arange(b, device=tiles.device)[:, None], order], labels

    def forward(self, tiles: torch.Tensor) -> torch.Tensor:
        """tiles (B, n, C, t, t) in the shown order -> permutation logits (B, K)."""
        b, n = tiles.shape[:2]
        flat = tiles.flatten(0, 1)  # (B n, C, t, t): every tile through the same encoder
        if self.tile_resize is not None and flat.shape[-1] != self.tile_resize:
            flat = F.interpolate(flat, size=self.tile_resize, mode="bilinear", align_corners=False)
        h = self.encoder(flat).view(b, n * self.encoder.feature_dim)
        return self.head(h)

    def loss(self, batch, generator=None) -> torch.Tensor:
        images = as_float_images(batch_images(batch))
        tiles = grid_tiles(images, self.grid, self.gap, self.jitter, generator)
        shuffled, labels = self.shuffle(tiles, generator)
        logits = self(shuffled).float()
        self.last_accuracy = float((logits.argmax(1) == labels).float().mean())
        return F.cross_entropy(logits, labels)
