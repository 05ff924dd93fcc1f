"""Sigmoid focal classification for DETR (as Deformable DETR): the loss and its matching cost.

For models with `class_score="sigmoid"` (never the official presets). The class head keeps its
C+1 rows so the state-dict layout is unchanged; the last ("no object") row is unused: a query
is "no object" when every class probability is low.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import sigmoid_focal_loss

from detr_model.criterion import SetCriterion, _src_permutation_idx, _top1_accuracy
from detr_model.matcher import HungarianMatcher, MatchIndices

_EPS = 1e-8


class FocalHungarianMatcher(HungarianMatcher):
    """HungarianMatcher whose class cost is the focal-loss difference of matching a class."""

    def __init__(
        self,
        cost_class: float = 2.0,
        cost_bbox: float = 5.0,
        cost_giou: float = 2.0,
        *,
        alpha: float = 0.25,
        gamma: float = 2.0,
    ):
        super().__init__(cost_class, cost_bbox, cost_giou)
        self.alpha, self.gamma = alpha, gamma

    def class_cost(self, logits: Tensor, tgt_ids: Tensor) -> Tensor:
        """Returns the (N, T) cost: focal loss of the target class as positive minus as negative."""
        prob = logits[:, :-1].sigmoid()[:, tgt_ids]
        neg = (1 - self.alpha) * prob**self.gamma * -(1 - prob + _EPS).log()
        pos = self.alpha * (1 - prob) ** self.gamma * -(prob + _EPS).log()
        return pos - neg


class FocalSetCriterion(SetCriterion):
    """SetCriterion with `loss_ce` the sigmoid focal loss over the C classes (sum / num_boxes)."""

    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher,
        weight_dict: Mapping[str, float],
        eos_coef: float,
        losses: Iterable[str],
        *,
        alpha: float = 0.25,
        gamma: float = 2.0,
    ):
        super().__init__(num_classes, matcher, weight_dict, eos_coef, losses)
        self.alpha, self.gamma = alpha, gamma

    def loss_labels(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[Mapping[str, Tensor]],
        indices: MatchIndices,
        num_boxes: float,
        log: bool = True,
    ) -> dict[str, Tensor]:
        """Returns `loss_ce` (focal, unmatched queries target all-zero) and `class_error`."""
        logits = outputs["pred_logits"].float()[..., :-1]  # (B, Q, C)
        idx = _src_permutation_idx(indices)
        target_classes_o = torch.cat(
            [t["labels"][j] for t, (_, j) in zip(targets, indices, strict=True)]
        ).to(logits.device)
        onehot = torch.zeros_like(logits)
        onehot[idx[0], idx[1], target_classes_o] = 1.0
        loss = sigmoid_focal_loss(logits, onehot, self.alpha, self.gamma, reduction="sum")
        losses = {"loss_ce": loss / num_boxes}
        if log:
            losses["class_error"] = 100 - _top1_accuracy(logits[idx], target_classes_o)
        return losses

    @torch.no_grad()
    def loss_cardinality(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[Mapping[str, Tensor]],
        indices: MatchIndices,
        num_boxes: float,
    ) -> dict[str, Tensor]:
        """Returns `cardinality_error`: mean |#queries with a class probability > 0.5 - #targets|."""
        logits = outputs["pred_logits"][..., :-1]
        tgt_lengths = torch.as_tensor(
            [len(t["labels"]) for t in targets], device=logits.device, dtype=torch.float
        )
        card_pred = (logits.max(-1).values > 0).sum(1).float()
        return {"cardinality_error": F.l1_loss(card_pred, tgt_lengths)}

    def denoising_class_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Returns the summed focal loss of denoising queries (M, C+1) against their labels."""
        logits = logits[:, :-1]
        onehot = F.one_hot(labels, logits.shape[-1]).to(logits)
        return sigmoid_focal_loss(logits, onehot, self.alpha, self.gamma, reduction="sum")
