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
    assert ckpt.metrics["AP50"] > 0.5
    assert ckpt.train_config["eval_size"] > 0


def test_demo_model_finds_most_shapes_in_new_images(tmp_path) -> None:
    # Images like the demo project's (a seed neither the training nor the demo uses).
    ann = generate_shapes_dataset(tmp_path, 8, seed=2026, size=(256, 320))
    data = load_coco_json(ann)
    predictor = Predictor.from_checkpoint(DEMO_MODEL_PATH, device="cpu")
    found = total = 0
    for image in data["images"]:
        truth = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        [det] = predictor.predict([tmp_path / image["file_name"]], score_threshold=0.5)
        gt = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in truth)])
        names = {c["id"]: c["name"] for c in data["categories"]}
        total += len(truth)
        if len(det.boxes) == 0:
            continue
        iou = box_iou(gt, torch.from_numpy(det.boxes)).numpy()
        for row, a in zip(iou, truth, strict=True):
            same = np.array([n == names[a["category_id"]] for n in det.names])
            found += bool(((row >= 0.5) & same).any())
    assert found / total >= 0.7, f"found {found} of {total} shapes"
