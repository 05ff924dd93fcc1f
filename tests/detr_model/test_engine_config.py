"""TrainConfig: paper defaults, JSON round trip, clear errors on bad fields."""

from __future__ import annotations

import json

import pytest

from detr_model.train_config import TrainConfig


def test_defaults_are_the_paper_recipe() -> None:
    c = TrainConfig()
    assert (c.lr, c.lr_backbone, c.weight_decay, c.clip_max_norm) == (1e-4, 1e-5, 1e-4, 0.1)
    assert (c.batch_size, c.eos_coef, c.epochs, c.lr_drop) == (2, 0.1, 300, 200)
    assert (c.set_cost_class, c.set_cost_bbox, c.set_cost_giou) == (1.0, 5.0, 2.0)
    assert (c.bbox_loss_coef, c.giou_loss_coef) == (5.0, 2.0)
    assert min(c.scales) == 480 and max(c.scales) == 800 and c.max_size == 1333


def test_a_config_survives_a_json_round_trip() -> None:
    c = TrainConfig.small_images(160, epochs=7, resume="x/last.pt")
    again = TrainConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c
    assert isinstance(again.scales, tuple) and isinstance(again.crop, tuple)


def test_small_images_scales_the_augmentation_sizes() -> None:
    c = TrainConfig.small_images(256)
    assert max(c.scales) == 256 and c.eval_size == 256
    assert c.crop is not None and c.crop[1] <= 256 and c.max_size < 1333


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lr": "fast"}, "lr must be a number"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"batch_size": 2.5}, "batch_size must be an int"),
        ({"amp": "fp8"}, "amp must be one of"),
        ({"crop": (300, 100)}, "crop must be"),
        ({"scales": ()}, "scales must be"),
    ],
)
def test_bad_values_are_refused_with_the_field_name(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['speed'\]"):
        TrainConfig.from_dict({"speed": 3})
