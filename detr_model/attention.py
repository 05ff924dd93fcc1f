"""Multi-head attention with nn.MultiheadAttention's parameter names, computed by SDPA."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MultiheadAttention(nn.Module):
    """Batch-first multi-head attention whose state dict matches torch.nn.MultiheadAttention.

    Holds the packed q/k/v projection `in_proj_weight` (3d, d), `in_proj_bias` (3d,) and
    `out_proj` (Linear d -> d), so official DETR weights load unchanged. The attention itself
    runs through `F.scaled_dot_product_attention`.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as nn.MultiheadAttention does: xavier in-projection, zero biases."""
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(
        self, query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None
    ) -> Tensor:
        """Return the attention output (B, Lq, d) for query (B, Lq, d), key/value (B, S, d).

        `attn_mask` is a boolean mask broadcastable to (B, heads, Lq, S), True where a query may
        attend (the opposite of nn.MultiheadAttention's key_padding_mask).
        """
        d = self.embed_dim
        w, b = self.in_proj_weight, self.in_proj_bias
        if query is key:
            # Self-attention with q = k (content + position): one matmul for both projections.
            q, k = F.linear(query, w[: 2 * d], b[: 2 * d]).chunk(2, dim=-1)
        else:
            q = F.linear(query, w[:d], b[:d])
            k = F.linear(key, w[d : 2 * d], b[d : 2 * d])
        v = F.linear(value, w[2 * d :], b[2 * d :])
        q, k, v = (self._split_heads(t) for t in (q, k, v))  # (B, h, L, d/h)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        out = out.transpose(1, 2).flatten(2)  # (B, Lq, d)
        return self.out_proj(out)

    def _split_heads(self, x: Tensor) -> Tensor:
        """Return (B, L, d) reshaped to (B, heads, L, d/heads)."""
        bsz, length, _ = x.shape
        return x.view(bsz, length, self.num_heads, -1).transpose(1, 2)
