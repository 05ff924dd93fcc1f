"""The bundled demo model: small, self-describing, and it finds the demo's shapes."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

from app.resource_paths import DEMO_MODEL_PATH
from detr_model.checkpoint import load_checkpoint
from detr_model.data import generate_shapes_dataset, load_coco_json
from detr_model.predictor import Predictor


def test_demo_model_is_bundled_small_and_carries_its_description() -> None:
    assert DEMO_MODEL_PATH.is_file()
    assert DEMO_MODEL_PATH.stat().st_size <= 20 * 2**20
    ckpt = load_checkpoint(DEMO_MODEL_PATH)
    assert ckpt.class_names[1:] == ["circle", "square", "triangle"]
    assert ckpt.metrics["AP50"] >= 0.9  # measured on 200 held-out images when it was made
    assert ckpt.train_config["eval_size"] > 0


def test_demo_model_finds_the_shapes_in_new_images_without_repeating_them(tmp_path) -> None:
    # Images like the demo project's (a seed neither the training nor the demo uses).
    ann = generate_shapes_dataset(tmp_path, 12, seed=2026, size=(256, 320))
    data = load_coco_json(ann)
    predictor = Predictor.from_checkpoint(DEMO_MODEL_PATH, device="cpu")
    names = {c["id"]: c["name"] for c in data["categories"]}
    found = total = extra = 0
    for image in data["images"]:
        truth = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        # As auto-annotate asks: repeated boxes of one object dropped (DUPLICATE_IOU).
        [det] = predictor.predict(
            [tmp_path / image["file_name"]], score_threshold=0.5, duplicate_iou=0.7
        )
        gt = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in truth)])
        total += len(truth)
        extra += max(0, len(det.boxes) - len(truth))
        if len(det.boxes) == 0:
            continue
        iou = box_iou(gt, torch.from_numpy(det.boxes)).numpy()
        for row, a in zip(iou, truth, strict=True):
            same = np.array([n == names[a["category_id"]] for n in det.names])
            found += bool(((row >= 0.5) & same).any())
    print(f"found {found} of {total} shapes, {extra} extra boxes")
    assert found / total >= 0.9, f"found {found} of {total} shapes"
    assert extra <= 0.35 * total, f"{extra} extra boxes for {total} shapes"
