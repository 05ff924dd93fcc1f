"""How large images are made before the model sees them: the defaults and the bounds.

The one owner of these numbers for the library, its CLI and the app (which imports this module
without torch). A checkpoint says its own size (`Checkpoint.input_size()`); these are the
paper's numbers for files that do not, and the limits a file's claim must stay within.
"""

from __future__ import annotations

from typing import Any

DEFAULT_MIN_SIZE = 800
"""Shorter image side at evaluation (the paper's)."""
DEFAULT_MAX_SIZE = 1333
"""Longest image side after resizing (the paper's)."""
TINY_FAST_SIZE = 128
"""Training and evaluation side (px) of the tiny preset from scratch (TrainConfig.tiny_fast)."""

MIN_INPUT_SIDE = 32
"""The smallest side a size may ask for: one cell of the stride-32 feature map."""
MAX_INPUT_SIDE = 4096
"""The largest side a checkpoint may claim: 3x the paper's 1333. Beyond it the encoder's
attention over one image needs tens of GB, so a larger number is damage, not a recipe."""


def checked_side(value: Any, what: str) -> int:
    """Return `value` as a side length in pixels, or raise ValueError saying what is wrong.

    `what` names the value in the message (e.g. "train_config.eval_size").
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is {value!r}, not a whole number of pixels")
    if not MIN_INPUT_SIDE <= value <= MAX_INPUT_SIDE:
        raise ValueError(f"{what} is {value} pixels, outside {MIN_INPUT_SIDE}..{MAX_INPUT_SIDE}")
    return value
