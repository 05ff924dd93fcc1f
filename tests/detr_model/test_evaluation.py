"""COCO evaluation: perfect detections score AP 1.0, wrong ones less, per-class AP by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from detr_model.data.coco import CocoDetection, coco_api
from detr_model.data.synthetic import generate_shapes_dataset
from detr_model.data.transforms import collate_fn, make_transforms
from detr_model.evaluation import coco_metrics, evaluate


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return generate_shapes_dataset(tmp_path_factory.mktemp("shapes"), 6, seed=4, size=(48, 64))


def _perfect(data: dict) -> list[dict]:
    return [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 0.9,
        }
        for a in data["annotations"]
    ]


def test_perfect_detections_give_ap_one(shapes: Path) -> None:
    data = json.loads(shapes.read_text())
    metrics = coco_metrics(coco_api(data), _perfect(data))
    assert metrics["AP"] == pytest.approx(1.0)
    assert metrics["AP50"] == pytest.approx(1.0) and metrics["AP75"] == pytest.approx(1.0)
    used = {a["category_id"] for a in data["annotations"]}
    present = {c["name"] for c in data["categories"] if c["id"] in used}
    assert {k for k, v in metrics["per_class"].items() if v == pytest.approx(1.0)} == present


def test_wrong_classes_and_missing_boxes_lower_the_ap(shapes: Path) -> None:
    data = json.loads(shapes.read_text())
    dets = _perfect(data)
    for d in dets[::2]:
        d["category_id"] = d["category_id"] % 3 + 1
    metrics = coco_metrics(coco_api(data), dets)
    assert 0.0 < metrics["AP"] < 0.9
    assert coco_metrics(coco_api(data), [])["AP"] == 0.0


def test_pycocotools_prints_nothing(shapes: Path, capsys) -> None:
    data = json.loads(shapes.read_text())
    coco_metrics(coco_api(data), _perfect(data))
    assert capsys.readouterr().out == ""


class _ReplayModel(nn.Module):
    """Returns, batch after batch, outputs built from the ground truth of the loader's order."""

    def __init__(self, outputs: list[dict[str, torch.Tensor]]):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.outputs = outputs

    def forward(self, images):
        return self.outputs.pop(0)


def test_evaluate_runs_the_model_and_maps_boxes_back_to_original_pixels(shapes: Path) -> None:
    # Contiguous labels: the model's label k means category k + 1; eval resizes images to 96 px.
    dataset = CocoDetection(
        shapes.parent, shapes, make_transforms("val", scales=[96]), labels="contiguous"
    )
    loader = DataLoader(dataset, batch_size=3, collate_fn=collate_fn)
    outputs = []
    for _, targets in loader:
        q = max(len(t["labels"]) for t in targets) + 1
        logits = torch.full((len(targets), q, 4), -10.0)
        logits[:, :, 3] = 10.0  # ∅ everywhere...
        boxes = torch.full((len(targets), q, 4), 0.5)
        for b, t in enumerate(targets):  # ...except one query per ground-truth box
            n = len(t["labels"])
            logits[b, torch.arange(n), t["labels"]] = 10.0
            logits[b, :n, 3] = -10.0
            boxes[b, :n] = t["boxes"]
        outputs.append({"pred_logits": logits, "pred_boxes": boxes})
    metrics = evaluate(
        _ReplayModel(outputs), loader, dataset.coco(), label_to_category=dataset.label_to_category
    )
    assert metrics["AP"] > 0.95  # boxes went through resize and back: sub-pixel rounding only
    assert set(metrics["per_class"]) == {"circle", "square", "triangle"}


def test_evaluate_takes_a_dataset_and_uses_its_ground_truth(shapes: Path) -> None:
    dataset = CocoDetection(shapes.parent, shapes, make_transforms("val", scales=[64]))
    n = len(dataset)
    # Every query says "no object" with boxes in the middle: AP about 0.
    logits = torch.zeros(n, 3, 5)
    logits[..., 4] = 10.0
    outputs = [
        {"pred_logits": logits[i : i + 2], "pred_boxes": torch.full((2, 3, 4), 0.5)}
        for i in range(0, n, 2)
    ]
    metrics = evaluate(_ReplayModel(outputs), dataset, batch_size=2)
    assert metrics["AP"] < 0.01


def test_per_class_ap50_counts_a_loose_box_that_ap_does_not(shapes: Path) -> None:
    data = json.loads(shapes.read_text())
    detections = _perfect(data)
    first_class = detections[0]["category_id"]
    for det in detections:
        if det["category_id"] == first_class:  # IoU 0.6: a hit at 0.5, a miss from 0.65 on
            x, y, w, h = det["bbox"]
            det["bbox"] = [x, y, w / 0.6, h]
    metrics = coco_metrics(coco_api(data), detections)
    name = next(c["name"] for c in data["categories"] if c["id"] == first_class)
    assert metrics["per_class_ap50"][name] == pytest.approx(1.0)
    assert metrics["per_class"][name] < 0.5
