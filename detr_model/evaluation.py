"""COCO box AP of a detector on a dataset (pycocotools COCOeval, its console output silenced)."""

from __future__ import annotations

import contextlib
import io
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")
"""The first nine COCOeval summary numbers, in order; -1 where no ground truth falls in a range."""


def _silenced(fn: Callable[[], Any]) -> Any:
    with contextlib.redirect_stdout(io.StringIO()):
        return fn()


def coco_metrics(coco_gt: Any, detections: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Returns {AP, AP50, …, AR100, per_class, per_class_ap50} for COCO detections.

    `detections` is the COCO results format: dicts with image_id, category_id, bbox [x, y, w, h]
    in pixels and score. `per_class` maps each category name to its AP (-1 without ground truth),
    `per_class_ap50` to its AP at IoU 0.5. With no detections every metric is 0 (-1 where there
    is no ground truth at all). Detections whose box or score is not finite are left out (and
    logged): pycocotools counts a NaN IoU as a match, so one NaN box per object scored AP 1.0.
    """
    from pycocotools.cocoeval import COCOeval

    detections = _finite_only(detections)
    cat_ids = sorted(coco_gt.getCatIds())
    names = {cid: str(coco_gt.cats[cid]["name"]) for cid in cat_ids}
    has_gt = len(coco_gt.getAnnIds()) > 0
    if not detections:
        empty = 0.0 if has_gt else -1.0
        result: dict[str, Any] = dict.fromkeys(METRIC_NAMES, empty)
        result["per_class"] = {
            names[c]: (0.0 if coco_gt.getAnnIds(catIds=[c]) else -1.0) for c in cat_ids
        }
        result["per_class_ap50"] = dict(result["per_class"])
        return result
    coco_dt = _silenced(lambda: coco_gt.loadRes([dict(d) for d in detections]))
    evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
    _silenced(evaluator.evaluate)
    _silenced(evaluator.accumulate)
    _silenced(evaluator.summarize)
    result = {name: float(v) for name, v in zip(METRIC_NAMES, evaluator.stats, strict=False)}
    precision = evaluator.eval["precision"]  # (T iou, R recall, K cats, A areas, M maxDets)
    per_class: dict[str, float] = {}
    per_class_ap50: dict[str, float] = {}
    for k, cid in enumerate(evaluator.params.catIds):
        for table, p in (
            (per_class, precision[:, :, k, 0, -1]),
            (per_class_ap50, precision[0, :, k, 0, -1]),
        ):
            p = p[p > -1]
            table[names[cid]] = float(np.mean(p)) if p.size else -1.0
    result["per_class"] = per_class
    result["per_class_ap50"] = per_class_ap50
    return result


def _finite_only(detections: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Returns the detections whose four bbox numbers and score are finite."""
    kept = [d for d in detections if _is_finite_detection(d)]
    if len(kept) < len(detections):
        log.warning(
            "evaluation: left out %d detection(s) with a non-finite box or score",
            len(detections) - len(kept),
        )
    return kept


def _is_finite_detection(detection: Mapping[str, Any]) -> bool:
    try:
        numbers = [float(v) for v in detection["bbox"]] + [float(detection["score"])]
    except (KeyError, TypeError, ValueError):
        return False
    return len(numbers) == 5 and all(math.isfinite(v) for v in numbers)


def detections_to_coco(
    results: Iterable[Mapping[str, Tensor]],
    image_ids: Iterable[int],
    *,
    label_to_category: Mapping[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Returns COCO-results dicts from post-processed outputs ({scores, labels, boxes xyxy px}).

    Labels are category ids unless `label_to_category` maps them; labels with no category
    (the "N/A" slots) and detections whose score or box is not finite are left out.
    """
    out: list[dict[str, Any]] = []
    for result, image_id in zip(results, image_ids, strict=True):
        boxes = result["boxes"].detach().float().cpu()
        scores = result["scores"].detach().float().cpu()
        finite = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
        xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1)
        # A finite box can still overflow to inf in x1 - x0 (float32 range).
        finite &= torch.isfinite(xywh).all(dim=1)
        labels = result["labels"].detach().cpu().tolist()
        rows = zip(xywh.tolist(), scores.tolist(), labels, finite.tolist(), strict=True)
        for box, score, label, ok in rows:
            cat = label_to_category.get(int(label)) if label_to_category else int(label)
            if cat is None or not ok:
                continue
            out.append({"image_id": int(image_id), "category_id": cat, "bbox": box, "score": score})
    return out


@torch.no_grad()
def predict_dataset(
    model: nn.Module,
    data_loader: Iterable[tuple[Any, Sequence[Mapping[str, Tensor]]]],
    *,
    postprocess: Callable[..., list[dict[str, Tensor]]] | None = None,
    label_to_category: Mapping[int, int] | None = None,
    autocast_dtype: torch.dtype | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict[str, Any]]:
    """Returns COCO-results detections of `model` on every batch (images, targets) of the loader.

    Targets need `image_id` and `orig_size` (h, w); boxes are scaled to the original image.
    """
    if postprocess is None:
        from detr_model.postprocess import PostProcess

        config = getattr(model, "config", None)  # sigmoid (focal) models score per class
        postprocess = PostProcess(getattr(config, "class_score", "softmax"))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    detections: list[dict[str, Any]] = []
    try:
        for images, targets in data_loader:
            if should_stop is not None and should_stop():
                break
            with torch.autocast(
                device.type,
                dtype=autocast_dtype or torch.float32,
                enabled=autocast_dtype is not None,
            ):
                outputs = model(images.to(device))
            outputs = {
                "pred_logits": outputs["pred_logits"].float(),
                "pred_boxes": outputs["pred_boxes"].float(),
            }
            sizes = torch.stack([t["orig_size"] for t in targets]).to(device)
            results = postprocess(outputs, sizes)
            ids = [int(t["image_id"].reshape(-1)[0]) for t in targets]
            detections += detections_to_coco(results, ids, label_to_category=label_to_category)
    finally:
        model.train(was_training)
    return detections


def evaluate(
    model: nn.Module,
    data: Any,
    coco_gt: Any = None,
    *,
    postprocess: Callable[..., list[dict[str, Tensor]]] | None = None,
    label_to_category: Mapping[int, int] | None = None,
    autocast_dtype: torch.dtype | None = None,
    batch_size: int = 2,
) -> dict[str, Any]:
    """Returns the COCO box metrics (see `coco_metrics`) of `model` on a dataset or loader.

    `data` is a dataset like `CocoDetection` with evaluation transforms, or a DataLoader
    yielding (NestedTensor, targets) as `collate_fn` makes them. `coco_gt` (pycocotools COCO)
    and `label_to_category` default to the dataset's own `coco()` and `label_to_category`.
    """
    from torch.utils.data import DataLoader

    from detr_model.data.transforms import collate_fn

    dataset = data.dataset if isinstance(data, DataLoader) else data
    loader = data
    if not isinstance(data, DataLoader) and hasattr(data, "__getitem__"):
        loader = DataLoader(data, batch_size=batch_size, collate_fn=collate_fn)
    if coco_gt is None:
        if not hasattr(dataset, "coco"):
            raise ValueError("evaluate: pass coco_gt, or data whose dataset has coco()")
        coco_gt = dataset.coco()
    if label_to_category is None:
        label_to_category = getattr(dataset, "label_to_category", None)
    detections = predict_dataset(
        model,
        loader,
        postprocess=postprocess,
        label_to_category=label_to_category,
        autocast_dtype=autocast_dtype,
    )
    metrics = coco_metrics(coco_gt, detections)
    log.info("evaluation: AP %.3f, AP50 %.3f", metrics["AP"], metrics["AP50"])
    return metrics
