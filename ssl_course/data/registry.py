"""One registry of image datasets: name -> loader, splits and metadata. ``load_dataset`` (one split) and
``load_splits`` (what an experiment trains and evaluates on) read it; the CLI, ``ssl_course.experiment``, the
benchmarks and the lectures go through them, so a new dataset is one entry here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .base import ImageDataset, stratified_split
from .captions import add_captions
from .bundled import load_digits, load_photos
from .files import default_root, read_cifar10, read_image_folder, read_stl10
from .photo_crops import make_photo_crops
from .shapes import SHAPE_CLASSES, make_shapes


@dataclass(frozen=True)
class DatasetSpec:
    """What the course knows about a dataset.

    load:     (split, root, download, num_images, image_size, seed) -> ImageDataset, called with keywords
    splits:   the split names ``load`` accepts ("all" for a dataset that has no fixed split)
    about:    one line for ``--help`` and error messages
    offline:  False for a dataset that must be downloaded once (cifar10, stl10)
    sizes:    generated datasets only: images per split when ``num_images`` is not given
    train_split: the split self-supervised training reads (stl10: "train+unlabeled"); the labelled split for the
              probes is always "train"
    test_fraction: a dataset with one pool of images ("folder") is split into train / test (stratified, with the
              experiment's seed) with this share in the test split
    """
    load: Callable[..., ImageDataset]
    splits: tuple[str, ...]
    about: str
    offline: bool = True
    sizes: dict = field(default_factory=dict)
    train_split: str = "train"
    test_fraction: float | None = None
    captioned: bool = False  # each image has a caption (``CaptionedImageDataset``): what CLIP trains on

    @property
    def generated(self) -> bool:
        """Whether ``num_images`` and ``seed`` make the images (rather than pick from a fixed set)."""
        return bool(self.sizes)


def _shapes(split, root, download, num_images, image_size, seed, name="shapes"):
    if split not in DATASETS[name].sizes:
        raise ValueError(f"{name} split must be 'train' or 'test', got {split!r}")
    n = num_images if num_images is not None else DATASETS[name].sizes[split]
    images, labels, factors = make_shapes(n, image_size or 32, seed=[seed, 0 if split == "train" else 1],
                                          return_factors=True)
    return ImageDataset(images, labels, SHAPE_CLASSES, f"{name}-{split}", factors=factors)


def _captioned_shapes(split, root, download, num_images, image_size, seed):
    """The ``shapes`` images of the same seed and split, each with a caption drawn from the split's seed."""
    images = _shapes(split, root, download, num_images, image_size, seed, name="captioned_shapes")
    return add_captions(images, seed=[seed, 0 if split == "train" else 1])


def _photo_crops(split, root, download, num_images, image_size, seed):
    n = num_images if num_images is not None else DATASETS["photo_crops"].sizes.get(split, 0)
    return make_photo_crops(n, split, image_size or 32, seed=seed)


def _real(name, reader):
    def load(split, root, download, num_images, image_size, seed):
        if image_size is not None:
            raise ValueError(f"{name} has a fixed image size; resize with an augmentation instead")
        return reader(root if root is not None else default_root(), split, download=download)
    return load


def _folder(split, root, download, num_images, image_size, seed):
    if root is None:
        raise ValueError("the 'folder' dataset needs root=<folder with one sub-folder per class>")
    return read_image_folder(root, image_size or 64)


DATASETS: dict[str, DatasetSpec] = {
    "shapes": DatasetSpec(_shapes, ("train", "test"), "procedural shapes (offline; generated from the seed)",
                          sizes={"train": 10_000, "test": 2_000}),
    "captioned_shapes": DatasetSpec(_captioned_shapes, ("train", "test"),
                                    "shapes with a caption per image written from its factors (offline; CLIP)",
                                    sizes={"train": 10_000, "test": 2_000}, captioned=True),
    "digits": DatasetSpec(lambda split, root, download, num_images, image_size, seed:
                          load_digits(split, image_size or 32), ("train", "test", "all"),
                          "scikit-learn's 1,797 handwritten digits (offline)"),
    "photos": DatasetSpec(lambda split, root, download, num_images, image_size, seed: load_photos(image_size or 128),
                          ("all",), "scikit-image's bundled photographs, one image per class (offline; demos)"),
    "photo_crops": DatasetSpec(_photo_crops, ("train", "test"),
                               "crops of the colour photographs, labelled by photograph (offline; generated)",
                               sizes={"train": 3000, "test": 700}),
    "cifar10": DatasetSpec(_real("cifar10", read_cifar10), ("train", "test"), "CIFAR-10 (`ssl-course download cifar10`)",
                           offline=False),
    "stl10": DatasetSpec(_real("stl10", read_stl10), ("train", "test", "unlabeled", "train+unlabeled"),
                         "STL-10 (`ssl-course download stl10`)", offline=False, train_split="train+unlabeled"),
    "folder": DatasetSpec(_folder, ("all",), "a folder of class sub-folders (root=...)", test_fraction=0.2),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; an unknown name is a ValueError that lists the known ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def experiment_datasets() -> tuple[str, ...]:
    """The datasets an experiment can train and evaluate on (a train and a test split, or one pool to split)."""
    return tuple(n for n, s in DATASETS.items() if {"train", "test"} <= set(s.splits) or s.test_fraction)


def load_dataset(name: str, split: str = "train", *, root=None, download: bool = False, num_images: int | None = None,
                 image_size: int | None = None, seed: int = 0) -> ImageDataset:
    """Load one split of a dataset by name (``DATASETS`` lists them).

    split: "train" / "test" (stl10 also "unlabeled", "train+unlabeled"; digits also "all"; ignored by "photos"
           and "folder", which have one pool of images)
    root:  where cifar10 / stl10 live (default: $SSL_COURSE_DATA or ~/.cache/ssl_course); the folder for "folder"
    download: fetch cifar10 / stl10 from the internet when they are not on disk. Nothing downloads otherwise:
           a missing dataset raises DatasetNotFoundError saying how to get it.
    num_images: generated datasets ("shapes", "photo_crops"): how many images to make (default ``spec.sizes``)
    image_size: output size (shapes default 32, digits 32, photo_crops 32, photos 128, folder 64); not for cifar10 /
           stl10
    seed:  generated datasets draw the train split from ``seed`` and the test split from an independent stream
    """
    spec = dataset_spec(name)
    return spec.load(split, root=root, download=download, num_images=num_images, image_size=image_size, seed=seed)


Splits = tuple  # (images to train on, labelled training images for the probes, labelled test images)


def load_splits(name: str, num_images: int | None = None, num_test: int | None = None, seed: int = 0, *,
                root=None, download: bool = False) -> Splits:
    """(train, labelled, test) for a train-then-evaluate experiment on dataset ``name``.

    Generated datasets make ``num_images`` / ``num_test`` images from ``seed`` (defaults: ``spec.sizes``). Others
    train on the first ``num_images`` images of their training split (None: all). The self-supervised training
    set doubles as the probes' labelled set, except where training reads another split (stl10's
    "train+unlabeled": the labelled set is its "train" split). A one-pool dataset ("folder") is split into
    train / test first (stratified, ``seed``).
    """
    spec = dataset_spec(name)
    if spec.generated:
        train = load_dataset(name, "train", num_images=num_images, seed=seed)
        return train, train, load_dataset(name, "test", num_images=num_test, seed=seed)
    if spec.test_fraction is not None:
        everything = load_dataset(name, "all", root=root, download=download)
        train_idx, test_idx = stratified_split(everything.labels.numpy(), spec.test_fraction, seed)
        train, test = everything.subset(train_idx), everything.subset(test_idx)
        labelled = train
    else:
        train = load_dataset(name, spec.train_split, root=root, download=download)
        labelled = train if spec.train_split == "train" else load_dataset(name, "train", root=root)
        test = load_dataset(name, "test", root=root)
    if num_images is not None and num_images < len(train):
        train = train.subset(range(num_images))
        labelled = train if spec.train_split == "train" else labelled
    return train, labelled, test
