"""Score a checkpoint on a COCO file of project images, as auto-annotate would run it.

The model is loaded by `Predictor.from_checkpoint` (its own input size, the auto-annotate
path), every query is kept (score >= 0, no duplicate removal: COCO AP ranks them itself, as
`python -m detr_model eval` and the training curve do), model classes become the file's
categories through a class map, and `detr_model.evaluation.coco_metrics` gives AP, AP50 and
AP per class. No Qt; torch is imported on the first call (this runs in a worker thread).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from app.model_comparison import ModelScore

log = logging.getLogger(__name__)

# (done, total) after each image
OnProgress = Callable[[int, int], None]


class Stopped(Exception):
    """The scoring was cancelled."""


def category_map(
    class_names: list[str], categories: list[dict[str, Any]], class_map: Mapping[str, Any] | None
) -> dict[str, int]:
    """Return model class name -> category id of the file: the user's mapping where it has
    one (ids outside the file dropped), else the same name (case-insensitive)."""
    ids = {int(c["id"]) for c in categories}
    by_name = {str(c["name"]).casefold(): int(c["id"]) for c in categories}
    mapping: dict[str, int] = {}
    for name in class_names:
        if class_map is not None and name in class_map:
            target = class_map[name]
            if isinstance(target, int) and target in ids:
                mapping[name] = target
            continue  # mapped to nothing, or to a class this file does not hold
        if name.casefold() in by_name:
            mapping[name] = by_name[name.casefold()]
    return mapping


def score_checkpoint(
    path: str,
    coco_json: str | Path,
    images_root: str | Path,
    *,
    label: str,
    class_map: Mapping[str, Any] | None = None,
    device: str = "auto",
    should_stop: Callable[[], bool] | None = None,
    on_progress: OnProgress | None = None,
    predictor_factory: Callable[[str, str], Any] | None = None,
) -> ModelScore:
    """Return the model's COCO box AP on the file's images (raises Stopped when cancelled).

    A model that cannot be loaded gives a score with `error` set, not an exception; an image
    that cannot be read gets no detections (it counts as missed, for every model alike).
    """
    from detr_model.data.coco import coco_api, load_coco_json
    from detr_model.evaluation import coco_metrics

    data = load_coco_json(coco_json)
    images = list(data["images"])
    stop = should_stop or (lambda: False)
    if stop():
        raise Stopped
    try:
        predictor = (predictor_factory or _load_predictor)(path, device)
    except Exception as exc:  # any load error is a readable score, never a dead worker
        log.warning("cannot score %s: %s", path, exc)
        return ModelScore(label, path, images=len(images), error=str(exc) or type(exc).__name__)
    mapping = category_map(list(predictor.class_names), data["categories"], class_map)
    detections: list[dict[str, Any]] = []
    unreadable = 0
    root = Path(images_root)
    for done, img in enumerate(images, start=1):
        if stop():  # between images: a window closing waits one image at most
            raise Stopped
        try:
            (found,) = predictor.predict([root / img["file_name"]], score_threshold=0.0)
        except (OSError, ValueError) as exc:
            log.warning("%s: not scored (%s)", img["file_name"], exc)
            unreadable += 1
        else:
            detections += _as_coco(found, int(img["id"]), mapping)
        if on_progress is not None:
            on_progress(done, len(images))
    metrics = coco_metrics(coco_api(data), detections)
    return ModelScore.from_metrics(label, path, metrics, len(images), unreadable=unreadable)


def _as_coco(found: Any, image_id: int, mapping: dict[str, int]) -> list[dict[str, Any]]:
    """Return COCO result dicts of one image's Detections (classes without a category left out)."""
    out = []
    for (x1, y1, x2, y2), score, name in zip(
        found.boxes.tolist(), found.scores.tolist(), found.names, strict=True
    ):
        cid = mapping.get(name)
        if cid is not None:
            bbox = [x1, y1, x2 - x1, y2 - y1]
            out.append({"image_id": image_id, "category_id": cid, "bbox": bbox, "score": score})
    return out


def _load_predictor(path: str, device: str) -> Any:
    from detr_model.predictor import Predictor

    return Predictor.from_checkpoint(path, device=device)
