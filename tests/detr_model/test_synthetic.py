"""The synthetic shapes generator: seeded, valid COCO, objects visible and not fully hidden."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from detr_model.data.synthetic import generate_shapes_dataset, render_background


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_same_seed_gives_the_same_dataset(tmp_path: Path) -> None:
    a = generate_shapes_dataset(tmp_path / "a", 5, seed=7, size=64)
    b = generate_shapes_dataset(tmp_path / "b", 5, seed=7, size=64)
    c = generate_shapes_dataset(tmp_path / "c", 5, seed=8, size=64)
    assert _load(a)["annotations"] == _load(b)["annotations"]
    assert _load(a)["annotations"] != _load(c)["annotations"]
    first = _load(a)["images"][0]["file_name"]
    assert (a.parent / first).read_bytes() == (b.parent / first).read_bytes()


def test_the_json_is_complete_coco_that_pycocotools_loads(tmp_path: Path) -> None:
    path = generate_shapes_dataset(tmp_path, 12, seed=1, size=96)
    data = _load(path)
    assert {"info", "licenses", "images", "annotations", "categories"} <= set(data)
    assert [(c["id"], c["name"]) for c in data["categories"]] == [
        (1, "circle"),
        (2, "square"),
        (3, "triangle"),
    ]
    ids = [a["id"] for a in data["annotations"]]
    assert ids == list(range(1, len(ids) + 1))
    assert {a["iscrowd"] for a in data["annotations"]} == {0}
    assert all(a["area"] > 0 for a in data["annotations"])
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    assert len(coco.getImgIds()) == 12
    assert len(coco.getAnnIds()) == len(ids)
    for img in data["images"]:
        assert (tmp_path / img["file_name"]).is_file()


def test_boxes_lie_inside_images_and_objects_are_never_mostly_hidden(tmp_path: Path) -> None:
    path = generate_shapes_dataset(tmp_path, 30, seed=2, size=(64, 128), objects=(2, 5))
    data = _load(path)
    sizes = {img["id"]: (img["width"], img["height"]) for img in data["images"]}
    assert all(64 <= w <= 128 and 64 <= h <= 128 for w, h in sizes.values())
    assert len({s for s in sizes.values()}) > 1
    by_image: dict[int, list[list[float]]] = {}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        iw, ih = sizes[ann["image_id"]]
        assert x >= 0 and y >= 0 and x + w <= iw and y + h <= ih and w >= 8 and h >= 8
        by_image.setdefault(ann["image_id"], []).append(ann["bbox"])
    for boxes in by_image.values():
        assert 1 <= len(boxes) <= 5
        for i, (x0, y0, w0, h0) in enumerate(boxes):
            for x1, y1, w1, h1 in boxes[i + 1 :]:
                iw = max(0.0, min(x0 + w0, x1 + w1) - max(x0, x1))
                ih = max(0.0, min(y0 + h0, y1 + h1) - max(y0, y1))
                assert iw * ih <= 0.35 * min(w0 * h0, w1 * h1) + 1e-6


def test_shapes_are_drawn_where_their_boxes_say(tmp_path: Path) -> None:
    path = generate_shapes_dataset(
        tmp_path, 6, seed=3, size=128, objects=(1, 1), image_format="png"
    )
    data = _load(path)
    for ann in data["annotations"]:
        img = next(i for i in data["images"] if i["id"] == ann["image_id"])
        pixels = np.asarray(Image.open(tmp_path / img["file_name"]).convert("RGB"), dtype=float)
        x, y, w, h = (int(v) for v in ann["bbox"])
        # Centre-bottom of each shape kind is inside the shape: a flat colour there.
        patch = pixels[y + h * 3 // 5 : y + h * 4 // 5, x + w * 2 // 5 : x + w * 3 // 5]
        assert patch.std(axis=(0, 1)).max() < 1.0


@pytest.mark.parametrize("kind", ["noise", "gradient", "stripes"])
def test_backgrounds_are_textured(kind: str) -> None:
    bg = render_background(np.random.default_rng(0), 48, 32, kind)
    assert bg.shape == (32, 48, 3)
    assert bg.std() > 3.0 and bg.min() >= 0 and bg.max() <= 255


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="image size"):
        generate_shapes_dataset(tmp_path, 1, size=(100, 50))
    with pytest.raises(ValueError, match="format"):
        generate_shapes_dataset(tmp_path, 1, image_format="gif")
