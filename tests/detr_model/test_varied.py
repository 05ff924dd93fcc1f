"""The varied training style: seeded, valid COCO, boxes on the drawn objects."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from detr_model.cli import main as cli
from detr_model.data.synthetic import SHAPE_CATEGORIES
from detr_model.data.varied import generate_varied_dataset, render_varied_image


def test_the_same_seed_gives_the_same_images_and_boxes(tmp_path) -> None:
    a = json.loads(generate_varied_dataset(tmp_path / "a", 6, seed=5, size=(96, 128)).read_text())
    b = json.loads(generate_varied_dataset(tmp_path / "b", 6, seed=5, size=(96, 128)).read_text())
    assert a["annotations"] == b["annotations"] and a["images"] == b["images"]
    for image in a["images"]:
        assert (tmp_path / "a" / image["file_name"]).read_bytes() == (
            tmp_path / "b" / image["file_name"]
        ).read_bytes()
    c = json.loads(generate_varied_dataset(tmp_path / "c", 6, seed=6, size=(96, 128)).read_text())
    assert c["annotations"] != a["annotations"]


def test_boxes_lie_in_the_image_and_hold_the_drawn_object() -> None:
    rng = np.random.default_rng(0)
    counts = []
    for _ in range(40):
        image, shapes = render_varied_image(rng, 140, 120)
        counts.append(len(shapes))
        assert image.size == (140, 120)
        for shape in shapes:
            x, y, w, h = shape.bbox
            assert x >= 0 and y >= 0 and x + w <= 140 and y + h <= 120
            assert min(w, h) >= 6 and 1 <= shape.category_id <= len(SHAPE_CATEGORIES)
            xs, ys = shape.polygon[0::2], shape.polygon[1::2]
            # The box is the polygon's, cut by the image edge.
            assert x == pytest.approx(max(0.0, min(xs))) and y == pytest.approx(max(0.0, min(ys)))
            assert x + w == pytest.approx(min(140.0, max(xs)))
    assert 0 in counts and max(counts) >= 4  # empty images too


def test_render_draws_nothing_on_request_but_background() -> None:
    image, shapes = render_varied_image(np.random.default_rng(3), 64, 64, objects=(0, 0))
    assert shapes == [] and isinstance(image, Image.Image)


def test_synth_cli_writes_the_varied_style(tmp_path, capsys) -> None:
    code = cli(
        ["synth", "--style", "varied", "--out", str(tmp_path), "--images", "3", "--seed", "1"]
    )
    assert code == 0 and "wrote 3 images" in capsys.readouterr().out
    data = json.loads((tmp_path / "annotations.json").read_text())
    assert [c["name"] for c in data["categories"]] == list(SHAPE_CATEGORIES)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="shapes"):
        generate_varied_dataset("/tmp/never", 1, shapes=("hexagon",))
    with pytest.raises(ValueError, match="objects"):
        generate_varied_dataset("/tmp/never", 1, objects=(3, 1))
