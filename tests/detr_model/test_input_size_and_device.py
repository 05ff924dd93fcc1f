"""One owner of the input size (the checkpoint, within bounds) and of the device choice."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from detr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from detr_model.cli import main
from detr_model.cli_train import train_config
from detr_model.config import ModelConfig
from detr_model.detr import build_detr
from detr_model.devices import DEVICES, pick_device
from detr_model.input_size import DEFAULT_MAX_SIZE, DEFAULT_MIN_SIZE, MAX_INPUT_SIDE
from detr_model.predictor import Predictor
from detr_model.train_config import TrainConfig

NAMES = ["a", "b"]


def _checkpoint(path: Path, train_config: dict | None) -> Path:
    torch.manual_seed(0)
    model = build_detr(ModelConfig.tiny(num_classes=len(NAMES)))
    return save_checkpoint(path, model, class_names=NAMES, train_config=train_config)


def _finetune_args(init: Path) -> argparse.Namespace:
    return argparse.Namespace(
        init=str(init), preset="tiny", image_size=None, epochs=1, batch_size=None, lr=None,
        lr_backbone=None, lr_drop=None, workers=0, eval_every=1, device="cpu", amp=None, seed=0,
        out=init.parent / "run", resume=None, no_augment=False, augment_recipe=None, fast=False,
        log_every=None,
    )  # fmt: skip


def test_the_checkpoint_says_its_input_size_and_the_paper_fills_in(tmp_path: Path) -> None:
    trained = TrainConfig.small_images(128)
    ckpt = load_checkpoint(_checkpoint(tmp_path / "small.pt", trained.to_dict()))
    assert ckpt.input_size() == (128, trained.max_size)
    plain = load_checkpoint(_checkpoint(tmp_path / "plain.pt", None))
    assert plain.input_size() == (DEFAULT_MIN_SIZE, DEFAULT_MAX_SIZE) == (800, 1333)
    only_eval = load_checkpoint(_checkpoint(tmp_path / "old.pt", {"eval_size": 96}))
    assert only_eval.input_size() == (96, 1333)


@pytest.mark.parametrize(
    ("claim", "problem"),
    [
        (100_000, "eval_size is 100000 pixels, outside 32..4096"),
        (0, "eval_size is 0 pixels, outside 32..4096"),
        ("800", "eval_size is '800', not a whole number of pixels"),
        (True, "eval_size is True, not a whole number of pixels"),
    ],
)
def test_an_impossible_input_size_is_refused_naming_the_file_before_any_image_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], claim: object, problem: str
) -> None:
    path = _checkpoint(tmp_path / "damaged.pt", {"eval_size": claim})
    expected = f"damaged.pt: train_config.{problem}"
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(path).input_size()
    with pytest.raises(CheckpointError, match=expected):
        Predictor.from_checkpoint(path, device="cpu")
    with pytest.raises(CheckpointError, match=expected):
        train_config(_finetune_args(path))
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"")  # never read: the checkpoint is refused first
    argv = ["predict", "--checkpoint", str(path), "--images", str(photo), "--out", "r.json"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"error: {expected}\n"


def test_the_bounds_keep_every_recipe_we_ship(tmp_path: Path) -> None:
    recipes = [TrainConfig(), TrainConfig.tiny_fast(), TrainConfig.small_images(1333)]
    for recipe in recipes:
        ckpt = load_checkpoint(_checkpoint(tmp_path / "r.pt", recipe.to_dict()))
        assert ckpt.input_size() == (recipe.eval_size, recipe.max_size)
    assert TrainConfig.small_images(1333).max_size < MAX_INPUT_SIDE


def test_auto_picks_cuda_then_mps_then_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    mps = torch.backends.mps
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert pick_device(torch.device("cpu")) == torch.device("cpu")


def test_every_device_choice_is_one_training_accepts() -> None:
    assert DEVICES == ("auto", "cuda", "mps", "cpu")
    for device in DEVICES:
        assert TrainConfig(device=device).device == device
    with pytest.raises(ValueError, match="device"):
        TrainConfig(device="gpu")
