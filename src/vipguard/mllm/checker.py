"""The FaceChecker (paper Eq. 4 and 6; the authors' ``FaceChecker.py``): cross-attention from query tokens to the
input image's vision tokens, then a feed-forward layer — no residual, no norm.

- queries: the VIP tokens μ (Stage 3) or the *reference image's* vision tokens f_query (Stage 2);
- keys = values: the *input image's* vision tokens f_Img (the merged vision-tower output that also fills
  ``<|image_pad|>``);
- output: one vector per query (the second ``<|face_pad|>`` block).

Block layout as the authors': ``CrossAttention(d, heads, dropout 0.1)`` → ``FeedForward(d → 2d → d, GELU,
dropout 0.1)``; with ``depth > 1`` each later block attends from the same queries to the previous block's output.
Parameter names match the authors' module (``blocks.0.q_proj`` … ``blocks.1.net.3``), so their state dict maps
one to one. Batches are padded: ``key_mask`` / ``query_mask`` (True = real token) keep every sample's attention on
its own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


class CrossAttention(nn.Module):
    """Multi-head attention with separate q/k/v/out projections (with bias) and dropout on the weights."""

    def __init__(self, dim: int, heads: int = 8, dropout: float = 0.1):
        super().__init__()
        if dim % heads:
            raise ValueError(f"FaceChecker width {dim} is not divisible by {heads} heads")
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # [B, h, n, D]

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output [B, n, d], attention weights [B, h, n, T])``; ``key_mask`` [B, T], True = attend."""
        q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(key)), self._heads(self.v_proj(value))
        scores = q @ k.transpose(-2, -1) / self.head_dim ** 0.5
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = self.dropout(weights) @ v
        b, _, n, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, n, self.dim)), weights


class FeedForward(nn.Module):
    """``Linear(d, 2d) → GELU → Dropout → Linear(2d, d)``."""

    def __init__(self, dim: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass(frozen=True)
class CheckerOutput:
    tokens: torch.Tensor  # [B, n, d]: one vector per query
    attention: tuple[torch.Tensor, ...]  # per block: [B, heads, n, T] weights over that block's keys


class FaceChecker(nn.Module):
    """``forward(queries [B|1, n, d], keys [B, T, d], key_mask [B, T] | None, query_mask [B, n] | None)``."""

    def __init__(self, dim: int, heads: int = 8, depth: int = 1, dropout: float = 0.1):
        super().__init__()
        if depth < 1:
            raise ValueError(f"FaceChecker depth must be at least 1, got {depth}")
        self.dim = dim
        blocks: list[nn.Module] = []
        for _ in range(depth):
            blocks += [CrossAttention(dim, heads, dropout), FeedForward(dim, dropout)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None = None,
                query_mask: torch.Tensor | None = None) -> CheckerOutput:
        if keys.dim() != 3 or keys.shape[1] < 1 or keys.shape[2] != self.dim:
            raise ValueError(f"keys must be [B, T ≥ 1, {self.dim}] (the image's vision tokens), "
                             f"got {tuple(keys.shape)}")
        if queries.dim() == 2:
            queries = queries[None]
        if queries.shape[-1] != self.dim:
            raise ValueError(f"queries are {queries.shape[-1]} wide, the FaceChecker is {self.dim} wide")
        dtype = self.blocks[0].q_proj.weight.dtype
        x = queries.to(dtype).expand(keys.shape[0], -1, -1)
        feature, mask, weights = keys.to(dtype), key_mask, []
        for attn, ffn in zip(self.blocks[0::2], self.blocks[1::2]):
            out, w = attn(x, feature, feature, mask)
            feature, mask = ffn(out), query_mask  # a later block attends over the previous block's output
            weights.append(w)
        return CheckerOutput(feature, tuple(weights))


__all__ = ["CheckerOutput", "CrossAttention", "FaceChecker", "FeedForward"]
