"""The state-dict layout equals the official facebookresearch/detr layout (committed lists)."""

import json
from pathlib import Path

import pytest
import torch

from detr_model.config import ModelConfig
from detr_model.detr import build_detr

FIXTURES = Path(__file__).parent / "fixtures"


def _layout(config: ModelConfig) -> dict[str, list[int]]:
    with torch.device("meta"):  # shapes only: no time spent on random initialisation
        model = build_detr(config)
    return {k: list(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize(
    ("fixture", "config"),
    [
        ("keys_detr_r50.json", ModelConfig.detr_r50()),
        ("keys_detr_r101.json", ModelConfig.detr_r101()),
        ("keys_detr_r50.json", ModelConfig.detr_r50_dc5()),
        ("keys_detr_r101.json", ModelConfig.detr_r101_dc5()),
    ],
)
def test_state_dict_keys_and_shapes_equal_the_official_layout(fixture, config):
    expected = json.loads((FIXTURES / fixture).read_text())
    ours = _layout(config)
    assert sorted(set(ours) - set(expected)) == []
    assert sorted(set(expected) - set(ours)) == []
    mismatched = {k: (ours[k], expected[k]) for k in expected if ours[k] != expected[k]}
    assert mismatched == {}


def test_official_layout_facts_hold():
    layout = json.loads((FIXTURES / "keys_detr_r50.json").read_text())
    assert len(layout) == 458
    assert not any(k.endswith("num_batches_tracked") for k in layout)
    assert not any(k.startswith("backbone.0.body.fc") for k in layout)
    assert "transformer.encoder.norm.weight" not in layout
    assert layout["transformer.decoder.norm.weight"] == [256]
    assert layout["class_embed.weight"] == [92, 256]
    assert layout["transformer.encoder.layers.0.self_attn.in_proj_weight"] == [768, 256]


def test_pre_norm_adds_the_encoder_final_norm_and_learned_encoding_adds_tables():
    pre = _layout(ModelConfig.tiny().replace(pre_norm=True))
    assert pre["transformer.encoder.norm.weight"] == [128]
    learned = _layout(ModelConfig.tiny().replace(position_embedding="learned"))
    assert learned["backbone.1.row_embed.weight"] == [50, 64]
    assert learned["backbone.1.col_embed.weight"] == [50, 64]
    assert not any(k.startswith("backbone.1.") for k in _layout(ModelConfig.tiny()))
