"""``shapes``: a procedural image dataset that shows why SimCLR's augmentations matter.

Each image holds one shape (the class) drawn in a random colour, at a random position, scale and rotation,
over a textured background (stripes of two random colours at a random angle and frequency, plus noise).
Colour and position vary far more than shape, so raw pixels classify poorly, while features that are invariant
to crops and colour changes classify well.

Rendering is vectorised over images with NumPy: 10,000 32x32 images take about a second.
"""
from __future__ import annotations

import numpy as np

SHAPE_CLASSES = (
    "disk", "ring", "square", "frame", "triangle", "star", "cross", "crescent", "semicircle", "L-shape",
)


def _polygon_inside(x, y, n_sides):
    """Inside a regular n-gon of circumradius 1, for points (x, y) in the shape's frame."""
    angle = np.arctan2(y, x)
    sector = 2 * np.pi / n_sides
    # distance to the edge along this direction, for a polygon with a vertex pointing up (+y)
    local = np.mod(angle - np.pi / 2, sector) - sector / 2
    apothem = np.cos(np.pi / n_sides)
    return np.hypot(x, y) * np.cos(local) <= apothem


def _shape_mask(label: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of shape ``label`` for coordinates (x, y) already in the shape's unit frame."""
    r = np.hypot(x, y)
    name = SHAPE_CLASSES[label]
    if name == "disk":
        return r <= 0.9
    if name == "ring":
        return (r <= 0.95) & (r >= 0.55)
    if name == "square":
        return (np.abs(x) <= 0.75) & (np.abs(y) <= 0.75)
    if name == "frame":
        outer = (np.abs(x) <= 0.85) & (np.abs(y) <= 0.85)
        inner = (np.abs(x) <= 0.45) & (np.abs(y) <= 0.45)
        return outer & ~inner
    if name == "triangle":
        return _polygon_inside(x, y + 0.15, 3)
    if name == "star":
        angle = np.arctan2(y, x)
        radius = 0.55 + 0.45 * np.cos(5 * (angle - np.pi / 2)) ** 8
        return r <= radius
    if name == "cross":
        return ((np.abs(x) <= 0.28) & (np.abs(y) <= 0.95)) | ((np.abs(y) <= 0.28) & (np.abs(x) <= 0.95))
    if name == "crescent":
        return (r <= 0.9) & (np.hypot(x - 0.45, y) > 0.7)
    if name == "semicircle":
        return (r <= 0.95) & (y <= 0.1)
    if name == "L-shape":
        return ((np.abs(x + 0.55) <= 0.3) & (np.abs(y) <= 0.9)) | ((np.abs(y - 0.6) <= 0.3) & (np.abs(x) <= 0.85))
    raise ValueError(label)


def _random_colors(rng: np.random.Generator, n: int, value_range=(0.35, 1.0)) -> np.ndarray:
    """(n, 3) random colours in [0, 1]: random hue, saturation 0.4-1 and value (brightness) in ``value_range``."""
    hue = rng.uniform(0, 1, n)
    sat = rng.uniform(0.4, 1.0, n)
    val = rng.uniform(*value_range, n)
    k = (np.arange(3)[None, :] * (1 / 3) + hue[:, None]) % 1.0  # hue offsets for R, G, B
    rgb = np.clip(np.abs(k * 6 - 3) - 1, 0, 1)  # pure-hue RGB
    return val[:, None] * (1 - sat[:, None] + sat[:, None] * rgb)


def _contrasting_colors(rng: np.random.Generator, n: int):
    """Foreground and two background colours per image, with the shape always brighter or always darker than
    the whole background, so the shape is visible whatever its hue. Returns (fg, bg1, bg2, bright_shape)."""
    bright_shape = rng.random(n) < 0.5
    light, dark = (0.7, 1.0), (0.1, 0.4)
    fg = np.where(bright_shape[:, None], _random_colors(rng, n, light), _random_colors(rng, n, dark))
    bg1 = np.where(bright_shape[:, None], _random_colors(rng, n, dark), _random_colors(rng, n, light))
    bg2 = np.where(bright_shape[:, None], _random_colors(rng, n, dark), _random_colors(rng, n, light))
    return fg, bg1, bg2, bright_shape


_CHUNK = 2048  # images rendered at once: bounds memory; fixed, because the noise is seeded per chunk


# the generative factors ``make_shapes(..., return_factors=True)`` reports, each an (N,) or (N, k) array:
#   categorical: shape (the class), polarity (1: a bright shape on a dark background, 0: the reverse)
#   continuous: the shape's colour (R, G, B), the background's mean colour (R, G, B), x and y position, scale,
#   rotation (cos and sin of the angle), the stripes' direction (cos and sin of twice the angle: a direction
#   modulo 180 degrees) and frequency; and the object mask (N, H, W), the pixels the shape covers
CATEGORICAL_FACTORS = ("shape", "polarity")


def make_shapes(num_images: int, image_size: int = 32, seed: int = 0, return_factors: bool = False):
    """Render ``num_images`` images.

    Returns (images, labels): images uint8 (N, 3, H, W) with H = W = image_size, labels int64 (N,) in 0..9;
    with ``return_factors`` also a dict {factor name: (N,) or (N, k) float/int array} of what generated each image
    (see ``CATEGORICAL_FACTORS`` and the comment above it), drawn from the same random stream (same images).
    Deterministic: the same (num_images, image_size, seed) give the same bytes.
    """
    if num_images < 1:
        raise ValueError(f"num_images must be >= 1, got {num_images}")
    if image_size < 8:
        raise ValueError(f"image_size must be >= 8, got {image_size}")
    rng = np.random.default_rng(seed)
    n = num_images
    labels = rng.integers(0, len(SHAPE_CLASSES), n)
    fg, bg1, bg2, bright_shape = _contrasting_colors(rng, n)
    params = dict(
        cx=rng.uniform(-0.3, 0.3, n), cy=rng.uniform(-0.3, 0.3, n), scale=rng.uniform(0.5, 0.75, n),
        theta=rng.uniform(0, 2 * np.pi, n), fg=fg, bg1=bg1, bg2=bg2, stripe_angle=rng.uniform(0, np.pi, n), stripe_freq=rng.uniform(2, 7, n),
        stripe_phase=rng.uniform(0, 2 * np.pi, n),
    )
    noise_seed = int(rng.integers(0, 2**31))
    grid = (np.arange(image_size) + 0.5) / image_size * 2 - 1  # pixel centres in [-1, 1]
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    images = np.empty((n, image_size, image_size, 3), dtype=np.uint8)
    masks = np.empty((n, image_size, image_size), dtype=bool)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(n, start + _CHUNK))
        p = {k: v[sl] for k, v in params.items()}
        m = sl.stop - sl.start
        # background: a two-colour gradient with faint stripes at a random angle and frequency
        u = (gx[None] * np.cos(p["stripe_angle"])[:, None, None] + gy[None] * np.sin(p["stripe_angle"])[:, None, None])
        stripes = 0.5 + 0.5 * u + 0.15 * np.sin(np.pi * p["stripe_freq"][:, None, None] * u
                                                 + p["stripe_phase"][:, None, None])
        stripes = np.clip(stripes, 0, 1)
        bg = p["bg1"][:, None, None, :] * stripes[..., None] + p["bg2"][:, None, None, :] * (1 - stripes[..., None])
        # the shape's frame: translate, rotate, scale
        dx = (gx[None] - p["cx"][:, None, None]) / p["scale"][:, None, None]
        dy = (gy[None] - p["cy"][:, None, None]) / p["scale"][:, None, None]
        cos, sin = np.cos(p["theta"])[:, None, None], np.sin(p["theta"])[:, None, None]
        x, y = cos * dx + sin * dy, -sin * dx + cos * dy
        mask = np.zeros((m, image_size, image_size), dtype=bool)
        chunk_labels = labels[sl]
        for c in np.unique(chunk_labels):
            idx = chunk_labels == c
            mask[idx] = _shape_mask(int(c), x[idx], y[idx])
        masks[sl] = mask
        img = np.where(mask[..., None], p["fg"][:, None, None, :], bg)
        img += np.random.default_rng([noise_seed, start]).normal(0, 0.04, img.shape)
        images[sl] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    images, labels = images.transpose(0, 3, 1, 2).copy(), labels.astype(np.int64)
    if not return_factors:
        return images, labels
    angle, stripes = params["theta"], 2 * params["stripe_angle"]
    factors = {
        "shape": labels, "polarity": bright_shape.astype(np.int64),
        "shape colour": fg, "background colour": (bg1 + bg2) / 2,
        "position": np.stack([params["cx"], params["cy"]], 1), "scale": params["scale"],
        "rotation": np.stack([np.cos(angle), np.sin(angle)], 1),
        "stripe direction": np.stack([np.cos(stripes), np.sin(stripes)], 1), "stripe frequency": params["stripe_freq"],
        "object mask": masks,  # (N, H, W) bool: the shape's pixels (where attention on the object is measured)
    }
    return images, labels, factors
