"""One training loop for every method.

``train(method, dataset, config)`` moves the method to the device, runs SGD/AdamW with warm-up and a cosine (or
constant) schedule, bf16 autocast on CUDA, a progress bar, a kNN monitor, and atomic checkpoints from which a run
resumes exactly: on the CPU, an interrupted run resumed from its checkpoint ends with the same weights as an
uninterrupted one. That works because nothing random depends on hidden global state: epoch e's data order comes
from a generator seeded by (seed, e), step s's batched augmentations from one seeded by (seed, e, s), and a
per-image transform in the DataLoader (``TwoViews``, any ``num_workers``) draws image i's views under torch's global
random state seeded by (seed, e, i) (``SeededItems``).

Launched with ``torchrun --nproc_per_node=N``, the same loop trains data-parallel (see ``ssl_course.distributed``):
``batch_size`` is the global batch, each rank takes its slice of it, gradients are averaged by DDP, SimCLR gathers
negatives from all ranks and MoCo enqueues all ranks' keys; only rank 0 shows progress, evaluates and checkpoints.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from . import distributed
from .data import ImageDataset, SeededItems
from .common import as_float_images, batch_images, eval_mode, resolve_device
from .evaluate import collapse_monitor, extract_features, knn_accuracy
from .methods import Method

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "constant")


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.06
    optimizer: str = "sgd"  # "sgd" (momentum 0.9) or "adamw"
    weight_decay: float = 5e-4
    schedule: str = "cosine"  # "cosine" decays to 0 after warm-up; "constant"
    warmup_epochs: float = 0.0
    device: str = "auto"
    amp: bool | None = None  # bf16 autocast; None = on for CUDA, off on the CPU
    channels_last: bool = False
    seed: int = 0
    checkpoint: str | None = None  # path of the checkpoint file; resumed from when it exists
    checkpoint_every: int = 0  # also save every this many steps (0: at the end of each epoch only)
    knn_every: int = 0  # run the kNN monitor every this many epochs (0: never)
    knn_k: int = 20
    monitor_every: int = 0  # collapse monitor every this many steps (0: never); see ``monitor_collapse``
    max_steps: int | None = None  # stop (and checkpoint) after this many steps in total
    num_workers: int = 0  # DataLoader workers, for datasets with a per-image transform
    progress: bool = True
    compile: bool = False  # torch.compile the encoder(s) (worth it on a GPU for long runs; the first steps compile)
    fused: bool | None = None  # fused optimizer kernels; None = on for CUDA
    sync_bn: bool = False  # under torchrun: BatchNorm statistics over all GPUs (SyncBatchNorm, CUDA only)

    def validate(self) -> "TrainConfig":
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1 (got {self.epochs})")
        if self.batch_size < 2:
            problems.append(f"batch_size must be >= 2 for a contrastive loss (got {self.batch_size})")
        if not self.lr > 0:
            problems.append(f"lr must be > 0 (got {self.lr})")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {OPTIMIZERS} (got {self.optimizer!r})")
        if self.monitor_every < 0:
            problems.append(f"monitor_every must be >= 0 (got {self.monitor_every})")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {SCHEDULES} (got {self.schedule!r})")
        if problems:
            raise ValueError("bad training configuration: " + "; ".join(problems))
        return self


@dataclass
class History:
    """What a run measured: one dict per epoch (loss, lr, seconds, images/s, knn accuracy when monitored), the
    loss of every step, and the collapse monitor's records {"step", "output_std", "effective_rank"} (when
    ``TrainConfig.monitor_every`` is set; a checkpoint written before the field existed loads with it empty)."""
    epochs: list[dict] = field(default_factory=list)
    step_losses: list[float] = field(default_factory=list)
    monitor: list[dict] = field(default_factory=list)

    def column(self, key: str) -> list:
        return [e[key] for e in self.epochs if key in e]


MONITOR_IMAGES = 512  # how many training images the collapse monitor embeds


def monitor_images(dataset: Dataset) -> torch.Tensor:
    """The fixed images the collapse monitor embeds: the first ``MONITOR_IMAGES`` of the dataset, un-augmented
    (uint8 or float (N, C, H, W), on the CPU). Needs a dataset that holds its images (an ImageDataset, or a
    wrapper such as ``TwoViews`` around one)."""
    for candidate in (dataset, getattr(dataset, "dataset", None)):
        images = getattr(candidate, "images", None)
        if isinstance(images, torch.Tensor):
            return images[:MONITOR_IMAGES]
    raise ValueError(f"the collapse monitor needs a dataset with an ``images`` tensor, got {type(dataset).__name__}")


@torch.no_grad()
def monitor_collapse(method: Method, images: torch.Tensor, device: torch.device, batch_size: int = 256) -> dict:
    """{"output_std", "effective_rank"} (``evaluate.collapse_monitor``) of ``method.embed`` on ``images``, with
    the method in eval mode (BatchNorm running statistics: the numbers do not depend on how the images are
    batched, and no statistic is updated) and without gradient; the method's mode is restored."""
    with eval_mode(method):
        z = torch.cat([method.embed(as_float_images(images[i:i + batch_size].to(device))).float().cpu()
                       for i in range(0, len(images), batch_size)])
    return collapse_monitor(z)


