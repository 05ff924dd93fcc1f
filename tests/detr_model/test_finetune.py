"""Class-head surgery: known classes keep their rows, ∅ is kept, new classes start fresh."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from detr_model.checkpoint import load_checkpoint, save_checkpoint
from detr_model.config import ModelConfig
from detr_model.detr import build_detr
from detr_model.finetune import adapt_class_head, adapt_queries, finetune_model


def _head(num_classes: int, dim: int = 8) -> dict[str, torch.Tensor]:
    return {
        "class_embed.weight": torch.arange((num_classes + 1) * dim, dtype=torch.float).view(
            -1, dim
        ),
        "class_embed.bias": torch.arange(num_classes + 1, dtype=torch.float) + 100,
        "other": torch.ones(3),
    }


def test_rows_of_classes_with_known_names_are_kept_and_others_reinitialised() -> None:
    old = ["N/A", "person", "bicycle", "car"]
    state = _head(len(old))
    new = ["Car", "giraffe", "person", "N/A"]
    out, surgery = adapt_class_head(state, old, new)
    w, b = out["class_embed.weight"], out["class_embed.bias"]
    assert w.shape == (5, 8) and b.shape == (5,)
    assert surgery.kept == {0: 3, 2: 1}
    assert surgery.new == ["giraffe"]
    assert torch.equal(w[0], state["class_embed.weight"][3])
    assert torch.equal(w[2], state["class_embed.weight"][1])
    assert torch.equal(w[-1], state["class_embed.weight"][-1])  # ∅ row
    assert b[-1] == state["class_embed.bias"][-1]
    assert w[1].abs().max() <= 1 / 8**0.5  # fresh row: nn.Linear's uniform bound
    assert out["other"] is state["other"]


def test_mismatched_old_names_are_refused() -> None:
    with pytest.raises(ValueError, match="3 classes but 2 old names"):
        adapt_class_head(_head(3), ["a", "b"], ["a"])


def test_queries_are_kept_up_to_the_new_count() -> None:
    state = {"query_embed.weight": torch.arange(12.0).view(4, 3)}
    more = adapt_queries(state, 6)["query_embed.weight"]
    assert more.shape == (6, 3) and torch.equal(more[:4], state["query_embed.weight"])
    fewer = adapt_queries(state, 2)["query_embed.weight"]
    assert torch.equal(fewer, state["query_embed.weight"][:2])


def test_finetune_model_loads_everything_but_the_new_class_rows(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = build_detr(ModelConfig.tiny(num_classes=3))
    path = save_checkpoint(tmp_path / "m.pt", source, class_names=["circle", "square", "triangle"])
    model, surgery = finetune_model(load_checkpoint(path), ["triangle", "star"], num_queries=15)
    assert model.config.num_classes == 2 and model.config.num_queries == 15
    assert surgery.kept == {0: 2} and surgery.new == ["star"]
    src, dst = source.state_dict(), model.state_dict()
    assert torch.equal(dst["class_embed.weight"][0], src["class_embed.weight"][2])
    assert torch.equal(dst["class_embed.weight"][-1], src["class_embed.weight"][-1])
    assert torch.equal(dst["query_embed.weight"][:12], src["query_embed.weight"])
    for key in ("bbox_embed.layers.2.weight", "transformer.decoder.norm.weight", "input_proj.bias"):
        assert torch.equal(dst[key], src[key])
    backbone_keys = [k for k in src if k.startswith("backbone.")]
    assert backbone_keys and all(torch.equal(dst[k], src[k]) for k in backbone_keys)
