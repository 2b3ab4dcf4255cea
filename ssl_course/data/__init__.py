"""Datasets by name, offline by default.

>>> train = load_dataset("shapes", split="train")      # procedural, generated in about a second
>>> test = load_dataset("digits", split="test")        # scikit-learn's bundled digits
>>> load_dataset("cifar10", root="~/data", download=True)  # downloads only because it was asked to
>>> train, labelled, test = load_splits("digits", num_images=500)   # what an experiment trains / evaluates on

``DATASETS`` (``ssl_course.data.registry``) maps every name to its loader, splits and metadata.

Every loader returns an :class:`ImageDataset` (uint8 images (N, 3, H, W) held in memory, int64 labels).
"""
from __future__ import annotations

from .base import (UNLABELED, DatasetNotFoundError, ImageDataset, SeededItems, TwoViews, label_subset,
                   stratified_split)
from .bundled import COLOR_PHOTOS, PHOTO_NAMES, load_digits, load_photo, load_photos, resized_photos
from .files import default_root, read_cifar10, read_image_folder, read_stl10
from .photo_crops import make_photo_crops
from .registry import DATASETS, DatasetSpec, Splits, dataset_spec, experiment_datasets, load_dataset, load_splits
from .shapes import SHAPE_CLASSES, make_shapes

# the number of images "shapes" makes per split unless asked otherwise (kept for old imports: the registry's)
SHAPES_SIZES = DATASETS["shapes"].sizes


__all__ = [
    "DATASETS", "DatasetSpec", "Splits", "dataset_spec", "experiment_datasets", "load_dataset", "load_splits",
    "UNLABELED", "DatasetNotFoundError", "ImageDataset", "SeededItems", "TwoViews", "label_subset", "stratified_split",
    "COLOR_PHOTOS", "resized_photos", "make_photo_crops", "load_digits", "load_photo", "load_photos", "PHOTO_NAMES", "make_shapes", "SHAPE_CLASSES",
    "default_root", "read_cifar10", "read_stl10", "read_image_folder",
]

from .sequences import SequenceDataset, load_speakers, make_speakers  # noqa: E402  (CPC on 1-D signals)

__all__ += ["SequenceDataset", "load_speakers", "make_speakers"]
from .clips import ClipDataset, make_clips  # noqa: E402  (colour tracking)

__all__ += ["ClipDataset", "make_clips"]
from .captions import (FACTOR_WORDS, CaptionedImageDataset, add_captions, caption_vocabulary,  # noqa: E402
                       make_captions, shape_prompts)  # (CLIP: image-text pairs)

__all__ += ["CaptionedImageDataset", "add_captions", "caption_vocabulary", "make_captions", "shape_prompts",
            "FACTOR_WORDS"]
