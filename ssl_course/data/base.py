"""The in-memory image dataset every loader returns, the two-view wrapper and deterministic splits."""
from __future__ import annotations

import random
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

UNLABELED = -1  # label of an image without a class (STL-10's unlabeled split)


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk; the message says how to get them."""


class ImageDataset(Dataset):
    """Images held in memory as one uint8 tensor.

    images:  uint8 (N, 3, H, W), RGB
    labels:  int64 (N,), class indices, or -1 (``UNLABELED``) for images without a class
    classes: class names, ``classes[labels[i]]``
    transform: optional per-image callable applied in ``__getitem__`` (a torchvision.transforms.v2 pipeline)
    factors: optional {name: (N,) or (N, k) array} of what generated each image, for datasets that know it
             ("shapes": shape, colour, position, ...; see ``ssl_course.data.shapes``)

    ``dataset[i]`` returns (image, label); image is the uint8 (3, H, W) tensor, or ``transform(image)``.
    Holding the whole set as one tensor lets the training loop move it to the GPU once and augment whole
    batches there (``ssl_course.augment.BatchAugment``) instead of image by image in DataLoader workers.
    """

    def __init__(self, images, labels, classes: Sequence[str], name: str = "images",
                 transform: Callable | None = None, factors: dict | None = None):
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels, dtype=torch.long)
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must be ({images.shape[0]},), got {tuple(labels.shape)}")
        self.images, self.labels, self.classes = images, labels, list(classes)
        self.name, self.transform = name, transform
        self.factors = {k: np.asarray(v) for k, v in factors.items()} if factors is not None else None
        if self.factors and any(len(v) != len(labels) for v in self.factors.values()):
            raise ValueError(f"every factor must have {len(labels)} rows")

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index):
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def subset(self, indices) -> "ImageDataset":
        indices = torch.as_tensor(indices, dtype=torch.long)
        factors = {k: v[indices.numpy()] for k, v in self.factors.items()} if self.factors is not None else None
        return ImageDataset(self.images[indices], self.labels[indices], self.classes, self.name, self.transform,
                            factors)

    def with_transform(self, transform: Callable | None) -> "ImageDataset":
        return ImageDataset(self.images, self.labels, self.classes, self.name, transform, self.factors)

    def __repr__(self) -> str:
        return (f"ImageDataset({self.name!r}, {len(self)} images of {tuple(self.images.shape[1:])}, "
                f"{len(self.classes)} classes)")


class TwoViews(Dataset):
    """Wraps a dataset of (image, label) so that each item is (view1, view2, label): two independent draws of
    ``transform`` applied to the same image, as SimCLR and MoCo need."""

    def __init__(self, dataset: Dataset, transform: Callable):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        return self.transform(image), self.transform(image), label


class SeededItems(Dataset):
    """Makes every random draw of a per-image transform reproducible, wherever the item is made.

    ``dataset[(index, seed)]`` returns the wrapped ``dataset[index]`` computed with torch's, Python's and NumPy's
    global random states seeded by ``seed`` (and restored afterwards). torchvision's v2 transforms draw from
    torch's global state, which differs between the main process and each DataLoader worker and is not saved in a
    checkpoint; seeding it per item makes an image's views depend only on the seed the sampler pairs it with
    (the training loop uses (seed, epoch, index)), not on the worker that made them or on what ran before.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        index, seed = item
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                random.seed(seed)
                np.random.seed(seed % 2**32)
                return self.dataset[index]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def stratified_split(labels, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic split of indices into (train, test), keeping each class's share in both.

    labels: (N,) ints. Returns two sorted index arrays whose union is 0..N-1.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def label_subset(labels, fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of a class-balanced ``fraction`` of the labelled examples (at least one per class), sorted.

    Used for label-efficiency curves (1% / 10% / 100% of labels). Deterministic given ``seed``.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(labels[labels != UNLABELED]):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        keep.append(idx[: max(1, int(round(len(idx) * fraction)))])
    return np.sort(np.concatenate(keep))
