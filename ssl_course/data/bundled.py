"""Datasets that ship inside installed packages, so they work offline: scikit-learn's handwritten digits and
scikit-image's photographs."""
from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F

from .base import ImageDataset, stratified_split

# scikit-image photographs that are stored inside the package (no download), all RGB or made RGB
PHOTO_NAMES = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
               "immunohistochemistry", "retina", "camera", "brick", "grass", "gravel")
# the colour ones (the grey ones carry no colour to copy or predict): clips and photo_crops are cut from these
COLOR_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
                "immunohistochemistry", "retina")


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> uint8 (N, C, size, size), bilinear with antialiasing."""
    x = F.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def load_digits(split: str = "train", image_size: int = 32, test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), upsampled to ``image_size`` and replicated to
    3 channels so every model and augmentation works unchanged. split: "train" / "test" (stratified, fixed
    ``seed``) or "all"."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = torch.from_numpy((bunch.images * (255.0 / 16.0)).round().astype(np.uint8))[:, None]  # (N, 1, 8, 8)
    images = _resize(images, image_size).expand(-1, 3, -1, -1).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    dataset = ImageDataset(images, labels, [str(d) for d in range(10)], f"digits-{split}")
    if split == "all":
        return dataset
    train, test = stratified_split(labels.numpy(), test_fraction, seed)
    if split == "train":
        return dataset.subset(train)
    if split == "test":
        return dataset.subset(test)
    raise ValueError(f"digits split must be 'train', 'test' or 'all', got {split!r}")


def load_photo(name: str) -> np.ndarray:
    """One scikit-image photograph as uint8 (H, W, 3) RGB (grey images are replicated to 3 channels)."""
    import skimage.data

    if name not in PHOTO_NAMES:
        raise ValueError(f"unknown photo {name!r}; choose from {', '.join(PHOTO_NAMES)}")
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def load_photos(image_size: int = 128, names=PHOTO_NAMES) -> ImageDataset:
    """scikit-image's bundled photographs, each centre-cropped to a square and resized to ``image_size``.
    Label i is photo ``names[i]`` (for pretext-task demos on real images: jigsaw, inpainting, colorization)."""
    images = []
    for name in names:
        image = torch.from_numpy(load_photo(name)).permute(2, 0, 1)  # (3, H, W)
        h, w = image.shape[1:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        images.append(_resize(image[None, :, top:top + side, left:left + side], image_size)[0])
    return ImageDataset(torch.stack(images), torch.arange(len(names)), list(names), "photos")


@functools.lru_cache(maxsize=2)  # decoding and resizing the photographs takes seconds; they never change
def resized_photos(side: int, names: tuple[str, ...] = COLOR_PHOTOS) -> list[np.ndarray]:
    """Photographs (default: the colour ones) resized so their shorter side is ``side``: list of float32 (3, H, W) in [0, 255]."""
    out = []
    for name in names:
        x = torch.from_numpy(load_photo(name)).permute(2, 0, 1)[None].float()
        h, w = x.shape[-2:]
        scale = side / min(h, w)
        x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear", antialias=True)
        out.append(x[0].numpy())
    return out
