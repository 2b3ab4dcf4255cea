"""Context encoder (Pathak et al. 2016): hide part of the image and reconstruct it from the rest.

The encoder sees the image with the hole filled by the mean grey; a convolutional decoder predicts the whole image;
the reconstruction loss is the mean squared error over the hole (plus a small weight on the context, so the
decoder's output is also anchored there). An optional adversarial term (off by default; the paper weights it
0.001) makes the filled-in region look real to a small discriminator.

Masks ("center", "block", "region") come from ``ssl_course.pretext``.

One optimizer trains everything: the discriminator loss uses detached reconstructions (so it only moves D) and
the generator's adversarial term is computed through a copy of D's parameters without gradient
(``torch.func.functional_call``), so it only moves the encoder-decoder. The sum of the two is therefore the
usual alternating GAN update done in one step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..common import as_float_images, batch_images
from ..models.decoders import ConvDecoder, feature_channels
from ..pretext import center_mask, random_block_mask, random_region_mask
from .base import Method

MASKS = ("center", "block", "region")


class Discriminator(nn.Sequential):
    """(B, 3, H, W) -> (B,) real/fake logits: strided convs, global average pool, linear."""

    def __init__(self, width: int = 32):
        super().__init__(
            nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1), nn.Flatten(0))


class ContextEncoder(Method):
    """encoder: a CNN with ``features`` (B, 3, H, W) -> (B, C, H/4, W/4) (e.g. ``SmallCNN``) and ``feature_dim``.

    mask: "center" | "block" | "region"; mask_fraction: side fraction of the centre hole / of each block, or area
    fraction of the region; context_weight: weight of the reconstruction error outside the hole; adversarial_weight:
    0 turns the GAN term off. ``last_losses`` holds the parts of the last loss.
    """

    def __init__(self, encoder: nn.Module, mask: str = "center", mask_fraction: float = 0.5,
                 context_weight: float = 0.1, adversarial_weight: float = 0.0, decoder_width: int = 64,
                 downsample: int = 2):
        super().__init__(augment=None)
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {MASKS}, got {mask!r}")
        self.encoder, self.mask_kind, self.mask_fraction = encoder, mask, mask_fraction
        self.context_weight, self.adversarial_weight = context_weight, adversarial_weight
        # SmallCNN pools twice: the feature map is 4x smaller than the image
        self.decoder = ConvDecoder(feature_channels(encoder), 3, num_upsamples=downsample, width=decoder_width)
        self.discriminator = Discriminator() if adversarial_weight > 0 else None
        self.last_losses: dict[str, float] = {}

    def make_mask(self, batch: int, height: int, width: int, generator=None, device=None) -> torch.Tensor:
        """(B, 1, H, W) float, 1 in the hole."""
        if self.mask_kind == "center":
            return center_mask(batch, height, width, self.mask_fraction, device=device)
        if self.mask_kind == "block":
            return random_block_mask(batch, height, width, block_fraction=self.mask_fraction / 2,
                                     generator=generator, device=device)
        return random_region_mask(batch, height, width, coverage=self.mask_fraction ** 2, generator=generator,
                                  device=device)

    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) in [0, 1], mask (B, 1, H, W) -> reconstruction (B, 3, H, W) in [0, 1]."""
        masked = images * (1 - mask) + 0.5 * mask  # the hole is filled with mean grey
        return torch.sigmoid(self.decoder(self.encoder.features(masked)))

    def loss(self, batch, generator=None) -> torch.Tensor:
        images = as_float_images(batch_images(batch))
        b, _, h, w = images.shape
        mask = self.make_mask(b, h, w, generator, images.device)
        recon = self(images, mask).float()
        err = (recon - images).pow(2).mean(1, keepdim=True)  # (B, 1, H, W)
        hole = (err * mask).sum() / mask.sum().clamp_min(1)
        context = (err * (1 - mask)).sum() / (1 - mask).sum().clamp_min(1)
        total = hole + self.context_weight * context
        self.last_losses = {"hole": float(hole.detach()), "context": float(context.detach())}
        if self.discriminator is not None:
            filled = images * (1 - mask) + recon * mask
            real_logits = self.discriminator(images)
            fake_logits = self.discriminator(filled.detach())
            d_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits)) + \
                F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
            frozen.update(dict(self.discriminator.named_buffers()))
            g_logits = functional_call(self.discriminator, frozen, (filled,))
            g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
            total = total + self.adversarial_weight * g_loss + d_loss
            self.last_losses.update(generator_adv=float(g_loss.detach()), discriminator=float(d_loss.detach()))
        return total
