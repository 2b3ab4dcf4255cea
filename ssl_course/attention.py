"""Where a network looks: the computations behind the attention figures (plots live in ``viz``).

- ``activation_attention``: CNN activation-based attention (Zagoruyko & Komodakis 2017), the maps RotNet used to
  show its features attend to objects: per layer, the mean over channels of |activation|^p, upsampled to the image.
- ``cls_attention``: the attention of a ViT's [CLS] token to the patches, one map per head (the DINO figure).
- ``query_attention``: one row of the colorization-tracking attention: where a target-frame point copies its colour
  from in the reference frame.

Every map is (B, ..., H, W) float, normalised per map to [0, 1] (divided by its maximum) so maps can share a
colour scale.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .common import eval_mode

__all__ = ["activation_attention", "cls_attention", "query_attention", "normalize_maps", "mass_inside"]


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Divide each map (the last two dimensions) by its maximum (maps are non-negative)."""
    peak = maps.flatten(-2).amax(-1)[..., None, None].clamp_min(1e-12)
    return maps / peak


@torch.no_grad()
def activation_attention(encoder: nn.Module, images: torch.Tensor, p: float = 2.0,
                         layers: list[int] | None = None) -> list[torch.Tensor]:
    """Per-layer activation attention of a CNN with ``features`` (an nn.Sequential of blocks, e.g. SmallCNN).

    images: (B, 3, H, W) in [0, 1] (an encoder wrapped in ``GrayInput`` gets its lightness). Returns one map
    (B, H, W) per selected block (default: all), F_l = mean_c |A_l,c|^p upsampled bilinearly to (H, W).
    p > 1 weights the most active locations more (the paper's p = 2). The encoder runs in eval mode.
    """
    from .models.decoders import GrayInput

    x = GrayInput.lightness(images) if isinstance(encoder, GrayInput) else images
    blocks = list(encoder.features)
    selected = set(range(len(blocks)) if layers is None else [i % len(blocks) for i in layers])
    maps = []
    with eval_mode(encoder):
        for i, block in enumerate(blocks):
            x = block(x)
            if i in selected:
                m = x.float().abs().pow(p).mean(1, keepdim=True)  # (B, 1, h, w)
                m = F.interpolate(m, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
                maps.append(normalize_maps(m))
    return maps


@torch.no_grad()
def cls_attention(vit: nn.Module, images: torch.Tensor, layer: int = -1, upsample: bool = True) -> torch.Tensor:
    """[CLS]-to-patch attention of every head of one block of a ``TinyViT``.

    images (B, 3, H, W) -> (B, heads, H, W) (or (B, heads, g, g) on the patch grid with ``upsample=False``).
    The [CLS] row of the attention without its own column, renormalised per map to a maximum of 1.
    """
    with eval_mode(vit):
        _, attentions = vit.forward_with_attention(images)
    attn = attentions[layer][:, :, 0, 1:]  # (B, heads, N): how much [CLS] reads each patch
    grid = int(round(attn.shape[-1] ** 0.5))
    maps = attn.reshape(*attn.shape[:2], grid, grid)
    if upsample:
        maps = F.interpolate(maps, size=images.shape[-2:], mode="nearest")
    return normalize_maps(maps)


def query_attention(attention: torch.Tensor, query: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """Where target position ``query`` = (row, col) on the target grid copies from: the column of
    A (B, n_ref, n_tgt) for that position, as a reference-grid map (B, h, w) (sums to 1 over the map)."""
    h, w = grid
    row, col = query
    return attention[:, :, row * w + col].reshape(-1, h, w)


def mass_inside(maps: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
    """Share of each attention map's mass that falls inside a region (e.g. the object's pixels): a number to put
    next to the pictures. maps: (B, ..., H, W) non-negative; region: (B, H, W) of 0/1 or bool. Returns (B, ...) in
    [0, 1]; a map spread uniformly scores the region's area fraction, one that lies wholly inside scores 1."""
    region = region.float().reshape(region.shape[0], *([1] * (maps.dim() - 3)), *region.shape[-2:])
    return (maps * region).flatten(-2).sum(-1) / maps.flatten(-2).sum(-1).clamp_min(1e-12)
