"""Datasets by name, offline by default.

>>> train = load_dataset("shapes", split="train")      # procedural, generated in about a second
>>> test = load_dataset("digits", split="test")        # scikit-learn's bundled digits
>>> load_dataset("cifar10", root="~/data", download=True)  # downloads only because it was asked to

Every loader returns an :class:`ImageDataset` (uint8 images (N, 3, H, W) held in memory, int64 labels).
"""
from __future__ import annotations

from .base import (UNLABELED, DatasetNotFoundError, ImageDataset, SeededItems, TwoViews, label_subset,
                   stratified_split)
from .bundled import PHOTO_NAMES, load_digits, load_photo, load_photos
from .files import default_root, read_cifar10, read_image_folder, read_stl10
from .shapes import SHAPE_CLASSES, make_shapes

DATASETS = ("shapes", "digits", "photos", "cifar10", "stl10", "folder")

# the number of images "shapes" makes per split unless asked otherwise
SHAPES_SIZES = {"train": 10_000, "test": 2_000}


def load_dataset(name: str, split: str = "train", *, root=None, download: bool = False, num_images: int | None = None,
                 image_size: int | None = None, seed: int = 0) -> ImageDataset:
    """Load a dataset by name.

    name:  "shapes" | "digits" | "photos" | "cifar10" | "stl10" | "folder" (root = a folder of class folders)
    split: "train" / "test" (stl10 also "unlabeled", "train+unlabeled"; ignored by "photos" and "folder")
    root:  where cifar10 / stl10 live (default: $SSL_COURSE_DATA or ~/.cache/ssl_course); the folder for "folder"
    download: fetch cifar10 / stl10 from the internet when they are not on disk. Nothing downloads otherwise:
           a missing dataset raises DatasetNotFoundError saying how to get it.
    num_images: "shapes" only: how many images to generate (default 10,000 train / 2,000 test)
    image_size: output size (shapes default 32, digits 32, photos 128, folder 64); not for cifar10 / stl10
    seed:  "shapes" draws the train split from ``seed`` and the test split from an independent stream
    """
    if name == "shapes":
        if split not in SHAPES_SIZES:
            raise ValueError(f"shapes split must be 'train' or 'test', got {split!r}")
        n = num_images if num_images is not None else SHAPES_SIZES[split]
        images, labels, factors = make_shapes(n, image_size or 32, seed=[seed, 0 if split == "train" else 1],
                                              return_factors=True)
        return ImageDataset(images, labels, SHAPE_CLASSES, f"shapes-{split}", factors=factors)
    if name == "digits":
        return load_digits(split, image_size or 32)
    if name == "photos":
        return load_photos(image_size or 128)
    if name in ("cifar10", "stl10"):
        if image_size is not None:
            raise ValueError(f"{name} has a fixed image size; resize with an augmentation instead")
        reader = read_cifar10 if name == "cifar10" else read_stl10
        return reader(root if root is not None else default_root(), split, download=download)
    if name == "folder":
        if root is None:
            raise ValueError("the 'folder' dataset needs root=<folder with one sub-folder per class>")
        return read_image_folder(root, image_size or 64)
    raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


__all__ = [
    "DATASETS", "UNLABELED", "DatasetNotFoundError", "ImageDataset", "SeededItems", "TwoViews", "load_dataset",
    "label_subset",
    "stratified_split", "load_digits", "load_photo", "load_photos", "PHOTO_NAMES", "make_shapes", "SHAPE_CLASSES",
    "default_root", "read_cifar10", "read_stl10", "read_image_folder",
]

from .sequences import SequenceDataset, load_speakers, make_speakers  # noqa: E402  (CPC on 1-D signals)

__all__ += ["SequenceDataset", "load_speakers", "make_speakers"]
from .clips import COLOR_PHOTOS, ClipDataset, make_clips  # noqa: E402  (colour tracking)

__all__ += ["COLOR_PHOTOS", "ClipDataset", "make_clips"]
from .photo_crops import make_photo_crops  # noqa: E402  (colorization on real colours)

__all__ += ["make_photo_crops"]