def _step_seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1, dtype=np.uint64)[0] >> 1)


def learning_rate(config: TrainConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Linear warm-up over ``warmup_epochs``, then cosine decay to 0 (or constant)."""
    warmup = int(config.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    if config.schedule == "constant":
        return config.lr
    progress = (step - warmup) / max(1, total_steps - warmup)
    return config.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(method: Method, config: TrainConfig, device: torch.device | None = None) -> torch.optim.Optimizer:
    """SGD (momentum 0.9) or AdamW; with ``fused`` kernels (one kernel for all parameters) on CUDA."""
    params = [p for p in method.parameters() if p.requires_grad]
    # BatchNorm weights and biases are not decayed, as in the reference implementations
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    on_cuda = device is not None and torch.device(device).type == "cuda"
    fused = {"fused": True} if (config.fused if config.fused is not None else on_cuda) and on_cuda else {}
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, **fused)
    return torch.optim.AdamW(groups, lr=config.lr, **fused)


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write atomically (a temporary file, then rename), so an interruption never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file: say which one
        raise ValueError(f"cannot read checkpoint {path}: {err}") from err


def _fits_on_device(images: torch.Tensor, device: torch.device) -> bool:
    """Whether a uint8 dataset fits on the device with room to train: at most a quarter of its free memory."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() <= free // 4


def train_step(module, batch, optimizer: torch.optim.Optimizer, generator: torch.Generator | None = None,
               amp: bool = False, step: int | None = None) -> float:
    """One optimisation step, the one every training run takes: the loss under bf16 autocast (when ``amp``),
    backward, a finite check, optimizer step. Returns the loss, averaged over ranks under torchrun.

    module: ``distributed.wrap(method, ...)`` (``module(batch, generator)`` calls ``method.loss``), or a method's
            ``loss`` itself; batch: what the method's ``loss`` takes, e.g. uint8 images (B, 3, H, W);
    generator: the step's augmentation randomness (on the batch's device); step: for the error message only.
    A loss that is not finite raises FloatingPointError before the optimizer applies it."""
    device_type = batch_images(batch).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=amp):
        loss = module(batch, generator)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    # the mean over ranks, so every rank logs and checks the same value (and stops together)
    value = float(distributed.all_reduce_mean(loss.detach()))
    if not math.isfinite(value):
        raise FloatingPointError(f"loss became {value}" + (f" at step {step}" if step is not None else "")
                                 + "; lower the learning rate or raise the temperature")
    optimizer.step()
    return value


