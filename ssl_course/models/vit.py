"""A tiny Vision Transformer (Dosovitskiy et al. 2021) that can return its attention maps, so the [CLS] token's
attention of each head can be drawn over the image (as DINO does). Pre-norm blocks; learned position embeddings.

(B, 3, H, W) -> (B, dim), the final [CLS] token. ``forward_with_attention`` also returns every block's attention.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention that also returns its attention weights (B, heads, T, T)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)  # 3 x (B,h,T,d/h)
        attn = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)  # (B, heads, T, T), rows sum to 1
        out = (attn @ v).transpose(1, 2).reshape(b, t, d)
        return self.proj(out), attn


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, attn = self.attn(self.norm1(x))
        x = x + a
        return x + self.mlp(self.norm2(x)), attn


class TinyViT(nn.Module):
    """image_size / patch_size patches per side (32 / 4 = 8: 64 tokens + [CLS]); ``feature_dim`` = dim."""

    def __init__(self, image_size: int = 32, patch_size: int = 4, dim: int = 64, depth: int = 4, heads: int = 4,
                 mlp_ratio: float = 2.0, in_channels: int = 3):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.patch_size, self.grid = patch_size, image_size // patch_size
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + self.grid ** 2, dim) * 0.02)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.feature_dim, self.heads = dim, heads

    def forward_with_attention(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (B, 3, H, W) -> ([CLS] features (B, dim), [attention (B, heads, 1 + N, 1 + N) per block]).
        Token 0 is [CLS]; tokens 1..N are the patches in row-major order."""
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)  # (B, N, dim)
        grid = int(round(tokens.shape[1] ** 0.5))
        pos = self.pos_embed
        if grid != self.grid:  # another image size: interpolate the position embeddings of the patches
            patch_pos = pos[:, 1:].reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            patch_pos = F.interpolate(patch_pos, size=(grid, grid), mode="bicubic", align_corners=False)
            pos = torch.cat([pos[:, :1], patch_pos.flatten(2).transpose(1, 2)], dim=1)
        x = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + pos
        attentions = []
        for block in self.blocks:
            x, attn = block(x)
            attentions.append(attn)
        return self.norm(x)[:, 0], attentions

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_attention(x)[0]
