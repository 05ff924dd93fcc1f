"""Training loop: `fit` runs a `Trainer` (AdamW, clipping, lr schedule, eval, checkpoints,
resume); one pass over the data is `epoch.train_one_epoch`."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset

from detr_model import distributed as ddp
from detr_model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from detr_model.criterion import SetCriterion
from detr_model.data.coco import DatasetError, data_problem
from detr_model.devices import pick_device
from detr_model.ema import ModelEma
from detr_model.epoch import (
    EpochResult,
    StopFn,
    TrainingError,
    make_optimizer,
    train_one_epoch,
    training_problem,
)
from detr_model.evaluation import coco_metrics, predict_dataset
from detr_model.feature_cache import FeatureCache, FeatureCacheError, cache_training_features
from detr_model.postprocess import PostProcess
from detr_model.schedule import make_scheduler
from detr_model.train_config import TrainConfig
from detr_model.train_data import (
    class_names_of,
    dataset_of,
    make_loader,
    seed_epoch,
    seed_everything,
)

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]
REPORTED = ("loss_ce", "loss_bbox", "loss_giou", "class_error", "cardinality_error")


@dataclass
class FitResult:
    """What `fit` gives back: per-epoch history and the checkpoint paths (rank 0 only)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    stopped: bool = False


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
    trainer = Trainer(model, criterion, config, on_progress=on_progress, should_stop=should_stop)
    return trainer.fit(train_data, val_data)


