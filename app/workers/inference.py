"""The inference worker: runs a DETR Predictor on a frozen list of images off the GUI thread.

`InferenceWorker` is a QObject moved to a QThread (the controller in app/auto_annotate.py
does that). It owns the Predictor between runs, imports torch only when it first loads a model,
decodes the next images on a small thread pool while the model runs, and speaks the worker
vocabulary of DESIGN.md: `started`, `progress`, `result`, `failed`, `finished`. It never touches
widgets or the Project: inputs are frozen dataclasses, outputs are plain tuples.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.annotations.review import DUPLICATE_IOU  # a repeat of a better proposal is dropped

log = logging.getLogger(__name__)

DEFAULT_SCORE_FLOOR = 0.05  # proposals below this are never stored; the slider filters above it
WORKER_NICENESS = 10  # Linux: the GUI thread wins the CPU whenever it has something to do

# (x1, y1, x2, y2, class name, score) in display-oriented pixels of the original image
Detection = tuple[float, float, float, float, str, float]


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load and how: a checkpoint file, on a device ("auto", "cpu", "cuda", "mps")."""

    path: str
    device: str = "auto"
    batch_size: int = 0  # 0: pick (on the CPU by input size, 1 to 8; 4 on a GPU)
    min_size: int | None = None  # None: as the checkpoint was evaluated in training (else 800)
    max_size: int | None = None  # None: the checkpoint's (else 1333)


@dataclass(frozen=True)
class InferenceJob:
    """A frozen run request: (image key, absolute path) pairs and the score floor."""

    images: tuple[tuple[str, str], ...]
    score_floor: float = DEFAULT_SCORE_FLOOR
    duplicate_iou: float | None = DUPLICATE_IOU  # None: every query, as the model gives them
    decode_threads: int = 2
    lookahead: int = 4  # images decoded ahead of the model at most (at least 3 batches)


