"""CLIP (Radford et al. 2021): an image encoder and a text encoder trained so that an image and its caption land
close together in a joint space, with a symmetric InfoNCE over the batch and a learnable temperature."""
from __future__ import annotations

import math

import torch
from torch import nn

from ..augment import BatchAugment
from ..common import as_float_images
from ..losses import MAX_LOGIT_SCALE, clip_loss
from ..models.text import TextTransformer
from ..text import Vocabulary
from .base import Method


class CLIP(Method):
    """u = W_i f(x), v = W_t g(t); the loss compares every image with every caption of the batch (``clip_loss``).

    encoder: the image encoder f (any course encoder with ``feature_dim``: SmallCNN, TinyViT, ResNet); it is what
        the image evaluations (linear probe, kNN) read, as for every method.
    text_encoder: g, token ids (N, L) -> (N, feature_dim); default a ``TextTransformer`` over ``vocabulary``
        (width ``text_dim``).
    vocabulary: turns prompts into tokens (``tokenize``); default the captioned shapes' ``caption_vocabulary()``.
    embed_dim: the joint space's dimension; W_i, W_t are linear maps without bias, as in the paper.
    logit_scale: learnable log inverse temperature, initialised at log(1 / 0.07), clamped at log 100 in the loss.
    augment: optional ``BatchAugment`` applied to the images (default: none; a flip or a colour jitter would make
        captions that name position or colour wrong).
    gather: set by the distributed trainer: both embeddings are gathered from every rank with gradients, so each
        rank's loss is over the global batch (as SimCLR's negatives).
    The training loop hands ``loss`` (images (B, 3, H, W), tokens (B, L)) batches (``uses_captions``).
    """

    uses_captions = True  # the training loop yields (images, tokens) batches from a CaptionedImageDataset

    def __init__(self, encoder: nn.Module, text_encoder: nn.Module | None = None, vocabulary: Vocabulary | None = None,
                 embed_dim: int = 64, text_dim: int = 64, logit_scale: float = math.log(1 / 0.07),
                 augment: BatchAugment | None = None, image_size: int = 32):
        super().__init__(augment)
        if vocabulary is None:
            from ..data.captions import caption_vocabulary
            vocabulary = caption_vocabulary()
        self.vocabulary = vocabulary
        self.encoder = encoder
        self.text_encoder = text_encoder if text_encoder is not None else TextTransformer(len(vocabulary), text_dim)
        self.image_projection = nn.Linear(encoder.feature_dim, embed_dim, bias=False)
        self.text_projection = nn.Linear(self.text_encoder.feature_dim, embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale)))
        self.max_logit_scale = MAX_LOGIT_SCALE
        self.gather = None

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) uint8 or float -> (B, embed_dim) joint-space embeddings (not normalised)."""
        return self.image_projection(self.encoder(as_float_images(images)))

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """N texts -> (N, L) int64 token ids on the model's device."""
        return self.vocabulary.encode(texts).to(self.logit_scale.device)

    def encode_text(self, tokens) -> torch.Tensor:
        """(B, L) token ids (or a list of B texts) -> (B, embed_dim) joint-space embeddings (not normalised)."""
        if isinstance(tokens, (list, tuple)):
            tokens = self.tokenize(list(tokens))
        return self.text_projection(self.text_encoder(tokens))

    @property
    def temperature(self) -> float:
        """The temperature the loss uses now: 1 / exp(min(logit_scale, log 100))."""
        return float(torch.exp(-self.logit_scale.detach().clamp(max=self.max_logit_scale)))

    def loss(self, batch, generator=None) -> torch.Tensor:
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ValueError("CLIP trains on (images, tokens) batches; train it on a captioned dataset "
                             "(e.g. captioned_shapes)")
        images, tokens = batch[0], batch[1]
        if self.augment is not None:
            images = self.augment(images, generator)
        u = self.encode_image(images).float()  # (B, embed_dim)
        v = self.encode_text(tokens).float()  # (B, embed_dim)
        if self.gather is not None:
            u, v = self.gather(u), self.gather(v)  # (world * B, embed_dim), gradients flow back to each rank
        return clip_loss(u, v, self.logit_scale, self.max_logit_scale)
