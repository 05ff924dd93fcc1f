"""Learned query anchors (DAB-DETR style): each object query carries a reference box.

Option `ModelConfig.query_anchors` (never the official presets). The query position is an MLP of
the sine encoding of the reference box, and the box head predicts an offset added to the
box's logit, so each query looks near its own box from the first iteration on. Denoising
queries use their noised box as the reference in the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .denoising import sine_box_embedding

_EPS = 1e-5
INITIAL_SIDE = 0.3
"""Initial width and height of every anchor (relative to the image)."""


def inverse_sigmoid(x: Tensor) -> Tensor:
    """Returns log(x / (1 - x)) with x clamped away from 0 and 1."""
    x = x.clamp(_EPS, 1 - _EPS)
    return torch.log(x / (1 - x))


class QueryAnchors(nn.Module):
    """Reference boxes of the object queries and the MLP that turns boxes into query positions."""

    def __init__(self, num_queries: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.weight = nn.Parameter(torch.empty(num_queries, 4))  # box logits
        self.position_mlp = nn.Sequential(
            nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Spreads the anchor centres uniformly over the image, sides INITIAL_SIDE."""
        centres = torch.rand(self.weight.shape[0], 2) * 0.9 + 0.05
        self.weight[:, :2] = inverse_sigmoid(centres)
        self.weight[:, 2:] = inverse_sigmoid(torch.tensor(INITIAL_SIDE))

    def boxes(self) -> Tensor:
        """Returns the (Q, 4) reference boxes, cx, cy, w, h in [0, 1]."""
        return self.weight.sigmoid()

    def position(self, boxes: Tensor) -> Tensor:
        """Returns (..., d) query positions for (..., 4) boxes."""
        return self.position_mlp(sine_box_embedding(boxes, self.hidden_dim).to(boxes.dtype))