@dataclass(frozen=True)
class ImageResult:
    """Detections of one image, plain Python (no numpy or torch needed to read them)."""

    key: str
    size: tuple[int, int]  # (width, height) in display orientation
    detections: tuple[Detection, ...]


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI needs to know about a loaded model."""

    path: str
    class_names: tuple[str, ...]
    device: str  # e.g. "cpu", "cuda", "mps"
    precision: str
    batch_size: int


class InferenceWorker(QObject):
    """Loads a model lazily and runs it image by image; lives in its own QThread.

    Call `load` and `run` through queued signals (or QMetaObject.invokeMethod) so they run on
    the worker thread. `cancel` is a threading.Event the GUI thread sets; it is checked between
    images and every run keeps what it finished.
    """

    model_loaded = Signal(object)  # ModelInfo
    started = Signal(int)  # total images
    progress = Signal(int, int, str)  # done, total, message
    result = Signal(str, object)  # image key, ImageResult
    image_failed = Signal(str, str)  # image key, message (the image is skipped)
    failed = Signal(str)  # a message naming the file and the problem
    finished = Signal(int, bool)  # images done, cancelled

    def __init__(self, predictor_factory: Callable[[ModelSpec], Any] | None = None) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self._factory = predictor_factory or _load_predictor
        self._predictor: Any = None
        self._spec: ModelSpec | None = None
        self._done = 0  # images finished (or skipped) in the current run

    # ----- model -----------------------------------------------------------------------------

    def loaded_spec(self) -> ModelSpec | None:
        """Return the spec of the model now in memory (None when none)."""
        return self._spec

    @Slot(object)
    def load(self, spec: ModelSpec) -> None:
        """Load `spec` (freeing the previous model first); emits model_loaded or failed."""
        lower_thread_priority()  # before torch starts its math threads: they inherit it
        if spec == self._spec and self._predictor is not None:
            self.model_loaded.emit(self._info())
            return
        self.unload()
        try:
            self._predictor = self._factory(spec)
        except Exception as exc:  # every load error is reported, never a dead thread
            log.warning("cannot load model %s: %s", spec.path, exc)
            self.failed.emit(_describe_load_error(spec.path, exc))
            return
        self._spec = spec
        self.model_loaded.emit(self._info())

    @Slot()
    def unload(self) -> None:
        """Drop the model and give its memory back (also the CUDA cache)."""
        if self._predictor is None:
            return
        device = str(getattr(self._predictor, "device", "cpu"))
        self._predictor = None
        self._spec = None
        gc.collect()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        log.info("model unloaded")

    def _info(self) -> ModelInfo:
        p = self._predictor
        return ModelInfo(
            path=self._spec.path if self._spec else "",
            class_names=tuple(getattr(p, "class_names", ())),
            device=str(getattr(p, "device", "cpu")),
            precision=str(getattr(p, "precision", "fp32")),
            batch_size=int(getattr(p, "batch_size", 1)),
        )

    # ----- running ---------------------------------------------------------------------------

    @Slot(object)
    def run(self, job: InferenceJob) -> None:
        """Run the loaded model on every image of `job`; emits started/progress/result/finished."""
        total = len(job.images)
        if self._predictor is None:
            self.failed.emit("no model is loaded")
            self.finished.emit(0, False)
            return
        self.started.emit(total)
        self._done = 0
        try:
            self._run(job)
        except Exception as exc:  # a model error ends the run with a message; results stay
            log.exception("inference failed")
            self.failed.emit(f"{Path(self._spec.path).name if self._spec else 'model'}: {exc}")
        self.finished.emit(self._done, self.cancel.is_set())

    def _run(self, job: InferenceJob) -> None:
        """Decode ahead on the pool while the model runs; batch decoded images of similar size.

        The oldest image waits for nobody: a batch is that image plus the already decoded
        images closest to it in shape (less padding, which also changes DETR's outputs less),
        so the model gets work as soon as one image is ready and results may come out of
        list order.
        """
        predictor = self._predictor
        total = len(job.images)
        batch_size = max(1, int(getattr(predictor, "batch_size", 1)))
        window = max(job.lookahead, 3 * batch_size)  # decoded or decoding, not yet run
        pending: deque[tuple[str, str, Future]] = deque()
        queue = iter(job.images)
        with ThreadPoolExecutor(
            job.decode_threads, thread_name_prefix="infer-decode", initializer=lower_thread_priority
        ) as pool:

            def top_up() -> None:
                while len(pending) < window and not self.cancel.is_set():
                    item = next(queue, None)
                    if item is None:
                        return
                    key, path = item
                    pending.append((key, path, pool.submit(predictor.prepare, path)))

            top_up()
            while pending and not self.cancel.is_set():
                batch: list[tuple[str, Any]] = []
                for key, path, future in _next_batch(pending, batch_size):
                    try:
                        batch.append((key, future.result()))
                    except Exception as exc:  # a broken image is skipped, the run goes on
                        self._done += 1
                        self.image_failed.emit(key, _describe_image_error(path, exc))
                        self.progress.emit(self._done, total, f"skipped {key}")
                top_up()  # decode the next images while the model runs on this batch
                if not batch or self.cancel.is_set():
                    continue
                found = predictor.predict(
                    [p for _, p in batch],
                    score_threshold=job.score_floor,
                    duplicate_iou=job.duplicate_iou,
                )
                for (key, prepared), det in zip(batch, found, strict=True):
                    self._done += 1
                    self.result.emit(key, to_image_result(key, prepared, det))
                    self.progress.emit(self._done, total, key)
            for _, _, future in pending:
                future.cancel()


def _next_batch(
    pending: deque[tuple[str, str, Future]], size: int
) -> list[tuple[str, str, Future]]:
    """Return (and take out of `pending`) the oldest image and the decoded ones nearest its shape.

    Waits for the oldest image only; images still decoding are left for a later batch.
    """
    head = pending.popleft()
    try:
        head_shape = _shape(head[2].result())
    except Exception:  # a broken image goes alone; the caller reports it
        return [head]
    ready = [item for item in pending if item[2].done() and item[2].exception() is None]
    ready.sort(key=lambda item: _shape_distance(head_shape, _shape(item[2].result())))
    chosen = ready[: size - 1]
    for item in chosen:
        pending.remove(item)
    return [head, *chosen]


def _shape(prepared: Any) -> tuple[int, int]:
    """Return the (height, width) the model sees for a prepared image."""
    height, width = prepared.pixels.shape[-2:]
    return int(height), int(width)


def _shape_distance(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Return how much padding two images would add to each other in one batch (0 = none)."""
    height, width = max(a[0], b[0]), max(a[1], b[1])
    return (2 * height * width - a[0] * a[1] - b[0] * b[1]) / (height * width)


def lower_thread_priority() -> None:
    """Give the calling thread a lower CPU priority than the GUI thread (Linux only).

    Linux keeps a nice value per thread, and threads started later (torch's math threads)
    inherit it; elsewhere this does nothing, as setpriority would apply to the whole process.
    """
    if not sys.platform.startswith("linux") or getattr(_priority, "done", False):
        return
    if threading.current_thread() is threading.main_thread():
        return  # called directly (tests, scripts): leave the caller's thread alone
    _priority.done = True
    try:
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), WORKER_NICENESS)
        )
    except OSError as exc:
        log.debug("cannot lower the worker thread priority: %s", exc)


