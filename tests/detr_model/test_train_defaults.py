"""One set of defaults for the CLI and the app (detr_model.train_defaults): automatic epochs,
fast mode and the frozen backbone by the model a run starts from and the device."""

from __future__ import annotations

import pytest

from detr_model.cli import build_parser
from detr_model.cli_train import epochs_for, train_config
from detr_model.train_defaults import FIXED_EPOCHS, auto_epochs, training_defaults

BASE = ["train", "--train-json", "a.json", "--train-images", ".", "--out", "o", "--device", "cpu"]


def test_automatic_epochs_are_about_1500_iterations_within_bounds() -> None:
    assert auto_epochs(24, 4) == 250  # 6 iterations an epoch
    assert auto_epochs(48, 4) == 125  # replay doubling the images halves the epochs
    assert auto_epochs(3, 4) == 300 and auto_epochs(5000, 8) == 20
    assert auto_epochs(0, 4) == 300  # no image yet: one iteration an epoch


def test_defaults_by_what_the_run_starts_from_and_the_device() -> None:
    scratch = training_defaults("none", gpu=False)
    assert not scratch.fast_allowed and not scratch.fast and scratch.needs_size
    assert not scratch.epochs_from_data and scratch.image_size == 128
    official_cpu = training_defaults("official", gpu=False)
    assert official_cpu.fast and official_cpu.freeze_backbone and not official_cpu.needs_size
    assert not training_defaults("official", gpu=True).fast
    model_file = training_defaults("file", gpu=False)
    assert model_file.fast_allowed and not model_file.fast and model_file.epochs_from_data
    assert model_file.image_size is None and official_cpu.image_size is None  # the model's
    with pytest.raises(ValueError, match="init must be one of"):
        training_defaults("demo", gpu=False)


def test_cli_epochs_default_to_auto_for_a_model_file_and_50_otherwise() -> None:
    parser = build_parser()
    scratch = parser.parse_args(BASE)
    assert scratch.epochs is None and epochs_for(scratch, 24, 4) == FIXED_EPOCHS
    model_file = parser.parse_args([*BASE, "--init", "m.pt"])
    assert epochs_for(model_file, 24, 4) == auto_epochs(24, 4)
    asked = parser.parse_args([*BASE, "--init", "m.pt", "--epochs", "7"])
    assert epochs_for(asked, 24, 4) == 7
    auto_scratch = parser.parse_args([*BASE, "--epochs", "auto"])
    assert epochs_for(auto_scratch, 100, 8) == auto_epochs(100, 8)
    with pytest.raises(ValueError, match="number of training images"):
        epochs_for(auto_scratch, None, 8)
    with pytest.raises(SystemExit):
        parser.parse_args([*BASE, "--epochs", "many"])


def test_cli_fast_mode_defaults_on_for_an_official_model_on_the_cpu_only() -> None:
    parser = build_parser()
    official = train_config(parser.parse_args([*BASE, "--init", "detr-r50"]), num_images=10)
    assert official.feature_cache and official.lr_backbone == 0.0
    asked_off = parser.parse_args([*BASE, "--init", "detr-r50", "--no-fast"])
    assert not train_config(asked_off, num_images=10).feature_cache
    scratch = train_config(parser.parse_args(BASE), num_images=10)
    assert not scratch.feature_cache and scratch.epochs == FIXED_EPOCHS
