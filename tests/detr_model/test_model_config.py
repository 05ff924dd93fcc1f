"""Tests for ModelConfig presets and serialisation."""

import dataclasses
import json

import pytest

from detr_model.config import ModelConfig


def test_defaults_are_the_paper_numbers():
    c = ModelConfig()
    assert (c.num_classes, c.backbone, c.dilation, c.position_embedding) == (
        91,
        "resnet50",
        False,
        "sine",
    )
    assert (c.hidden_dim, c.nheads, c.num_encoder_layers, c.num_decoder_layers) == (256, 8, 6, 6)
    assert (c.dim_feedforward, c.dropout, c.num_queries, c.pre_norm, c.aux_loss) == (
        2048,
        0.1,
        100,
        False,
        True,
    )


def test_presets_pick_backbone_and_dilation():
    assert ModelConfig.detr_r50() == ModelConfig()
    assert ModelConfig.detr_r101().backbone == "resnet101"
    assert ModelConfig.detr_r50_dc5().dilation and ModelConfig.detr_r50_dc5().backbone == "resnet50"
    assert ModelConfig.detr_r101_dc5().dilation
    assert ModelConfig.detr_r101_dc5().backbone == "resnet101"
    assert ModelConfig.detr_r50(num_classes=3).num_classes == 3
    tiny = ModelConfig.tiny(num_classes=5)
    assert tiny.backbone == "resnet18" and tiny.hidden_dim == 128 and tiny.num_classes == 5
    assert tiny.num_encoder_layers == 2 and tiny.num_decoder_layers == 2
    assert tiny.num_queries < 100


def test_config_round_trips_through_json():
    c = ModelConfig.tiny(num_classes=7).replace(pre_norm=True, position_embedding="learned")
    d = json.loads(json.dumps(c.to_dict()))
    assert ModelConfig.from_dict(d) == c


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().hidden_dim = 3  # type: ignore[misc]


def test_from_dict_names_unknown_and_badly_typed_fields():
    with pytest.raises(ValueError, match="hidden_size"):
        ModelConfig.from_dict({"hidden_size": 3})
    with pytest.raises(ValueError, match="num_queries"):
        ModelConfig.from_dict({"num_queries": "100"})
    with pytest.raises(ValueError, match="aux_loss"):
        ModelConfig.from_dict({"aux_loss": 1})
    with pytest.raises(ValueError, match="backbone"):
        ModelConfig.from_dict({"backbone": "vgg16"})
    with pytest.raises(ValueError, match="nheads"):
        ModelConfig(hidden_dim=100, nheads=8)
    assert ModelConfig.from_dict({"dropout": 0}).dropout == 0.0
