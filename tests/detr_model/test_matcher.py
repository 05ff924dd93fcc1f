"""HungarianMatcher: optimal one-to-one assignment, checked against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from detr_model.matcher import HungarianMatcher


def _random_boxes(n: int, gen: torch.Generator) -> torch.Tensor:
    centre = torch.rand(n, 2, generator=gen) * 0.6 + 0.2
    size = torch.rand(n, 2, generator=gen) * 0.3 + 0.05
    return torch.cat([centre, size], dim=1)


def _giou_np(a: np.ndarray, b: np.ndarray) -> float:
    """GIoU of two cx, cy, w, h boxes, written out by hand."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = a[2] * a[3] + b[2] * b[3] - inter
    hull = (max(ax1, bx1) - min(ax0, bx0)) * (max(ay1, by1) - min(ay0, by0))
    return inter / union - (hull - union) / hull


def _pair_cost(logits, boxes, label, box, weights=(1.0, 5.0, 2.0)) -> float:
    prob = np.exp(logits - logits.max())
    prob /= prob.sum()
    wc, wb, wg = weights
    return -wc * prob[label] + wb * np.abs(boxes - box).sum() - wg * _giou_np(boxes, box)


def _brute_force(logits, boxes, labels, tboxes) -> tuple[float, tuple[int, ...]]:
    q, t = len(logits), len(labels)
    cost = np.array(
        [
            [_pair_cost(logits[i], boxes[i], labels[j], tboxes[j]) for j in range(t)]
            for i in range(q)
        ]
    )
    best = min(
        itertools.permutations(range(q), t), key=lambda p: sum(cost[p[j], j] for j in range(t))
    )
    return sum(cost[best[j], j] for j in range(t)), best


@pytest.mark.parametrize("seed", range(6))
def test_matching_is_as_cheap_as_the_brute_force_optimum(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    batch, queries, classes = 2, 6, 4
    sizes = [1 + seed % 4, 3]
    logits = torch.randn(batch, queries, classes + 1, generator=gen) * 2
    boxes = _random_boxes(batch * queries, gen).view(batch, queries, 4)
    targets = [
        {"labels": torch.randint(0, classes, (n,), generator=gen), "boxes": _random_boxes(n, gen)}
        for n in sizes
    ]
    indices = HungarianMatcher()({"pred_logits": logits, "pred_boxes": boxes}, targets)

    for b, (rows, cols) in enumerate(indices):
        lg, bx = logits[b].double().numpy(), boxes[b].double().numpy()
        lb, tb = targets[b]["labels"].numpy(), targets[b]["boxes"].double().numpy()
        assert rows.dtype == cols.dtype == torch.int64
        assert sorted(cols.tolist()) == list(range(sizes[b]))
        got = sum(_pair_cost(lg[i], bx[i], lb[j], tb[j]) for i, j in zip(rows, cols, strict=True))
        best_cost, best = _brute_force(lg, bx, lb, tb)
        assert got == pytest.approx(best_cost, abs=1e-5)
        by_target = dict(zip(cols.tolist(), rows.tolist(), strict=True))
        assert tuple(by_target[j] for j in range(sizes[b])) == best


def test_matching_follows_the_cost_weights() -> None:
    # Query 0 has the right class but a far box; query 1 the wrong class but the exact box.
    logits = torch.tensor([[[5.0, -5.0, 0.0], [-5.0, 5.0, 0.0]]])
    boxes = torch.tensor([[[0.2, 0.2, 0.1, 0.1], [0.7, 0.7, 0.2, 0.2]]])
    targets = [{"labels": torch.tensor([0]), "boxes": torch.tensor([[0.7, 0.7, 0.2, 0.2]])}]
    outputs = {"pred_logits": logits, "pred_boxes": boxes}
    by_class = HungarianMatcher(cost_class=1, cost_bbox=0, cost_giou=0)(outputs, targets)
    by_box = HungarianMatcher(cost_class=1, cost_bbox=5, cost_giou=2)(outputs, targets)
    assert by_class[0][0].tolist() == [0]
    assert by_box[0][0].tolist() == [1]


def test_images_without_targets_get_empty_int64_indices() -> None:
    logits = torch.randn(3, 5, 3)
    boxes = torch.rand(3, 5, 4) * 0.5 + 0.25
    targets = [
        {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)},
        {"labels": torch.tensor([1, 0]), "boxes": torch.tensor([[0.5] * 4, [0.3] * 4])},
        {"labels": torch.zeros(0, dtype=torch.int64), "boxes": torch.zeros(0, 4)},
    ]
    indices = HungarianMatcher()({"pred_logits": logits, "pred_boxes": boxes}, targets)
    assert [len(r) for r, _ in indices] == [0, 2, 0]
    assert all(r.dtype == torch.int64 and c.dtype == torch.int64 for r, c in indices)

    no_targets = [targets[0], targets[0], targets[0]]
    indices = HungarianMatcher()({"pred_logits": logits, "pred_boxes": boxes}, no_targets)
    assert all(len(r) == 0 and r.dtype == torch.int64 for r, _ in indices)


def test_more_targets_than_queries_matches_every_query() -> None:
    logits = torch.randn(1, 2, 3)
    boxes = torch.rand(1, 2, 4) * 0.5 + 0.25
    targets = [{"labels": torch.tensor([0, 1, 1]), "boxes": torch.rand(3, 4) * 0.5 + 0.25}]
    rows, cols = HungarianMatcher()({"pred_logits": logits, "pred_boxes": boxes}, targets)[0]
    assert sorted(rows.tolist()) == [0, 1]
    assert len(set(cols.tolist())) == 2


def test_matching_under_bf16_autocast_uses_fp32_costs() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 8, 4, generator=gen).bfloat16()
    boxes = _random_boxes(16, gen).view(2, 8, 4).bfloat16()
    targets = [{"labels": torch.tensor([0, 2]), "boxes": _random_boxes(2, gen)}] * 2
    matcher = HungarianMatcher()
    outputs = {"pred_logits": logits, "pred_boxes": boxes}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cost = matcher.cost_matrix(outputs, targets)
        under_autocast = matcher(outputs, targets)
    assert cost.dtype == torch.float32
    as_fp32 = matcher({"pred_logits": logits.float(), "pred_boxes": boxes.float()}, targets)
    for (r1, c1), (r2, c2) in zip(under_autocast, as_fp32, strict=True):
        assert r1.tolist() == r2.tolist() and c1.tolist() == c2.tolist()


def test_non_finite_predictions_still_get_a_matching() -> None:
    logits = torch.full((1, 3, 3), float("nan"))
    boxes = torch.rand(1, 3, 4)
    targets = [{"labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.2]])}]
    rows, cols = HungarianMatcher()({"pred_logits": logits, "pred_boxes": boxes}, targets)[0]
    assert len(rows) == 1 and cols.tolist() == [0]


def test_all_zero_costs_are_refused() -> None:
    with pytest.raises(ValueError, match="all matching costs are 0"):
        HungarianMatcher(cost_class=0, cost_bbox=0, cost_giou=0)
