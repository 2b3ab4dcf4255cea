"""DINO (Caron et al. 2021, "Emerging properties in self-supervised vision transformers"): self-distillation
with no labels. A student network matches the output distribution of a teacher, an EMA of the student, over K
dimensions; the teacher sees only the global crops, the student every crop. Centering (subtract a running mean
of the teacher's outputs) keeps one dimension from dominating; sharpening (a low teacher temperature) keeps the
output from becoming uniform. Either alone collapses (the paper's figure 7); together they do not."""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..augment import AugmentConfig, MultiCrop
from ..losses import dino_center_update, dino_loss, momentum_update_
from ..models import DINOHead
from .base import Method, forward_by_size


class DINO(Method):
    """Student g_s = head_s(f_s); teacher g_t = head_t(f_t), a copy with ``requires_grad=False`` moved by
    theta_t <- m theta_t + (1 - m) theta_s; loss ``ssl_course.losses.dino_loss`` (the paper's algorithm 1).

    encoder: any module with ``feature_dim`` (SmallCNN, or ``TinyViT``, whose position embeddings are
    interpolated for the local crops); out_dim: K (the paper's 65,536; 256 for the course's data); hidden_dim /
    bottleneck_dim: the head's MLP (the paper: 2048 / 256); momentum: m, 0.996 kept constant (the paper raises it
    to 1 along a cosine schedule); center_momentum: 0.9; student_temperature 0.1 / teacher_temperature 0.04 (the
    paper's, without its teacher-temperature warm-up); centering: False is the ablation where the center stays
    zero; sharpening: False is the ablation where the teacher's temperature equals the student's.
    num_global / num_local / local_size / augment: multi-crop as in ``SwAV``.
    all_reduce: set by the distributed trainer (``ssl_course.distributed.all_reduce``), so the center is the mean
    over the global batch.

    As in ``BYOL``, the EMA step is taken in ``loss`` before the teacher's outputs are computed, which equals the
    paper's update after every optimiser step. The center is updated after the loss, from the teacher's outputs.
    """

    def __init__(self, encoder: nn.Module, out_dim: int = 256, hidden_dim: int = 512, bottleneck_dim: int = 64,
                 momentum: float = 0.996, center_momentum: float = 0.9, student_temperature: float = 0.1,
                 teacher_temperature: float = 0.04, centering: bool = True, sharpening: bool = True,
                 num_global: int = 2, num_local: int = 4, local_size: int | None = None,
                 augment: AugmentConfig | None = None, image_size: int = 32):
        super().__init__(MultiCrop(image_size, local_size, num_global, num_local, config=augment))
        if not 0.0 <= momentum <= 1.0 or not 0.0 <= center_momentum <= 1.0:
            raise ValueError("momentum and center_momentum must be in [0, 1]")
        if student_temperature <= 0 or teacher_temperature <= 0:
            raise ValueError("temperatures must be > 0")
        if num_global + num_local < 2:
            raise ValueError("DINO needs at least 2 crops per image")
        self.student_encoder = encoder
        self.student_head = DINOHead(encoder.feature_dim, out_dim, hidden_dim, bottleneck_dim)
        self.teacher_encoder = copy.deepcopy(self.student_encoder)
        self.teacher_head = copy.deepcopy(self.student_head)
        for p in self.teacher_parameters():
            p.requires_grad = False  # moved by the EMA only
        self.register_buffer("center", torch.zeros(out_dim))  # (K,), saved in checkpoints
        self.momentum, self.center_momentum = momentum, center_momentum
        self.student_temperature, self.teacher_temperature = student_temperature, teacher_temperature
        self.centering, self.sharpening, self.num_global = centering, sharpening, num_global
        self.all_reduce = None

    @property
    def encoder(self) -> nn.Module:
        return self.student_encoder

    def student_parameters(self) -> list[nn.Parameter]:
        return list(self.student_encoder.parameters()) + list(self.student_head.parameters())

    def teacher_parameters(self) -> list[nn.Parameter]:
        return list(self.teacher_encoder.parameters()) + list(self.teacher_head.parameters())

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, K): the student head's output (float32), whose collapse the paper's figure 7 tracks."""
        return self.student_head(self.student_encoder(x))

    def teacher(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, K), the teacher's output, without gradient."""
        with torch.no_grad():
            return self.teacher_head(self.teacher_encoder(x))

    def loss(self, batch, generator=None) -> torch.Tensor:
        crops = self.multi_crops(batch, generator)  # num_global (B, 3, S, S) then num_local (B, 3, s, s)
        with torch.no_grad():
            momentum_update_(self.teacher_parameters(), self.student_parameters(), self.momentum)
            teacher = forward_by_size(self.teacher, crops[:self.num_global]).float()  # T x N x K
        student = forward_by_size(self.embed, crops).float()  # V x N x K
        center = self.center if self.centering else torch.zeros_like(self.center)
        teacher_temperature = self.teacher_temperature if self.sharpening else self.student_temperature
        loss = dino_loss(student, teacher, center, self.student_temperature, teacher_temperature)
        if self.centering:  # from the teacher's outputs only, after they were used with the previous center
            self.center.copy_(dino_center_update(self.center, teacher, self.center_momentum, self.all_reduce))
        return loss
