"""Hungarian matching of predicted boxes to ground-truth boxes (one-to-one, per image)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from torchvision.ops import box_convert, generalized_box_iou

# A finite stand-in for NaN/inf costs so that a diverged model still gets *a* matching and the
# loss itself (which stays NaN) reports the problem instead of scipy raising deep inside.
_LARGE_COST = 1e8

MatchIndices = list[tuple[Tensor, Tensor]]


class HungarianMatcher(nn.Module):
    """Assigns each target box to one query by minimising a weighted class + L1 + GIoU cost.

    The cost matrix of the whole batch is built in one pass (as facebookresearch/detr does), then
    one assignment problem per image is solved on the CPU with
    `scipy.optimize.linear_sum_assignment`. Costs are computed in fp32 even under autocast.
    """

    def __init__(self, cost_class: float = 1.0, cost_bbox: float = 5.0, cost_giou: float = 2.0):
        super().__init__()
        if cost_class == 0 and cost_bbox == 0 and cost_giou == 0:
            raise ValueError("HungarianMatcher: all matching costs are 0; at least one must be set")
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou

    def class_cost(self, logits: Tensor, tgt_ids: Tensor) -> Tensor:
        """Returns the (N, T) classification cost: minus the softmax probability of each target class.

        `logits` is (N, C+1) fp32. Subclasses may override this (e.g. a focal-loss cost).
        """
        prob = logits.softmax(-1)
        return -prob[:, tgt_ids]

    @torch.no_grad()
    def cost_matrix(
        self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]]
    ) -> Tensor:
        """Returns the (B, Q, T_total) matching cost for the batch, on the CPU, finite values."""
        logits = outputs["pred_logits"]
        bs, num_queries = logits.shape[:2]
        device_type = logits.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            out_logits = logits.flatten(0, 1).float()  # (B*Q, C+1)
            out_bbox = outputs["pred_boxes"].flatten(0, 1).float()  # (B*Q, 4)
            tgt_ids = torch.cat([t["labels"] for t in targets]).to(logits.device)  # (T,)
            tgt_bbox = torch.cat([t["boxes"] for t in targets]).to(logits.device).float()  # (T, 4)

            cost = self.cost_class * self.class_cost(out_logits, tgt_ids)
            if self.cost_bbox:
                cost = cost + self.cost_bbox * torch.cdist(out_bbox, tgt_bbox, p=1)
            if self.cost_giou:
                giou = generalized_box_iou(
                    box_convert(out_bbox, "cxcywh", "xyxy"), box_convert(tgt_bbox, "cxcywh", "xyxy")
                )
                cost = cost - self.cost_giou * giou
        cost = cost.view(bs, num_queries, -1).cpu()  # (B, Q, T)
        return torch.nan_to_num(cost, nan=_LARGE_COST, posinf=_LARGE_COST, neginf=-_LARGE_COST)

    @torch.no_grad()
    def forward(
        self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]]
    ) -> MatchIndices:
        """Returns, per image, (query indices, target indices) as int64 tensors of equal length.

        `outputs` holds `pred_logits` (B, Q, C+1) and `pred_boxes` (B, Q, 4) cx, cy, w, h in [0, 1];
        `targets` is a list of B dicts with `labels` (T_i,) int64 and `boxes` (T_i, 4) cx, cy, w, h.
        Each image gets min(Q, T_i) pairs, query indices in increasing order.
        """
        sizes = [len(t["boxes"]) for t in targets]
        if len(targets) != outputs["pred_logits"].shape[0]:
            raise ValueError(
                f"HungarianMatcher: {len(targets)} targets for a batch of "
                f"{outputs['pred_logits'].shape[0]} images"
            )
        empty = torch.empty(0, dtype=torch.int64)
        if sum(sizes) == 0:
            return [(empty, empty.clone()) for _ in sizes]
        cost = self.cost_matrix(outputs, targets)
        indices: MatchIndices = []
        for i, c in enumerate(cost.split(sizes, -1)):
            if sizes[i] == 0:
                indices.append((empty.clone(), empty.clone()))
                continue
            rows, cols = linear_sum_assignment(c[i].numpy())
            indices.append(
                (torch.as_tensor(rows, dtype=torch.int64), torch.as_tensor(cols, dtype=torch.int64))
            )
        return indices

    def extra_repr(self) -> str:
        return (
            f"cost_class={self.cost_class}, cost_bbox={self.cost_bbox}, cost_giou={self.cost_giou}"
        )
