"""What a training run does when nobody says: the epochs from the data, fast mode, the frozen
backbone and the image size from the model it starts from and the device.

`python -m detr_model train` and the app's training dialog both ask here, so the same data
trains the same way from either. No torch here (the dialog imports it at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass

from detr_model.input_size import TINY_FAST_SIZE

AUTO_ITERATIONS = 1500
"""Automatic epochs: about this many iterations in all (docs/convergence.md: 300 iterations of
24 images left a new class at AP50 0.42, 1,500 took it to 0.58)."""
AUTO_EPOCHS = (20, 300)
"""... but never fewer or more epochs than these."""
FINETUNE_BATCH_SIZE = 4
"""Images a step when fine-tuning a model file, in the app's dialog and `train --init FILE`
alike (what tools/annotate_train_loop.py measured; half the work of 8 for the same ~1,500
iterations)."""
FIXED_EPOCHS = 50
"""The CLI's epochs when the run starts from scratch or from an official model."""
INIT_KINDS = ("none", "official", "file")
"""What a run starts from: nothing (from scratch), an official COCO model, a model file."""


def auto_epochs(num_images: int, batch_size: int) -> int:
    """Return the automatic number of epochs: about AUTO_ITERATIONS iterations, so a few dozen
    images get hundreds of short epochs and thousands of images a few long ones."""
    per_epoch = max(1, -(-max(num_images, 1) // max(batch_size, 1)))
    low, high = AUTO_EPOCHS
    return max(low, min(high, round(AUTO_ITERATIONS / per_epoch)))


@dataclass(frozen=True)
class TrainingDefaults:
    """The settings a run starts with, for one kind of starting model and device."""

    fast_allowed: bool
    """Fast mode (frozen backbone, features cached) can be chosen: the backbone is trained."""
    fast: bool
    """Fast mode is on unless the user says otherwise."""
    freeze_backbone: bool
    """The backbone is frozen unless the user says otherwise (fast mode implies it)."""
    image_size: int | None
    """The training side in px; None: the size the starting model was trained at
    (`Checkpoint.input_size`), which an official COCO model needs (800 px) and the demo model
    trains at for 1.3x the time of 128 px (docs/convergence.md)."""
    epochs_from_data: bool
    """The CLI picks the epochs from the data (`auto_epochs`); else FIXED_EPOCHS."""

    @property
    def needs_size(self) -> bool:
        """The run must be told an image size (there is no model to read one from)."""
        return self.image_size is not None


def training_defaults(init: str, *, gpu: bool) -> TrainingDefaults:
    """Return the defaults of a run that starts from `init` (one of INIT_KINDS) with or
    without a CUDA GPU.

    Measured (docs/convergence.md): on the small demo-like models full fine-tuning learns a new
    class faster even on a CPU; fast mode pays off where the backbone is most of the work, the
    official ResNet-50/101 models, and only without a GPU. A random backbone is worth nothing
    frozen, so from scratch there is no fast mode.
    """
    if init not in INIT_KINDS:
        raise ValueError(f"training_defaults: init must be one of {INIT_KINDS}, got {init!r}")
    fast = init == "official" and not gpu
    return TrainingDefaults(
        fast_allowed=init != "none",
        fast=fast,
        freeze_backbone=fast,
        image_size=TINY_FAST_SIZE if init == "none" else None,
        epochs_from_data=init == "file",
    )
