"""The unseen-style generator: seeded to the byte, boxes tight around what is visible, COCO
like the own-style generator's, empty images, one-line errors, and the CLI's --style."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detr_model.cli import main
from detr_model.data import CocoDetection
from detr_model.data.synthetic import SHAPE_CATEGORIES, generate_shapes_dataset
from detr_model.data.unseen import generate_unseen_dataset, paint_scene, plan_scene


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    a = generate_unseen_dataset(tmp_path / "a", 6, seed=5, size=(64, 96))
    b = generate_unseen_dataset(tmp_path / "b", 6, seed=5, size=(64, 96))
    c = generate_unseen_dataset(tmp_path / "c", 6, seed=6, size=(64, 96))
    assert a.read_bytes() == b.read_bytes()
    assert _load(a)["annotations"] != _load(c)["annotations"]
    for img in _load(a)["images"]:
        name = img["file_name"]
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
        assert (a.parent / name).read_bytes() != (c.parent / name).read_bytes()


def test_boxes_lie_inside_their_images_and_scales_range_from_small_to_large(
    tmp_path: Path,
) -> None:
    path = generate_unseen_dataset(tmp_path, 60, seed=3, size=(128, 160))
    data = _load(path)
    sizes = {img["id"]: (img["width"], img["height"]) for img in data["images"]}
    assert all(128 <= w <= 160 and 128 <= h <= 160 for w, h in sizes.values())
    sides = []
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        width, height = sizes[ann["image_id"]]
        assert x >= 0 and y >= 0 and w >= 1 and h >= 1
        assert x + w <= width and y + h <= height
        assert 0 < ann["area"] <= w * h
        assert ann["iscrowd"] == 0
        sides.append(max(w, h))
    assert min(sides) < 16 and max(sides) > 60
    ids = [a["id"] for a in data["annotations"]]
    assert ids == list(range(1, len(ids) + 1))


def test_each_box_is_the_tight_box_of_the_pixels_its_object_changes() -> None:
    """Leaving one object out of the picture changes exactly the pixels it shows: their
    bounding box must be the annotated box (within 1 px where the object's colour happens to
    match what lies under it at an edge)."""
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(25):
        scene = plan_scene(rng, 96, 112, objects=(2, 5))
        with_all = np.asarray(paint_scene(scene, camera=False), np.int16)
        for index, obj in enumerate(scene.objects):
            without = np.asarray(paint_scene(scene, omit=index, camera=False), np.int16)
            ys, xs = np.nonzero(np.abs(with_all - without).sum(axis=-1) > 0)
            assert len(xs), f"object {index} of {obj} changes no pixel"
            x, y, w, h = obj.bbox
            found = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            # never outside the box, and reaching its edges
            assert x <= found[0] <= x + 1 and y <= found[1] <= y + 1, (obj.bbox, found)
            assert x + w - 1 <= found[2] <= x + w and y + h - 1 <= found[3] <= y + h, (
                obj.bbox,
                found,
            )
            assert len(xs) >= 0.9 * obj.area  # the area counts visible pixels
            checked += 1
    assert checked > 50


def test_hidden_objects_are_not_annotated_and_visible_ones_mostly_are() -> None:
    rng = np.random.default_rng(4)
    fractions = [
        obj.visible for _ in range(40) for obj in plan_scene(rng, 80, 80, objects=(3, 5)).objects
    ]
    assert min(fractions) >= 0.3
    assert sum(f < 0.95 for f in fractions) > 5  # some are cut by others or the frame


def test_some_images_are_empty(tmp_path: Path) -> None:
    data = _load(generate_unseen_dataset(tmp_path / "mixed", 40, seed=2, size=64))
    with_boxes = {a["image_id"] for a in data["annotations"]}
    assert 0 < len(with_boxes) < len(data["images"])
    none = _load(generate_unseen_dataset(tmp_path / "none", 3, seed=2, size=64, objects=(0, 0)))
    assert none["annotations"] == [] and len(none["images"]) == 3


def test_classes_are_named_and_numbered_like_the_own_style(tmp_path: Path) -> None:
    shapes = (*SHAPE_CATEGORIES, "cross")
    own = _load(generate_shapes_dataset(tmp_path / "own", 1, size=64, shapes=shapes))
    unseen = _load(generate_unseen_dataset(tmp_path / "unseen", 30, size=64, shapes=shapes))
    assert unseen["categories"] == own["categories"]
    assert {a["category_id"] for a in unseen["annotations"]} == {1, 2, 3, 4}
    assert set(unseen["images"][0]) == set(own["images"][0])
    assert set(unseen["annotations"][0]) <= set(own["annotations"][0])


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"shapes": ("circle", "hexagon")}, "hexagon"),
        ({"shapes": ("circle", "circle")}, "distinct"),
        ({"size": 16}, "size"),
        ({"objects": (3, 1)}, "objects"),
        ({"image_format": "gif"}, "gif"),
    ],
)
def test_bad_options_raise_a_clear_value_error(tmp_path: Path, options, words) -> None:
    with pytest.raises(ValueError, match=words) as caught:
        generate_unseen_dataset(tmp_path, 1, **options)
    assert str(caught.value).startswith("unseen:")


def test_the_cli_writes_an_unseen_style_dataset_with_the_asked_classes(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "set"
    argv = ["synth", "--style", "unseen", "--out", str(out), "--images", "5", "--size", "64",
            "80", "--seed", "9", "--shapes", "circle", "square", "triangle", "star"]  # fmt: skip
    assert main(argv) == 0
    assert "wrote 5 images" in capsys.readouterr().out
    dataset = CocoDetection(out, out / "annotations.json")
    assert dataset.class_names[1:] == ["circle", "square", "triangle", "star"]  # 0: no id
    assert len(dataset) == 5
    assert main([*argv[:3], "--out", str(tmp_path / "bad"), "--images", "1", "--shapes", "x"]) == 1
    assert "unseen: shapes must be" in capsys.readouterr().err


def test_the_cli_default_style_is_still_the_own_generator(tmp_path: Path) -> None:
    own = tmp_path / "own"
    assert main(["synth", "--out", str(own), "--images", "2", "--size", "64", "--seed", "1"]) == 0
    expected = generate_shapes_dataset(tmp_path / "direct", 2, seed=1, size=64)
    assert _load(own / "annotations.json")["annotations"] == _load(expected)["annotations"]
