"""Data-parallel training over several processes (GPUs), launched with ``torchrun``.

    torchrun --nproc_per_node=4 -m ssl_course.cli train --preset simclr-cifar10

torchrun starts one process per GPU and sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; ``setup``
reads them (``env://``) and joins the process group (NCCL on CUDA, gloo on the CPU). Without those variables
everything here is a no-op and training runs in one process, unchanged.

What data parallelism needs for contrastive learning, beyond averaging gradients:

- **SimCLR** compares every embedding with every other one in the batch. With N images per rank, each rank
  gathers the embeddings of all ranks (``gather_with_grad``) so the negatives come from the global batch, and the
  gradient flows back to the rank that computed each embedding. ``torch.distributed.all_gather`` returns tensors
  *without* gradient: using it would silently drop the gradient through every other rank's negatives.
- **MoCo** enqueues the keys of all ranks (``gather_no_grad``), and shuffles the key batch across ranks before the
  key encoder (``batch_shuffle``, as facebookresearch/moco's ``_batch_shuffle_ddp``), so a query and its key never
  share BatchNorm statistics. Alternatively ``TrainConfig(sync_bn=True)`` uses BatchNorm statistics over all ranks.
- **SwAV** equipartitions the *global* batch over its prototypes: Sinkhorn-Knopp's column sums are all-reduced
  (``all_reduce``), so each rank computes its rows of the codes one process would compute on the whole batch.
  **DINO**'s center is the running mean of the teacher's outputs over the global batch (``all_reduce`` too).
- **Data**: ``TrainConfig.batch_size`` is the *global* batch. Every rank draws the same permutation of the
  dataset for an epoch (seeded by (seed, epoch)) and takes its slice of each global batch (``shard``): the union of
  the ranks' batches is exactly the batch one process would see, so a run on 1 or 8 GPUs visits the same images
  in the same steps. Augmentation draws are seeded by (seed, epoch, step, rank), so ranks draw different crops.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among ``world_size`` processes and the device it trains on."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, shows the progress bar, writes checkpoints and evaluates."""
        return self.rank == 0