_priority = threading.local()


def to_image_result(key: str, prepared: Any, det: Any) -> ImageResult:
    """Return plain detections for one image from a PreparedImage and its Detections."""
    height, width = prepared.original_size
    rows = []
    for box, score, name in zip(det.boxes.tolist(), det.scores.tolist(), det.names, strict=True):
        x1, y1, x2, y2 = (float(v) for v in box)
        x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
        y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
        rows.append((x1, y1, x2, y2, str(name), float(score)))
    return ImageResult(key, (int(width), int(height)), tuple(rows))


def _load_predictor(spec: ModelSpec) -> Any:
    """Return a Predictor for `spec` (imports torch and detr_model on first use)."""
    started = time.perf_counter()
    from detr_model.devices import pick_device
    from detr_model.predictor import Predictor

    device = pick_device(spec.device)
    predictor = Predictor.from_checkpoint(
        spec.path,
        device=device,
        batch_size=spec.batch_size or 4,
        min_size=spec.min_size,
        max_size=spec.max_size,
    )
    if not spec.batch_size and device.type == "cpu":
        predictor.batch_size = cpu_batch_size(predictor.min_size)
    log.info("loaded %s on %s in %.1f s", spec.path, device, time.perf_counter() - started)
    return predictor


def cpu_batch_size(min_size: int) -> int:
    """Return the CPU batch for a model input size: about two paper-size (800 x 1066) images
    of pixels, 1 to 8 images. On 2 cores the demo model (160 px) runs 2-3x more images per
    second at batch 8 than at 1 (bench/gui_latency.py --demo); R50 at 800 gets 2."""
    paper_pixels = 800 * 1066
    return max(1, min(8, round(2 * paper_pixels / (min_size * min_size * 4 / 3))))


def _describe_load_error(path: str, exc: BaseException) -> str:
    """Return a message that names the checkpoint file and the problem."""
    text = str(exc).strip() or type(exc).__name__
    name = Path(path).name
    if name and name in text:
        return f"Cannot load the model: {text}"
    return f"Cannot load the model {name}: {text}"


def _describe_image_error(path: str, exc: BaseException) -> str:
    """Return a message that names the image file and the problem."""
    text = str(exc).strip() or type(exc).__name__
    name = Path(path).name
    return text if name in text else f"{name}: {text}"
