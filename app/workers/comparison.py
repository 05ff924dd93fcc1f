"""The comparison worker: scores the model in use and the new model on the same images, off the
GUI thread.

`ComparisonRunner` runs one `ComparisonWorker` per job on a thread of its own; the worker calls
`app.model_scoring.score_checkpoint` for each model in turn and speaks the worker vocabulary of
DESIGN.md (`progress`, `result`, `failed`, `finished`). Inputs are a frozen job, outputs plain
`ModelScore`s; cancel is a threading.Event checked between images.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.model_comparison import ModelScore
from app.model_scoring import Stopped, score_checkpoint
from app.workers.inference import lower_thread_priority

log = logging.getLogger(__name__)

Scorer = Callable[..., ModelScore]  # score_checkpoint's signature (tests replace it)


@dataclass(frozen=True)
class ModelToScore:
    """One model of a comparison: its role ("old" | "new"), name, file and class map."""

    role: str
    label: str
    path: str
    class_map: tuple[tuple[str, int | None], ...] | None = None  # None: by class name


@dataclass(frozen=True)
class ComparisonJob:
    """Score these models on the images of one COCO file."""

    coco_json: str
    images_root: str
    models: tuple[ModelToScore, ...]
    device: str = "auto"


class ComparisonWorker(QObject):
    """Scores the job's models one after the other (`run` is called on a worker thread)."""

    progress = Signal(int, int, str)  # done, total (images over all models), message
    result = Signal(str, object)  # role, ModelScore
    failed = Signal(str)
    finished = Signal(bool)  # cancelled

    def __init__(self, scorer: Scorer | None = None) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self._scorer = scorer or score_checkpoint

    def run(self, job: ComparisonJob, images: int) -> None:
        """Score every model of `job` (`images` per model, for the progress total)."""
        lower_thread_priority()
        total = images * len(job.models)
        try:
            for k, model in enumerate(job.models):
                self.progress.emit(images * k, total, f"Scoring {model.label}…")

                def step(done: int, _n: int, k: int = k, label: str = model.label) -> None:
                    self.progress.emit(images * k + done, total, f"Scoring {label}…")

                score = self._scorer(
                    model.path,
                    job.coco_json,
                    job.images_root,
                    label=model.label,
                    class_map=dict(model.class_map) if model.class_map is not None else None,
                    device=job.device,
                    should_stop=self.cancel.is_set,
                    on_progress=step,
                )
                self.result.emit(model.role, score)
        except Stopped:
            self.finished.emit(True)
            return
        except Exception as exc:  # a broken file or an evaluation bug: a message, not a dead thread
            log.exception("comparing the models failed")
            self.failed.emit(f"Comparing the models failed: {exc}")
        self.finished.emit(False)


class ComparisonRunner(QObject):
    """Runs comparison jobs on a thread of their own and reports their scores.

    The worker stays a QObject of the GUI thread and its `run` executes on a Python thread:
    its signals reach the GUI thread queued (as the image loader's do), and no job waits in a
    QThread's event queue that a quick shutdown could leave behind.
    """

    progress = Signal(int, int, str)
    done = Signal(dict, bool)  # {role: ModelScore}, cancelled
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, *, scorer: Scorer | None = None) -> None:
        super().__init__(parent)
        self.scorer = scorer
        self._thread: threading.Thread | None = None
        self._worker: ComparisonWorker | None = None
        self._scores: dict[str, ModelScore] = {}

    def is_running(self) -> bool:
        """Return True from start() until the scores are reported."""
        return self._worker is not None

    def start(self, job: ComparisonJob, images: int) -> bool:
        """Score the job's models (`images` each) in the background; False if one runs."""
        if self._worker is not None:
            return False
        self._scores = {}
        worker = ComparisonWorker(self.scorer)
        worker.progress.connect(self.progress)
        worker.result.connect(self._on_result)
        worker.failed.connect(self.failed)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        self._thread = threading.Thread(
            target=worker.run, args=(job, images), name="comparison", daemon=True
        )
        self._thread.start()
        return True

    def cancel(self) -> None:
        """Stop after the current image; the scores so far are reported."""
        if self._worker is not None:
            self._worker.cancel.set()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel and wait for the thread (the window closes); True if it stopped."""
        self.cancel()
        thread = self._thread
        if thread is not None:
            thread.join(timeout_ms / 1000)
            if thread.is_alive():
                log.error("the comparison thread did not stop within %d ms", timeout_ms)
                return False
        return True

    @Slot(str, object)
    def _on_result(self, role: str, score: Any) -> None:
        self._scores[role] = score

    @Slot(bool)
    def _on_finished(self, cancelled: bool) -> None:
        if self._thread is not None:
            self._thread.join(10)  # it has emitted its last signal: returns at once
        self._thread, self._worker = None, None
        self.done.emit(dict(self._scores), cancelled)
