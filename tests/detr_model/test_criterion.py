"""SetCriterion: loss values on hand-checked cases, empty targets, aux suffixes, fp32 losses."""

from __future__ import annotations

import math

import pytest
import torch

from detr_model.criterion import SetCriterion, with_aux_weights
from detr_model.matcher import HungarianMatcher

WEIGHTS = {"loss_ce": 1.0, "loss_bbox": 5.0, "loss_giou": 2.0}
LOSSES = ["labels", "boxes", "cardinality"]


def _criterion(num_classes: int = 2, eos_coef: float = 0.1, num_aux: int = 0) -> SetCriterion:
    return SetCriterion(
        num_classes,
        HungarianMatcher(),
        with_aux_weights(WEIGHTS, num_aux),
        eos_coef=eos_coef,
        losses=LOSSES,
    )


def _log_softmax(row: list[float]) -> list[float]:
    z = math.log(sum(math.exp(v) for v in row))
    return [v - z for v in row]


def test_losses_match_hand_computed_values() -> None:
    # Two classes + ∅; query 0 sits next to the target, query 1 is far away and predicts ∅.
    logits = [[2.0, 0.5, -1.0], [0.0, -1.0, 3.0]]
    outputs = {
        "pred_logits": torch.tensor([logits]),
        "pred_boxes": torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.1, 0.9, 0.1, 0.1]]]),
    }
    targets = [{"labels": torch.tensor([0]), "boxes": torch.tensor([[0.55, 0.5, 0.2, 0.2]])}]
    losses = _criterion(eos_coef=0.1)(outputs, targets)

    # CE weighted by class: matched query -> class 0 (weight 1), unmatched -> ∅ (weight 0.1).
    expected_ce = (-_log_softmax(logits[0])[0] - 0.1 * _log_softmax(logits[1])[2]) / 1.1
    assert losses["loss_ce"].item() == pytest.approx(expected_ce, rel=1e-6)
    # L1: |0.5 - 0.55| on cx only, over 1 box.
    assert losses["loss_bbox"].item() == pytest.approx(0.05, abs=1e-6)
    # Boxes [0.4, 0.4, 0.6, 0.6] and [0.45, 0.4, 0.65, 0.6]: IoU 0.03 / 0.05, hull = union.
    assert losses["loss_giou"].item() == pytest.approx(1 - 0.6, abs=1e-6)
    assert losses["class_error"].item() == pytest.approx(0.0)
    assert losses["cardinality_error"].item() == pytest.approx(0.0)


def test_giou_loss_is_above_one_for_disjoint_boxes() -> None:
    outputs = {
        "pred_logits": torch.tensor([[[0.0, 1.0, 0.0]]]),
        "pred_boxes": torch.tensor([[[0.2, 0.2, 0.2, 0.2]]]),
    }
    targets = [{"labels": torch.tensor([0]), "boxes": torch.tensor([[0.7, 0.2, 0.2, 0.2]])}]
    losses = _criterion()(outputs, targets)
    # [0.1, 0.1, 0.3, 0.3] vs [0.6, 0.1, 0.8, 0.3]: IoU 0, union 0.08, hull 0.7 * 0.2.
    assert losses["loss_giou"].item() == pytest.approx(1 + 0.06 / 0.14, abs=1e-6)
    assert losses["loss_bbox"].item() == pytest.approx(0.5, abs=1e-6)
    # Predicted class 1 for a class-0 target: top-1 wrong.
    assert losses["class_error"].item() == pytest.approx(100.0)


def test_box_losses_are_averaged_over_the_number_of_target_boxes() -> None:
    outputs = {
        "pred_logits": torch.zeros(2, 3, 3),
        "pred_boxes": torch.tensor([[[0.3, 0.3, 0.2, 0.2]] * 3, [[0.6, 0.6, 0.2, 0.2]] * 3]),
    }
    targets = [
        {"labels": torch.tensor([0]), "boxes": torch.tensor([[0.4, 0.3, 0.2, 0.2]])},
        {"labels": torch.tensor([1, 1]), "boxes": torch.tensor([[0.6, 0.7, 0.2, 0.2]] * 2)},
    ]
    losses = _criterion()(outputs, targets)
    assert losses["loss_bbox"].item() == pytest.approx((0.1 + 0.1 + 0.1) / 3, abs=1e-6)


