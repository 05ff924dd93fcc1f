"""Turn raw DETR outputs into per-image scores, labels and pixel boxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import box_convert


class PostProcess(nn.Module):
    """Softmax, drop "no object", best class per query, boxes to xyxy pixels (no threshold).

    `class_score="sigmoid"` (models trained with focal loss, ModelConfig.class_score) scores
    each class with its own sigmoid and ignores the "no object" slot instead.
    `ignore_labels` are class slots never reported (the "N/A" gaps of COCO ids): their
    probability is set to 0 before the best class is chosen. Empty, as by default, is the
    official behaviour.
    """

    def __init__(self, class_score: str = "softmax", ignore_labels: Sequence[int] = ()) -> None:
        super().__init__()
        if class_score not in ("softmax", "sigmoid"):
            raise ValueError(
                f"PostProcess: class_score must be softmax or sigmoid: {class_score!r}"
            )
        self.class_score = class_score
        self.ignore_labels = sorted({int(i) for i in ignore_labels})

    @torch.no_grad()
    def forward(
        self, outputs: Mapping[str, Any], target_sizes: Tensor | Sequence[Sequence[int]]
    ) -> list[dict[str, Tensor]]:
        """Return one {"scores", "labels", "boxes"} dict per image, all queries kept.

        target_sizes: (B, 2) as (h, w) of each image in pixels; boxes come back as
        (x0, y0, x1, y1) in those pixels.
        """
        logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
        sizes = torch.as_tensor(target_sizes, device=logits.device)
        if sizes.dim() != 2 or sizes.shape[1] != 2:
            raise ValueError(f"PostProcess: target_sizes must be (B, 2), got {tuple(sizes.shape)}")
        if sizes.shape[0] != logits.shape[0]:
            raise ValueError(
                f"PostProcess: {sizes.shape[0]} target sizes for a batch of {logits.shape[0]}"
            )
        if self.class_score == "sigmoid":
            prob = logits[..., :-1].sigmoid()
        else:
            prob = F.softmax(logits, dim=-1)[..., :-1]  # "no object" dropped
        if self.ignore_labels:
            prob = prob.index_fill(-1, torch.tensor(self.ignore_labels, device=prob.device), 0.0)
        scores, labels = prob.max(dim=-1)  # (B, Q)
        xyxy = box_convert(boxes, in_fmt="cxcywh", out_fmt="xyxy")  # (B, Q, 4) relative
        img_h, img_w = sizes.to(xyxy.dtype).unbind(1)
        scale = torch.stack((img_w, img_h, img_w, img_h), dim=1)  # (B, 4)
        xyxy = xyxy * scale[:, None, :]
        return [
            {"scores": s, "labels": lab, "boxes": b}
            for s, lab, b in zip(scores, labels, xyxy, strict=True)
        ]