def launched_with_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> Context:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else return a one-process Context.

    device: the device the user asked for; on CUDA each process takes GPU ``LOCAL_RANK`` (unless an index was
    given explicitly). Calling it again in the same process reuses the group.
    """
    device = torch.device(device)
    if not launched_with_torchrun():
        return Context(device=device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, init_method="env://", **kwargs)
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, device=device)


def cleanup() -> None:
    """Leave the process group (call once at the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shard(global_batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's slice of one global batch of indices: rows [rank * n, (rank + 1) * n) with n = B / world_size.
    Concatenating the slices of ranks 0, 1, ... gives the global batch back, in order."""
    if len(global_batch) % world_size:
        raise ValueError(f"a global batch of {len(global_batch)} does not split evenly over {world_size} processes")
    n = len(global_batch) // world_size
    return global_batch[rank * n:(rank + 1) * n]


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward sends each rank the gradient of its own rows, summed over ranks.

    Every rank computes the same global loss L from the gathered tensor, so the total derivative of sum_r L_r
    with respect to rank r's rows is the all-reduced (summed) gradient restricted to those rows. DDP then
    averages parameter gradients over ranks, which divides that sum by world_size again: the result equals the
    gradient of L computed by one process on the whole batch (tests/test_distributed.py checks it).
    Written with all_reduce rather than reduce_scatter because gloo has no reduce_scatter.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # x: (N, D) on each rank -> (world * N, D)
        ctx.rank, ctx.n = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.n:(ctx.rank + 1) * ctx.n]


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """(N, D) per rank -> (world_size * N, D), rank 0's rows first; gradients flow back to every rank."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) per rank -> (world_size * N, ...), rank 0's rows first; no gradient (MoCo's keys)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def batch_shuffle(x: torch.Tensor, generator: torch.Generator | None = None):
    """Shuffle-BN across ranks (facebookresearch/moco ``_batch_shuffle_ddp``): gather the key images of every rank,
    permute the global batch with a permutation drawn on rank 0 and broadcast, and give each rank its slice.

    x: (N, ...) this rank's images. Returns (x_shuffled (N, ...), restore) where ``restore(k)`` takes this rank's
    keys (N, C) computed on x_shuffled and returns the keys of this rank's original images, in order.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    x_all = gather_no_grad(x)  # (world * N, ...)
    total = x_all.shape[0]
    if rank == 0:
        idx_shuffle = torch.randperm(total, generator=generator, device=generator.device if generator else x.device)
        idx_shuffle = idx_shuffle.to(x.device)
    else:
        idx_shuffle = torch.empty(total, dtype=torch.long, device=x.device)
    dist.broadcast(idx_shuffle, src=0)
    idx_unshuffle = torch.argsort(idx_shuffle)
    mine = idx_shuffle.view(world, -1)[rank]

    def restore(k: torch.Tensor) -> torch.Tensor:
        return gather_no_grad(k)[idx_unshuffle.view(world, -1)[rank]]

    return x_all[mine], restore


class LossModule(nn.Module):
    """DDP hooks ``forward``, but a method's training computation is ``method.loss``: this wrapper's forward calls
    it, so wrapping the wrapper in DistributedDataParallel all-reduces the gradients of ``loss``'s backward."""

    def __init__(self, method: nn.Module):
        super().__init__()
        self.method = method

    def forward(self, batch, generator=None):
        return self.method.loss(batch, generator)


def install_hooks(method: nn.Module) -> dict:
    """Point the method's distributed hooks at the functions above; returns the previous values (for
    ``remove_hooks``). SimCLR: ``gather``; MoCo: ``all_gather`` (queue) and ``batch_shuffle`` (shuffle-BN);
    SwAV and DINO: ``all_reduce`` (Sinkhorn-Knopp's global column sums, DINO's global center)."""
    previous = {}
    for name, fn in (("gather", gather_with_grad), ("all_gather", gather_no_grad), ("batch_shuffle", batch_shuffle),
                     ("all_reduce", all_reduce)):
        if hasattr(method, name):
            previous[name] = getattr(method, name)
            setattr(method, name, fn)
    return previous


def remove_hooks(method: nn.Module, previous: dict) -> None:
    for name, value in previous.items():
        setattr(method, name, value)


def wrap(method: nn.Module, context: Context, sync_bn: bool = False) -> nn.Module:
    """The module the training loop calls: ``LossModule(method)``, inside DDP when distributed.

    - Parameters with ``requires_grad=False`` (MoCo's key encoder, moved by EMA) are not registered by DDP, and
      every trainable parameter takes part in every loss, so ``find_unused_parameters`` stays False (it would add
      a graph traversal per step). The key encoder stays identical on all ranks: DDP broadcasts rank 0's
      parameters and buffers when it is built, and every rank applies the same EMA of the same (averaged) query
      parameters afterwards.
    - ``broadcast_buffers`` (default) copies rank 0's buffers before each forward: BatchNorm running statistics,
      and MoCo's queue, which every rank already updates identically.
    - sync_bn: replace BatchNorm by SyncBatchNorm (statistics over the global batch; CUDA only).
    """
    module = LossModule(method)
    if not context.distributed:
        return module
    if sync_bn:
        if context.device.type != "cuda":
            raise ValueError("sync_bn needs CUDA (SyncBatchNorm has no CPU implementation); use MoCo's shuffle-BN")
        nn.SyncBatchNorm.convert_sync_batchnorm(method)
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=False)


def all_reduce_mean(value: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over ranks (for logging the loss: every rank then sees, and checks, the same number)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / dist.get_world_size()


def all_reduce(value: torch.Tensor, op: str = "sum") -> torch.Tensor:
    """A tensor reduced over ranks: op "sum" or "max" (a new tensor; the input is not modified). Outside torchrun
    it returns the value itself. Used by SwAV's Sinkhorn-Knopp (global column sums) and DINO's center."""
    if op not in ("sum", "max"):
        raise ValueError(f"op must be 'sum' or 'max', got {op!r}")
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX)
    return value