class _Batches:
    """Yields this rank's batches of one epoch, in an order fixed by (seed, epoch), skipping the first ``skip``.

    Every rank draws the same permutation and takes its slice of each global batch (``distributed.shard``)."""

    def __init__(self, dataset: Dataset, config: TrainConfig, device: torch.device,
                 context: distributed.Context | None = None, with_labels: bool = False, with_captions: bool = False):
        self.dataset, self.config, self.device = dataset, config, device
        self.with_labels = with_labels  # in-memory path: yield (images, labels) for a method that uses labels
        self.with_captions = with_captions  # yield (images, tokens) for a method that reads captions (CLIP)
        self.context = context or distributed.Context(device=device)
        self.in_memory = isinstance(dataset, ImageDataset) and dataset.transform is None
        if self.in_memory:
            # uint8 on the device (50,000 CIFAR images are 150 MB), augmented there in batches; a dataset too large
            # for the GPU stays in pinned CPU memory and each batch is copied over
            self.on_device = _fits_on_device(dataset.images, device)
            self.images = dataset.images.to(device) if self.on_device else \
                (dataset.images.pin_memory() if device.type == "cuda" else dataset.images)
            self.labels = dataset.labels.to(self.images.device)
        if with_captions:
            if getattr(dataset, "tokens", None) is None:
                raise ValueError(f"this method trains on images with captions, but {getattr(dataset, 'name', 'the dataset')}"
                                 f" has none; use a captioned dataset (e.g. captioned_shapes)")
            if not self.in_memory:
                raise ValueError("a captioned dataset trains from memory: give it without a per-image transform")
            self.tokens = dataset.tokens.to(self.images.device)
        if config.batch_size % self.context.world_size:
            raise ValueError(f"batch_size {config.batch_size} (the global batch) must be a multiple of the "
                             f"{self.context.world_size} processes")
        self.steps_per_epoch = len(dataset) // config.batch_size  # drop_last: contrastive batches stay full
        if self.steps_per_epoch == 0:
            raise ValueError(f"the dataset has {len(dataset)} images, fewer than one batch of {config.batch_size}")

    def epoch(self, epoch: int, skip: int = 0):
        g = torch.Generator().manual_seed(_step_seed(self.config.seed, epoch))
        order = torch.randperm(len(self.dataset), generator=g)
        bs, rank, world = self.config.batch_size, self.context.rank, self.context.world_size
        if self.in_memory:
            order = order.to(self.images.device)
            for step in range(skip, self.steps_per_epoch):
                index = distributed.shard(order[step * bs:(step + 1) * bs], rank, world)
                batch = self.images[index] if self.on_device else self.images[index].to(self.device, non_blocking=True)
                if self.with_captions:
                    yield batch, self.tokens[index].to(self.device)
                else:
                    yield (batch, self.labels[index].to(self.device)) if self.with_labels else batch
            return
        indices = torch.cat([distributed.shard(order[step * bs:(step + 1) * bs], rank, world)
                             for step in range(skip, self.steps_per_epoch)]).tolist()
        # each item is made under torch's (and Python's, NumPy's) global random state seeded by (seed, epoch,
        # index): a per-image transform draws the same views in the main process or in any worker, before or
        # after a resume. An index occurs once per epoch, so ranks need no seed of their own.
        items = [(i, _step_seed(self.config.seed, epoch, i, 2**31)) for i in indices]
        seed_parts = (self.config.seed, epoch, 2**31) + ((rank,) if world > 1 else ())
        loader = DataLoader(SeededItems(self.dataset), batch_size=bs // world, sampler=items,
                            num_workers=self.config.num_workers, drop_last=True,
                            pin_memory=self.device.type == "cuda",
                            generator=torch.Generator().manual_seed(_step_seed(*seed_parts)))
        for batch in loader:
            yield tuple(t.to(self.device, non_blocking=True) for t in batch)


