"""Learning-rate schedules of training: the paper's step drop, or warm-up and cosine decay."""

from __future__ import annotations

import math

import torch

from detr_model.train_config import TrainConfig

COSINE_FLOOR = 0.01
"""The cosine schedule ends at this fraction of the initial learning rates."""


def lr_factor(iteration: int, config: TrainConfig, iters_per_epoch: int) -> float:
    """Returns the multiplier of the initial learning rates at a (0-based) training iteration.

    Linear warm-up over `warmup_iters`, then the step drop at epoch `lr_drop` (per epoch) or a
    cosine from 1 to COSINE_FLOOR over all `epochs`.
    """
    factor = 1.0
    if config.warmup_iters > 0 and iteration < config.warmup_iters:
        factor = (iteration + 1) / config.warmup_iters
    total = max(config.epochs * iters_per_epoch, 1)
    if config.lr_schedule == "cosine":
        start = min(config.warmup_iters, total - 1)
        progress = min(max(iteration - start, 0) / max(total - start, 1), 1.0)
        return factor * (
            COSINE_FLOOR + (1 - COSINE_FLOOR) * 0.5 * (1 + math.cos(math.pi * progress))
        )
    epoch = iteration // max(iters_per_epoch, 1)
    return factor * config.lr_drop_factor ** (epoch // config.lr_drop)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, iters_per_epoch: int
) -> tuple[torch.optim.lr_scheduler.LRScheduler, bool]:
    """Returns (scheduler, stepped per iteration?): the paper's StepLR when no option is on."""
    if config.lr_schedule == "step" and config.warmup_iters == 0:
        return torch.optim.lr_scheduler.StepLR(
            optimizer, config.lr_drop, config.lr_drop_factor
        ), False
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: lr_factor(it, config, iters_per_epoch)
    )
    return scheduler, True
