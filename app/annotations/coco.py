"""COCO detection files: export (atomic, pycocotools-loadable) and tolerant import.

Our own extra data (category colours, image status, box uid/source/score and the exact xyxy
corners) rides in a "detr_studio" field of each entry, which other tools ignore; with it, our
files round-trip exactly. Merging an import into a project lives in coco_merge.py.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from dataclasses import dataclass, field
from math import isfinite
from pathlib import Path

from app.annotations.coco_import import ImportReport, ImportResult, import_coco, parse_coco
from app.annotations.gcpause import paused_gc
from app.annotations.geometry import xyxy_to_xywh
from app.annotations.model import ImageStatus, Project
from detr_model.atomic_file import atomic_write_text
from detr_model.image_file import ImageReadError, read_size

log = logging.getLogger(__name__)

__all__ = [
    "EXTRA_KEY",
    "ExportSummary",
    "ImportReport",
    "ImportResult",
    "build_coco",
    "export_coco",
    "import_coco",
    "parse_coco",
]

EXTRA_KEY = "detr_studio"
FORMAT_VERSION = 1


@dataclass
class ExportSummary:
    """What an export wrote and what it had to leave out."""

    path: Path | None
    images: int = 0
    annotations: int = 0
    categories: int = 0
    skipped_images: list[str] = field(default_factory=list)  # "path: reason"
    skipped_boxes: int = 0  # boxes entirely outside their image


def _image_size(project: Project, rec) -> tuple[int, int]:
    if rec.size is None:
        w, h = read_size(project.root / rec.path, name=rec.path)
        rec.width, rec.height = w, h  # lazily learned, kept for next time
    return rec.size


def build_coco(project: Project, *, only_reviewed: bool = False) -> tuple[dict, ExportSummary]:
    """Return the COCO dict for the project and a summary (nothing is written).

    Images are numbered 1..N in project order, annotations 1..M; boxes are clamped to their
    image and dropped (counted) when nothing is left. Images whose size is unknown are measured
    from their header; unreadable ones are left out and listed in the summary.
    """
    summary = ExportSummary(path=None)
    now = _dt.datetime.now(_dt.timezone.utc)
    categories = [
        {
            "id": c.id,
            "name": c.name,
            "supercategory": "",
            EXTRA_KEY: {"color": c.color},
        }
        for c in sorted(project.categories, key=lambda c: c.id)
    ]
    known_ids = {c.id for c in project.categories}
    images: list[dict] = []
    annotations: list[dict] = []
    for rec in project.images:
        if only_reviewed and rec.status != ImageStatus.REVIEWED:
            continue
        try:
            width, height = _image_size(project, rec)
        except ImageReadError as exc:
            summary.skipped_images.append(str(exc))
            log.warning("export: %s", exc)
            continue
        image_id = len(images) + 1
        images.append(
            {
                "id": image_id,
                "file_name": rec.path,
                "width": width,
                "height": height,
                EXTRA_KEY: {"status": rec.status.value},
            }
        )
        for box in rec.boxes:
            x1, y1, x2, y2 = box.x1, box.y1, box.x2, box.y2
            if box.category_id not in known_ids or not isfinite(x1 + y1 + x2 + y2):
                summary.skipped_boxes += 1
                continue
            if x1 > x2:
                x1, x2 = x2, x1
            if y1 > y2:
                y1, y2 = y2, y1
            # Clamp to the image (inline: this loop runs for every box of the dataset).
            x1 = 0.0 if x1 < 0 else (width if x1 > width else x1)
            x2 = 0.0 if x2 < 0 else (width if x2 > width else x2)
            y1 = 0.0 if y1 < 0 else (height if y1 > height else y1)
            y2 = 0.0 if y2 < 0 else (height if y2 > height else y2)
            bbox = xyxy_to_xywh((x1, y1, x2, y2))
            w, h = bbox[2], bbox[3]
            if w <= 0 or h <= 0:
                summary.skipped_boxes += 1
                continue
            extra: dict = {"uid": box.uid}
            if box.source != "manual":
                extra["source"] = box.source
            if box.score is not None:
                extra["score"] = box.score
            if x1 + w != x2 or y1 + h != y2:  # float rounding: keep the exact corners too
                extra["xyxy"] = [x1, y1, x2, y2]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": box.category_id,
                    "bbox": list(bbox),
                    "area": w * h,
                    "iscrowd": 0,
                    EXTRA_KEY: extra,
                }
            )
    data = {
        "info": {
            "description": f"{project.root.name} (DETR Studio export)",
            "version": "1.0",
            "year": now.year,
            "contributor": "DETR Studio",
            "date_created": now.isoformat(timespec="seconds"),
            EXTRA_KEY: {"format": FORMAT_VERSION, "next_category_id": project.next_category_id},
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    summary.images = len(images)
    summary.annotations = len(annotations)
    summary.categories = len(categories)
    return data, summary


def export_coco(
    project: Project, path: str | os.PathLike, *, only_reviewed: bool = False
) -> ExportSummary:
    """Write the project as a COCO detection file atomically and return what was written."""
    path = Path(path)
    with paused_gc():
        data, summary = build_coco(project, only_reviewed=only_reviewed)
        text = json.dumps(data, separators=(",", ":"), allow_nan=False)
        del data
    atomic_write_text(path, text)
    summary.path = path
    log.info("exported %d images, %d boxes to %s", summary.images, summary.annotations, path)
    return summary
