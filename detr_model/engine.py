"""Training loop: train_one_epoch and fit (AdamW, clipping, step lr, eval, checkpoints, resume)."""

from __future__ import annotations

import logging
import math
import random
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from detr_model import distributed as ddp
from detr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from detr_model.criterion import SetCriterion
from detr_model.data.transforms import collate_fn
from detr_model.devices import pick_device
from detr_model.ema import ModelEma
from detr_model.evaluation import coco_metrics, predict_dataset
from detr_model.feature_cache import FeatureCache, FeatureCacheError, cache_training_features
from detr_model.postprocess import PostProcess
from detr_model.schedule import make_scheduler
from detr_model.train_config import TrainConfig

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]
StopFn = Callable[[], bool]
REPORTED = ("loss_ce", "loss_bbox", "loss_giou", "class_error", "cardinality_error")


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, a checkpoint that cannot be resumed, ...)."""


@dataclass
class FitResult:
    """What `fit` gives back: per-epoch history and the checkpoint paths (rank 0 only)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    stopped: bool = False


@dataclass
class EpochResult:
    """What `train_one_epoch` gives back: mean losses, iterations run, whether it was stopped."""

    losses: dict[str, float]
    iterations: int
    stopped: bool


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


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _loader(data: Any, config: TrainConfig, device: torch.device, *, train: bool) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    sampler = None
    if ddp.is_distributed() and train:
        sampler = DistributedSampler(data, shuffle=True, seed=config.seed)
    workers = 0 if isinstance(data, FeatureCache) else config.num_workers  # already in memory
    return DataLoader(
        data,
        batch_size=config.batch_size,
        shuffle=train and sampler is None,
        sampler=sampler,
        num_workers=workers,
        collate_fn=getattr(data, "collate_fn", collate_fn),
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(config.seed) if train else None,
        worker_init_fn=_ignore_sigint,
    )


def _ignore_sigint(worker_id: int) -> None:
    # Ctrl+C reaches the whole process group: workers must not die before the main process
    # finishes its iteration and writes the checkpoint; it shuts them down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _dataset(data: Any) -> Any:
    return data.dataset if isinstance(data, DataLoader) else data


def _class_names(data: Any, num_classes: int) -> list[str]:
    names = getattr(_dataset(data), "class_names", None)
    if names is None:
        return [f"class {i}" for i in range(num_classes)]
    if len(names) != num_classes:
        raise TrainingError(
            f"the training data has {len(names)} class slots but the model has {num_classes}; "
            "build the model with num_classes = dataset.num_classes"
        )
    return list(names)


def _resume(path: str, model: nn.Module, optimizer, scheduler, ema=None) -> dict[str, Any]:
    try:
        ckpt = load_checkpoint(path)
        extra = ckpt.extra
        model.load_state_dict(extra.get("train_weights", ckpt.state_dict), strict=True)
        if ema is not None:
            ema.load_state_dict(
                {"weights": ckpt.state_dict, "updates": int(extra.get("ema_updates", 0))}
            )
    except (CheckpointError, RuntimeError) as exc:
        raise TrainingError(f"{path}: cannot resume from it ({exc})") from exc
    if "optimizer" not in extra or "scheduler" not in extra or "epoch" not in extra:
        raise TrainingError(
            f"{path}: holds no training state (optimizer, lr schedule, epoch); "
            "start a new run from it with --init instead"
        )
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    log.info("%s: resuming after epoch %d", path, extra["epoch"])
    return extra


