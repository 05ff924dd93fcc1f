"""Spatial position encodings of the feature map: fixed sine (the paper's) or learned."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import ModelConfig

LEARNED_MAX_SIZE = 50  # rows/columns of the learned table, as in the official code


class PositionEmbeddingSine(nn.Module):
    """Sine/cosine encoding of normalised (y, x) pixel positions, padding excluded.

    Each image's valid area is normalised to [0, scale] on both axes, so positions do not depend
    on how much padding the batch added. Output: (B, 2 * num_pos_feats, H, W), y half first.
    """

    def __init__(
        self,
        num_pos_feats: int = 128,
        temperature: float = 10000.0,
        normalize: bool = True,
        scale: float = 2 * math.pi,
    ) -> None:
        super().__init__()
        self.num_pos_feats = num_pos_feats
        self.temperature = temperature
        self.normalize = normalize
        self.scale = scale

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Return the encoding (B, 2 * num_pos_feats, H, W) for features x and mask (B, H, W)."""
        not_mask = ~mask
        y_embed = not_mask.cumsum(1, dtype=torch.float32)  # (B, H, W)
        x_embed = not_mask.cumsum(2, dtype=torch.float32)
        if self.normalize:
            eps = 1e-6
            y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
            x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.num_pos_feats, dtype=torch.float32, device=mask.device)
        dim_t = self.temperature ** (2 * (dim_t // 2) / self.num_pos_feats)
        pos_x = x_embed[..., None] / dim_t  # (B, H, W, F)
        pos_y = y_embed[..., None] / dim_t
        # Interleave sin of even and cos of odd frequencies: (B, H, W, F).
        pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)  # (B, 2F, H, W)
        return pos.to(x.dtype)


class PositionEmbeddingLearned(nn.Module):
    """Learned absolute encoding: a column table and a row table of LEARNED_MAX_SIZE entries."""

    def __init__(self, num_pos_feats: int = 128) -> None:
        super().__init__()
        self.row_embed = nn.Embedding(LEARNED_MAX_SIZE, num_pos_feats)
        self.col_embed = nn.Embedding(LEARNED_MAX_SIZE, num_pos_feats)
        nn.init.uniform_(self.row_embed.weight)
        nn.init.uniform_(self.col_embed.weight)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Return the encoding (B, 2 * num_pos_feats, H, W) for features x (B, C, H, W)."""
        h, w = x.shape[-2:]
        if h > LEARNED_MAX_SIZE or w > LEARNED_MAX_SIZE:
            raise ValueError(
                f"learned position encoding covers at most {LEARNED_MAX_SIZE}x{LEARNED_MAX_SIZE} "
                f"feature cells, got {h}x{w}; use smaller images or the sine encoding"
            )
        x_emb = self.col_embed.weight[:w]  # (W, F)
        y_emb = self.row_embed.weight[:h]  # (H, F)
        pos = torch.cat(
            (x_emb[None, :, :].expand(h, w, -1), y_emb[:, None, :].expand(h, w, -1)), dim=-1
        )  # (H, W, 2F), x half first as in the official code
        pos = pos.permute(2, 0, 1)[None].expand(x.shape[0], -1, -1, -1)
        return pos.to(x.dtype)


def build_position_encoding(config: ModelConfig) -> nn.Module:
    """Return the position encoding module the config asks for (num_pos_feats = hidden_dim/2)."""
    num_pos_feats = config.hidden_dim // 2
    if config.position_embedding == "sine":
        return PositionEmbeddingSine(num_pos_feats, normalize=True)
    if config.position_embedding == "learned":
        return PositionEmbeddingLearned(num_pos_feats)
    raise ValueError(f"unknown position_embedding {config.position_embedding!r}")
