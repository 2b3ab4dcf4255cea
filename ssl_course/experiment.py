"""Train-then-evaluate in one call: what the demo, the lectures' ablations and the benchmarks run.

>>> result = run_experiment(ExperimentConfig(method="simclr", epochs=5, num_images=2000))
>>> result.accuracy            # {"linear_probe": ..., "knn": ...}

Lecture settings come from ``scale()``: a fast mode (SSL_COURSE_FAST=1, for CI and a first read), the default
CPU mode, and a larger mode picked automatically when a GPU is present.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import torch

from . import evaluate as ev
from .augment import AugmentConfig, BatchAugment
from .data import ImageDataset, Splits
from .data import load_splits as data_splits
from .methods import CONTRASTIVE, NON_CONTRASTIVE, Method, build_method
from .models import build_encoder
from .train import History, TrainConfig, train


def fast_mode() -> bool:
    """True when SSL_COURSE_FAST is set to a true value (1, true, yes): notebooks shrink every run."""
    return os.environ.get("SSL_COURSE_FAST", "").strip().lower() in ("1", "true", "yes", "on")


def scale(fast, default, gpu=None):
    """Pick a setting for the current mode: ``fast`` under SSL_COURSE_FAST, ``gpu`` when CUDA is available
    (falls back to ``default``), else ``default``."""
    if fast_mode():
        return fast
    if gpu is not None and torch.cuda.is_available():
        return gpu
    return default


@dataclass
class ExperimentConfig:
    method: str = "simclr"
    encoder: str = "small_cnn"
    width: int = 32
    dataset: str = "shapes"
    num_images: int = 5000  # training images (shapes: generated; others: the first N)
    num_test: int = 2000
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    optimizer: str = "adamw"
    weight_decay: float = 5e-4
    warmup_epochs: float | None = None  # None: min(1, epochs / 10)
    temperature: float | None = None  # None: the method's own default (SimCLR 0.2, MoCo v1 0.07, MoCo v2 0.2, SwAV 0.1)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig.recipe("simclr").with_(crop_scale=(0.2, 1.0)))
    method_kwargs: dict = field(default_factory=dict)
    knn_every: int = 0
    monitor_every: int = 0  # collapse monitor every this many steps (0: off; see TrainConfig.monitor_every)
    seed: int = 0
    device: str = "auto"
    progress: bool = True
    compile: bool = False  # throughput options for GPU runs (see TrainConfig)
    channels_last: bool = False
    sync_bn: bool = False

    def with_(self, **changes) -> "ExperimentConfig":
        return replace(self, **changes)


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    method: Method
    history: History
    accuracy: dict  # {"linear_probe": float, "knn": float} of the trained encoder
    train_seconds: float
    features: tuple  # (train_features (N, D), train_labels (N,), test_features (M, D), test_labels (M,))


def load_splits(config: ExperimentConfig) -> Splits:
    """(train, labelled, test) for an experiment: ``ssl_course.data.load_splits`` of the config's dataset, with
    its sizes (``num_images`` / ``num_test``) and seed. The self-supervised training set doubles as the probes'
    labelled set."""
    return data_splits(config.dataset, config.num_images, config.num_test, seed=config.seed)


# CONTRASTIVE and NON_CONTRASTIVE (from ssl_course.methods): methods that compare augmented views, so they take
# the config's augmentation (and temperature, where they have one); the others make their own inputs (rotations,
# tiles, masks, lightness)
# the view methods whose loss has a temperature the config's ``temperature`` sets (DINO has two: method_kwargs)
WITH_TEMPERATURE = CONTRASTIVE + ("swav",)
# the view methods that take a multi-crop, built from the config's augmentation as its base (``MultiCrop``)
MULTI_CROP = ("swav", "dino")
# methods whose encoder reads one lightness channel
GRAY_INPUT = ("colorization", "color_tracking")


def build(config: ExperimentConfig, image_size: int) -> Method:
    """The config's method around a fresh encoder (seeded by ``config.seed``, so two calls give the same weights).
    Contrastive methods, BYOL and SimSiam get ``BatchAugment(image_size, config.augment)``; SwAV and DINO get
    ``config.augment`` as the base of their multi-crop (whose crop scales are their own). ``config.temperature``
    goes to the methods with one temperature (``WITH_TEMPERATURE``) when it is set (None keeps the method's own
    default: MoCo v1 trains at 0.07, not at another method's value); the other methods have none and ignore it
    (the command line refuses ``--temperature`` for them); colorization and colour tracking get a one-channel
    SmallCNN."""
    torch.manual_seed(config.seed)
    if config.method in GRAY_INPUT and config.encoder != "small_cnn":
        raise ValueError(f"{config.method} needs a one-channel encoder; only small_cnn has one")
    encoder = build_encoder(config.encoder, width=config.width, in_channels=1 if config.method in GRAY_INPUT else 3)
    kwargs = dict(config.method_kwargs)
    if config.method in CONTRASTIVE + NON_CONTRASTIVE:
        augment = config.augment if config.method in MULTI_CROP else BatchAugment(image_size, config.augment)
        kwargs = dict(augment=augment, **kwargs)
    if config.method in WITH_TEMPERATURE and config.temperature is not None:
        kwargs["temperature"] = config.temperature
    return build_method(config.method, encoder, image_size=image_size, **kwargs)


# How the course's small runs (2,000 shapes, about 200 steps on a CPU) train the methods without negatives: lecture
# 07 and benchmarks/noncontrastive.py both start from here. Chosen by a one-seed sweep written up in
# benchmarks/RESULTS_noncontrastive.md, not tuned per lecture:
# - SimSiam with the paper's optimiser, SGD with momentum (its probe 0.438 against AdamW's 0.393 at 15 epochs);
# - BYOL and DINO with a target momentum of 0.99: the papers' 0.996 assumes tens of thousands of steps, and
#   0.996^200 = 0.45, so over a run this short the target would stay close to its random initialisation;
# - SwAV and DINO with 2 local crops instead of the papers' 6 to 10 (the CPU budget).
SMALL_RUN_RECIPES = {
    "simsiam": {"optimizer": "sgd", "lr": 0.06},
    "byol": {"method_kwargs": {"momentum": 0.99}},
    "swav": {"method_kwargs": {"num_local": 2}},
    "dino": {"method_kwargs": {"momentum": 0.99, "num_local": 2}},
}


def small_run_recipe(config: ExperimentConfig, **method_kwargs) -> ExperimentConfig:
    """``config`` with ``SMALL_RUN_RECIPES[config.method]`` applied (unchanged for other methods), then the given
    constructor keywords on top (e.g. ``stop_gradient=False`` for an ablation)."""
    changes = dict(SMALL_RUN_RECIPES.get(config.method, {}))
    kwargs = {**changes.pop("method_kwargs", {}), **config.method_kwargs, **method_kwargs}
    return config.with_(**changes, method_kwargs=kwargs)


def features_of(encoder, labelled: ImageDataset, test: ImageDataset, device="auto") -> tuple:
    """(train_features, train_labels, test_features, test_labels) of a frozen encoder."""
    return (*ev.extract_features(encoder, labelled, device=device), *ev.extract_features(encoder, test, device=device))


def run_experiment(config: ExperimentConfig, data: Splits | None = None,
                   checkpoint: str | None = None) -> ExperimentResult:
    """Build the method, train it, and evaluate its encoder (linear probe + kNN on the test split).
    data: (train, labelled, test) from ``load_splits`` (made from the config when omitted)."""
    train_set, labelled, test_set = data if data is not None else load_splits(config)
    method = build(config, train_set.image_size)
    warmup = config.warmup_epochs if config.warmup_epochs is not None else min(1.0, config.epochs / 10)
    train_config = TrainConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                               optimizer=config.optimizer, weight_decay=config.weight_decay, warmup_epochs=warmup,
                               device=config.device, seed=config.seed, checkpoint=checkpoint,
                               knn_every=config.knn_every, monitor_every=config.monitor_every,
                               progress=config.progress, compile=config.compile,
                               channels_last=config.channels_last, sync_bn=config.sync_bn)
    start = time.perf_counter()
    history = train(method, train_set, train_config, knn_data=(labelled, test_set))
    seconds = time.perf_counter() - start
    features = features_of(method.encoder, labelled, test_set, config.device)
    return ExperimentResult(config, method, history, ev.evaluate_features(*features), seconds, features)


def baseline_features(config: ExperimentConfig, data: Splits | None = None) -> dict[str, tuple]:
    """Features of the two baselines every method must beat: raw pixels, and the untrained encoder the
    experiment starts from (same seed, same initial weights). {name: (train_f, train_y, test_f, test_y)}."""
    _, labelled, test_set = data if data is not None else load_splits(config)
    random_encoder = build(config, labelled.image_size).encoder
    return {"raw pixels": (*ev.pixels(labelled), *ev.pixels(test_set)),
            "random encoder": features_of(random_encoder, labelled, test_set, config.device)}


@dataclass
class SupervisedResult:
    method: "Supervised"  # the trained encoder + classifier
    labelled_images: int  # how many labelled training images it saw
    test_accuracy: float  # its own classifier on the test split (end to end: the fine-tuning / scratch number)
    features: tuple  # frozen features (train_f, train_y, test_f, test_y) of its encoder, like ExperimentResult's
    train_seconds: float


def run_supervised(config: ExperimentConfig, data: Splits, fraction: float = 1.0, encoder=None,
                   steps: int | None = None, lr: float | None = None) -> SupervisedResult:
    """The same encoder trained with labels on a class-balanced ``fraction`` of the labelled training split.

    encoder None: from scratch, starting from the config's random initial weights (the ones the self-supervised
    runs start from); an encoder: fine-tuned, on a copy (the given one is left untouched). ``steps``: optimiser
    steps (default: as many as the config's epochs over the full training split, so every fraction gets the same
    number of updates); the batch is the config's, or every kept image when fewer. ``lr``: default the config's.
    """
    import copy

    from .data import label_subset
    from .methods import Supervised

    _, labelled, test_set = data
    keep = label_subset(labelled.labels.numpy(), fraction, seed=config.seed)
    subset = labelled.subset(keep)
    if encoder is None:
        encoder = build(config.with_(method="simclr"), labelled.image_size).encoder  # the seed's initial weights
    else:
        encoder = copy.deepcopy(encoder)
    torch.manual_seed(config.seed)
    method = Supervised(encoder, len(labelled.classes), image_size=labelled.image_size)
    batch_size = min(config.batch_size, len(subset))
    steps = steps if steps is not None else config.epochs * (len(labelled) // config.batch_size)
    steps_per_epoch = len(subset) // batch_size
    train_config = TrainConfig(epochs=-(-steps // steps_per_epoch), batch_size=batch_size, lr=lr or config.lr,
                               optimizer=config.optimizer, weight_decay=config.weight_decay,
                               warmup_epochs=0.0, max_steps=steps, device=config.device, seed=config.seed,
                               progress=config.progress)
    start = time.perf_counter()
    train(method, subset, train_config)
    seconds = time.perf_counter() - start
    method.cpu()
    features = features_of(method.encoder, labelled, test_set, "cpu")
    return SupervisedResult(method, len(subset), method.accuracy(test_set.images, test_set.labels), features, seconds)


LABEL_FRACTIONS = (0.01, 0.1, 1.0)  # the label-efficiency protocol's fractions of the labelled training split


def label_efficiency_comparison(config: ExperimentConfig, data: Splits, encoder, fractions=LABEL_FRACTIONS,
                                steps: int | None = None, finetune_lr: float | None = None,
                                ssl_name: str = "self-supervised") -> dict[str, dict[float, float]]:
    """The payoff of self-supervision, measured: test accuracy with a class-balanced fraction of the labels for
    (a) the self-supervised ``encoder`` frozen + a linear probe, (b) the same encoder fine-tuned end to end,
    (c) the same network trained from scratch on those labels (``run_supervised``). Every entry uses exactly the
    same labelled images (``label_subset`` with the config's seed). Returns {row name: {fraction: accuracy}}."""
    frozen = features_of(encoder, *data[1:], "cpu")
    rows = {f"{ssl_name} + linear probe": ev.label_efficiency(*frozen, fractions=fractions, seed=config.seed)}
    rows[f"{ssl_name}, fine-tuned"] = {f: run_supervised(config, data, f, encoder=encoder, steps=steps,
                                                         lr=finetune_lr).test_accuracy for f in fractions}
    rows["supervised from scratch"] = {f: run_supervised(config, data, f, steps=steps).test_accuracy
                                       for f in fractions}
    return rows
