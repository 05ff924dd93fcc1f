"""DETR's encoder-decoder transformer: positions added to q and k in every attention layer."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import MultiheadAttention
from .config import ModelConfig


class TransformerEncoderLayer(nn.Module):
    """Self-attention over the feature map + feed-forward, post-norm (or pre-norm)."""

    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, pre_norm: bool
    ) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))

    def forward(self, src: Tensor, pos: Tensor, attn_mask: Tensor | None) -> Tensor:
        """Return the layer output (B, HW, d) for src and pos (B, HW, d)."""
        if self.pre_norm:
            x = self.norm1(src)
            qk = x + pos
            src = src + self.dropout1(self.self_attn(qk, qk, x, attn_mask))
            return src + self.dropout2(self._feed_forward(self.norm2(src)))
        qk = src + pos
        src = self.norm1(src + self.dropout1(self.self_attn(qk, qk, src, attn_mask)))
        return self.norm2(src + self.dropout2(self._feed_forward(src)))


class TransformerDecoderLayer(nn.Module):
    """Query self-attention, cross-attention to the encoder memory, feed-forward."""

    def __init__(
        self, d_model: int, nhead: int, dim_feedforward: int, dropout: float, pre_norm: bool
    ) -> None:
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def _feed_forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(F.relu(self.linear1(x))))

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        memory_key: Tensor,
        query_pos: Tensor,
        attn_mask: Tensor | None,
        self_attn_mask: Tensor | None = None,
    ) -> Tensor:
        """Return the layer output (B, Q, d).

        tgt, query_pos: (B, Q, d); memory (values) and memory_key (memory + pos): (B, HW, d);
        attn_mask: (B, 1, 1, HW) bool, True where a memory cell is real (not padding);
        self_attn_mask: (Q, Q) bool, True where a query may attend to another (None: all).
        """
        if self.pre_norm:
            x = self.norm1(tgt)
            qk = x + query_pos
            tgt = tgt + self.dropout1(self.self_attn(qk, qk, x, self_attn_mask))
            x = self.norm2(tgt)
            tgt = tgt + self.dropout2(
                self.multihead_attn(x + query_pos, memory_key, memory, attn_mask)
            )
            return tgt + self.dropout3(self._feed_forward(self.norm3(tgt)))
        qk = tgt + query_pos
        tgt = self.norm1(tgt + self.dropout1(self.self_attn(qk, qk, tgt, self_attn_mask)))
        attended = self.multihead_attn(tgt + query_pos, memory_key, memory, attn_mask)
        tgt = self.norm2(tgt + self.dropout2(attended))
        return self.norm3(tgt + self.dropout3(self._feed_forward(tgt)))


class TransformerEncoder(nn.Module):
    """A stack of encoder layers; a final LayerNorm only for pre-norm (as the official code)."""

    def __init__(self, layer: TransformerEncoderLayer, num_layers: int, norm: nn.Module | None):
        super().__init__()
        self.layers = _clones(layer, num_layers)
        self.norm = norm

    def forward(self, src: Tensor, pos: Tensor, attn_mask: Tensor | None) -> Tensor:
        """Return the memory (B, HW, d)."""
        for layer in self.layers:
            src = layer(src, pos, attn_mask)
        if self.norm is not None:
            src = self.norm(src)
        return src


class TransformerDecoder(nn.Module):
    """A stack of decoder layers returning every layer's normalised output for aux losses."""

    def __init__(self, layer: TransformerDecoderLayer, num_layers: int, norm: nn.Module):
        super().__init__()
        self.layers = _clones(layer, num_layers)
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        pos: Tensor,
        query_pos: Tensor,
        attn_mask: Tensor | None,
        return_intermediate: bool = True,
        self_attn_mask: Tensor | None = None,
    ) -> Tensor:
        """Return (L, B, Q, d): each layer's output through the final norm (or only the last)."""
        memory_key = memory + pos  # the same keys for every layer's cross-attention
        intermediate = []
        for layer in self.layers:
            tgt = layer(tgt, memory, memory_key, query_pos, attn_mask, self_attn_mask)
            if return_intermediate:
                intermediate.append(self.norm(tgt))
        if not return_intermediate:
            return self.norm(tgt)[None]
        return torch.stack(intermediate)


class Transformer(nn.Module):
    """Encoder over the flattened feature map, decoder over the learned object queries."""

    def __init__(
        self,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        pre_norm: bool = False,
    ) -> None:
        super().__init__()
        encoder_layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, pre_norm)
        encoder_norm = nn.LayerNorm(d_model) if pre_norm else None
        self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm)
        decoder_layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, pre_norm)
        self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, nn.LayerNorm(d_model))
        self.d_model = d_model
        self.nhead = nhead
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        # As the official code: xavier-uniform for every matrix, biases and norms left as built.
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(
        self,
        src: Tensor,
        mask: Tensor,
        query_embed: Tensor,
        pos_embed: Tensor,
        return_intermediate: bool = True,
        *,
        extra_queries: tuple[Tensor, Tensor] | None = None,
        self_attn_mask: Tensor | None = None,
        query_content: Tensor | None = None,
    ) -> Tensor:
        """Return decoder outputs (L, B, Q, d) for src/pos (B, d, H, W), mask (B, H, W).

        `extra_queries` (content (B, N, d), position (B, N, d)) are put before the object
        queries (whose content starts at zero), e.g. denoising queries in training;
        `self_attn_mask` (N+Q, N+Q), True = may attend, keeps them apart. `query_content`
        (Q, d) replaces the zero start of the object queries' content.
        """
        bsz = src.shape[0]
        src = src.flatten(2).transpose(1, 2)  # (B, HW, d)
        pos = pos_embed.flatten(2).transpose(1, 2)  # (B, HW, d)
        attn_mask = ~mask.flatten(1)[:, None, None, :]  # (B, 1, 1, HW), True = real pixel
        query_pos = query_embed[None].expand(bsz, -1, -1)  # (B, Q, d)
        memory = self.encoder(src, pos, attn_mask)
        if query_content is None:
            tgt = torch.zeros_like(query_pos)
        else:
            tgt = query_content[None].expand(bsz, -1, -1).to(query_pos.dtype)
        if extra_queries is not None:
            tgt = torch.cat([extra_queries[0], tgt], dim=1)
            query_pos = torch.cat([extra_queries[1], query_pos], dim=1)
        return self.decoder(
            tgt, memory, pos, query_pos, attn_mask, return_intermediate, self_attn_mask
        )


def build_transformer(config: ModelConfig) -> Transformer:
    """Return the transformer the config asks for, initialised as the official code."""
    return Transformer(
        d_model=config.hidden_dim,
        nhead=config.nheads,
        num_encoder_layers=config.num_encoder_layers,
        num_decoder_layers=config.num_decoder_layers,
        dim_feedforward=config.dim_feedforward,
        dropout=config.dropout,
        pre_norm=config.pre_norm,
    )


def _clones(module: nn.Module, n: int) -> nn.ModuleList:
    # Deep copies of one layer, as the official code: every layer starts from the same biases
    # (matrices are re-drawn by Transformer._reset_parameters).
    return nn.ModuleList(copy.deepcopy(module) for _ in range(n))
