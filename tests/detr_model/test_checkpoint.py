"""Checkpoints: own-format round trip, official-format files, and errors that name the problem."""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import detr_model.checkpoint as checkpoint_module
from detr_model.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from detr_model.coco_classes import COCO_CLASSES
from detr_model.config import ModelConfig
from detr_model.detr import DETR, build_detr

NAMES = ["cat", "dog", "bird", "fish", "frog"]


def _tiny(num_classes: int = 5, **changes: object) -> DETR:
    torch.manual_seed(0)
    config = ModelConfig.tiny(num_classes=num_classes).replace(**changes)
    return build_detr(config).eval()


def _outputs(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    images = [torch.randn(3, 64, 80), torch.randn(3, 72, 56)]
    with torch.inference_mode():
        out = model(images)
    return out["pred_logits"], out["pred_boxes"]


def test_own_format_round_trip_gives_identical_outputs_and_metadata(tmp_path: Path) -> None:
    model = _tiny()
    path = save_checkpoint(
        tmp_path / "run" / "model.pth",
        model,
        class_names=NAMES,
        metrics={"AP": 0.25, "per_class": [0.1, 0.2]},
        train_config={"epochs": 3, "lr": 1e-4},
        extra={"note": "hello"},
    )
    ckpt = load_checkpoint(path)
    assert ckpt.source == "own"
    assert ckpt.config == model.config
    assert ckpt.class_names == NAMES
    assert ckpt.metrics == {"AP": 0.25, "per_class": [0.1, 0.2]}
    assert ckpt.train_config == {"epochs": 3, "lr": 1e-4}
    assert ckpt.extra == {"note": "hello"}
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "detr-studio"
    assert raw["format_version"] == FORMAT_VERSION
    loaded = ckpt.build_model()
    for ours, theirs in zip(_outputs(model), _outputs(loaded), strict=True):
        assert torch.equal(ours, theirs)


def test_numpy_metrics_are_stored_as_plain_numbers(tmp_path: Path) -> None:
    path = save_checkpoint(
        tmp_path / "m.pth", _tiny(), class_names=NAMES, metrics={"AP": np.float64(0.5)}
    )
    metric = load_checkpoint(path).metrics["AP"]
    assert metric == 0.5
    assert type(metric) is float


def test_training_state_in_extra_round_trips_with_its_types(tmp_path: Path) -> None:
    model = _tiny()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4])
    extra = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "ema": {"queries": torch.arange(4.0)},
        "epoch": 1,
    }
    path = save_checkpoint(tmp_path / "last.pt", model, class_names=NAMES, extra=extra)
    loaded = load_checkpoint(path).extra
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert type(loaded["scheduler"]["milestones"]) is type(scheduler.state_dict()["milestones"])
    assert torch.equal(loaded["ema"]["queries"], torch.arange(4.0))
    fresh = torch.optim.AdamW(params, lr=5.0)
    fresh.load_state_dict(loaded["optimizer"])
    assert fresh.param_groups[0]["lr"] == 1e-4


def test_unstorable_objects_are_refused_with_their_place(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"m.pth: extra.when: date cannot be stored"):
        save_checkpoint(
            tmp_path / "m.pth", _tiny(), class_names=NAMES, extra={"when": datetime.date.today()}
        )
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_class_name_count_that_does_not_fit_the_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="4 class names for a model with 5 class slots"):
        save_checkpoint(tmp_path / "m.pth", _tiny(), class_names=NAMES[:4])
    assert list(tmp_path.iterdir()) == []


def test_official_format_loads_strict_and_infers_the_config(tmp_path: Path) -> None:
    model = _tiny(num_classes=91)
    path = tmp_path / "official.pth"
    torch.save({"model": model.state_dict()}, path)
    ckpt = load_checkpoint(path)
    assert ckpt.source == "official"
    assert ckpt.config == model.config
    assert ckpt.class_names == list(COCO_CLASSES)
    loaded = ckpt.build_model()
    for ours, theirs in zip(_outputs(model), _outputs(loaded), strict=True):
        assert torch.equal(ours, theirs)


