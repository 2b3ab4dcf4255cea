"""Decoders that turn an encoder's feature map back into an image-sized map (inpainting, colorization)."""
from __future__ import annotations

import torch
from torch import nn

from ..pretext import lightness


class ConvDecoder(nn.Sequential):
    """(B, in_channels, h, w) -> (B, out_channels, h * 2**num_upsamples, w * 2**num_upsamples).

    Each stage: nearest-neighbour x2 upsampling then conv-BN-ReLU (upsample + conv rather than transposed
    convolutions, which leave checkerboard artefacts); a final 3x3 conv gives the output channels.
    """

    def __init__(self, in_channels: int, out_channels: int, num_upsamples: int = 2, width: int = 64):
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(num_upsamples):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c, width, 3, padding=1, bias=False),
                       nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.Conv2d(c, out_channels, 3, padding=1))
        super().__init__(*layers)


def feature_channels(encoder: nn.Module) -> int:
    """Channels of the last conv layer of ``encoder.features`` (what a decoder on its feature map reads)."""
    convs = [m for m in encoder.features.modules() if isinstance(m, nn.Conv2d)]
    return convs[-1].out_channels


class GrayInput(nn.Module):
    """Wraps an encoder that reads one lightness channel so it accepts RGB batches like every other encoder:
    (B, 3, H, W) in [0, 1] -> encoder(L / 100) with L the CIE lightness, (B, 1, H, W). Colorization and the
    colour-tracking model see only lightness; evaluation still hands them RGB images."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.inner = encoder
        self.feature_dim = getattr(encoder, "feature_dim", None)

    @property
    def features(self):
        return self.inner.features

    lightness = staticmethod(lightness)  # (B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) L / 100

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.inner(self.lightness(rgb))
