"""Plots of the attention maps computed in ``ssl_course.attention`` and ``ssl_course.tracking``. Every function
returns a matplotlib Figure and draws nothing it did not compute from its arguments."""
from __future__ import annotations

import numpy as np
import torch

from .common import as_float_images


def _image(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] or uint8 -> (H, W, 3) float for imshow."""
    x = as_float_images(x.detach().cpu())  # the scale from the dtype, not guessed from the values
    return x.permute(1, 2, 0).clamp(0, 1).numpy()


def plot_activation_attention(images: torch.Tensor, maps: list[torch.Tensor], layer_names=None, alpha: float = 0.6):
    """images (B, 3, H, W); maps: list of (B, H, W) from ``activation_attention``. One row per image:
    the image, then each layer's map over it."""
    import matplotlib.pyplot as plt

    b, columns = images.shape[0], 1 + len(maps)
    fig, axes = plt.subplots(b, columns, figsize=(1.8 * columns, 1.8 * b), squeeze=False)
    names = layer_names or [f"block {i + 1}" for i in range(len(maps))]
    for i in range(b):
        axes[i, 0].imshow(_image(images[i]))
        for j, m in enumerate(maps):
            axes[i, j + 1].imshow(_image(images[i]))
            axes[i, j + 1].imshow(m[i].cpu().numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
            if i == 0:
                axes[0, j + 1].set_title(names[j], fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_cls_attention(images: torch.Tensor, maps: torch.Tensor, alpha: float = 0.6):
    """images (B, 3, H, W); maps (B, heads, H, W) from ``cls_attention``: one row per image, one column per head."""
    import matplotlib.pyplot as plt

    b, heads = maps.shape[:2]
    fig, axes = plt.subplots(b, heads + 1, figsize=(1.8 * (heads + 1), 1.8 * b), squeeze=False)
    for i in range(b):
        axes[i, 0].imshow(_image(images[i]))
        for h in range(heads):
            axes[i, h + 1].imshow(_image(images[i]))
            axes[i, h + 1].imshow(maps[i, h].cpu().numpy(), cmap="inferno", alpha=alpha, vmin=0, vmax=1)
            if i == 0:
                axes[0, h + 1].set_title(f"head {h + 1}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_tracking(reference: torch.Tensor, target: torch.Tensor, query_map: torch.Tensor, query: tuple[int, int],
                  stride: int, reference_mask=None, propagated=None, true_mask=None):
    """One clip: the target frame with the query point, the reference frame with where that point copies its colour
    from (``query_attention`` map (h, w)), and optionally the reference mask, the propagated and the true target
    masks (each (H, W))."""
    import matplotlib.pyplot as plt

    panels = 2 + sum(m is not None for m in (reference_mask, propagated, true_mask))
    fig, axes = plt.subplots(1, panels, figsize=(2.4 * panels, 2.6))
    axes[0].imshow(_image(target))
    axes[0].scatter([query[1] * stride + stride / 2], [query[0] * stride + stride / 2], c="red", s=30)
    axes[0].set_title("target + query", fontsize=9)
    axes[1].imshow(_image(reference))
    size = reference.shape[-1]
    axes[1].imshow(query_map.cpu().numpy(), cmap="jet", alpha=0.55, extent=(0, size, size, 0))
    axes[1].set_title("reference: copied from", fontsize=9)
    k = 2
    for title, m, img in (("reference mask", reference_mask, reference), ("propagated", propagated, target),
                          ("true mask", true_mask, target)):
        if m is not None:
            axes[k].imshow(_image(img))
            axes[k].imshow(np.asarray(m, dtype=float), cmap="Greens", alpha=0.5, vmin=0, vmax=1)
            axes[k].set_title(title, fontsize=9)
            k += 1
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig
