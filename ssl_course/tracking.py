"""Tracking emerges from colorization (Vondrick et al. 2018): the computation, without parameters.

A pointer network copies colours: every target-frame position j attends over the reference-frame positions i,

    A_ij = exp(f_i . f_j / T) / sum_i' exp(f_i' . f_j / T)        (softmax over the reference positions i)

and its colour is predicted as sum_i A_ij c_i. Trained to colourise, the features f must find "the same point" in
the other frame; so the same attention propagates anything else, e.g. an object mask, from the reference frame
(``propagate_mask``). ``mask_iou`` scores it against the true moved mask. ``pixel_features`` are the raw-pixel
baseline (local lightness patches, the features of naive block matching).

Shapes: features f (B, D, h, w); positions are flattened row-major (h * w = n).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .common import as_float_images
from .pretext import lightness

__all__ = ["colorization_attention", "copy_colors", "propagate_mask", "mask_iou", "pixel_features", "pixel_attention",
           "propagation_iou"]


def colorization_attention(reference: torch.Tensor, target: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """A (B, n_ref, n_tgt) with A[:, i, j] = softmax over i of <f_ref_i, f_tgt_j> / temperature (columns sum to 1).

    reference: (B, D, h, w) features of the reference frame; target: (B, D, h', w') features of the target frame.
    """
    ref, tgt = reference.flatten(2), target.flatten(2)  # (B, D, n)
    logits = torch.einsum("bdi,bdj->bij", ref, tgt) / temperature
    return torch.softmax(logits, dim=1)


def copy_colors(attention: torch.Tensor, reference_values: torch.Tensor) -> torch.Tensor:
    """Each target position takes the attention-weighted sum of the reference's values.

    attention: (B, n_ref, n_tgt); reference_values: (B, C, h, w) (one-hot colour bins, a/b, a mask ...), with
    h * w = n_ref. Returns (B, C, n_tgt).
    """
    return torch.einsum("bcn,bnm->bcm", reference_values.flatten(2), attention)


def propagate_mask(attention: torch.Tensor, reference_mask: torch.Tensor, target_size: tuple[int, int],
                   feature_size: tuple[int, int] | None = None) -> torch.Tensor:
    """Carry a reference-frame mask to the target frame through the attention.

    attention: (B, n_ref, n_tgt) on feature grids; reference_mask: (B, 1, H, W) in {0, 1} at image resolution,
    average-pooled to the reference feature grid; target_size: (H, W) to upsample the result to; feature_size:
    (h', w') of the target grid (default: square). Returns soft masks (B, 1, H, W) in [0, 1].
    """
    n_ref, n_tgt = attention.shape[1:]
    side_ref = int(round(n_ref ** 0.5))
    ref = F.adaptive_avg_pool2d(reference_mask.float(), (side_ref, side_ref))
    h, w = feature_size or (int(round(n_tgt ** 0.5)),) * 2
    soft = copy_colors(attention, ref).view(-1, 1, h, w)
    return F.interpolate(soft, size=target_size, mode="bilinear", align_corners=False).clamp(0, 1)


def mask_iou(predicted: torch.Tensor, truth: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union per image: predicted (B, 1, H, W) soft or hard, truth (B, 1, H, W) -> (B,)."""
    p, t = predicted > threshold, truth.bool()
    inter = (p & t).flatten(1).sum(1).float()
    union = (p | t).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def soft_iou(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Threshold-free (fuzzy Jaccard) IoU per image: sum(min(p, t)) / sum(max(p, t)) for a soft mask p in [0, 1]
    and the true mask t, (B, 1, H, W) -> (B,). Equals ``mask_iou`` for hard masks; unlike it, a propagated mask
    that is spread thinly everywhere (below any fixed threshold) still scores by how much of it is on the object."""
    p, t = predicted.float().clamp(0, 1).flatten(1), truth.float().flatten(1)
    inter, union = torch.minimum(p, t).sum(1), torch.maximum(p, t).sum(1)
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.ones_like(union))


def pixel_features(frames: torch.Tensor, stride: int = 4, patch: int = 8) -> torch.Tensor:
    """The raw-pixel baseline: lightness patches around each cell of the feature grid, mean-removed and
    L2-normalised (normalised cross-correlation, as in block matching).

    frames: (B, 1, H, W) lightness -> (B, patch * patch, H / stride, W / stride).
    """
    b, _, h, w = frames.shape
    pad = (patch - stride) // 2
    cols = F.unfold(frames.float(), patch, padding=pad, stride=stride)  # (B, p*p, n)
    cols = cols - cols.mean(1, keepdim=True)
    cols = F.normalize(cols, dim=1)
    return cols.view(b, patch * patch, h // stride, w // stride)


def pixel_attention(reference: torch.Tensor, target: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """The raw-pixel baseline of the tracking demo: ``colorization_attention`` between the ``pixel_features`` of
    the two frames' CIE lightness (what block matching would do; no learning).

    reference, target: RGB (B, 3, H, W) in [0, 1]. Returns A (B, n_ref, n_tgt) on the stride-4 grid.
    """
    return colorization_attention(pixel_features(lightness(reference)), pixel_features(lightness(target)),
                                  temperature)


@torch.no_grad()
def propagation_iou(attention_fn, clips: torch.Tensor, masks: torch.Tensor, target_frame: int = -1,
                    soft: bool = False) -> torch.Tensor:
    """IoU per clip of the object mask carried from frame 0 to ``target_frame`` by an attention.

    attention_fn: (reference (B, 3, H, W), target (B, 3, H, W)) in [0, 1] -> A (B, n_ref, n_tgt), e.g. a trained
    ``ColorTracker.attention`` or ``pixel_attention``; clips: uint8 (B, T, 3, H, W); masks: (B, T, 1, H, W) the
    true object masks. Returns (B,) IoU of the propagated mask (thresholded at 0.5) with the true target mask, or
    with ``soft=True`` the threshold-free ``soft_iou`` of the soft propagated mask.
    """
    reference, target = as_float_images(clips[:, 0]), as_float_images(clips[:, target_frame])
    propagated = propagate_mask(attention_fn(reference, target), masks[:, 0], tuple(reference.shape[-2:]))
    return (soft_iou if soft else mask_iou)(propagated, masks[:, target_frame])
