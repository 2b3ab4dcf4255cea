"""Self-supervised tracking by colorization (Vondrick et al. 2018), trained on clips of moving photographs.

From grey frames, an embedding network gives features f (B, D, h, w) (1/4 of the frame's resolution). The target
frame's colour (quantized a/b bins, one-hot, pooled to the feature grid) is predicted by copying the reference
frame's colours through the attention A_ij = softmax_i(f_i . f_j / T) (``ssl_course.tracking``); the loss is the
cross-entropy of the copied distribution against the target's true bin. Colour is the free label: nothing says
where anything moved, yet copying colour well requires finding each point again.

batch: (clips uint8 (B, T, 3, S, S), masks) from ``ClipDataset``; the reference is frame 0 and the target a random
later frame. The method's ``encoder`` (grey input, pooled) can also be judged by a probe like any image encoder.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import as_float_images, batch_images
from ..models.decoders import GrayInput, feature_channels
from ..pretext import quantize_ab, rgb_to_lab
from ..tracking import colorization_attention, copy_colors
from .base import Method


class ColorTracker(Method):
    """encoder: a one-channel CNN with ``features`` (stride 4) and ``feature_dim``, e.g. SmallCNN(in_channels=1).

    embed_dim: D of the 1x1 projection the attention compares; temperature: T of the softmax over unit-norm
    features (0.05: a flat softmax at 0.5 blurred the copied masks and colours); bin_size: a/b bin side.
    """

    def __init__(self, encoder: nn.Module, embed_dim: int = 64, temperature: float = 0.05, bin_size: float = 20.0):
        super().__init__(augment=None)
        self.encoder = encoder if isinstance(encoder, GrayInput) else GrayInput(encoder)
        channels = feature_channels(self.encoder)
        self.project = nn.Conv2d(channels, embed_dim, 1)
        self.temperature, self.bin_size = temperature, bin_size
        self.num_bins = int(torch.ceil(torch.tensor(220.0 / bin_size)).item()) ** 2
        self.last_accuracy = float("nan")

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, 3, S, S) float RGB in [0, 1] -> f (B, D, S/4, S/4), L2-normalised over D."""
        return F.normalize(self.project(self.encoder.features(GrayInput.lightness(frames))), dim=1)

    def attention(self, reference: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) x2 -> A (B, n_ref, n_tgt)."""
        return colorization_attention(self.embed(reference), self.embed(target), self.temperature)

    def color_bins(self, frames: torch.Tensor, grid: int) -> torch.Tensor:
        """(B, 3, S, S) -> quantized a/b bin per feature-grid cell (B, grid, grid) (a/b averaged over the cell)."""
        ab = F.adaptive_avg_pool2d(rgb_to_lab(frames)[:, 1:], grid)
        return quantize_ab(ab, self.bin_size)

    def loss(self, batch, generator=None) -> torch.Tensor:
        clips = batch_images(batch)
        b, t_len = clips.shape[:2]
        t = torch.randint(1, t_len, (b,), generator=generator, device=clips.device)
        reference = as_float_images(clips[:, 0])
        target = as_float_images(clips[torch.arange(b, device=clips.device), t])
        # one pass over both frames: BatchNorm statistics shared, as for a siamese pair
        f = self.embed(torch.cat([reference, target]))
        attention = colorization_attention(f[:b], f[b:], self.temperature)  # (B, n, n)
        grid = f.shape[-1]
        ref_bins = F.one_hot(self.color_bins(reference, grid), self.num_bins).permute(0, 3, 1, 2).float()
        predicted = copy_colors(attention, ref_bins)  # (B, Q, n): a distribution over bins per target position
        target_bins = self.color_bins(target, grid).flatten(1)  # (B, n)
        self.last_accuracy = float((predicted.argmax(1) == target_bins).float().mean())
        return F.nll_loss(torch.log(predicted.clamp_min(1e-6)), target_bins)
