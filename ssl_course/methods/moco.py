"""MoCo (He et al. 2019; v2: Chen et al. 2020): a query encoder trained by InfoNCE against keys from a slowly moving
momentum encoder, with negatives from a FIFO queue of earlier keys. Structure follows facebookresearch/moco's
builder.py: encoder_q, encoder_k, a registered ``queue`` buffer, momentum update, dequeue-and-enqueue."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..augment import BatchAugment
from ..losses import batch_shuffle_indices, dequeue_and_enqueue, moco_loss, momentum_update_
from ..models import ProjectionHead
from .base import Method


def _given(kwargs: dict) -> dict:
    """The keywords a caller set: None means "the variant's default" (a config's unset field), never a value."""
    return {k: v for k, v in kwargs.items() if v is not None}


class MoCo(Method):
    """encoder: any module with ``feature_dim`` (becomes encoder_q; encoder_k is a copy that only moves by EMA).

    dim: embedding size C; queue_size: K; momentum: m; temperature: t;
    head_layers: 1 = linear head (v1), 2 = MLP head (v2);
    shuffle_bn_groups: G > 1 emulates G GPUs on one device: the batch is split into G groups with their own
    BatchNorm statistics, and the key encoder sees a shuffled batch, so a query and its key never share
    statistics (the information leak shuffle-BN prevents). 1 turns it off. Under torchrun the key batch is also
    shuffled across GPUs (``ssl_course.distributed.batch_shuffle``), as in the paper.
    """

    def __init__(self, encoder: nn.Module, dim: int = 128, queue_size: int = 4096, momentum: float = 0.99,
                 temperature: float = 0.2, head_layers: int = 2, hidden_dim: int = 512, shuffle_bn_groups: int = 4,
                 augment: BatchAugment | None = None, image_size: int = 32):
        super().__init__(augment if augment is not None else BatchAugment.recipe("moco_v2", image_size))
        if queue_size < 1 or not 0.0 <= momentum <= 1.0 or shuffle_bn_groups < 1:
            raise ValueError("need queue_size >= 1, 0 <= momentum <= 1 and shuffle_bn_groups >= 1")
        self.encoder_q = encoder
        self.projector_q = ProjectionHead(encoder.feature_dim, hidden_dim, dim, head_layers)
        self.encoder_k = copy.deepcopy(self.encoder_q)
        self.projector_k = copy.deepcopy(self.projector_q)
        for p in self.key_parameters():
            p.requires_grad = False
        self.momentum, self.temperature, self.shuffle_bn_groups = momentum, temperature, shuffle_bn_groups
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))  # K x C
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self.all_gather = None  # set by the distributed trainer: keys from every rank enter the queue
        self.batch_shuffle = None  # set by the distributed trainer: shuffle the key batch across ranks

    @classmethod
    def v1(cls, encoder: nn.Module, image_size: int = 32, **kwargs) -> "MoCo":
        """MoCo v1: linear head, t = 0.07, m = 0.999, v1 augmentation. A keyword given as None keeps v1's default."""
        kwargs = {"head_layers": 1, "temperature": 0.07, "momentum": 0.999,
                  "augment": BatchAugment.recipe("moco_v1", image_size),
                  **_given(kwargs)}
        return cls(encoder, image_size=image_size, **kwargs)

    @classmethod
    def v2(cls, encoder: nn.Module, image_size: int = 32, **kwargs) -> "MoCo":
        """MoCo v2: MLP head, t = 0.2, stronger augmentation (blur on large images); train with a cosine schedule.
        A keyword given as None keeps v2's default."""
        kwargs = {"head_layers": 2, "temperature": 0.2, "augment": BatchAugment.recipe("moco_v2", image_size),
                  **_given(kwargs)}
        return cls(encoder, image_size=image_size, **kwargs)

    @property
    def encoder(self) -> nn.Module:
        return self.encoder_q

    def key_parameters(self):
        return list(self.encoder_k.parameters()) + list(self.projector_k.parameters())

    def query_parameters(self):
        return list(self.encoder_q.parameters()) + list(self.projector_q.parameters())

    def _embed(self, encoder: nn.Module, projector: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C) L2-normalised; BatchNorm statistics per group of N / G images."""
        groups = min(self.shuffle_bn_groups, x.shape[0])
        z = torch.cat([projector(encoder(chunk)) for chunk in x.chunk(groups)]) if groups > 1 \
            else projector(encoder(x))
        return F.normalize(z.float(), dim=1)

    def loss(self, batch, generator=None) -> torch.Tensor:
        im_q, im_k = self.two_views(batch, generator)
        q = self._embed(self.encoder_q, self.projector_q, im_q)  # N x C
        with torch.no_grad():
            momentum_update_(self.key_parameters(), self.query_parameters(), self.momentum)
            if self.batch_shuffle is not None:  # shuffle-BN across GPUs: keys computed on a mix of all ranks
                im_k_shuffled, restore = self.batch_shuffle(im_k, generator)
                k = restore(self._embed(self.encoder_k, self.projector_k, im_k_shuffled))  # N x C
            else:
                idx_shuffle, idx_unshuffle = batch_shuffle_indices(im_k.shape[0], generator, im_k.device)
                k = self._embed(self.encoder_k, self.projector_k, im_k[idx_shuffle])[idx_unshuffle]  # N x C
        loss = moco_loss(q, k, self.queue.clone(), self.temperature)
        with torch.no_grad():
            keys = self.all_gather(k) if self.all_gather is not None else k
            queue, ptr = dequeue_and_enqueue(self.queue, int(self.queue_ptr), keys)
            self.queue.copy_(queue)
            self.queue_ptr.fill_(ptr)
        return loss
