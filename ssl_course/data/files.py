"""Readers for datasets in their real on-disk formats: CIFAR-10 (python pickles), STL-10 (binary), an image folder.

Downloads go through torchvision and happen only when the caller passes ``download=True``; reading is done here,
so the tests can write small files in the same formats and exercise exactly this code.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .base import UNLABELED, DatasetNotFoundError, ImageDataset

CIFAR10_DIR = "cifar-10-batches-py"
STL10_DIR = "stl10_binary"
STL10_SIZE = 96
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def default_root() -> Path:
    """Where real datasets live: $SSL_COURSE_DATA, else ~/.cache/ssl_course."""
    return Path(os.environ.get("SSL_COURSE_DATA", Path.home() / ".cache" / "ssl_course")).expanduser()


def _not_found(what: str, path: Path, name: str, size: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"{what} not found: expected {path}.\n"
        f"Download it ({size}, needs internet) with:  ssl-course download {name} --root {path.parent}\n"
        f"or in Python: load_dataset({name!r}, root={str(path.parent)!r}, download=True)")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a readable CIFAR-10 batch (corrupt or partial download?): {err}") from err


def read_cifar10(root, split: str = "train", download: bool = False) -> ImageDataset:
    """CIFAR-10 from ``root/cifar-10-batches-py`` (the python version: pickled dicts with b'data' uint8 (N, 3072)
    in channel-major order and b'labels'). split: "train" (data_batch_1..5, 50,000 images) or "test" (10,000)."""
    root = Path(root).expanduser()
    folder = root / CIFAR10_DIR
    if download:
        import torchvision

        torchvision.datasets.CIFAR10(str(root), train=True, download=True)
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    missing = [n for n in names + ["batches.meta"] if not (folder / n).is_file()]
    if missing:
        raise _not_found(f"CIFAR-10 ({', '.join(missing)})", folder, "cifar10", "170 MB")
    images, labels = [], []
    for n in names:
        batch = _unpickle(folder / n)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32))
        labels.extend(batch[b"labels"])
    classes = [c.decode() for c in _unpickle(folder / "batches.meta")[b"label_names"]]
    return ImageDataset(torch.from_numpy(np.concatenate(images)), torch.tensor(labels), classes, f"cifar10-{split}")


def _read_stl10_images(path: Path) -> np.ndarray:
    raw = np.fromfile(path, dtype=np.uint8)
    per_image = 3 * STL10_SIZE * STL10_SIZE
    if raw.size % per_image:
        raise ValueError(f"{path} has {raw.size} bytes, not a multiple of {per_image} (corrupt or partial download?)")
    # STL-10 stores each channel column-major (MATLAB order): transpose H and W
    return raw.reshape(-1, 3, STL10_SIZE, STL10_SIZE).transpose(0, 1, 3, 2)


def read_stl10(root, split: str = "train", download: bool = False) -> ImageDataset:
    """STL-10 from ``root/stl10_binary``: {train,test,unlabeled}_X.bin (uint8, 96x96, column-major),
    {train,test}_y.bin (labels 1..10), class_names.txt.
    split: "train" (5,000 labelled), "test" (8,000), "unlabeled" (100,000, label -1) or "train+unlabeled"."""
    root = Path(root).expanduser()
    folder = root / STL10_DIR
    if download:
        import torchvision

        torchvision.datasets.STL10(str(root), split="train+unlabeled", download=True)
    parts = {"train": ["train"], "test": ["test"], "unlabeled": ["unlabeled"],
             "train+unlabeled": ["train", "unlabeled"]}
    if split not in parts:
        raise ValueError(f"STL-10 split must be one of {sorted(parts)}, got {split!r}")
    needed = [f"{p}_X.bin" for p in parts[split]] + [f"{p}_y.bin" for p in parts[split] if p != "unlabeled"]
    missing = [n for n in needed + ["class_names.txt"] if not (folder / n).is_file()]
    if missing:
        raise _not_found(f"STL-10 ({', '.join(missing)})", folder, "stl10", "2.6 GB")
    images, labels = [], []
    for p in parts[split]:
        x = _read_stl10_images(folder / f"{p}_X.bin")
        if p == "unlabeled":
            y = np.full(len(x), UNLABELED, dtype=np.int64)
        else:
            y = np.fromfile(folder / f"{p}_y.bin", dtype=np.uint8).astype(np.int64) - 1  # stored 1..10
            if len(y) != len(x):
                raise ValueError(f"STL-10 {p}: {len(x)} images but {len(y)} labels")
        images.append(x)
        labels.append(y)
    classes = (folder / "class_names.txt").read_text().split()
    return ImageDataset(torch.from_numpy(np.ascontiguousarray(np.concatenate(images))),
                        torch.from_numpy(np.concatenate(labels)), classes, f"stl10-{split}")


def read_image_folder(root, image_size: int = 64, progress: bool = True) -> ImageDataset:
    """A folder with one sub-folder per class (``root/<class>/<image>``), read into memory, each image resized
    (shorter side) and centre-cropped to ``image_size``. Unreadable files are reported by name."""
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as TF

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"image folder not found: {root} (expected {root}/<class name>/<image files>)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = [(path, label) for label, c in enumerate(classes) for path in sorted((root / c).rglob("*"))
             if path.suffix.lower() in IMAGE_EXTENSIONS]
    if not files:
        raise DatasetNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in class sub-folders of {root}")
    from tqdm.auto import tqdm

    images = []
    for path, _ in tqdm(files, desc=f"reading {root.name}", disable=not progress, leave=False):
        try:
            with Image.open(path) as im:
                tensor = TF.pil_to_tensor(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"cannot read image {path}: {err}") from err
        tensor = TF.resize(tensor, image_size, antialias=True)
        images.append(TF.center_crop(tensor, image_size))
    return ImageDataset(torch.stack(images), torch.tensor([label for _, label in files]), classes, root.name)
