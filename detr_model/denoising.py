"""DN-DETR denoising queries: noised ground-truth labels and boxes as extra decoder queries.

Training only. Each of `groups` groups holds one query per ground-truth box of the image (padded
to the batch's largest box count): its content is the embedding of a (possibly flipped) label,
its position an embedding of a jittered box. The decoder reconstructs the clean label and box.
An attention mask keeps the object queries from seeing any denoising query (so the matching
part computes exactly what it computes without denoising) and the groups from seeing each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

_MIN_SIDE = 1e-3


def dn_attention_mask(
    groups: int, group_size: int, num_queries: int, device: torch.device | None = None
) -> Tensor:
    """Returns the (N+Q, N+Q) bool self-attention mask, True where query i may attend to key j.

    Queries are laid out as `groups` blocks of `group_size` denoising queries (N = groups x
    group_size), then the `num_queries` object queries. Object queries see only object queries;
    a denoising query sees its own group and the object queries.
    """
    return query_attention_mask(groups, group_size, num_queries, 1, device)


def query_attention_mask(
    dn_groups: int,
    dn_group_size: int,
    num_queries: int,
    query_groups: int,
    device: torch.device | None = None,
) -> Tensor:
    """Returns the self-attention mask (True = may attend) of denoising + grouped object queries.

    Layout: `dn_groups` blocks of `dn_group_size` denoising queries (N in all), then
    `query_groups` blocks of `num_queries` object queries (Group DETR). Each block sees only
    itself, except that denoising queries also see every object query.
    """
    n = dn_groups * dn_group_size
    total = n + num_queries * query_groups
    allowed = torch.zeros(total, total, dtype=torch.bool, device=device)
    for g in range(dn_groups):
        block = slice(g * dn_group_size, (g + 1) * dn_group_size)
        allowed[block, block] = True
        allowed[block, n:] = True
    for g in range(query_groups):
        block = slice(n + g * num_queries, n + (g + 1) * num_queries)
        allowed[block, block] = True
    return allowed


def sine_box_embedding(boxes: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """Returns (..., dim) sine/cosine features of (..., 4) boxes, dim // 4 per coordinate."""
    per = dim // 4
    freq = torch.arange(per, dtype=torch.float32, device=boxes.device)
    freq = temperature ** (2 * torch.div(freq, 2, rounding_mode="floor") / per)
    x = boxes.float()[..., None] * (2 * math.pi) / freq  # (..., 4, per)
    x = torch.stack((x[..., 0::2].sin(), x[..., 1::2].cos()), dim=-1).flatten(-2)
    return x.flatten(-2)


@dataclass
class DenoisingBatch:
    """The denoising queries of one batch and what they must reconstruct."""

    content: Tensor  # (B, N, d) label embeddings
    position: Tensor | None  # (B, N, d) embeddings of the noised boxes (None: left to anchors)
    noisy_boxes: Tensor  # (B, N, 4) the noised boxes, cx, cy, w, h
    attn_mask: Tensor  # (N+Q, N+Q) bool, True = may attend
    labels: Tensor  # (B, N) clean labels (num_classes on padding slots)
    boxes: Tensor  # (B, N, 4) clean cx, cy, w, h
    valid: Tensor  # (B, N) bool, False on padding slots
    groups: int
    group_size: int

    @property
    def num_queries(self) -> int:
        """Returns N, the number of denoising queries per image."""
        return self.groups * self.group_size


class DenoisingQueries(nn.Module):
    """Builds the denoising queries of a batch from its targets (label and box embeddings)."""

    def __init__(
        self,
        num_classes: int,
        hidden_dim: int,
        groups: int,
        label_noise: float,
        box_noise: float,
        *,
        embed_boxes: bool = True,
    ) -> None:
        super().__init__()
        if hidden_dim % 8:
            raise ValueError(f"DenoisingQueries: hidden_dim must divide by 8, got {hidden_dim}")
        self.num_classes = num_classes
        self.groups = groups
        self.label_noise = label_noise
        self.box_noise = box_noise
        self.hidden_dim = hidden_dim
        self.label_embed = nn.Embedding(num_classes + 1, hidden_dim)  # last row: padding
        self.box_embed = None  # query anchors embed the noised boxes themselves
        if embed_boxes:
            self.box_embed = nn.Sequential(
                nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim)
            )

    def forward(
        self, targets: Sequence[Mapping[str, Tensor]], num_queries: int
    ) -> DenoisingBatch | None:
        """Returns the noised queries for `targets` (None when the batch has no box)."""
        device = self.label_embed.weight.device
        sizes = [len(t["labels"]) for t in targets]
        size = max(sizes, default=0)
        if size == 0:
            return None
        bsz, groups = len(targets), self.groups
        labels = torch.full((bsz, size), self.num_classes, dtype=torch.int64, device=device)
        boxes = torch.zeros(bsz, size, 4, device=device)
        boxes[..., :2], boxes[..., 2:] = 0.5, 0.1  # padding slots: any valid box
        valid = torch.zeros(bsz, size, dtype=torch.bool, device=device)
        for i, (t, n) in enumerate(zip(targets, sizes, strict=True)):
            labels[i, :n] = t["labels"].to(device)
            boxes[i, :n] = t["boxes"].to(device).float()
            valid[i, :n] = True
        labels = labels.repeat(1, groups)  # (B, G*M): group-major
        boxes = boxes.repeat(1, groups, 1)
        valid = valid.repeat(1, groups)
        noisy_labels = labels.clone()
        if self.label_noise > 0:
            flip = (torch.rand(labels.shape, device=device) < self.label_noise) & valid
            random_labels = torch.randint(0, self.num_classes, labels.shape, device=device)
            noisy_labels = torch.where(flip, random_labels, labels)
        noisy_boxes = boxes
        if self.box_noise > 0:
            u = torch.rand(boxes.shape, device=device) * 2 - 1
            wh = boxes[..., 2:]
            centre = boxes[..., :2] + u[..., :2] * wh / 2 * self.box_noise
            sides = wh * (1 + u[..., 2:] * self.box_noise)
            noisy_boxes = torch.cat((centre.clamp(0, 1), sides.clamp(_MIN_SIDE, 1)), dim=-1)
        content = self.label_embed(noisy_labels)
        position = None
        if self.box_embed is not None:
            position = self.box_embed(sine_box_embedding(noisy_boxes, self.hidden_dim))
        mask = dn_attention_mask(groups, size, num_queries, device)
        return DenoisingBatch(
            content, position, noisy_boxes, mask, labels, boxes, valid, groups, size
        )
