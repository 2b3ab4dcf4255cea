"""Colorization (Zhang, Isola & Efros 2016): from the lightness L of an image, predict its colour a/b (CIE Lab).

"classification" (the paper's choice): a/b is quantized into bins (``ab_bin_centers``) and each pixel's bin is
predicted with a per-pixel cross-entropy, which copes with multimodal colours (a car may be red or blue) instead
of averaging them into grey as regression does. "regression": a/b / 110 predicted directly with an L2 loss.

The encoder reads one channel (L); ``self.encoder`` wraps it in ``GrayInput`` so evaluation can hand it RGB.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import as_float_images, batch_images
from ..models.decoders import ConvDecoder, GrayInput, feature_channels
from ..pretext import AB_RANGE, ab_bin_centers, lightness_of, quantize_ab, rgb_to_lab
from .base import Method

OBJECTIVES = ("classification", "regression")


class Colorization(Method):
    """encoder: a CNN with ``in_channels=1``, ``features`` (B, 1, H, W) -> (B, C, H/4, W/4) and ``feature_dim``
    (e.g. ``SmallCNN(width, in_channels=1)``).

    objective: "classification" (Q bins of side ``bin_size``) or "regression"; downsample: upsampling stages of the
    decoder (2: full resolution; 1 or 0: predict at 1/2 or 1/4 resolution, as Zhang et al. predict at 1/4, against
    the mean a/b of each cell; much cheaper).
    """

    def __init__(self, encoder: nn.Module, objective: str = "classification", bin_size: float = 20.0,
                 decoder_width: int = 64, downsample: int = 2):
        super().__init__(augment=None)
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.encoder = encoder if isinstance(encoder, GrayInput) else GrayInput(encoder)
        self.objective, self.bin_size = objective, bin_size
        self.register_buffer("bin_centers", ab_bin_centers(bin_size))  # (Q, 2)
        out = len(self.bin_centers) if objective == "classification" else 2
        self.decoder = ConvDecoder(feature_channels(self.encoder.inner), out, num_upsamples=downsample, width=decoder_width)
        self.last_accuracy = float("nan")

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """lightness (B, 1, H, W) = L / 100 -> (B, Q, H, W) bin logits, or (B, 2, H, W) a/b / 110."""
        return self.decoder(self.encoder.inner.features(lightness))

    @torch.no_grad()
    def colorize(self, rgb: torch.Tensor, annealed_temperature: float = 0.38) -> torch.Tensor:
        """RGB (B, 3, H, W) in [0, 1] -> recoloured RGB from its own lightness. Classification decodes with the
        paper's annealed mean (softmax at temperature 0.38, then the expected a/b)."""
        lab = rgb_to_lab(as_float_images(rgb))
        out = self(lightness_of(lab)).float()
        out = F.interpolate(out, size=lab.shape[-2:], mode="bilinear", align_corners=False)
        if self.objective == "classification":
            p = torch.softmax(out / annealed_temperature, dim=1)
            ab = torch.einsum("bqhw,qc->bchw", p, self.bin_centers)
        else:
            ab = out * AB_RANGE
        from ..pretext import lab_to_rgb

        return lab_to_rgb(torch.cat([lab[:, :1], ab], dim=1))

    def loss(self, batch, generator=None) -> torch.Tensor:
        images = as_float_images(batch_images(batch))
        lab = rgb_to_lab(images)
        out = self(lightness_of(lab)).float()
        ab = lab[:, 1:]
        if out.shape[-2:] != ab.shape[-2:]:  # a coarser output (downsample < 2): compare with the cells' mean colour
            ab = F.adaptive_avg_pool2d(ab, out.shape[-2:])
        if self.objective == "regression":
            return F.mse_loss(out, ab / AB_RANGE)
        target = quantize_ab(ab, self.bin_size)  # (B, h, w)
        self.last_accuracy = float((out.argmax(1) == target).float().mean())
        return F.cross_entropy(out, target)