def fit(
    model: nn.Module,
    criterion: SetCriterion,
    train_data: Dataset | DataLoader,
    val_data: Dataset | DataLoader | None,
    config: TrainConfig,
    *,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> FitResult:
    """Returns the training history and checkpoint paths after training `model` as `config` says.

    `train_data`/`val_data` are datasets giving (image tensor, target) — batched here with
    `collate_fn` — or ready DataLoaders. Validation data needs `coco()` (and
    `label_to_category`) like `CocoDetection`. `on_progress` gets plain dicts (event
    "iteration" every log_every iterations, "epoch" after each epoch); `should_stop()` is polled
    every iteration. Writes out_dir/last.pt every epoch and out_dir/best.pt when the best metric
    improves (rank 0 only). A non-finite loss raises TrainingError, leaving the last good
    checkpoint in place.
    """
    _seed_everything(config.seed)
    device = pick_device(config.device)
    model.to(device)
    criterion.to(device)
    if config.lr_backbone <= 0 or config.feature_cache:
        for name, param in model.named_parameters():
            if "backbone" in name:
                param.requires_grad_(False)
    class_names = _class_names(train_data, model.config.num_classes)
    main = ddp.is_main_process()
    emit = on_progress if (on_progress is not None and main) else (lambda event: None)
    if config.feature_cache and not isinstance(_dataset(train_data), FeatureCache):
        try:
            train_data = cache_training_features(
                model, _dataset(train_data), config, device, emit, should_stop
            )
        except FeatureCacheError as exc:
            if should_stop is not None and should_stop():
                return FitResult(stopped=True)
            raise TrainingError(str(exc)) from exc
    optimizer = make_optimizer(model, config)
    train_loader = _loader(train_data, config, device, train=True)
    scheduler, per_iteration = make_scheduler(optimizer, config, max(len(train_loader), 1))
    ema = ModelEma(model, config.ema_decay) if config.ema_decay > 0 else None
    result = FitResult()
    start_epoch, best_value = 0, None
    if config.resume:
        state = _resume(config.resume, model, optimizer, scheduler, ema)
        start_epoch = int(state["epoch"])
        result.history = list(state.get("history") or [])
        best_value = state.get("best_value")
    out_dir = Path(config.out_dir)
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
    if config.resume:
        result.last_checkpoint = Path(config.resume)
        if main and (out_dir / "best.pt").is_file():
            result.best_checkpoint = out_dir / "best.pt"
    train_model = ddp.wrap_model(model, device)
    amp_dtype = ddp.autocast_dtype(config.amp, device)
    eval_model = ema.module if ema is not None else model
    postprocess = PostProcess(getattr(model.config, "class_score", "softmax"))
    val_loader = _loader(val_data, config, device, train=False) if val_data is not None else None
    coco_gt = _dataset(val_data).coco() if val_data is not None else None
    label_map = getattr(_dataset(val_data), "label_to_category", None) if val_data else None
    iters_per_epoch = max(len(train_loader), 1)
    clock = _Clock(
        (config.epochs - start_epoch) * iters_per_epoch,
        _evals_left(start_epoch, config, val_loader is not None),
    )

    def save(epoch_done: int, summary: dict[str, Any], best: bool) -> None:
        """Writes last.pt (with the training state) and, when asked or missing, best.pt."""
        if not main:
            return
        state = {
            "epoch": epoch_done,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": result.history,
            "best_value": best_value,
        }
        if ema is not None:  # the averaged weights are the model; the raw ones resume training
            state["train_weights"] = model.state_dict()
            state["ema_updates"] = ema.updates
        kwargs = {"class_names": class_names, "metrics": summary, "train_config": config}
        saved = eval_model
        result.last_checkpoint = save_checkpoint(out_dir / "last.pt", saved, extra=state, **kwargs)
        if best or result.best_checkpoint is None:
            result.best_checkpoint = save_checkpoint(out_dir / "best.pt", saved, **kwargs)

    for epoch in range(start_epoch, config.epochs):
        started = time.monotonic()
        sampler = getattr(train_loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        elif isinstance(train_loader.generator, torch.Generator):
            train_loader.generator.manual_seed(config.seed + epoch)

        def on_iteration(i: int, n: int, values: dict[str, float], epoch: int = epoch) -> None:
            clock.tick()
            if per_iteration:
                scheduler.step()
            if ema is not None:
                ema.update(model)
            if i % config.log_every == 0 or i == n:
                emit(
                    {
                        "event": "iteration",
                        "epoch": epoch + 1,
                        "epochs": config.epochs,
                        "iteration": i,
                        "iterations": n,
                        "loss": values["loss"],
                        "losses": {k: values[k] for k in REPORTED if k in values},
                        "lr": optimizer.param_groups[0]["lr"],
                        "eta_s": clock.eta(),
                    }
                )

        try:
            epoch_result = train_one_epoch(
                train_model,
                criterion,
                train_loader,
                optimizer,
                device,
                epoch=epoch + 1,
                clip_max_norm=config.clip_max_norm,
                amp_dtype=amp_dtype,
                should_stop=should_stop,
                on_iteration=on_iteration,
            )
        except TrainingError as exc:
            kept = result.last_checkpoint or "no checkpoint was written yet"
            raise TrainingError(f"{exc}; last good checkpoint: {kept}") from exc
        if epoch_result.stopped:
            result.stopped = True
            if epoch_result.iterations:  # keep the weights so far; resuming redoes this epoch
                save(epoch, {"epoch": epoch}, best=False)
            break
        if not per_iteration:
            scheduler.step()
        metrics = None
        last_epoch = epoch + 1 == config.epochs
        if val_loader is not None and ((epoch + 1) % config.eval_every == 0 or last_epoch):
            if main:
                eval_started = time.monotonic()
                detections = predict_dataset(
                    eval_model,
                    val_loader,
                    postprocess=postprocess,
                    label_to_category=label_map,
                    autocast_dtype=amp_dtype,
                    should_stop=should_stop,
                )
                if should_stop is None or not should_stop():
                    metrics = coco_metrics(coco_gt, detections)
                clock.add_eval(time.monotonic() - eval_started)
            ddp.barrier()
            if ddp.broadcast_flag(metrics is None and main):
                # Stopped during evaluation: the epoch is trained, its metrics are unknown.
                result.stopped = True
                save(epoch + 1, {"epoch": epoch + 1, "loss": epoch_result.losses["loss"]}, False)
                break
        losses = epoch_result.losses
        record = {
            "epoch": epoch + 1,
            "loss": losses.get("loss", float("nan")),
            "losses": {k: losses[k] for k in REPORTED if k in losses},
            "lr": optimizer.param_groups[0]["lr"],
            "metrics": metrics,
            "time_s": time.monotonic() - started,
        }
        result.history.append(record)
        improved = False
        if metrics is not None and config.best_metric in metrics:
            value = float(metrics[config.best_metric])
            improved = best_value is None or value > best_value
        elif val_loader is None:
            value = -record["loss"]
            improved = best_value is None or value > best_value
        if improved:
            best_value = value
        save(epoch + 1, {"epoch": epoch + 1, "loss": record["loss"], **(metrics or {})}, improved)
        log.info("epoch %d/%d: loss %.4f", epoch + 1, config.epochs, record["loss"])
        clock.evals_left = _evals_left(epoch + 1, config, val_loader is not None)
        emit(
            {
                "event": "epoch",
                **record,
                "epochs": config.epochs,
                "eta_s": clock.eta(),
                "checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
            }
        )
        ddp.barrier()
    return result


def _evals_left(epochs_done: int, config: TrainConfig, has_val: bool) -> int:
    if not has_val:
        return 0
    left = range(epochs_done + 1, config.epochs + 1)
    return sum(1 for e in left if e % config.eval_every == 0 or e == config.epochs)


class _Clock:
    """Estimates the time left from the mean iteration time and the last evaluation's time."""

    def __init__(self, total: int, evals_left: int):
        self.total, self.done = total, 0
        self.started = time.monotonic()
        self.eval_seconds = self.eval_total = 0.0
        self.evals_left = evals_left

    def tick(self) -> None:
        self.done += 1

    def add_eval(self, seconds: float) -> None:
        self.eval_seconds = seconds
        self.eval_total += seconds

    def eta(self) -> float | None:
        if not self.done:
            return None
        per_iter = (time.monotonic() - self.started - self.eval_total) / self.done
        return max(self.total - self.done, 0) * per_iter + self.evals_left * self.eval_seconds
