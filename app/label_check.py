"""Likely labelling mistakes before training: same-class boxes that overlap almost entirely.

Two boxes of one class at IoU >= DUPLICATE_IOU on one image are nearly always one object
labelled twice (for example two model proposals of one circle, both accepted), and a
duplicate teaches DETR to repeat objects. No Qt here: the training dialog and the image list
ask these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.annotations.geometry import rect_iou
from app.annotations.model import Box, ImageRecord, ImageStatus, Project
from app.annotations.review import DUPLICATE_IOU


@dataclass(frozen=True)
class DuplicatePair:
    """Two boxes of one class on one image that overlap at `iou`."""

    path: str
    first: str  # box uid
    second: str
    category_id: int
    iou: float


def duplicate_pairs(rec: ImageRecord, iou: float = DUPLICATE_IOU) -> list[DuplicatePair]:
    """Return the pairs of same-class boxes of an image overlapping at IoU >= `iou`."""
    by_class: dict[int, list[Box]] = {}
    for box in rec.boxes:
        by_class.setdefault(box.category_id, []).append(box)
    pairs = []
    for cid, boxes in by_class.items():
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                overlap = rect_iou(a.rect, b.rect)
                if overlap >= iou:
                    pairs.append(DuplicatePair(rec.path, a.uid, b.uid, cid, overlap))
    return pairs


def has_duplicates(rec: ImageRecord, iou: float = DUPLICATE_IOU) -> bool:
    """Return True when the image has a pair of same-class boxes at IoU >= `iou`."""
    return bool(duplicate_pairs(rec, iou))


def find_duplicates(
    project: Project, *, only_reviewed: bool = True, iou: float = DUPLICATE_IOU
) -> list[DuplicatePair]:
    """Return every duplicate pair of the project (of the reviewed images: what trains)."""
    images: Iterable[ImageRecord] = project.images
    if only_reviewed:
        images = (rec for rec in images if rec.status == ImageStatus.REVIEWED)
    return [pair for rec in images for pair in duplicate_pairs(rec, iou)]


def describe_duplicates(pairs: list[DuplicatePair]) -> str:
    """Return one sentence about the duplicate pairs ("" when there are none)."""
    if not pairs:
        return ""
    images = len({p.path for p in pairs})
    what = "pair" if len(pairs) == 1 else "pairs"
    where = "image" if images == 1 else "images"
    return (
        f"{len(pairs)} {what} of same-class boxes overlap at IoU ≥ {DUPLICATE_IOU:.1f} on "
        f"{images} reviewed {where}: probably one object labelled twice."
    )