def test_cardinality_error_counts_non_empty_predictions() -> None:
    # Image 0: 3 queries predict a class, 1 target -> error 2. Image 1: 0 predict, 2 targets -> 2.
    obj, none = [3.0, 0.0, 0.0], [0.0, 0.0, 3.0]
    outputs = {
        "pred_logits": torch.tensor([[obj, obj, obj], [none, none, none]]),
        "pred_boxes": torch.full((2, 3, 4), 0.3),
    }
    targets = [
        {"labels": torch.tensor([0]), "boxes": torch.tensor([[0.3] * 4])},
        {"labels": torch.tensor([0, 1]), "boxes": torch.tensor([[0.3] * 4, [0.5] * 4])},
    ]
    assert _criterion()(outputs, targets)["cardinality_error"].item() == pytest.approx(2.0)


def test_images_without_boxes_give_finite_losses_and_gradients() -> None:
    logits = torch.randn(2, 4, 3, requires_grad=True)
    boxes = torch.rand(2, 4, 4, requires_grad=True)
    empty = {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)}
    criterion = _criterion()
    losses = criterion({"pred_logits": logits, "pred_boxes": boxes}, [empty, empty])
    expected_ce = torch.nn.functional.cross_entropy(
        logits.detach().reshape(-1, 3), torch.full((8,), 2)
    )
    assert losses["loss_ce"].item() == pytest.approx(expected_ce.item(), rel=1e-6)
    assert losses["loss_bbox"].item() == 0.0 and losses["loss_giou"].item() == 0.0
    criterion.weighted_sum(losses).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_aux_outputs_get_numbered_suffixes_and_no_class_error() -> None:
    def out() -> dict[str, torch.Tensor]:
        return {"pred_logits": torch.randn(1, 4, 3), "pred_boxes": torch.rand(1, 4, 4)}

    outputs = {**out(), "aux_outputs": [out(), out()]}
    targets = [{"labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.3, 0.3]])}]
    losses = _criterion(num_aux=2)(outputs, targets)
    base = {"loss_ce", "loss_bbox", "loss_giou", "cardinality_error"}
    expected = base | {"class_error"} | {f"{k}_{i}" for k in base for i in range(2)}
    assert set(losses) == expected

    # Each aux output is matched and scored on its own: equal to the criterion on it alone.
    alone = _criterion()(outputs["aux_outputs"][1], targets)
    assert losses["loss_giou_1"].item() == pytest.approx(alone["loss_giou"].item())


def test_weighted_sum_uses_the_weight_dict() -> None:
    losses = {
        "loss_ce": torch.tensor(1.0),
        "loss_bbox": torch.tensor(2.0),
        "loss_giou": torch.tensor(3.0),
        "loss_ce_0": torch.tensor(4.0),
        "class_error": torch.tensor(50.0),
    }
    total = _criterion(num_aux=1).weighted_sum(losses)
    assert total.item() == pytest.approx(1 + 5 * 2 + 2 * 3 + 4)


def test_losses_are_fp32_under_bf16_autocast() -> None:
    outputs = {
        "pred_logits": torch.randn(1, 4, 3).bfloat16(),
        "pred_boxes": (torch.rand(1, 4, 4) * 0.5 + 0.25).bfloat16(),
    }
    targets = [{"labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.3, 0.3]])}]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        losses = _criterion()(outputs, targets)
    assert all(v.dtype == torch.float32 for v in losses.values())


def test_unknown_loss_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown loss 'masks'"):
        SetCriterion(2, HungarianMatcher(), WEIGHTS, eos_coef=0.1, losses=["labels", "masks"])
