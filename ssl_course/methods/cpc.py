"""Contrastive Predictive Coding (van den Oord, Li & Vinyals 2018).

g_enc maps the input to a sequence of latents z_t; g_ar (a GRU) summarises z_<=t into a context c_t; for each
step k = 1..K a linear map W_k scores candidates z by z^T W_k c_t, and InfoNCE (``ssl_course.losses.cpc_loss``)
asks the true z_{t+k} to win.

Negatives: from each sequence (or image) ``num_positions`` context positions t are drawn at random, giving
N = B * num_positions rows; for row i at step k the candidates are the true z_{t+k} of every row, so the N - 1
negatives are the futures of the other rows: other sequences in the batch AND other time positions of the same
sequence (the paper's "negative samples from the same and other sequences").

Two settings:
- ``CPCSequence``: 1-D signals (B, 1, L): a strided Conv1d encoder (downsampling 32x) and a GRU over time.
- ``CPCImage``: an image becomes a grid of overlapping patches (patch 8, stride 4 on 32 px: 7 x 7); a shared CNN
  encodes each patch into z_{r, c}; a GRU runs down each column, so c_{r, c} has seen rows <= r, and predicts
  z_{r+k, c} (top rows predict bottom rows). With 50% overlap row r+1 shares half its pixels with row r, so
  by default the steps start at r + patch / stride (= 2), as CPC v2 does, lest the task be solved by copying. Its ``encoder`` (mean of patch latents) is an image encoder that
  the usual kNN / linear probe evaluate.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..common import as_float_images, batch_images, eval_mode
from ..losses import cpc_loss, cpc_scores
from .base import Method


class _CPCHead(nn.Module):
    """W_k for k = 1..K as one (K, D, C) parameter, the loss over sampled positions and per-k accuracy."""

    def __init__(self, context_dim: int, latent_dim: int, num_steps: int, first_step: int = 1):
        super().__init__()
        self.first_step = first_step  # predict z_{t+first_step} .. z_{t+first_step+K-1}
        self.weights = nn.Parameter(torch.randn(num_steps, latent_dim, context_dim) / context_dim ** 0.5)

    @property
    def num_steps(self) -> int:
        return self.weights.shape[0]

    def sample(self, context: torch.Tensor, latents: torch.Tensor, num_positions: int, first: int, generator=None):
        """context (S, T, C), latents (S, T, D) -> rows (N, C) and futures (N, K, D), N = S * num_positions;
        positions t drawn uniformly in [first, T - 1 - last step] per sequence (row n = s * num_positions + p);
        futures[:, k] is z_{t + first_step + k}."""
        s, t_len, _ = context.shape
        k = self.num_steps
        last = t_len - 1 - (self.first_step + k - 1)
        if last < first:
            raise ValueError(f"sequences of {t_len} latents are too short for {k} prediction steps")
        t = torch.randint(first, last + 1, (s, num_positions), generator=generator, device=context.device)
        seq = torch.arange(s, device=context.device)[:, None].expand_as(t)
        rows = context[seq, t].flatten(0, 1)  # (N, C)
        steps = torch.arange(self.first_step, self.first_step + k, device=context.device)
        futures = latents[seq[..., None], t[..., None] + steps].flatten(0, 1)  # (N, K, D)
        return rows, futures

    def loss(self, rows: torch.Tensor, futures: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        return cpc_loss(rows.float(), futures.float(), self.weights.float(), reduction=reduction)

    @torch.no_grad()
    def accuracy(self, rows: torch.Tensor, futures: torch.Tensor) -> torch.Tensor:
        """(K,) fraction of rows whose true future scores highest among the N candidates, per step k."""
        labels = torch.arange(len(rows), device=rows.device)
        return torch.stack([(cpc_scores(rows.float(), futures[:, k].float(), self.weights[k].float()).argmax(1)
                             == labels).float().mean() for k in range(self.num_steps)])


class SequenceEncoder(nn.Module):
    """g_enc for 1-D signals: (B, 1, L) -> z (B, L / 32, D). Strided convolutions (kernel = 2 x stride)."""

    def __init__(self, latent_dim: int = 64, in_channels: int = 1, strides=(4, 4, 2)):
        super().__init__()
        layers, c = [], in_channels
        for s in strides:
            layers += [nn.Conv1d(c, latent_dim, 2 * s, stride=s, padding=s // 2), nn.BatchNorm1d(latent_dim),
                       nn.ReLU(inplace=True)]
            c = latent_dim
        layers.append(nn.Conv1d(latent_dim, latent_dim, 1))
        self.net = nn.Sequential(*layers)
        self.feature_dim = latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).transpose(1, 2)


class SequenceContextEncoder(nn.Module):
    """g_enc then g_ar. ``embed(signals (B, 1, L))`` -> z (B, T, D), c (B, T, C); ``forward`` -> the mean over time
    of c_t (B, C), the representation a speaker probe reads."""

    def __init__(self, latent_dim: int = 64, context_dim: int = 64, in_channels: int = 1):
        super().__init__()
        self.g_enc = SequenceEncoder(latent_dim, in_channels)
        self.g_ar = nn.GRU(latent_dim, context_dim, batch_first=True)
        self.feature_dim = context_dim

    def embed(self, signals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.g_enc(signals.float())  # (B, T, D)
        c, _ = self.g_ar(z)  # (B, T, C): c_t has seen z_1..z_t only
        return z, c

    def forward(self, signals: torch.Tensor) -> torch.Tensor:
        return self.embed(signals)[1].mean(1)


class CPCSequence(Method):
    """CPC on signals (B, 1, L). ``encoder`` (a ``SequenceContextEncoder``) holds g_enc and g_ar; ``head`` the W_k."""

    def __init__(self, latent_dim: int = 64, context_dim: int = 64, num_steps: int = 4, num_positions: int = 8,
                 min_context: int = 4, in_channels: int = 1):
        super().__init__(augment=None)
        self.encoder = SequenceContextEncoder(latent_dim, context_dim, in_channels)
        self.head = _CPCHead(context_dim, latent_dim, num_steps)
        self.num_positions, self.min_context = num_positions, min_context
        self.last_accuracy: list[float] = []

    def rows_and_futures(self, signals: torch.Tensor, generator=None):
        """rows (N, C) and futures (N, K, D) with N = B * num_positions."""
        z, c = self.encoder.embed(signals)
        return self.head.sample(c, z, self.num_positions, self.min_context, generator)

    def loss(self, batch, generator=None) -> torch.Tensor:
        signals = batch_images(batch)
        rows, futures = self.rows_and_futures(signals, generator)
        self.last_accuracy = self.head.accuracy(rows, futures).tolist()
        return self.head.loss(rows, futures)


class PatchGridEncoder(nn.Module):
    """Image -> grid of patch latents and, as ``forward``, their mean: the image encoder CPCImage trains.

    patch_encoder: (P, 3, patch, patch) -> (P, D) with ``feature_dim`` (e.g. ``SmallCNN``).
    ``grid(images)``: (B, 3, H, W) -> z (B, R, Cc, D), R x Cc overlapping patches (side ``patch``, step ``stride``).
    """

    def __init__(self, patch_encoder: nn.Module, patch: int = 8, stride: int = 4):
        super().__init__()
        self.patch_encoder, self.patch, self.stride = patch_encoder, patch, stride
        self.feature_dim = patch_encoder.feature_dim

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        b = images.shape[0]
        patches = images.unfold(2, self.patch, self.stride).unfold(3, self.patch, self.stride)  # (B,3,R,Cc,p,p)
        r, cc = patches.shape[2:4]
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(b * r * cc, 3, self.patch, self.patch)
        return self.patch_encoder(patches).view(b, r, cc, -1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.grid(images).mean((1, 2))


class CPCImage(Method):
    """CPC on images as rows of patches. patch_encoder: see ``PatchGridEncoder``; the GRU runs top to bottom in
    every column; ``num_positions`` (row, column) contexts are drawn per image."""

    def __init__(self, patch_encoder: nn.Module, patch: int = 8, stride: int = 4, context_dim: int = 128,
                 num_steps: int = 2, num_positions: int = 6, min_context: int = 0, first_step: int | None = None):
        super().__init__(augment=None)
        self.encoder = PatchGridEncoder(patch_encoder, patch, stride)
        d = patch_encoder.feature_dim
        self.g_ar = nn.GRU(d, context_dim, batch_first=True)
        first_step = first_step if first_step is not None else -(-patch // stride)  # ceil: no shared pixels
        self.head = _CPCHead(context_dim, d, num_steps, first_step)
        self.num_positions, self.min_context = num_positions, min_context
        self.last_accuracy: list[float] = []

    def rows_and_futures(self, images: torch.Tensor, generator=None):
        z = self.encoder.grid(as_float_images(images))  # (B, R, Cc, D)
        b, r, cc, d = z.shape
        columns = z.permute(0, 2, 1, 3).reshape(b * cc, r, d)  # each column is a sequence over rows
        c, _ = self.g_ar(columns)  # (B Cc, R, C)
        # draw positions per image (not per column): reshape so one "sequence" is one image's columns
        rows, futures = self.head.sample(c, columns, 1, self.min_context, generator)  # one row per column
        # keep num_positions of the Cc columns of each image, chosen at random
        keep = torch.rand(b, cc, generator=generator, device=z.device).argsort(1)[:, :self.num_positions]
        index = (torch.arange(b, device=z.device)[:, None] * cc + keep).flatten()
        return rows[index], futures[index]

    def loss(self, batch, generator=None) -> torch.Tensor:
        images = batch_images(batch)
        rows, futures = self.rows_and_futures(images, generator)
        self.last_accuracy = self.head.accuracy(rows, futures).tolist()
        return self.head.loss(rows, futures)


@torch.no_grad()
def prediction_accuracy(method: CPCSequence | CPCImage, inputs: torch.Tensor, seed: int = 0) -> list[float]:
    """Per-step accuracy [acc_k for each of the K steps] of a CPC method on ``inputs`` (signals (B, 1, L) or
    images (B, 3, H, W)): the fraction of sampled contexts whose true future z_{t+k} scores highest among the
    N = B * num_positions candidates (chance: 1 / N). Positions are drawn from ``seed``; the method runs in eval
    mode (BatchNorm running statistics) and its train/eval mode is restored."""
    with eval_mode(method):
        rows, futures = method.rows_and_futures(inputs, torch.Generator(device=inputs.device).manual_seed(seed))
        return method.head.accuracy(rows, futures).tolist()
