"""What the convergence bench shares: data of both image styles and a training clock.

"own" is `detr_model.data.synthetic`, the generator the models were built around; "unseen" is
`detr_model.data.unseen`, the stand-in for a user's pictures. Every AP50 is measured on both.
The unseen-style validation seed is never used for training images (TRAIN_SEED).
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from detr_model.data import collate_fn, generate_shapes_dataset
from detr_model.data.unseen import generate_unseen_dataset
from detr_model.evaluation import predict_dataset
from detr_model.postprocess import PostProcess

STYLES: tuple[str, ...] = ("own", "unseen")
TRAIN_SEED = 1
VAL_SEED = {"own": 2, "unseen": 21}
_GENERATORS = {"own": generate_shapes_dataset, "unseen": generate_unseen_dataset}


def make_images(folder: Path, style: str, count: int, seed: int, size, shapes) -> Path:
    """Returns the COCO JSON of `count` images of `style` in `folder` (kept if already there)."""
    json_path = folder / "annotations.json"
    if not json_path.is_file():
        _GENERATORS[style](folder, count, seed=seed, size=tuple(size), shapes=tuple(shapes))
    return json_path


def data_folder(root: Path, split: str, style: str) -> Path:
    """Returns root/train or root/val for the own style (as before), root/SPLIT_unseen else."""
    return root / (split if style == "own" else f"{split}_{style}")


def detections_of(model, val, amp_dtype=None, label_to_category=None) -> list[dict]:
    """Returns `model`'s COCO detections on the dataset `val` (classes mapped as `val` says,
    or by `label_to_category`), batches of 8."""
    loader = DataLoader(val, batch_size=8, collate_fn=collate_fn)
    return predict_dataset(
        model,
        loader,
        postprocess=PostProcess(model.config.class_score),
        label_to_category=val.label_to_category if label_to_category is None else label_to_category,
        autocast_dtype=amp_dtype,
    )


def ap50_of(coco_gt: Any, detections: list[dict], cat_ids: Sequence[int] | None = None) -> float:
    """Returns the AP50 over all classes (COCO's), or the mean AP50 over `cat_ids`."""
    from pycocotools.cocoeval import COCOeval

    from detr_model.evaluation import coco_metrics

    if not detections:
        return 0.0
    if cat_ids is None:
        return float(coco_metrics(coco_gt, detections)["AP50"])
    with contextlib.redirect_stdout(io.StringIO()):
        ev = COCOeval(coco_gt, coco_gt.loadRes(detections), iouType="bbox")
        ev.params.catIds = list(cat_ids)
        ev.evaluate()
        ev.accumulate()
    p = ev.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, recall, classes, all areas, 100 dets
    per_class = [float(np.mean(p[:, k][p[:, k] > -1])) for k in range(p.shape[1])]
    return float(np.mean(per_class))


class Clock:
    """Minutes of training against a budget: wall clock, or CPU time of this process (all its
    threads: `time.process_time`) so that a busy machine does not shorten a run, or iterations
    at a given rate. Time inside `paused()` (evaluations) is left out of the budget; `wall()`
    counts everything."""

    def __init__(self, *, cpu: bool = False, iterations_per_minute: float | None = None) -> None:
        self.cpu = cpu
        self.rate = iterations_per_minute
        self.iterations = 0
        self._wall0 = time.monotonic()
        self._cpu0 = time.process_time()
        self._left_out_wall = 0.0
        self._left_out_cpu = 0.0
        self.last_pause_s = 0.0

    def tick(self) -> None:
        """Counts one training iteration."""
        self.iterations += 1

    def minutes(self) -> float:
        """Returns the budget minutes spent (evaluations left out)."""
        if self.rate:
            return self.iterations / self.rate
        if self.cpu:
            return self.training_cpu_s() / 60
        return self.training_s() / 60

    def training_s(self) -> float:
        """Returns the wall seconds spent training (evaluations left out)."""
        return time.monotonic() - self._wall0 - self._left_out_wall

    def training_cpu_s(self) -> float:
        """Returns the CPU seconds of this process spent training (evaluations left out)."""
        return time.process_time() - self._cpu0 - self._left_out_cpu

    def wall(self) -> float:
        """Returns the wall minutes since the start, evaluations included."""
        return (time.monotonic() - self._wall0) / 60

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        wall, cpu = time.monotonic(), time.process_time()
        try:
            yield
        finally:
            self.last_pause_s = time.monotonic() - wall
            self._left_out_wall += self.last_pause_s
            self._left_out_cpu += time.process_time() - cpu

    def unit(self) -> str:
        if self.rate:
            return f"min at {self.rate:g} it/min"
        return "CPU-min" if self.cpu else "min"
