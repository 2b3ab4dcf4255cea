"""Pure kernels of the pretext tasks: the labels and inputs that RotNet, relative patch location, jigsaw puzzles,
inpainting and colorization are trained on. No parameters, no training: tensors in, tensors out.

Images are float (B, 3, H, W) in [0, 1] unless stated. Every random draw takes an optional ``torch.Generator``
(on the images' device), so the training loop's seeded generators make a run reproducible.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
import torch.nn.functional as F

from .common import as_float_images  # noqa: F401  (part of this module's API: the tasks' inputs)

__all__ = [
    "as_float_images", "rotate_batch", "grid_tiles", "hamming_permutations", "min_hamming_distance",
    "RELATIVE_OFFSETS", "relative_patch_pairs", "center_mask", "random_block_mask", "random_region_mask",
    "rgb_to_lab", "lab_to_rgb", "lightness", "lightness_of", "ab_bin_centers", "quantize_ab",
]


# ----------------------------------------------------------------------------------------------------------------
# RotNet (Gidaris et al. 2018)
# ----------------------------------------------------------------------------------------------------------------

def rotate_batch(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """All four rotations of every image.

    images: (B, C, H, W) with H == W. Returns rotated (4B, C, H, W) and labels (4B,) int64 where
    rotated[k * B + i] = images[i] turned counter-clockwise by k * 90 degrees and labels[k * B + i] = k.
    (RotNet feeds all four rotations of an image in the same batch: the paper found that better than one random
    rotation per image.)
    """
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotations need square images, got {tuple(images.shape[-2:])}")
    b = images.shape[0]
    rotated = torch.cat([torch.rot90(images, k, dims=(-2, -1)) for k in range(4)])
    labels = torch.arange(4, device=images.device).repeat_interleave(b)
    return rotated, labels


# ----------------------------------------------------------------------------------------------------------------
# tiles with gaps and jitter (relative patch location, jigsaw)
# ----------------------------------------------------------------------------------------------------------------

def grid_tiles(images: torch.Tensor, grid: int = 3, gap: int = 2, jitter: bool = True,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Cut each image into grid x grid tiles separated by gaps, each tile jittered inside its cell.

    The image is divided into cells of side c = H // grid; a tile has side t = c - gap and sits at a random offset
    in 0..gap (independently per image, per tile and per axis) inside its cell, or at the centre (gap // 2) with
    ``jitter=False``. The gap and the jitter stop the network from solving the task by continuing lines or
    matching edges across tile borders (the "trivial shortcuts" of Doersch et al. 2015).

    images: (B, C, H, W) -> tiles (B, grid * grid, C, t, t), tile p = r * grid + c in row-major order.
    """
    b, ch, h, w = images.shape
    cell = min(h, w) // grid
    t = cell - gap
    if t < 1:
        raise ValueError(f"a {grid}x{grid} grid with gap {gap} leaves no tile in a {h}x{w} image")
    n = grid * grid
    device = images.device
    if jitter and gap > 0:
        offsets = torch.randint(0, gap + 1, (b, n, 2), generator=generator, device=device)
    else:
        offsets = torch.full((b, n, 2), gap // 2, device=device, dtype=torch.long)
    cells = torch.arange(n, device=device)
    top = (cells // grid) * cell + offsets[..., 0]  # (B, n)
    left = (cells % grid) * cell + offsets[..., 1]
    span = torch.arange(t, device=device)
    rows = (top[..., None] + span)[..., :, None]  # (B, n, t, 1)
    cols = (left[..., None] + span)[..., None, :]  # (B, n, 1, t)
    batch_idx = torch.arange(b, device=device)[:, None, None, None]
    # advanced indices separated by a slice: the result is (B, n, t, t, C)
    tiles = images[batch_idx, :, rows, cols]
    return tiles.permute(0, 1, 4, 2, 3).contiguous()


def min_hamming_distance(permutations: torch.Tensor | np.ndarray) -> int:
    """Smallest Hamming distance between two different rows of a (K, n) permutation set."""
    p = torch.as_tensor(np.asarray(permutations))
    d = (p[:, None, :] != p[None, :, :]).sum(-1)
    d.fill_diagonal_(p.shape[1] + 1)
    return int(d.min())


def hamming_permutations(num_permutations: int, num_tiles: int = 9, seed: int = 0) -> torch.Tensor:
    """A jigsaw permutation set chosen greedily for a large Hamming distance between classes: a max-min variant of
    Noroozi & Favaro's (2016) Algorithm 1, which adds the permutation with the largest *average* Hamming distance to
    those chosen so far.

    Start from one random permutation; then repeatedly add the permutation (among all n!) whose minimum Hamming
    distance to the permutations chosen so far is largest (ties broken at random), which maximises the distance
    between the two closest classes rather than the average. A large minimum distance makes
    the classes easy to tell apart from the tiles, so the network must look at all of them.

    Returns (num_permutations, num_tiles) int64; row k is the order in which tiles are shown for class k:
    shuffled tile j is original tile perm[k, j].
    """
    if num_tiles > 10:
        raise ValueError("enumerating all permutations is only practical for up to 10 tiles")
    everything = np.array(list(itertools.permutations(range(num_tiles))), dtype=np.int8)  # (n!, n)
    if not 1 <= num_permutations <= len(everything):
        raise ValueError(f"num_permutations must be in 1..{len(everything)}, got {num_permutations}")
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(everything)))]
    # distance of every candidate to its nearest chosen permutation, updated as the set grows
    nearest = (everything != everything[chosen[0]]).sum(1)
    for _ in range(num_permutations - 1):
        best = np.flatnonzero(nearest == nearest.max())
        j = int(best[rng.integers(len(best))])
        chosen.append(j)
        nearest = np.minimum(nearest, (everything != everything[j]).sum(1))
    return torch.from_numpy(everything[chosen].astype(np.int64))


