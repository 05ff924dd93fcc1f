"""Training: over-fitting four images, fit's checkpoints, progress, resume, stop and NaN."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from detr_model.checkpoint import load_checkpoint
from detr_model.config import ModelConfig
from detr_model.data import CocoDetection, collate_fn, generate_shapes_dataset, make_transforms
from detr_model.detr import build_detr
from detr_model.engine import fit
from detr_model.epoch import TrainingError, make_optimizer, train_one_epoch
from detr_model.losses import build_criterion
from detr_model.train_config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def four_images(tmp_path_factory) -> CocoDetection:
    root = tmp_path_factory.mktemp("four")
    path = generate_shapes_dataset(root, 4, seed=0, size=64, objects=(1, 2))
    return CocoDetection(root, path, make_transforms("val", scales=[64]))


def _model(num_classes: int, seed: int = 0):
    torch.manual_seed(seed)
    return build_detr(ModelConfig.tiny(num_classes=num_classes).replace(dropout=0.0))


def _config(tmp_path: Path, **changes) -> TrainConfig:
    base = TrainConfig(
        lr=1e-3, lr_backbone=1e-4, batch_size=2, num_workers=0, epochs=1, out_dir=str(tmp_path)
    )
    return base.replace(**changes)


def test_the_tiny_model_overfits_four_images(four_images: CocoDetection) -> None:
    model = _model(four_images.num_classes)
    for name, param in model.named_parameters():  # a random frozen backbone keeps it fast
        if "backbone" in name:
            param.requires_grad_(False)
    config = TrainConfig(lr=1e-3, lr_backbone=0.0, batch_size=4)
    criterion = build_criterion(model.config, config)
    optimizer = make_optimizer(model, config)
    batch = collate_fn([four_images[i] for i in range(4)])
    losses = []
    for _ in range(50):
        result = train_one_epoch(model, criterion, [batch], optimizer, torch.device("cpu"))
        losses.append(result.losses["loss"])
    assert losses[-1] < losses[0] / 4, losses[::10]


def test_optimizer_gives_the_backbone_its_own_learning_rate(four_images) -> None:
    model = _model(four_images.num_classes)
    optimizer = make_optimizer(model, TrainConfig(lr=2e-4, lr_backbone=3e-5))
    assert [g["lr"] for g in optimizer.param_groups] == [2e-4, 3e-5]
    backbone = {id(p) for n, p in model.named_parameters() if "backbone" in n}
    assert all(id(p) in backbone for p in optimizer.param_groups[1]["params"])
    assert not any(id(p) in backbone for p in optimizer.param_groups[0]["params"])
    assert all(p.requires_grad for g in optimizer.param_groups for p in g["params"])


def test_fit_writes_checkpoints_reports_progress_and_drops_the_lr(four_images, tmp_path) -> None:
    model = _model(four_images.num_classes)
    config = _config(tmp_path, epochs=2, lr_drop=1, log_every=1)
    events: list[dict] = []
    result = fit(
        model,
        build_criterion(model.config, config),
        four_images,
        four_images,
        config,
        on_progress=events.append,
    )
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert result.history[0]["lr"] == pytest.approx(1e-4)  # dropped after epoch 1
    assert result.history[1]["metrics"]["AP"] >= 0.0
    assert result.best_checkpoint == tmp_path / "best.pt" and result.best_checkpoint.is_file()
    assert result.last_checkpoint == tmp_path / "last.pt"
    json.dumps(events)  # plain data only
    iterations = [e for e in events if e["event"] == "iteration"]
    assert [(e["epoch"], e["iteration"]) for e in iterations] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert set(iterations[0]["losses"]) >= {"loss_ce", "loss_bbox", "loss_giou"}
    assert iterations[-1]["eta_s"] == pytest.approx(0.0, abs=1.0)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert epochs[-1]["checkpoint"] == str(tmp_path / "last.pt")
    assert "AP50" in epochs[-1]["metrics"]

    best = load_checkpoint(result.best_checkpoint)
    assert best.class_names == four_images.class_names
    assert best.train_config["lr"] == 1e-3
    assert "optimizer" not in best.extra
    last = load_checkpoint(result.last_checkpoint)
    assert last.extra["epoch"] == 2 and "optimizer" in last.extra


def test_resume_continues_from_the_saved_epoch_and_optimizer(four_images, tmp_path) -> None:
    model = _model(four_images.num_classes)
    config = _config(tmp_path, epochs=1, lr_drop=1)
    fit(model, build_criterion(model.config, config), four_images, None, config)
    saved = load_checkpoint(tmp_path / "last.pt")

    resumed = _model(four_images.num_classes, seed=1)
    events: list[dict] = []
    config2 = config.replace(epochs=2, resume=str(tmp_path / "last.pt"))
    result = fit(
        resumed,
        build_criterion(resumed.config, config2),
        four_images,
        None,
        config2,
        on_progress=events.append,
    )
    assert {e["epoch"] for e in events} == {2}
    assert [h["epoch"] for h in result.history] == [1, 2]
    # The lr had dropped once before resuming and drops again after epoch 2.
    assert result.history[-1]["lr"] == pytest.approx(1e-5)
    assert saved.extra["optimizer"]["state"]  # Adam moments were saved and restored


def test_resume_refuses_a_checkpoint_without_training_state(four_images, tmp_path) -> None:
    model = _model(four_images.num_classes)
    config = _config(tmp_path)
    fit(model, build_criterion(model.config, config), four_images, None, config)
    config2 = config.replace(epochs=2, resume=str(tmp_path / "best.pt"))
    with pytest.raises(TrainingError, match="best.pt: holds no training state"):
        fit(model, build_criterion(model.config, config2), four_images, None, config2)


def test_should_stop_stops_after_the_current_iteration_and_keeps_a_checkpoint(
    four_images, tmp_path
) -> None:
    model = _model(four_images.num_classes)
    config = _config(tmp_path, epochs=5, batch_size=1, log_every=1)
    iterations: list[int] = []

    def on_progress(event: dict) -> None:
        if event["event"] == "iteration":
            iterations.append(event["iteration"])

    result = fit(
        model,
        build_criterion(model.config, config),
        four_images,
        None,
        config,
        on_progress=on_progress,
        should_stop=lambda: len(iterations) >= 2,
    )
    assert result.stopped and iterations == [1, 2]
    assert result.history == []
    assert load_checkpoint(tmp_path / "last.pt").extra["epoch"] == 0
    assert result.best_checkpoint is not None and result.best_checkpoint.is_file()


def test_a_nan_loss_stops_with_an_error_and_keeps_the_last_good_checkpoint(
    four_images, tmp_path
) -> None:
    model = _model(four_images.num_classes)
    config = _config(tmp_path, epochs=3)
    calls = {"n": 0}

    def poison(module, inputs, output):
        calls["n"] += 1
        if calls["n"] <= 2:  # epoch 1 (two batches) is fine
            return output
        return {
            "pred_logits": output["pred_logits"],
            "pred_boxes": output["pred_boxes"] * float("nan"),
        }

    model.register_forward_hook(poison)
    with pytest.raises(TrainingError) as err:
        fit(model, build_criterion(model.config, config), four_images, None, config)
    message = str(err.value)
    assert "epoch 2, iteration 1" in message and "loss_bbox" in message
    assert str(tmp_path / "last.pt") in message
    assert load_checkpoint(tmp_path / "last.pt").extra["epoch"] == 1


def test_fit_refuses_a_model_with_a_different_class_count(four_images, tmp_path) -> None:
    model = _model(four_images.num_classes + 2)
    config = _config(tmp_path)
    with pytest.raises(TrainingError, match="class slots"):
        fit(model, build_criterion(model.config, config), four_images, None, config)