class Trainer:
    """One training run of `model` as `config` says; `fit(train_data, val_data)` runs it.

    `fit` sets up (device, frozen backbone, feature cache, optimizer, lr schedule, EMA, resume),
    then each epoch trains, evaluates when due, records its history, writes the checkpoints
    and reports progress. Only the main process (rank 0) reports and writes.
    """

    def __init__(
        self,
        model: nn.Module,
        criterion: SetCriterion,
        config: TrainConfig,
        *,
        on_progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> None:
        self.model = model
        self.criterion = criterion
        self.config = config
        self.should_stop = should_stop
        self.main = ddp.is_main_process()
        self._on_progress = on_progress if self.main else None
        self.result = FitResult()
        self.best_value: float | None = None
        self.start_epoch = 0
        self._epoch_iterations = 0

    def fit(
        self, train_data: Dataset | DataLoader, val_data: Dataset | DataLoader | None
    ) -> FitResult:
        """Returns the history and checkpoint paths once training has ended or been stopped."""
        if not self._set_up(train_data, val_data):
            return FitResult(stopped=True)
        for epoch in range(self.start_epoch, self.config.epochs):
            if not self._run_epoch(epoch):
                break
        return self.result

    def emit(self, event: dict[str, Any]) -> None:
        """Reports a progress event (main process only)."""
        if self._on_progress is not None:
            self._on_progress(event)

    def _stop_requested(self) -> bool:
        return self.should_stop is not None and bool(self.should_stop())

    # ----- set-up --------------------------------------------------------------------------

    def _set_up(self, train_data: Any, val_data: Any) -> bool:
        """Prepares everything the epochs use; False when stopped while caching features."""
        config, model = self.config, self.model
        seed_everything(config.seed)
        self.device = pick_device(config.device)
        model.to(self.device)
        self.criterion.to(self.device)
        if config.lr_backbone <= 0 or config.feature_cache:
            for name, param in model.named_parameters():
                if "backbone" in name:
                    param.requires_grad_(False)
        self.class_names = class_names_of(train_data, model.config.num_classes)
        if config.feature_cache and not isinstance(dataset_of(train_data), FeatureCache):
            try:
                train_data = cache_training_features(
                    model, dataset_of(train_data), config, self.device, self.emit, self.should_stop
                )
            except FeatureCacheError as exc:
                if self._stop_requested():
                    return False
                raise TrainingError(str(exc)) from exc
        self.optimizer = make_optimizer(model, config)
        self.train_loader = make_loader(train_data, config, self.device, train=True)
        iters_per_epoch = max(len(self.train_loader), 1)
        self.scheduler, self.per_iteration = make_scheduler(self.optimizer, config, iters_per_epoch)
        self.ema = ModelEma(model, config.ema_decay) if config.ema_decay > 0 else None
        self._resume_state()
        self.train_model = ddp.wrap_model(model, self.device)
        self.amp_dtype = ddp.autocast_dtype(config.amp, self.device)
        self.eval_model = self.ema.module if self.ema is not None else model
        self._set_up_validation(val_data)
        self.clock = _Clock(
            (config.epochs - self.start_epoch) * iters_per_epoch,
            _evals_left(self.start_epoch, config, self.val_loader is not None),
        )
        return True

    def _resume_state(self) -> None:
        """Restores a resumed run's state and makes the output folder (main process)."""
        config, result = self.config, self.result
        if config.resume:
            state = _resume(config.resume, self.model, self.optimizer, self.scheduler, self.ema)
            self.start_epoch = int(state["epoch"])
            result.history = list(state.get("history") or [])
            self.best_value = state.get("best_value")
        self.out_dir = Path(config.out_dir)
        if self.main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if config.resume:
            result.last_checkpoint = Path(config.resume)
            if self.main and (self.out_dir / "best.pt").is_file():
                result.best_checkpoint = self.out_dir / "best.pt"

    def _set_up_validation(self, val_data: Any) -> None:
        self.postprocess = PostProcess(getattr(self.model.config, "class_score", "softmax"))
        self.val_loader = None
        self.coco_gt = self.label_map = None
        if val_data is not None:
            self.val_loader = make_loader(val_data, self.config, self.device, train=False)
            self.coco_gt = dataset_of(val_data).coco()
        if val_data:
            self.label_map = getattr(dataset_of(val_data), "label_to_category", None)

    # ----- one epoch -----------------------------------------------------------------------

    def _run_epoch(self, epoch: int) -> bool:
        """Trains, evaluates and saves epoch `epoch` (0-based); False once training stopped."""
        started = time.monotonic()
        seed_epoch(self.train_loader, self.config.seed, epoch)
        trained = self._train(epoch)
        if trained.stopped:
            self.result.stopped = True
            if trained.iterations:  # keep the weights so far; resuming redoes this epoch
                self._save(epoch, {"epoch": epoch}, best=False)
            return False
        if not self.per_iteration:
            self.scheduler.step()
        metrics = None
        if self._evaluation_due(epoch):
            try:
                metrics = self._evaluate() if self.main else None
            except DatasetError as exc:  # the epoch is trained: keep it before stopping
                self._save(epoch + 1, {"epoch": epoch + 1, "loss": trained.losses["loss"]}, False)
                raise TrainingError(
                    f"{data_problem(exc)} (a validation image); training stopped after epoch "
                    f"{epoch + 1}, saved in {self.result.last_checkpoint}"
                ) from None
            ddp.barrier()
            if ddp.broadcast_flag(metrics is None and self.main):
                # Stopped during evaluation: the epoch is trained, its metrics are unknown.
                self.result.stopped = True
                summary = {"epoch": epoch + 1, "loss": trained.losses["loss"]}
                self._save(epoch + 1, summary, best=False)
                return False
        self._conclude(epoch, trained, metrics, started)
        ddp.barrier()
        return True

    def _train(self, epoch: int) -> EpochResult:
        """Returns one pass over the training data; a non-finite loss or an image that cannot
        be read names the last checkpoint."""
        self._epoch_iterations = 0
        try:
            return train_one_epoch(
                self.train_model,
                self.criterion,
                self.train_loader,
                self.optimizer,
                self.device,
                epoch=epoch + 1,
                clip_max_norm=self.config.clip_max_norm,
                amp_dtype=self.amp_dtype,
                should_stop=self.should_stop,
                on_iteration=functools.partial(self._on_iteration, epoch),
            )
        except (TrainingError, DatasetError, RuntimeError, MemoryError) as exc:
            ours = isinstance(exc, (TrainingError, DatasetError))
            if not ours and self._stop_requested():
                # A stop signal sent to the whole process group can kill a data-loader worker
                # before it has set itself to ignore signals; torch raises then. It is the stop.
                return EpochResult({}, self._epoch_iterations, stopped=True)
            problem = training_problem(exc, epoch + 1)
            if problem is None:
                raise
            kept = self.result.last_checkpoint or "no checkpoint was written yet"
            raise TrainingError(f"{problem}; last good checkpoint: {kept}") from exc

    def _on_iteration(self, epoch: int, i: int, n: int, values: dict[str, float]) -> None:
        self._epoch_iterations = i
        self.clock.tick()
        if self.per_iteration:
            self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)
        if i % self.config.log_every == 0 or i == n:
            self.emit(
                {
                    "event": "iteration",
                    "epoch": epoch + 1,
                    "epochs": self.config.epochs,
                    "iteration": i,
                    "iterations": n,
                    "loss": values["loss"],
                    "losses": {k: values[k] for k in REPORTED if k in values},
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "eta_s": self.clock.eta(),
                }
            )

    def _evaluation_due(self, epoch: int) -> bool:
        last_epoch = epoch + 1 == self.config.epochs
        return self.val_loader is not None and (
            (epoch + 1) % self.config.eval_every == 0 or last_epoch
        )

    def _evaluate(self) -> dict[str, float] | None:
        """Returns the validation metrics, or None when a stop was requested meanwhile."""
        started = time.monotonic()
        try:
            detections = predict_dataset(
                self.eval_model,
                self.val_loader,
                postprocess=self.postprocess,
                label_to_category=self.label_map,
                autocast_dtype=self.amp_dtype,
                should_stop=self.should_stop,
            )
        except RuntimeError:  # a loader worker killed by a stop signal (see _train)
            if not self._stop_requested():
                raise
        metrics = None if self._stop_requested() else coco_metrics(self.coco_gt, detections)
        self.clock.add_eval(time.monotonic() - started)
        return metrics

    def _conclude(
        self, epoch: int, trained: EpochResult, metrics: dict[str, float] | None, started: float
    ) -> None:
        """Records the epoch, picks and writes the checkpoints, reports the "epoch" event."""
        config, losses = self.config, trained.losses
        record = {
            "epoch": epoch + 1,
            "loss": losses.get("loss", float("nan")),
            "losses": {k: losses[k] for k in REPORTED if k in losses},
            "lr": self.optimizer.param_groups[0]["lr"],
            "metrics": metrics,
            "time_s": time.monotonic() - started,
        }
        self.result.history.append(record)
        improved = False
        if metrics is not None and config.best_metric in metrics:
            value = float(metrics[config.best_metric])
            improved = self.best_value is None or value > self.best_value
        elif self.val_loader is None:
            value = -record["loss"]
            improved = self.best_value is None or value > self.best_value
        if improved:
            self.best_value = value
        summary = {"epoch": epoch + 1, "loss": record["loss"], **(metrics or {})}
        self._save(epoch + 1, summary, improved)
        log.info("epoch %d/%d: loss %.4f", epoch + 1, config.epochs, record["loss"])
        self.clock.evals_left = _evals_left(epoch + 1, config, self.val_loader is not None)
        last = self.result.last_checkpoint
        self.emit(
            {
                "event": "epoch",
                **record,
                "epochs": config.epochs,
                "eta_s": self.clock.eta(),
                "checkpoint": str(last) if last else None,
            }
        )

    def _save(self, epoch_done: int, summary: dict[str, Any], best: bool) -> None:
        """Writes last.pt (with the training state) and, when asked or missing, best.pt."""
        if not self.main:
            return
        state = {
            "epoch": epoch_done,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": self.result.history,
            "best_value": self.best_value,
        }
        if self.ema is not None:  # the averaged weights are the model; the raw ones resume
            state["train_weights"] = self.model.state_dict()
            state["ema_updates"] = self.ema.updates
        kwargs = {"class_names": self.class_names, "metrics": summary, "train_config": self.config}
        result, out_dir = self.result, self.out_dir
        result.last_checkpoint = save_checkpoint(
            out_dir / "last.pt", self.eval_model, extra=state, **kwargs
        )
        if best or result.best_checkpoint is None:
            result.best_checkpoint = save_checkpoint(out_dir / "best.pt", self.eval_model, **kwargs)


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
