"""The training controller: owns the training run across dialog close/reopen, registers results.

It freezes the reviewed images into a snapshot (with earlier snapshots replayed when the run
starts from a model this project trained: `app.training_replay`), starts the
`TrainingRunner`, keeps every event of the run (so a reopened dialog redraws its curves), and
on success registers the best checkpoint as a version (`app.model_versions`): the model
picker lists it as "Fine-tuned: <name>.pt". While a run holds the GPU, `gpu_busy_changed`
says so (the window moves auto-annotate to the CPU meanwhile). Then the model in use and
the new one are scored on the same held-out images in a worker (`app.workers.comparison`), the
rule of `app.model_comparison` recommends one, and the comparison joins the sidecar.
`use_model()` swaps the new model into auto-annotate in place (a model the comparison found
worse only with `accept_worse=True`); `reannotate()` runs it on the images not yet reviewed;
`use_version()` rolls back to any earlier version. A failed run registers nothing and leaves the
model in use as it was.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.auto_annotate import AutoAnnotator
from app.model_comparison import Comparison, ModelScore, compare, where
from app.model_registry import ModelChoice, choice_for_key, project_models_dir
from app.model_versions import (
    Version,
    best_epoch,
    best_metrics,
    list_versions,
    register_version,
    store_comparison,
    unique_path,
    version_record,
)
from app.session import Session
from app.training_replay import earlier_snapshots, replays_into
from app.training_snapshot import Snapshot, TrainSettings, cli_arguments, write_snapshot
from app.workers.comparison import ComparisonJob, ComparisonRunner, ModelToScore, Scorer
from app.workers.training import TrainingResult, TrainingRunner, train_command

__all__ = ["TrainingController", "best_epoch"]

log = logging.getLogger(__name__)

MAX_ITERATION_EVENTS = 20000  # kept for redrawing the curves of a reopened dialog


class TrainingController(QObject):
    """Starts, watches and concludes training runs of the session's project."""

    state_changed = Signal(str)  # "idle" | "running" | "finished" | "failed" | "cancelled"
    started = Signal(dict)
    progress = Signal(dict)
    epoch = Signal(dict)
    log = Signal(str)
    failed = Signal(str)
    model_registered = Signal(object)  # ModelChoice of the new version
    comparison_changed = Signal()  # the comparison started, progressed or ended
    gpu_busy_changed = Signal(bool)  # True while a run trains on a CUDA GPU

    def __init__(
        self,
        session: Session,
        auto: AutoAnnotator | None = None,
        parent: QObject | None = None,
        *,
        command: Any = None,
        scorer: Scorer | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.auto = auto
        self.command = command  # args -> argv, instead of the real CLI (tests: a fake child)
        self.runner = TrainingRunner(self)
        self.state = "idle"
        self.settings: TrainSettings | None = None
        self.snapshot: Snapshot | None = None
        self.start_event: dict[str, Any] = {}
        self.iterations: list[dict[str, Any]] = []
        self.epochs: list[dict[str, Any]] = []
        self.log_lines: list[str] = []
        self.error = ""
        self.result: TrainingResult | None = None
        self.new_model: ModelChoice | None = None
        self.comparison: Comparison | None = None
        self.comparison_text = ""  # what the comparison is doing, for the dialog
        self.comparer = ComparisonRunner(self, scorer=scorer)  # tests: a fake scorer
        self.comparer.progress.connect(self._on_compare_progress)
        self.comparer.failed.connect(self._on_log)
        self.comparer.done.connect(self._on_compared)
        self._compared_with: ModelChoice | None = None
        self._project: object = None
        self._gpu_held = False
        r = self.runner
        r.started.connect(self._on_started)
        r.progress.connect(self._on_progress)
        r.epoch.connect(self._on_epoch)
        r.log.connect(self._on_log)
        r.failed.connect(self._on_failed)
        r.finished.connect(self._on_finished)

    # ----- where things go -----------------------------------------------------------------

    def models_dir(self) -> Path | None:
        """Return the project's folder of fine-tuned models."""
        project = self.session.project
        return project_models_dir(self.session.project_file, project.root if project else None)

    def training_dir(self) -> Path | None:
        """Return the project's folder of training runs."""
        models = self.models_dir()
        return models.parent / "training" if models is not None else None

    def is_running(self) -> bool:
        """Return True while a training child process runs."""
        return self.runner.is_running()

    def replay_from(self, settings: TrainSettings) -> list[Path]:
        """Return the earlier snapshots a run with `settings` replays: all of this project's,
        when it starts from a model the project trained and replay is on; else none."""
        if not settings.replay or not replays_into(settings.base, self.models_dir()):
            return []
        return earlier_snapshots(self.training_dir())

    def default_base(self) -> tuple[str, str]:
        """Return (checkpoint path, label) of the model to start from: the one in use when it
        is a local, small model (demo, fine-tuned, file); else ("", scratch label)."""
        choice = self.auto.current_choice() if self.auto is not None else None
        if choice is not None and choice.path and choice.kind in ("demo", "project", "file"):
            return choice.path, choice.label
        return "", TrainSettings.base_label

    # ----- control -------------------------------------------------------------------------

    def start(self, settings: TrainSettings) -> bool:
        """Freeze the reviewed images and start training; False (with a message) if it cannot."""
        project = self.session.project
        if self.is_running():
            self._message("Training is already running")
            return False
        if self.is_comparing():  # its scores belong to the run before
            self._message("The models are still being compared: wait, or stop comparing")
            return False
        training = self.training_dir()
        if project is None or training is None:
            self._message("Open an image folder first")
            return False
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = unique_path(training / f"run-{stamp}")
        try:
            snapshot = write_snapshot(project, run_dir, settings, self.replay_from(settings))
        except (OSError, ValueError) as exc:
            self._message(str(exc))
            self.error = str(exc)
            self._set_state("failed")
            self.failed.emit(str(exc))
            return False
        self.settings, self.snapshot = settings, snapshot
        self.start_event, self.iterations, self.epochs, self.log_lines = {}, [], [], []
        self.error, self.result, self.new_model = "", None, None
        self.comparison, self.comparison_text = None, ""
        self._project = project
        args = cli_arguments(snapshot, settings)
        argv = self.command(args) if self.command else train_command(args, settings.processes)
        held = f"{snapshot.val_images} held-out" if snapshot.held_out else "no held-out"
        self._on_log(
            f"Snapshot: {snapshot.train_images} training and {held} images, "
            f"classes {', '.join(snapshot.class_names)}"
        )
        if snapshot.replay_images:
            self._on_log(
                f"Replay: {snapshot.replay_images} images of earlier runs mixed in (against "
                "forgetting the classes these images have few boxes of)"
            )
        for problem in snapshot.left_out:
            self._on_log(f"Left out of the snapshot: {problem}")
        self._on_log(f"Starting from: {settings.base_label}")
        self.runner.start(argv, run_dir)
        self._set_state("running")
        return True

    def cancel(self) -> None:
        """Stop after the current iteration; the best model so far is kept."""
        self.runner.cancel()

    def shutdown(self) -> None:
        """Kill a running child and stop a comparison (the window closes); nothing is
        registered."""
        self.comparer.shutdown()
        if self.runner.is_running():
            self.runner.kill()
            self._set_state("cancelled")

    def is_comparing(self) -> bool:
        """Return True while the models are being scored."""
        return self.comparer.is_running()

    def stop_comparing(self) -> None:
        """Stop scoring the models; no model is then recommended."""
        self.comparer.cancel()

    def use_model(self, *, accept_worse: bool = False) -> bool:
        """Swap the new model into auto-annotate (no restart); True if it is now in use.

        A model the comparison found worse than the one in use is switched to only with
        `accept_worse` (the user's explicit choice); none is switched to while comparing.
        """
        if self.new_model is None or self.auto is None:
            return False
        if self.is_comparing():
            self._message("The models are still being compared")
            return False
        if self.comparison is not None and self.comparison.new_is_worse and not accept_worse:
            self._message(f"Kept the model in use. {self.comparison.reason}")
            return False
        return self.use_version(self.new_model)

    def reannotate(self, *, accept_worse: bool = False) -> bool:
        """Use the new model and run it on every image not yet reviewed; True if a run started."""
        return self.use_model(accept_worse=accept_worse) and self.auto.run_unreviewed()

    def use_version(self, choice: ModelChoice) -> bool:
        """Make auto-annotate use `choice` (any version: roll back); True if it is in use."""
        if self.auto is None or not self.auto.set_model(choice):
            return False
        self._message(f"Auto-annotate now uses {choice.label}")
        return True

    def versions(self) -> list[Version]:
        """Return the models to switch to, newest version first, with their metrics."""
        current = self.auto.current_choice() if self.auto is not None else None
        return list_versions(self.models_dir(), current.key if current else "")

    # ----- runner signals ------------------------------------------------------------------

    @Slot(dict)
    def _on_started(self, event: dict) -> None:
        self.start_event = event
        if str(event.get("device", "")).startswith("cuda"):
            self._hold_gpu(True)
        self.started.emit(event)

    @Slot(dict)
    def _on_progress(self, event: dict) -> None:
        if len(self.iterations) < MAX_ITERATION_EVENTS:
            self.iterations.append(event)
        self.progress.emit(event)

    @Slot(dict)
    def _on_epoch(self, event: dict) -> None:
        self.epochs.append(event)
        self.epoch.emit(event)

    @Slot(str)
    def _on_log(self, line: str) -> None:
        self.log_lines.append(line)
        self.log.emit(line)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        log.warning("training failed: %s", message.splitlines()[0] if message else "")
        self.error = message
        self._set_state("failed")
        first = message.splitlines()[0] if message else "unknown error"
        self._message(f"Training failed: {first}. The model in use is unchanged.")
        self.failed.emit(message)

    @Slot(object)
    def _on_finished(self, result: TrainingResult) -> None:
        self.result = result
        checkpoint = result.best_checkpoint or result.last_checkpoint
        if checkpoint is None or not checkpoint.is_file() or not self.epochs:
            self._on_log("Stopped before the first epoch ended: no model was saved")
            self._set_state("cancelled" if result.stopped else "failed")
            return
        try:
            self.new_model = self._register(checkpoint, result)
        except OSError as exc:
            self._on_failed(f"Could not save the new model: {exc}")
            return
        self._on_log(f"Saved the new model: {self.new_model.path}")
        verb = "stopped" if result.stopped else "finished"
        self._message(f"Training {verb}: new model {self.new_model.label} (Model → Train Model…)")
        self._set_state("cancelled" if result.stopped else "finished")
        self.model_registered.emit(self.new_model)
        self._start_comparison()

    # ----- before / after ------------------------------------------------------------------

    def _start_comparison(self) -> None:
        """Score the model in use and the new one on the snapshot's evaluation images."""
        snap, new = self.snapshot, self.new_model
        if snap is None or new is None or snap.val_json is None:
            return
        if self.session.project is not self._project:  # the model in use is another project's
            self._on_log("Another project is open: the models were not compared")
            return
        old = self.auto.current_choice() if self.auto is not None else None
        self._compared_with = old
        models = [ModelToScore("new", new.label, new.path)]
        if old is not None and old.path:
            mapping = self.auto.mappings.get(old.key)  # what auto-annotate maps its classes to
            models.insert(0, ModelToScore("old", old.label, old.path, tuple(mapping.items())))
        job = ComparisonJob(
            str(snap.val_json),
            str(snap.images_dir),
            tuple(models),
            self.auto.device if self.auto is not None else "auto",
        )
        on = where(snap.val_images, snap.held_out)
        self.comparison_text = f"Comparing the new model with the model in use on {on}…"
        self._on_log(self.comparison_text)
        self.comparer.start(job, snap.val_images)
        self.comparison_changed.emit()

    @Slot(int, int, str)
    def _on_compare_progress(self, done: int, total: int, message: str) -> None:
        self.comparison_text = f"{message} ({done}/{total} images)"
        self.comparison_changed.emit()

    @Slot(dict, bool)
    def _on_compared(self, scores: dict, cancelled: bool) -> None:
        snap, new, old = self.snapshot, self.new_model, self._compared_with
        if snap is None or new is None:
            return
        why = "stopped" if cancelled else "not scored"
        new_score = scores.get("new") or ModelScore(new.label, new.path, error=why)
        old_score = None
        if old is not None:
            missing = why if old.path else "not downloaded"
            old_score = scores.get("old") or ModelScore(old.label, old.path, error=missing)
        self.comparison = compare(
            old_score, new_score, images=snap.val_images, held_out=snap.held_out
        )
        self.comparison_text = ""
        self._on_log(self.comparison.reason)
        try:
            store_comparison(Path(new.path), self.comparison)
        except (OSError, ValueError) as exc:
            self._on_log(f"Could not store the comparison beside {new.path}: {exc}")
        self.comparison_changed.emit()

    # ----- registering ---------------------------------------------------------------------

    def _register(self, checkpoint: Path, result: TrainingResult) -> ModelChoice:
        models = self.models_dir()
        if models is None or self.session.project is not self._project:
            models = result.out_dir.parent.parent / "models"  # the project was closed meanwhile
        snap = self.snapshot
        record = version_record(
            result.history,
            settings=self.settings.to_dict() if self.settings else {},
            classes=snap.class_names if snap else [],
            train_images=snap.train_images if snap else 0,
            val_images=snap.val_images if snap else 0,
            replay_images=snap.replay_images if snap else 0,
            stopped=result.stopped,
            epochs_done=result.epochs_done,
            time_s=result.time_s,
            run_dir=str(result.out_dir),
        )
        name = result.out_dir.name.replace("run-", "model-", 1)
        target = register_version(checkpoint, models, name, record)
        key = f"project:{target.relative_to(models).as_posix()}"
        choice = choice_for_key(key, models)
        assert choice is not None
        created = _dt.datetime.now().isoformat(timespec="seconds")
        metrics = best_metrics(result.history)
        self.session.record_model_version(key, str(target), created, {"metrics": metrics})
        return choice

    def _set_state(self, state: str) -> None:
        self.state = state
        if state != "running":
            self._hold_gpu(False)
        self.state_changed.emit(state)

    def _hold_gpu(self, held: bool) -> None:
        if held != self._gpu_held:
            self._gpu_held = held
            self.gpu_busy_changed.emit(held)

    def _message(self, text: str) -> None:
        self.session.message.emit(text)
