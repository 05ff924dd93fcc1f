"""Rules for reviewing proposals: lowest confidence, the doubtful band, the next image to look
at, class mapping, repeats.

No Qt here: the image list, the proposals panel, the canvas and the auto-annotate controller
share these rules (the edits they lead to are built in app.annotations.edits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from app.annotations.geometry import rect_iou
from app.annotations.model import ImageRecord, ImageStatus, Project, Proposal, Rect, new_uid

DOUBTFUL_BAND = (0.3, 0.7)  # proposals scored in this band are the ones worth a human look
# Two same-class boxes overlapping this much are one object (auto-annotate drops the model's
# repeats at this IoU; "accept all shown" and the pre-training check use it too).
DUPLICATE_IOU = 0.7
NO_CLASS_NAMES = frozenset({"", "N/A"})  # model class slots that are not classes

# A class mapping: model class name -> project category id, or None to ignore the class.
ClassMap = dict[str, int | None]


def lowest_score(rec: ImageRecord) -> float | None:
    """Return the lowest proposal score of an image (None when it has no proposals)."""
    return min((p.score for p in rec.proposals), default=None)


def is_doubtful(rec: ImageRecord, band: tuple[float, float] = DOUBTFUL_BAND) -> bool:
    """Return True when some proposal of the image scores inside the doubtful band."""
    low, high = band
    return any(low <= p.score <= high for p in rec.proposals)


def is_unreviewed(rec: ImageRecord) -> bool:
    """Return True when the image is not marked reviewed yet."""
    return rec.status != ImageStatus.REVIEWED


def next_image(project: Project, current: str, wanted: Callable[[ImageRecord], bool]) -> str | None:
    """Return the first image after `current` in project order (wrapping around) for which
    `wanted` is true, never `current` itself; None when there is none.

    One search for "next unreviewed" (N) and "next doubtful" (Shift+N); an unknown `current`
    (none shown) starts at the first image.
    """
    images = project.images
    start = next((i for i, rec in enumerate(images) if rec.path == current), -1)
    for k in range(1, len(images) + 1):
        rec = images[(start + k) % len(images)]
        if rec.path != current and wanted(rec):
            return rec.path
    return None


def model_class_names(names: Iterable[str]) -> list[str]:
    """Return the model's real class names, once each, in slot order ("N/A" slots dropped)."""
    seen: dict[str, None] = {}
    for name in names:
        if name not in NO_CLASS_NAMES:
            seen.setdefault(name, None)
    return list(seen)


def unmapped_names(names: Iterable[str], mapping: Mapping[str, int | None], project: Project):
    """Return the model classes the mapping does not cover (or maps to a deleted category)."""
    ids = {c.id for c in project.categories}
    missing = []
    for name in names:
        if name not in mapping or mapping[name] is not None and mapping[name] not in ids:
            missing.append(name)
    return missing


def map_by_name(names: Iterable[str], project: Project) -> ClassMap | None:
    """Return the mapping to same-named project classes (case-insensitive), None if one lacks."""
    by_name = {c.name.casefold(): c.id for c in project.categories}
    mapping: ClassMap = {}
    for name in names:
        cid = by_name.get(name.casefold())
        if cid is None:
            return None
        mapping[name] = cid
    return mapping


def to_proposals(
    detections: Iterable[tuple[float, float, float, float, str, float]],
    mapping: Mapping[str, int | None],
    model: str,
) -> list[Proposal]:
    """Return Proposals for the detections whose class is mapped to a project class."""
    proposals = []
    for x1, y1, x2, y2, name, score in detections:
        cid = mapping.get(name)
        if cid is None or x2 - x1 < 1 or y2 - y1 < 1:
            continue
        proposals.append(Proposal(new_uid(), x1, y1, x2, y2, cid, float(score), model))
    return proposals


def without_repeats(
    rec: ImageRecord, uids: Iterable[str], iou: float = DUPLICATE_IOU
) -> tuple[list[str], list[str]]:
    """Return (uids to accept, uids skipped): best score first, a proposal is skipped when it
    overlaps a box of its class (or a proposal accepted before it) at IoU >= `iou`."""
    wanted = set(uids)
    taken: list[tuple[int, Rect]] = [(b.category_id, b.rect) for b in rec.boxes]
    accept, skipped = [], []
    for prop in sorted(rec.proposals, key=lambda p: -p.score):
        if prop.uid not in wanted:
            continue
        rect = prop.rect
        if any(cid == prop.category_id and rect_iou(r, rect) >= iou for cid, r in taken):
            skipped.append(prop.uid)
            continue
        accept.append(prop.uid)
        taken.append((prop.category_id, rect))
    return accept, skipped