# the 8 neighbours of the centre tile of a 3x3 grid, as (row, column) offsets; label = index in this tuple
RELATIVE_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


def relative_patch_pairs(images: torch.Tensor, gap: int = 2, jitter: bool = True,
                         generator: torch.Generator | None = None):
    """Doersch et al. (2015): the centre tile of a 3x3 grid and one random neighbour, with the neighbour's position.

    images: (B, C, H, W). Returns (centre (B, C, t, t), neighbour (B, C, t, t), labels (B,) int64 in 0..7), where
    the neighbour sits at RELATIVE_OFFSETS[label] (row, column) from the centre.
    """
    tiles = grid_tiles(images, 3, gap, jitter, generator)  # (B, 9, C, t, t)
    b = images.shape[0]
    labels = torch.randint(0, 8, (b,), generator=generator, device=images.device)
    offsets = torch.tensor(RELATIVE_OFFSETS, device=images.device)[labels]  # (B, 2)
    neighbour_index = (1 + offsets[:, 0]) * 3 + (1 + offsets[:, 1])
    rows = torch.arange(b, device=images.device)
    return tiles[:, 4], tiles[rows, neighbour_index], labels


# ----------------------------------------------------------------------------------------------------------------
# inpainting masks (Pathak et al. 2016); 1 = missing (to be predicted), 0 = context
# ----------------------------------------------------------------------------------------------------------------

def center_mask(batch: int, height: int, width: int, fraction: float = 0.5, device=None) -> torch.Tensor:
    """The central square hole: side = fraction * side of the image. Returns (B, 1, H, W) float of 0/1."""
    mask = torch.zeros(batch, 1, height, width, device=device)
    mh, mw = max(1, round(height * fraction)), max(1, round(width * fraction))
    top, left = (height - mh) // 2, (width - mw) // 2
    mask[..., top:top + mh, left:left + mw] = 1.0
    return mask


