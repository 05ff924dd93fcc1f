"""One pass over the training data: `train_one_epoch`, the optimizer it steps, its errors.

`engine.Trainer` runs the passes (evaluation, checkpoints, progress); this is the inner loop
a benchmark can time on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from detr_model import distributed as ddp
from detr_model.criterion import SetCriterion
from detr_model.data.coco import DatasetError, data_problem
from detr_model.train_config import TrainConfig

StopFn = Callable[[], bool]


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, a checkpoint that cannot be resumed, ...)."""


@dataclass
class EpochResult:
    """What `train_one_epoch` gives back: mean losses, iterations run, whether it was stopped."""

    losses: dict[str, float]
    iterations: int
    stopped: bool


def training_problem(exc: BaseException, epoch: int) -> str | None:
    """Returns in words what stopped training in `epoch`, or None for an error not foreseen."""
    if isinstance(exc, TrainingError):
        return str(exc)
    if isinstance(exc, DatasetError):
        return f"{data_problem(exc)}; training stopped in epoch {epoch}"
    text = str(exc).strip()
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) or "can't allocate memory" in text:
        first = text.splitlines()[0][:200] if text else type(exc).__name__
        return f"out of memory in epoch {epoch} ({first}); try a smaller batch size or image size"
    return None


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """Returns AdamW with two parameter groups: backbone at lr_backbone, the rest at lr."""
    backbone, rest = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (backbone if "backbone" in name else rest).append(param)
    groups = [{"params": rest, "lr": config.lr}]
    if backbone and config.lr_backbone > 0:
        groups.append({"params": backbone, "lr": config.lr_backbone})
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)


def _to_device(targets: Sequence[Mapping[str, Tensor]], device: torch.device) -> list[dict]:
    return [
        {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in t.items()}
        for t in targets
    ]


def train_one_epoch(
    model: nn.Module,
    criterion: SetCriterion,
    loader: Any,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    epoch: int = 1,
    clip_max_norm: float = 0.1,
    amp_dtype: torch.dtype | None = None,
    should_stop: StopFn | None = None,
    on_iteration: Callable[[int, int, dict[str, float]], None] | None = None,
) -> EpochResult:
    """Returns the mean losses of one pass over `loader`, stopping early when should_stop().

    Raises TrainingError naming the epoch, iteration and loss term when the loss is not finite.
    `on_iteration(i, n, values)` gets each iteration's plain loss values (1-based i).
    """
    model.train()
    criterion.train()
    sums: dict[str, float] = {}
    done = 0
    try:
        total_iters = len(loader)
    except TypeError:
        total_iters = 0

    def stop_requested() -> bool:
        return ddp.broadcast_flag(bool(should_stop()) if should_stop is not None else False)

    if stop_requested():
        return EpochResult({}, 0, stopped=True)
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        targets = _to_device(targets, device)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=bool(amp_dtype)):
            outputs = model(images, targets) if _uses_targets(model) else model(images)
        loss_dict = criterion(outputs, targets)
        loss = criterion.weighted_sum(loss_dict)
        names = list(loss_dict)
        values = torch.stack([loss.detach(), *(loss_dict[k].detach().float() for k in names)])
        floats = values.tolist()  # one device sync for every term
        current = {"loss": floats[0], **dict(zip(names, floats[1:], strict=True))}
        if ddp.broadcast_flag(not math.isfinite(current["loss"])):  # every rank stops together
            if math.isfinite(current["loss"]):
                raise TrainingError(
                    f"epoch {epoch}, iteration {done + 1}: the loss is not finite on another "
                    "process; training stopped"
                )
            bad = [k for k in names if k in criterion.weight_dict and not math.isfinite(current[k])]
            raise TrainingError(
                f"epoch {epoch}, iteration {done + 1}: the loss is {current['loss']} "
                f"({', '.join(bad) or 'weighted sum'} not finite); training stopped"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_max_norm > 0:
            nn.utils.clip_grad_norm_(model.parameters(), clip_max_norm)
        optimizer.step()
        done += 1
        for k, v in current.items():
            sums[k] = sums.get(k, 0.0) + v
        if on_iteration is not None:
            on_iteration(done, total_iters, current)
        if stop_requested():  # before fetching the next batch
            return EpochResult(_means(sums, done), done, stopped=True)
    return EpochResult(_means(sums, done), done, stopped=False)


def _uses_targets(model: nn.Module) -> bool:
    """Returns True when the model takes the targets in training (denoising queries)."""
    config = getattr(getattr(model, "module", model), "config", None)
    return getattr(config, "dn_groups", 0) > 0


def _means(sums: Mapping[str, float], n: int) -> dict[str, float]:
    return {k: v / max(n, 1) for k, v in sums.items()}
