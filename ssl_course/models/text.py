"""A small text encoder for CLIP on generated captions: token ids (N, L) -> one vector per text (N, dim).

A tiny transformer (pre-norm blocks of self-attention and an MLP, learned position embeddings); padding (id 0)
is masked out of the attention and of the mean pooling, so a caption's vector does not depend on how much
padding its batch has.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        n, length, dim = x.shape  # x: (N, L, dim); keep: (N, L) bool, False at padding
        q, k, v = self.qkv(self.norm1(x)).view(n, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        # (N, heads, L, dim / heads) each; a query attends to the real tokens of its text only
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        x = x + self.proj(attended.transpose(1, 2).reshape(n, length, dim))
        return x + self.mlp(self.norm2(x))


class TextTransformer(nn.Module):
    """Token ids (N, L) int64 (0 = padding) -> text features (N, dim).

    token + position embeddings -> ``depth`` pre-norm transformer blocks (``heads`` heads) -> LayerNorm ->
    the mean over the text's non-padding tokens (<bos> and <eos> included). ``feature_dim`` = dim.
    max_length: the longest token sequence it accepts (its position embeddings).
    """

    def __init__(self, vocab_size: int, dim: int = 64, depth: int = 2, heads: int = 4, max_length: int = 32,
                 pad_id: int = 0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be a multiple of heads {heads}")
        self.pad_id, self.max_length, self.feature_dim = pad_id, max_length, dim
        self.token_embedding = nn.Embedding(vocab_size, dim)
        self.position_embedding = nn.Parameter(torch.randn(max_length, dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2 or tokens.shape[1] > self.max_length:
            raise ValueError(f"tokens must be (N, L) with L <= {self.max_length}, got {tuple(tokens.shape)}")
        keep = tokens != self.pad_id  # (N, L)
        x = self.token_embedding(tokens) + self.position_embedding[:tokens.shape[1]]  # (N, L, dim)
        for block in self.blocks:
            x = block(x, keep)
        x = self.norm(x)
        weights = keep.to(x.dtype)[..., None]  # (N, L, 1)
        return (x * weights).sum(1) / weights.sum(1).clamp(min=1)  # (N, dim)
