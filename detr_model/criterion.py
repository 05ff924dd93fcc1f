"""DETR's set loss: Hungarian matching, then class (CE with a weighted ∅), L1 and GIoU losses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import box_convert, generalized_box_iou_loss

from detr_model.matcher import HungarianMatcher, MatchIndices

LossFn = Callable[..., dict[str, Tensor]]

# torchvision's default eps (1e-7) shifts the GIoU of small normalised boxes by ~1e-3; this one
# only guards 0/0 and keeps the values equal to the official (eps-free) GIoU.
_GIOU_EPS = 1e-12


def with_aux_weights(weight_dict: Mapping[str, float], num_aux: int) -> dict[str, float]:
    """Returns `weight_dict` plus a copy of each entry with suffix `_0` .. `_{num_aux-1}`."""
    out = dict(weight_dict)
    for i in range(num_aux):
        out.update({f"{k}_{i}": v for k, v in weight_dict.items()})
    return out


def _num_boxes(targets: Sequence[Mapping[str, Tensor]], device: torch.device) -> float:
    """Returns the number of target boxes per process (averaged over DDP ranks), at least 1."""
    num = torch.as_tensor(
        [float(sum(len(t["labels"]) for t in targets))], dtype=torch.float, device=device
    )
    world = 1
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(num)
        world = dist.get_world_size()
    return torch.clamp(num / world, min=1).item()


def _src_permutation_idx(indices: MatchIndices) -> tuple[Tensor, Tensor]:
    """Returns (batch index, query index) of every matched prediction."""
    batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
    src_idx = torch.cat([src for src, _ in indices])
    return batch_idx, src_idx


class SetCriterion(nn.Module):
    """Returns DETR's dict of named losses for model outputs and targets (facebookresearch/detr API).

    `losses` names the terms to compute: "labels" (`loss_ce`, `class_error`), "boxes"
    (`loss_bbox`, `loss_giou`), "cardinality" (`cardinality_error`). Auxiliary decoder outputs
    get the same terms with suffix `_i` (except `class_error`, logged for the last layer only).
    The returned dict is unweighted; `weighted_sum` applies `weight_dict`.
    """

    def __init__(
        self,
        num_classes: int,
        matcher: HungarianMatcher,
        weight_dict: Mapping[str, float],
        eos_coef: float,
        losses: Iterable[str],
    ):
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = dict(weight_dict)
        self.eos_coef = eos_coef
        self.losses = list(losses)
        unknown = [name for name in self.losses if name not in self.loss_functions()]
        if unknown:
            raise ValueError(
                f"SetCriterion: unknown loss {unknown[0]!r}; "
                f"choose from {sorted(self.loss_functions())}"
            )
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight)

    def loss_functions(self) -> dict[str, LossFn]:
        """Returns the loss terms this criterion knows, by name (subclasses may add more)."""
        return {
            "labels": self.loss_labels,
            "cardinality": self.loss_cardinality,
            "boxes": self.loss_boxes,
        }

    def loss_labels(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[Mapping[str, Tensor]],
        indices: MatchIndices,
        num_boxes: float,
        log: bool = True,
    ) -> dict[str, Tensor]:
        """Returns `loss_ce` (unmatched queries target ∅, weighted by eos_coef) and `class_error`."""
        src_logits = outputs["pred_logits"].float()  # (B, Q, C+1)
        idx = _src_permutation_idx(indices)
        target_classes_o = torch.cat(
            [t["labels"][j] for t, (_, j) in zip(targets, indices, strict=True)]
        ).to(src_logits.device)
        target_classes = torch.full(
            src_logits.shape[:2], self.num_classes, dtype=torch.int64, device=src_logits.device
        )
        target_classes[idx] = target_classes_o
        loss_ce = F.cross_entropy(src_logits.transpose(1, 2), target_classes, self.empty_weight)
        losses = {"loss_ce": loss_ce}
        if log:
            losses["class_error"] = 100 - _top1_accuracy(src_logits[idx], target_classes_o)
        return losses

    @torch.no_grad()
    def loss_cardinality(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[Mapping[str, Tensor]],
        indices: MatchIndices,
        num_boxes: float,
    ) -> dict[str, Tensor]:
        """Returns `cardinality_error`: mean |#non-∅ predictions - #targets| (logging only)."""
        logits = outputs["pred_logits"]
        tgt_lengths = torch.as_tensor(
            [len(t["labels"]) for t in targets], device=logits.device, dtype=torch.float
        )
        card_pred = (logits.argmax(-1) != logits.shape[-1] - 1).sum(1).float()
        return {"cardinality_error": F.l1_loss(card_pred, tgt_lengths)}

    def loss_boxes(
        self,
        outputs: Mapping[str, Tensor],
        targets: Sequence[Mapping[str, Tensor]],
        indices: MatchIndices,
        num_boxes: float,
    ) -> dict[str, Tensor]:
        """Returns `loss_bbox` (L1 on cx, cy, w, h) and `loss_giou`, summed over matches / num_boxes."""
        idx = _src_permutation_idx(indices)
        src_boxes = outputs["pred_boxes"][idx].float()  # (M, 4)
        target_boxes = torch.cat(
            [t["boxes"][j] for t, (_, j) in zip(targets, indices, strict=True)], dim=0
        ).to(src_boxes)
        loss_bbox = F.l1_loss(src_boxes, target_boxes, reduction="none")
        loss_giou = generalized_box_iou_loss(
            box_convert(src_boxes, "cxcywh", "xyxy"),
            box_convert(target_boxes, "cxcywh", "xyxy"),
            eps=_GIOU_EPS,
        )
        return {"loss_bbox": loss_bbox.sum() / num_boxes, "loss_giou": loss_giou.sum() / num_boxes}

    def get_loss(
        self,
        loss: str,
        outputs: Mapping[str, Tensor],
        targets: Sequence[Mapping[str, Tensor]],
        indices: MatchIndices,
        num_boxes: float,
        **kwargs: bool,
    ) -> dict[str, Tensor]:
        """Returns the terms of one named loss."""
        functions = self.loss_functions()
        if loss not in functions:
            raise ValueError(
                f"SetCriterion: unknown loss {loss!r}; choose from {sorted(functions)}"
            )
        return functions[loss](outputs, targets, indices, num_boxes, **kwargs)

    def forward(
        self, outputs: Mapping[str, Tensor], targets: Sequence[Mapping[str, Tensor]]
    ) -> dict[str, Tensor]:
        """Returns the unweighted losses of the last decoder layer and of every auxiliary output."""
        device = outputs["pred_logits"].device
        with torch.autocast(device_type=device.type, enabled=False):
            main = {k: v for k, v in outputs.items() if k != "aux_outputs"}
            indices = self.matcher(main, targets)
            num_boxes = _num_boxes(targets, device)
            losses: dict[str, Tensor] = {}
            for loss in self.losses:
                losses.update(self.get_loss(loss, main, targets, indices, num_boxes))
            for i, aux in enumerate(outputs.get("aux_outputs") or []):
                aux_indices = self.matcher(aux, targets)
                for loss in self.losses:
                    kwargs = {"log": False} if loss == "labels" else {}
                    terms = self.get_loss(loss, aux, targets, aux_indices, num_boxes, **kwargs)
                    losses.update({f"{k}_{i}": v for k, v in terms.items()})
            dn_outputs = outputs.get("dn_outputs")
            if dn_outputs is not None:
                losses.update(self.loss_denoising(dn_outputs, num_boxes))
            group_outputs = outputs.get("group_outputs")
            if group_outputs is not None:
                losses.update(self.loss_groups(group_outputs, targets))
        return losses

    def loss_groups(
        self, group_outputs: Mapping[str, Any], targets: Sequence[Mapping[str, Tensor]]
    ) -> dict[str, Tensor]:
        """Returns `loss_ce_grp`, `loss_bbox_grp`, `loss_giou_grp` (and `_i_grp` per auxiliary
        layer): the set loss of the extra query groups, each matched on its own (Group DETR)."""
        repeated = list(targets) * int(group_outputs["groups"])
        inner = {k: group_outputs[k] for k in ("pred_logits", "pred_boxes", "aux_outputs")}
        if inner["aux_outputs"] is None:
            del inner["aux_outputs"]
        num_boxes = _num_boxes(repeated, group_outputs["pred_logits"].device)
        layers = [
            ("", inner),
            *((f"_{i}", a) for i, a in enumerate(inner.get("aux_outputs") or [])),
        ]
        losses: dict[str, Tensor] = {}
        for suffix, out in layers:
            out = {"pred_logits": out["pred_logits"], "pred_boxes": out["pred_boxes"]}
            indices = self.matcher(out, repeated)
            for loss in ("labels", "boxes"):
                kwargs = {"log": False} if loss == "labels" else {}
                terms = self.get_loss(loss, out, repeated, indices, num_boxes, **kwargs)
                losses.update({f"{k}{suffix}_grp": v for k, v in terms.items()})
        return losses

    def loss_denoising(self, dn_outputs: Mapping[str, Any], num_boxes: float) -> dict[str, Tensor]:
        """Returns `loss_ce_dn`, `loss_bbox_dn`, `loss_giou_dn` (and `_i` per auxiliary layer).

        Denoising queries reconstruct the clean label and box of the target they were made
        from (no matching); sums are divided by num_boxes x groups.
        """
        batch = dn_outputs["batch"]
        valid = batch.valid
        norm = num_boxes * batch.groups
        target_boxes = batch.boxes[valid]
        layers = [
            ("", dn_outputs),
            *((f"_{i}", a) for i, a in enumerate(dn_outputs.get("aux_outputs") or [])),
        ]
        losses: dict[str, Tensor] = {}
        for suffix, out in layers:
            logits = out["pred_logits"].float()[valid]  # (M, C+1)
            boxes = out["pred_boxes"].float()[valid]  # (M, 4)
            loss_ce = self.denoising_class_loss(logits, batch.labels[valid]) / norm
            loss_bbox = F.l1_loss(boxes, target_boxes, reduction="sum") / norm
            loss_giou = (
                generalized_box_iou_loss(
                    box_convert(boxes, "cxcywh", "xyxy"),
                    box_convert(target_boxes, "cxcywh", "xyxy"),
                    reduction="sum",
                    eps=_GIOU_EPS,
                )
                / norm
            )
            losses.update(
                {
                    f"loss_ce_dn{suffix}": loss_ce,
                    f"loss_bbox_dn{suffix}": loss_bbox,
                    f"loss_giou_dn{suffix}": loss_giou,
                }
            )
        return losses

    def denoising_class_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Returns the summed cross-entropy of denoising queries (M, C+1) against their labels."""
        return F.cross_entropy(logits, labels, reduction="sum")

    def weighted_sum(self, losses: Mapping[str, Tensor]) -> Tensor:
        """Returns sum(weight_dict[k] * losses[k]) over the terms that have a weight."""
        terms = [losses[k] * w for k, w in self.weight_dict.items() if k in losses]
        if not terms:
            raise ValueError("SetCriterion: no loss in the output has a weight in weight_dict")
        return torch.stack(terms).sum()


def _top1_accuracy(logits: Tensor, target: Tensor) -> Tensor:
    """Returns the top-1 accuracy in percent (0 when there are no targets, as the official code)."""
    if target.numel() == 0:
        return torch.zeros((), device=logits.device)
    correct = (logits.argmax(-1) == target).float().sum()
    return correct * (100.0 / target.numel())