def train(method: Method, dataset: Dataset, config: TrainConfig | None = None,
          knn_data: tuple[ImageDataset, ImageDataset] | None = None, resume: bool = True) -> History:
    """Train ``method`` on ``dataset`` and return its History.

    dataset: an ImageDataset (fast path: held on the device, augmented there by the method) or any dataset whose
             items are (view1, view2, label) made by DataLoader workers (e.g. ``TwoViews``). A method that sets
             ``uses_labels`` gets (images, labels) batches; one that sets ``uses_captions`` (CLIP) gets
             (images, tokens) batches from a ``CaptionedImageDataset``.
    knn_data: (train, test) ImageDatasets for the kNN monitor (every ``config.knn_every`` epochs).
    The collapse monitor (every ``config.monitor_every`` steps, rank 0 only) embeds the dataset's first 512 images
    with ``method.embed`` and appends {"step", "output_std", "effective_rank"} to ``History.monitor``.
    resume: continue from ``config.checkpoint`` when that file exists.
    Ctrl-C saves a checkpoint (when a path is set) before stopping, so no finished step is lost.
    """
    from tqdm.auto import tqdm

    config = (config or TrainConfig()).validate()
    context = distributed.setup(resolve_device(config.device))  # one process unless launched by torchrun
    device, rank, main = context.device, context.rank, context.is_main
    torch.manual_seed(config.seed + rank)  # only for anything a user's own module draws; our draws use generators
    method.to(device)
    if config.channels_last:
        method.to(memory_format=torch.channels_last)
    batches = _Batches(dataset, config, device, context, with_labels=getattr(method, "uses_labels", False),
                       with_captions=getattr(method, "uses_captions", False))
    steps_per_epoch = batches.steps_per_epoch
    total_steps = steps_per_epoch * config.epochs
    if config.compile:
        for name, child in method.named_children():  # encoders and heads, compiled in place (same state_dict)
            if name != "augment":
                child.compile()
    module = distributed.wrap(method, context, sync_bn=config.sync_bn)  # calls method.loss; DDP when distributed
    hooks = distributed.install_hooks(method) if context.distributed else {}
    optimizer = build_optimizer(method, config, device)
    amp = config.amp if config.amp is not None else device.type == "cuda"
    history = History()
    global_step = 0
    watched = monitor_images(dataset) if config.monitor_every and main else None

    # every rank resumes from the same file (torchrun on one node shares the file system); only rank 0 writes it
    if resume and config.checkpoint and Path(config.checkpoint).exists():
        state = load_checkpoint(config.checkpoint, map_location=device)
        method.load_state_dict(state["method"])
        optimizer.load_state_dict(state["optimizer"])
        history = History(**state["history"])
        global_step = state["global_step"]

    def checkpoint():
        if config.checkpoint and main:
            save_checkpoint(config.checkpoint, {"method": method.state_dict(), "optimizer": optimizer.state_dict(),
                                                "history": asdict(history), "global_step": global_step,
                                                "config": asdict(config)})

    stop_at = min(total_steps, config.max_steps) if config.max_steps is not None else total_steps
    bar = tqdm(total=total_steps, initial=global_step, desc=f"{type(method).__name__}", unit="step",
               disable=not (config.progress and main), dynamic_ncols=True)
    method.train()
    try:
        while global_step < stop_at:
            epoch, skip = divmod(global_step, steps_per_epoch)
            epoch_start, epoch_losses = time.perf_counter(), []
            for batch in batches.epoch(epoch, skip):
                step_in_epoch = global_step - epoch * steps_per_epoch
                lr = learning_rate(config, global_step, total_steps, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                rank_part = (rank,) if context.distributed else ()  # ranks draw different augmentations
                generator = torch.Generator(device=device).manual_seed(
                    _step_seed(config.seed, epoch, step_in_epoch, *rank_part))
                value = train_step(module, batch, optimizer, generator, amp=amp, step=global_step)
                global_step += 1
                epoch_losses.append(value)
                history.step_losses.append(value)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{value:.3f}", lr=f"{lr:.3g}")
                if watched is not None and global_step % config.monitor_every == 0:
                    history.monitor.append({"step": global_step, **monitor_collapse(method, watched, device)})
                if config.checkpoint_every and global_step % config.checkpoint_every == 0:
                    checkpoint()
                if global_step >= stop_at:
                    break
            if global_step % steps_per_epoch == 0:  # the epoch is complete
                seconds = time.perf_counter() - epoch_start
                epoch_all = history.step_losses[epoch * steps_per_epoch:]  # whole epoch, also when resumed within it
                record = {"epoch": epoch + 1, "loss": float(np.mean(epoch_all)), "lr": lr, "seconds": seconds,
                          "images_per_s": len(epoch_losses) * config.batch_size / seconds}
                if knn_data is not None and config.knn_every and (epoch + 1) % config.knn_every == 0 and main:
                    train_f, train_y = extract_features(method.encoder, knn_data[0], device=device)
                    test_f, test_y = extract_features(method.encoder, knn_data[1], device=device)
                    record["knn_acc"] = knn_accuracy(train_f, train_y, test_f, test_y, k=config.knn_k)
                    bar.write(f"epoch {epoch + 1}: loss {record['loss']:.3f}, kNN accuracy {record['knn_acc']:.3f}")
                history.epochs.append(record)
                if knn_data is not None and config.knn_every and context.distributed:
                    distributed.barrier()  # the other ranks wait while rank 0 evaluates
            checkpoint()
    except KeyboardInterrupt:
        checkpoint()
        if main:
            bar.write(f"interrupted at step {global_step}"
                      + (f"; resume from {config.checkpoint}" if config.checkpoint else ""))
        raise
    finally:
        bar.close()
        distributed.remove_hooks(method, hooks)
    return history