def random_block_mask(batch: int, height: int, width: int, num_blocks: int = 4, block_fraction: float = 0.25,
                      generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Several square holes at random positions (the paper's "random block" masks), drawn per image.
    Returns (B, 1, H, W) float of 0/1."""
    side = max(1, round(min(height, width) * block_fraction))
    tops = torch.randint(0, height - side + 1, (batch, num_blocks, 1, 1), generator=generator, device=device)
    lefts = torch.randint(0, width - side + 1, (batch, num_blocks, 1, 1), generator=generator, device=device)
    ys = torch.arange(height, device=device)[None, None, :, None]
    xs = torch.arange(width, device=device)[None, None, None, :]
    inside = (ys >= tops) & (ys < tops + side) & (xs >= lefts) & (xs < lefts + side)  # (B, blocks, H, W)
    return inside.any(1, keepdim=True).float()


def random_region_mask(batch: int, height: int, width: int, coverage: float = 0.25, smoothness: int = 4,
                       generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Arbitrary-shaped holes (the paper's "random region" masks, which it took from PASCAL segmentations): here
    smooth random blobs, made by upsampling coarse noise and keeping the top ``coverage`` fraction of each image.
    Returns (B, 1, H, W) float of 0/1, exactly round(coverage * H * W) ones per image (up to ties)."""
    coarse = torch.rand(batch, 1, max(2, height // smoothness), max(2, width // smoothness), generator=generator,
                        device=device)
    field = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False).flatten(1)
    k = max(1, round(coverage * height * width))
    threshold = field.topk(k, dim=1).values[:, -1:]  # (B, 1): the k-th largest value
    return (field >= threshold).float().view(batch, 1, height, width)


# ----------------------------------------------------------------------------------------------------------------
# CIE Lab colour space (D65 white) and quantized a/b bins (Zhang et al. 2016)
# ----------------------------------------------------------------------------------------------------------------

_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> Lab (B, 3, H, W): L in [0, 100], a and b roughly in [-110, 110]."""
    rgb = rgb.float().clamp(0, 1)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _RGB_TO_XYZ.to(rgb.device), linear)
    xyz = xyz / _WHITE.to(rgb.device)[None, :, None, None]
    eps = 216 / 24389
    f = torch.where(xyz > eps, xyz.clamp_min(1e-12) ** (1 / 3), (24389 / 27 * xyz + 16) / 116)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], dim=1)


def lightness_of(lab: torch.Tensor) -> torch.Tensor:
    """Lab (B, 3, H, W) -> L / 100 (B, 1, H, W) in [0, 1]: the one channel colorization-style encoders read."""
    return lab[:, :1] / 100.0


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> CIE lightness L / 100 (B, 1, H, W) in [0, 1]."""
    return lightness_of(rgb_to_lab(rgb))


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Inverse of ``rgb_to_lab``: Lab (B, 3, H, W) -> sRGB (B, 3, H, W) clipped to [0, 1]."""
    L, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    fy = (L + 16) / 116
    f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=1)
    eps = 6 / 29
    xyz = torch.where(f > eps, f ** 3, 3 * eps ** 2 * (f - 4 / 29)) * _WHITE.to(lab.device)[None, :, None, None]
    linear = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_XYZ).to(lab.device), xyz).clamp(0, 1)
    return torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055, 12.92 * linear)


AB_RANGE = 110.0  # |a|, |b| of sRGB colours stay below this


def ab_bin_centers(bin_size: float = 20.0) -> torch.Tensor:
    """Centres of the square a/b bins covering [-AB_RANGE, AB_RANGE]^2: (Q, 2), Q = ceil(2 * 110 / bin_size)^2.
    (Zhang et al. use bin size 10 and keep the 313 in-gamut bins; a coarse grid suits 32 px images.)"""
    per_axis = int(np.ceil(2 * AB_RANGE / bin_size))
    centres = -AB_RANGE + bin_size * (torch.arange(per_axis) + 0.5)
    a, b = torch.meshgrid(centres, centres, indexing="ij")
    return torch.stack([a.flatten(), b.flatten()], dim=1)


def quantize_ab(ab: torch.Tensor, bin_size: float = 20.0) -> torch.Tensor:
    """a/b (B, 2, H, W) -> bin index (B, H, W) int64 into ``ab_bin_centers(bin_size)`` (nearest centre)."""
    per_axis = int(np.ceil(2 * AB_RANGE / bin_size))
    idx = ((ab + AB_RANGE) / bin_size).floor().long().clamp(0, per_axis - 1)
    return idx[:, 0] * per_axis + idx[:, 1]
