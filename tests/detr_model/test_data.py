"""COCO dataset loading, the paired transforms and the padding collate."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest
import torch
from PIL import Image

from detr_model.data.coco import CocoDetection, DatasetError
from detr_model.data.transforms import (
    Compose,
    Normalize,
    RandomSizeCrop,
    ToTensor,
    collate_fn,
    crop,
    hflip,
    make_transforms,
    resize,
)


def _write_dataset(root: Path, annotations: list[dict], images: list[dict] | None = None) -> Path:
    images = images or [
        {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
        {"id": 2, "file_name": "b.png", "width": 20, "height": 20},
    ]
    for img in images:
        Image.new("RGB", (img["width"], img["height"]), (90, 120, 30)).save(root / img["file_name"])
    data = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
    }
    path = root / "ann.json"
    path.write_text(json.dumps(data))
    return path


def _ann(i: int, image_id: int, cat: int, bbox: list[float], **extra) -> dict:
    return {"id": i, "image_id": image_id, "category_id": cat, "bbox": bbox, **extra}


def test_targets_leave_out_crowds_clamp_boxes_and_drop_degenerate_ones(tmp_path, caplog) -> None:
    path = _write_dataset(
        tmp_path,
        [
            _ann(1, 1, 1, [5, 5, 10, 10]),
            _ann(2, 1, 3, [30, 20, 20, 20]),  # runs off the right/bottom edge: clamped
            _ann(3, 1, 1, [0, 0, 40, 30], iscrowd=1),  # crowd: left out
            _ann(4, 1, 3, [50, 5, 5, 5]),  # outside the image: degenerate after clamping
            _ann(5, 1, 3, [10, 10, 0, 4]),  # zero width
        ],
    )
    with caplog.at_level(logging.WARNING):
        ds = CocoDetection(tmp_path, path)
    assert ds.dropped_boxes == 2
    assert "dropped 2 degenerate" in caplog.text and "ann.json" in caplog.text
    image, target = ds[0]
    assert image.size == (40, 30)
    assert target["boxes"].tolist() == [[5, 5, 15, 15], [30, 20, 40, 30]]
    assert target["labels"].tolist() == [1, 3] and target["labels"].dtype == torch.int64
    assert target["image_id"].tolist() == [1]
    assert target["orig_size"].tolist() == [30, 40] == target["size"].tolist()


def test_images_without_annotations_are_kept_with_empty_targets(tmp_path) -> None:
    ds = CocoDetection(tmp_path, _write_dataset(tmp_path, [_ann(1, 1, 1, [5, 5, 10, 10])]))
    assert len(ds) == 2
    image, target = ds[1]
    assert target["boxes"].shape == (0, 4) and target["labels"].shape == (0,)
    image, target = make_transforms("val", scales=[32])(image, target)
    assert target["boxes"].shape == (0, 4)


def test_labels_are_category_ids_or_contiguous(tmp_path) -> None:
    path = _write_dataset(tmp_path, [_ann(1, 1, 3, [5, 5, 10, 10])])
    official = CocoDetection(tmp_path, path)
    assert official.num_classes == 4
    assert official.class_names == ["N/A", "cat", "N/A", "dog"]
    assert official[0][1]["labels"].tolist() == [3]
    contiguous = CocoDetection(tmp_path, path, labels="contiguous")
    assert contiguous.class_names == ["cat", "dog"]
    assert contiguous[0][1]["labels"].tolist() == [1]
    assert contiguous.label_to_category == {0: 1, 1: 3}


def test_exif_orientation_is_applied(tmp_path) -> None:
    # Stored 40 wide x 20 high with a red left half; EXIF 6 = display rotated 90° clockwise.
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "r.jpg", exif=exif, quality=95)
    path = _write_dataset(
        tmp_path,
        [_ann(1, 1, 1, [2, 2, 16, 16])],
        images=[{"id": 1, "file_name": "r.jpg", "width": 20, "height": 40}],
    )
    stored.save(tmp_path / "r.jpg", exif=exif, quality=95)  # _write_dataset overwrote it
    image, target = CocoDetection(tmp_path, path)[0]
    assert image.size == (20, 40)
    assert target["orig_size"].tolist() == [40, 20]
    r, _, b = image.getpixel((10, 5))  # the red half is now on top
    assert r > 200 and b < 60


def test_bad_files_give_errors_naming_the_file(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DatasetError, match="bad.json"):
        CocoDetection(tmp_path, bad)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetError, match="no 'annotations' list"):
        CocoDetection(tmp_path, bad)
    path = _write_dataset(tmp_path, [])
    (tmp_path / "b.png").unlink()
    ds = CocoDetection(tmp_path, path)
    with pytest.raises(DatasetError, match="b.png: file not found"):
        ds[1]
    with pytest.raises(DatasetError, match="image folder not found"):
        CocoDetection(tmp_path / "nowhere", path)


def _target(boxes: list[list[float]]) -> dict[str, torch.Tensor]:
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.arange(len(boxes)),
        "area": torch.ones(len(boxes)),
    }


def test_hflip_mirrors_boxes() -> None:
    image, target = hflip(Image.new("RGB", (100, 50)), _target([[10, 5, 30, 25]]))
    assert target["boxes"].tolist() == [[70, 5, 90, 25]]


def test_resize_scales_the_shorter_side_and_the_boxes() -> None:
    image, target = resize(Image.new("RGB", (100, 50)), _target([[10, 5, 30, 25]]), 100)
    assert image.size == (200, 100)
    assert target["boxes"].tolist() == [[20, 10, 60, 50]]
    assert target["size"].tolist() == [100, 200]
    image, _ = resize(Image.new("RGB", (100, 50)), _target([]), 100, max_size=150)
    assert image.size == (150, 75)


def test_crop_keeps_boxes_inside_and_drops_those_outside() -> None:
    target = _target([[10, 10, 30, 30], [60, 60, 80, 80]])
    image, out = crop(Image.new("RGB", (100, 100)), target, (20, 0, 30, 50))  # top, left, h, w
    assert image.size == (50, 30)
    assert out["boxes"].tolist() == [[10, 0, 30, 10]]
    assert out["labels"].tolist() == [0]
    random.seed(0)
    image, out = RandomSizeCrop(20, 40)(Image.new("RGB", (100, 60)), target)
    assert 20 <= image.width <= 40 and 20 <= image.height <= 40


def test_normalize_gives_normalised_cxcywh_boxes() -> None:
    t = Compose([ToTensor(), Normalize()])
    image, target = t(Image.new("RGB", (100, 50), (124, 116, 104)), _target([[10, 5, 30, 25]]))
    assert image.shape == (3, 50, 100)
    assert image.abs().max() < 0.05  # ImageNet mean colour maps to about 0
    assert target["boxes"][0].tolist() == pytest.approx([0.2, 0.3, 0.2, 0.4])


def test_train_transforms_use_the_given_scales_and_keep_boxes_valid() -> None:
    random.seed(1)
    t = make_transforms("train", scales=[48, 64], max_size=100, crop=(24, 48))
    for _ in range(20):
        image, target = t(Image.new("RGB", (80, 60)), _target([[10, 10, 50, 40], [60, 5, 75, 20]]))
        assert min(image.shape[-2:]) in (48, 64) or max(image.shape[-2:]) == 100
        boxes = target["boxes"]
        assert ((boxes >= 0) & (boxes <= 1)).all() and (boxes[:, 2:] > 0).all()
    image, _ = make_transforms("val", scales=[48, 64])(Image.new("RGB", (80, 60)), _target([]))
    assert image.shape[-2:] == (64, 85)


def test_collate_pads_into_a_nested_tensor_with_a_mask() -> None:
    batch = [(torch.ones(3, 4, 6), {"x": 1}), (torch.ones(3, 5, 3), {"x": 2})]
    images, targets = collate_fn(batch)
    assert images.tensors.shape == (2, 3, 5, 6)
    assert images.mask[0, 4].all() and not images.mask[0, :4, :].any()
    assert images.mask[1, :, 3:].all() and not images.mask[1, :, :3].any()
    assert [t["x"] for t in targets] == [1, 2]
