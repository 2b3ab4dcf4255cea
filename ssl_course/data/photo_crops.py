"""``photo_crops``: small crops of scikit-image's colour photographs, labelled by the photograph they come from.

Real images whose colours are predictable from their content (a cat's fur, a rocket's sky), which is what
colorization learns from; the shapes dataset has random colours and the digits none. Train crops come from the
left 70% of every photograph and test crops from the right 30%, so a probe is tested on unseen regions.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import ImageDataset
from .bundled import COLOR_PHOTOS, resized_photos

TRAIN_FRACTION = 0.7  # of each photograph's width


def make_photo_crops(num_images: int = 3000, split: str = "train", image_size: int = 32, photo_side: int = 192,
                     seed: int = 0, photos: tuple[str, ...] = COLOR_PHOTOS) -> ImageDataset:
    """``num_images`` crops of ``image_size`` px (photographs resized to a shorter side of ``photo_side``),
    cycling over the photographs, so classes are balanced. Label = index into ``photos``."""
    if split not in ("train", "test"):
        raise ValueError(f"photo_crops split must be 'train' or 'test', got {split!r}")
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    names = tuple(photos)
    photos = resized_photos(photo_side, names)
    images, labels = [], []
    for i in range(num_images):
        k = i % len(photos)
        photo = photos[k]
        width = photo.shape[2]
        cut = int(width * TRAIN_FRACTION)
        lo, hi = (0, cut - image_size) if split == "train" else (cut, width - image_size)
        y = rng.integers(0, photo.shape[1] - image_size + 1)
        x = rng.integers(lo, hi + 1)
        images.append(photo[:, y:y + image_size, x:x + image_size])
        labels.append(k)
    images = np.clip(np.stack(images) + 0.5, 0, 255).astype(np.uint8)
    return ImageDataset(torch.from_numpy(images), torch.tensor(labels), list(names), f"photo_crops-{split}")