def test_official_training_checkpoint_with_args_namespace_loads(tmp_path: Path) -> None:
    model = _tiny(num_classes=7, nheads=4, aux_loss=False)
    path = tmp_path / "checkpoint.pth"
    args = argparse.Namespace(nheads=4, dilation=False, aux_loss=False, lr=1e-4, dataset_file="x")
    torch.save({"model": model.state_dict(), "args": args, "epoch": 3}, path)
    ckpt = load_checkpoint(path)
    assert ckpt.config == model.config
    assert ckpt.class_names == [f"class {i}" for i in range(7)]
    for ours, theirs in zip(_outputs(model), _outputs(ckpt.build_model()), strict=True):
        assert torch.equal(ours, theirs)


def test_official_r50_dc5_file_name_gives_the_dilation(tmp_path: Path) -> None:
    config = ModelConfig(
        backbone="resnet50",
        hidden_dim=32,
        nheads=2,
        num_encoder_layers=1,
        num_decoder_layers=1,
        dim_feedforward=32,
        num_queries=3,
    )
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in build_detr(config).state_dict().items()}
    state = {k: torch.zeros(s) for k, s in shapes.items()}
    dc5 = tmp_path / "detr-r50-dc5-f0fb7ef5.pth"
    plain = tmp_path / "renamed.pth"
    torch.save({"model": state}, dc5)
    os.link(dc5, plain)
    assert load_checkpoint(dc5).config.dilation is True
    assert load_checkpoint(dc5).extra == {"official_name": "detr-r50-dc5"}
    assert load_checkpoint(plain).config.dilation is False
    assert load_checkpoint(plain, official_name="detr-r50-dc5").config.dilation is True
    with pytest.raises(CheckpointError, match="resnet50 model, but detr-r101 is a resnet101"):
        load_checkpoint(plain, official_name="detr-r101")


def test_wrong_class_count_names_the_file_and_both_shapes(tmp_path: Path) -> None:
    path = tmp_path / "model.pth"
    torch.save({"model": _tiny(num_classes=5).state_dict()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, config=ModelConfig.tiny(num_classes=91))
    assert str(info.value) == (
        "model.pth: class_embed.weight has shape (6, 128), the config expects (92, 128)"
    )


def test_own_file_whose_weights_do_not_fit_its_config_is_refused(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "model.pth", _tiny(), class_names=NAMES)
    data = torch.load(path, weights_only=True)
    data["config"]["num_queries"] = 30
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=r"model.pth: query_embed.weight has shape \(12, "):
        load_checkpoint(path)


def test_missing_weights_are_named(tmp_path: Path) -> None:
    state = _tiny().state_dict()
    del state["transformer.decoder.norm.weight"]
    path = tmp_path / "model.pth"
    torch.save({"model": state}, path)
    with pytest.raises(CheckpointError, match="model.pth: 1 weight.*transformer.decoder.norm"):
        load_checkpoint(path, config=ModelConfig.tiny(num_classes=5))


def test_truncated_file_gives_an_error_naming_the_file(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "cut.pth", _tiny(), class_names=NAMES)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.pth: not a readable PyTorch checkpoint"):
        load_checkpoint(path)


def test_a_text_file_gives_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pth: not a readable PyTorch checkpoint"):
        load_checkpoint(path)


def test_objects_other_than_weights_are_refused_not_executed(tmp_path: Path) -> None:
    path = tmp_path / "odd.pth"
    torch.save({"model": _tiny().state_dict(), "when": datetime.date(2020, 5, 26)}, path)
    with pytest.raises(CheckpointError, match="odd.pth"):
        load_checkpoint(path)


def test_a_torch_file_that_is_not_detr_is_named(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="other.pth: not a DETR checkpoint"):
        load_checkpoint(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nothing.pth: no such checkpoint file"):
        load_checkpoint(tmp_path / "nothing.pth")


def test_failed_write_keeps_the_old_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_checkpoint(tmp_path / "model.pth", _tiny(), class_names=NAMES)
    before = path.read_bytes()

    def failing_save(obj: object, f: object) -> None:
        f.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _tiny(), class_names=NAMES)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pth"]


def test_coco_class_table_has_91_slots_with_gaps() -> None:
    assert len(COCO_CLASSES) == 91
    assert COCO_CLASSES[0] == "N/A"
    assert COCO_CLASSES[1] == "person"
    assert COCO_CLASSES[90] == "toothbrush"
    gaps = [i for i, name in enumerate(COCO_CLASSES) if name == "N/A"]
    assert gaps == [0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83]
    assert len(set(COCO_CLASSES)) == 81  # 80 categories + "N/A"
