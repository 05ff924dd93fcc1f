"""Do a fast back-end's detections match float32's? The check behind precision="auto".

Two lists of Detections (one per image) agree when every detection the reference scores at
least `score_threshold` has a detection of the same class in the candidate, scored at least
`score_threshold - score_slack`, whose box corners are all within `max_px` pixels of it; and
the same the other way round. The slack keeps a score that moves from 0.51 to 0.49 from
counting as a lost detection (bfloat16 moves a doubtful score by up to ~0.08 on the demo
model), while a box that moves or changes class still fails.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the Predictor imports this module
    from detr_model.predictor import Detections

DEFAULT_MAX_PX = 2.0
DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_SCORE_SLACK = 0.1


def input_pixel_tolerance(
    original_size: Sequence[int], input_size: Sequence[int], max_px: float = DEFAULT_MAX_PX
) -> float:
    """Return `max_px` pixels of the model's input in the original image's pixels (sizes as
    (h, w) or (w, h) alike): boxes come back in original pixels, the model sees the input."""
    return max_px * max(1.0, max(original_size) / max(input_size))


@dataclass(frozen=True)
class GuardReport:
    """How far a candidate's detections are from the reference's."""

    compared: int  # detections of either side above the threshold that were looked for
    unmatched: int  # of those, how many had no same-class partner within the box tolerance
    max_box_px: float  # largest corner difference over the matched pairs (0 when none)

    @property
    def ok(self) -> bool:
        """Return True when every detection found its partner."""
        return self.unmatched == 0


def compare_detections(
    reference: Sequence[Detections],
    candidate: Sequence[Detections],
    *,
    max_px: float | Sequence[float] = DEFAULT_MAX_PX,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    score_slack: float = DEFAULT_SCORE_SLACK,
) -> GuardReport:
    """Return how well `candidate` keeps the detections of `reference` (same images, in order).

    `max_px` is one tolerance in pixels, or one per image (a caller that compares in the
    model's input pixels scales it by how much each image was shrunk).
    """
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference images but {len(candidate)} candidates")
    tolerances = (
        [float(max_px)] * len(reference) if np.isscalar(max_px) else [float(t) for t in max_px]
    )
    compared = unmatched = 0
    worst = 0.0
    for ref, cand, tol in zip(reference, candidate, tolerances, strict=True):
        for wanted, pool in ((ref, cand), (cand, ref)):
            keep = wanted.scores >= score_threshold
            partners = pool.scores >= score_threshold - score_slack
            gaps = _corner_gaps(wanted.boxes[keep], pool.boxes[partners])  # (N, M)
            same = wanted.labels[keep][:, None] == pool.labels[partners][None, :]
            gaps = np.where(same, gaps, np.inf)
            best = gaps.min(axis=1) if gaps.shape[1] else np.full(gaps.shape[0], np.inf)
            compared += len(best)
            unmatched += int((best > tol).sum())
            matched = best[best <= tol]
            if matched.size:
                worst = max(worst, float(matched.max()))
    return GuardReport(compared=compared, unmatched=unmatched, max_box_px=worst)


def _corner_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the largest |corner difference| in pixels between each box of a and each of b."""
    if a.size == 0 or b.size == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    return np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)


def evaluate_predictor(
    predictor: Any, coco_json: str | Path, image_dir: str | Path, *, score_threshold: float = 0.05
) -> tuple[dict[str, Any], list[Detections]]:
    """Return (COCO metrics, Detections per image in the file's order) of a Predictor.

    Model classes are matched to the file's categories by name.
    """
    from pycocotools.coco import COCO

    from detr_model.evaluation import coco_metrics

    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO(str(coco_json))
    images = gt.dataset["images"]
    by_name = {str(c["name"]): int(c["id"]) for c in gt.dataset["categories"]}
    found = predictor.predict(
        [Path(image_dir) / str(image["file_name"]) for image in images],
        score_threshold=score_threshold,
    )
    results = [
        {
            "image_id": int(image["id"]),
            "category_id": by_name[name],
            "bbox": [x0, y0, x1 - x0, y1 - y0],
            "score": score,
        }
        for image, det in zip(images, found, strict=True)
        for (x0, y0, x1, y1), score, name in zip(
            det.boxes.tolist(), det.scores.tolist(), det.names, strict=True
        )
        if name in by_name
    ]
    return coco_metrics(gt, results), found
