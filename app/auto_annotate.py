"""The auto-annotate controller: owns the inference thread and turns detections into proposals.

It takes a frozen snapshot of the images to run on, asks the worker to load the chosen model
(once; it stays loaded between runs), makes sure the model's classes are mapped to project
classes, starts the run, and stores each result as that image's proposals through the session
(replacing earlier proposals, never touching boxes). Progress (app/run_progress.py) is kept
here for the status bar. Dialogs are asked through hooks AutoAnnotateUI sets (tests answer
them instead).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread, Signal, Slot

from app.annotations.model import ImageStatus
from app.annotations.review import ClassMap, to_proposals
from app.class_mapping import AskMapping, ClassMappings
from app.model_registry import (
    META_MODEL_KEY,
    SETTINGS_DEVICE,
    SETTINGS_MODEL_KEY,
    ModelChoice,
    choice_for_key,
    device_setting,
    project_models_dir,
    remembered_key,
)
from app.run_progress import RunProgress
from app.session import Session
from app.workers.inference import (
    DEFAULT_SCORE_FLOOR,
    DUPLICATE_IOU,
    ImageResult,
    InferenceJob,
    InferenceWorker,
    ModelInfo,
    ModelSpec,
)
from app.workers.threads import hold_until_finished

log = logging.getLogger(__name__)


# Hooks the window provides (tests replace them).
AskModel = Callable[[], "ModelChoice | None"]
Download = Callable[[ModelChoice], "ModelChoice | None"]


class AutoAnnotator(QObject):
    """Runs the chosen model on images in a background thread; results become proposals."""

    progress_changed = Signal(object)  # RunProgress
    running_changed = Signal(bool)
    model_changed = Signal(object)  # ModelChoice | None
    device_changed = Signal(str)  # the device the loaded model runs on
    run_failed = Signal(str)  # a message for a dialog
    run_finished = Signal(int, bool)  # images done, cancelled
    image_skipped = Signal(str, str)  # image key, message

    _load_requested = Signal(object)
    _run_requested = Signal(object)
    _unload_requested = Signal()

    def __init__(
        self,
        session: Session,
        qsettings: Any = None,
        parent: QObject | None = None,
        *,
        predictor_factory: Callable[[ModelSpec], Any] | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.qsettings = qsettings
        self.score_floor = DEFAULT_SCORE_FLOOR
        self.duplicate_iou: float | None = DUPLICATE_IOU  # None keeps repeated boxes
        self.spec_options: dict[str, int] = {}  # ModelSpec fields (min_size, batch_size, …)
        self.device = device_setting(qsettings)
        self.gpu_busy = False  # a training run holds the GPU: run on the CPU meanwhile
        self.mappings = ClassMappings(session)
        self.choice: ModelChoice | None = None
        self.model_info: ModelInfo | None = None
        self.ask_mapping: AskMapping | None = None
        self.ask_model: AskModel | None = None
        self.download: Download | None = None
        self.selected_paths: Callable[[], list[str]] = lambda: []
        self.predictor_factory = predictor_factory  # tests and benches swap it
        self._thread: QThread | None = None
        self._worker: InferenceWorker | None = None
        self._pending: tuple[str, ...] | None = None  # paths waiting for the model to load
        self._progress = RunProgress()
        self._started_at = 0.0
        self._mapping: ClassMap = {}
        self._run_model_key = ""
        self._run_project: object = None  # results of a run belong to the project it began in
        session.project_opened.connect(self._on_project_opened)

    # ----- what to run on ------------------------------------------------------------------

    def is_running(self) -> bool:
        """Return True from the moment a run is asked for until it finished."""
        return self._progress.running

    def progress(self) -> RunProgress:
        """Return the progress of the current (or last) run."""
        return self._progress

    def run_unreviewed(self) -> bool:
        """Run on every image not yet reviewed (the toolbar button); True if a run started."""
        project = self.session.project
        paths = (
            [r.path for r in project.images if r.status != ImageStatus.REVIEWED] if project else []
        )
        if project is not None and not paths:
            self.session.message.emit("Every image is reviewed: nothing to auto-annotate")
            return False
        return self.run(paths)

    def run_current(self) -> bool:
        """Run on the current image only."""
        return self.run([self.session.current_path] if self.session.current_path else [])

    def run_selected(self) -> bool:
        """Run on the images selected in the image list."""
        return self.run(self.selected_paths())

    def run(self, paths: list[str]) -> bool:
        """Run the chosen model on these images (relative paths); True if a run started."""
        if self.is_running():
            self.session.message.emit("Auto-annotate is already running")
            return False
        if self.session.project is None:
            self.session.message.emit("Open an image folder first")
            return False
        if not paths:
            self.session.message.emit("No images to auto-annotate")
            return False
        choice = self.current_choice() or (self.ask_model() if self.ask_model else None)
        if choice is None:
            self.session.message.emit("Choose a model first (Model → Choose Model…)")
            return False
        if choice.needs_download:
            choice = self.download(choice) if self.download else None
            if choice is None or not choice.path:
                return False
        self.set_model(choice)
        self._pending = tuple(paths)
        self._set_progress(RunProgress(running=True, loading=True, total=len(paths)))
        self.running_changed.emit(True)
        self._ensure_worker()
        self._load_requested.emit(self.spec())
        return True

    def cancel(self) -> None:
        """Stop the run after the image in progress; what is done stays."""
        if not self.is_running():
            return
        if self._worker is not None:
            self._worker.cancel.set()
        if self._pending is not None:  # still loading: do not start
            self._pending = None
        self.session.message.emit("Cancelling auto-annotate…")

    # ----- model choice --------------------------------------------------------------------

    def models_dir(self) -> Path | None:
        """Return the folder of models fine-tuned in this project."""
        project = self.session.project
        return project_models_dir(self.session.project_file, project.root if project else None)

    def current_choice(self) -> ModelChoice | None:
        """Return the chosen model, else the one remembered for this project (None if gone)."""
        if self.choice is None:
            meta = self.session.project.meta if self.session.project else None
            key = remembered_key(meta, self.qsettings)
            self.choice = choice_for_key(key, self.models_dir())
        return self.choice

    def set_model(self, choice: ModelChoice) -> bool:
        """Use another model (remembered for the project); False while a run goes on."""
        if self.choice is not None and choice == self.choice:
            return True
        if self.is_running():
            self.session.message.emit("Cancel or finish the run before switching models")
            return False
        old = self.choice
        self.choice = choice
        if old is not None and old.path != choice.path:
            self.unload_model()
        if self.session.project is not None:
            self.session.set_meta(META_MODEL_KEY, choice.key)
        if self.qsettings is not None:
            self.qsettings.setValue(SETTINGS_MODEL_KEY, choice.key)
        self.model_changed.emit(choice)
        return True

    def set_device(self, device: str) -> None:
        """Force a device ("auto", "cuda", "mps", "cpu"); the model reloads on the next run."""
        if device == self.device:
            return
        self.device = device
        if self.qsettings is not None:
            self.qsettings.setValue(SETTINGS_DEVICE, device)
        self.unload_model()

    def set_gpu_busy(self, busy: bool) -> None:
        """Say whether training holds the GPU; while it does, runs load the model on the CPU
        (a model already on the GPU is dropped, and reloaded there once training ends)."""
        if busy == self.gpu_busy:
            return
        self.gpu_busy = busy
        info = self.model_info
        movable = self.device in ("auto", "cuda")
        if info is not None and movable and busy != info.device.startswith("cpu"):
            self.unload_model()
        else:
            self.device_changed.emit(info.device if info is not None else "")

    def run_device(self) -> str:
        """Return the device the next run asks for: the chosen one, or "cpu" while training
        holds the GPU and the choice could be the GPU."""
        if self.gpu_busy and self.device in ("auto", "cuda"):
            return "cpu"
        return self.device

    def unload_model(self) -> None:
        """Free the loaded model (the worker drops it and empties the CUDA cache)."""
        self.model_info = None
        if self._worker is not None and not self.is_running():
            self._unload_requested.emit()
        self.device_changed.emit("")

    def spec(self) -> ModelSpec:
        """Return what the worker should load for the chosen model and device."""
        assert self.choice is not None
        return replace(ModelSpec(self.choice.path, self.run_device()), **self.spec_options)

    # ----- worker thread -------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._worker is not None:
            return
        self._thread = QThread()
        self._thread.setObjectName("inference")
        self._worker = InferenceWorker(self.predictor_factory)
        self._worker.moveToThread(self._thread)
        self._load_requested.connect(self._worker.load)
        self._run_requested.connect(self._worker.run)
        self._unload_requested.connect(self._worker.unload)
        self._worker.model_loaded.connect(self._on_model_loaded)
        self._worker.started.connect(self._on_started)
        self._worker.progress.connect(self._on_progress)
        self._worker.result.connect(self._on_result)
        self._worker.image_failed.connect(self._on_image_failed)
        self._worker.failed.connect(self._on_failed)
        self._worker.finished.connect(self._on_finished)
        self._thread.start()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel any run, apply the results already sent, stop the thread; True if it stopped."""
        if self._worker is not None:
            self._worker.cancel.set()
        self._pending = None
        if self._thread is None:
            return True
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        # Results the worker sent before it stopped are still queued for this object.
        QCoreApplication.sendPostedEvents(self, QEvent.Type.MetaCall.value)
        if not stopped:  # a batch or a model load longer than the timeout: never destroyed
            log.error("the inference thread did not stop within %d ms", timeout_ms)
            hold_until_finished(self._thread, self._worker)
        self._thread = None
        self._worker = None
        if self._progress.running:
            self._set_progress(replace(self._progress, running=False, loading=False))
            self.running_changed.emit(False)
        return stopped

    # ----- worker signals ------------------------------------------------------------------

    @Slot(object)
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        self.device_changed.emit(info.device)
        paths, self._pending = self._pending, None
        if paths is None:  # cancelled while loading
            self._end_run(0, cancelled=True)
            return
        project = self.session.project
        assert self.choice is not None
        mapping = (
            self.mappings.ensure(info.class_names, self.choice.key, self.ask_mapping)
            if project
            else None
        )
        if mapping is None or not any(v is not None for v in mapping.values()):
            why = "no model class is mapped to a project class" if mapping else "cancelled"
            self.session.message.emit(f"Auto-annotate not started: {why}")
            self._end_run(0, cancelled=True)
            return
        self._mapping = mapping
        self._run_model_key = self.choice.key
        self._run_project = project
        images = tuple((p, self.session.absolute_path(p)) for p in paths if project.has_image(p))
        self._worker.cancel.clear()
        job = InferenceJob(images, score_floor=self.score_floor, duplicate_iou=self.duplicate_iou)
        self._run_requested.emit(job)

    @Slot(int)
    def _on_started(self, total: int) -> None:
        self._started_at = time.perf_counter()
        self._set_progress(RunProgress(running=True, total=total))

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, _message: str) -> None:
        elapsed = time.perf_counter() - self._started_at
        self._set_progress(replace(self._progress, done=done, total=total, elapsed_s=elapsed))

    @Slot(str, object)
    def _on_result(self, key: str, result: ImageResult) -> None:
        project = self.session.project
        if project is None or project is not self._run_project or not project.has_image(key):
            return  # another project was opened during the run
        rec = project.image(key)
        if rec.size is None:
            self.session.set_image_size(key, *result.size)
        proposals = to_proposals(result.detections, self._mapping, self._run_model_key)
        self.session.set_model_proposals(key, proposals)

    @Slot(str, str)
    def _on_image_failed(self, key: str, message: str) -> None:
        self._set_progress(replace(self._progress, skipped=self._progress.skipped + 1))
        self.session.message.emit(f"Skipped {message}")
        self.image_skipped.emit(key, message)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        log.warning("auto-annotate failed: %s", message)
        if self._progress.loading:  # the model did not load: the run never started
            self._pending = None
            self._end_run(0, cancelled=False)
        self.run_failed.emit(message)

    @Slot(int, bool)
    def _on_finished(self, done: int, cancelled: bool) -> None:
        self._end_run(done, cancelled)

    def _end_run(self, done: int, cancelled: bool) -> None:
        if not self._progress.running:
            return
        p = self._progress
        self._set_progress(replace(p, running=False, loading=False))
        self.running_changed.emit(False)
        if done:
            rate = f" ({p.rate:.1f} img/s)" if p.rate else ""
            verb = "Cancelled after" if cancelled else "Auto-annotated"
            self.session.message.emit(f"{verb} {done} of {p.total} images{rate}")
        self.run_finished.emit(done, cancelled)

    def _set_progress(self, progress: RunProgress) -> None:
        self._progress = progress
        self.progress_changed.emit(progress)

    def _on_project_opened(self) -> None:
        if self.is_running():
            self.cancel()
        self.choice = None  # the next run reads the new project's remembered model
