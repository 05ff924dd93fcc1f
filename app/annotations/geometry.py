"""Pixel-space box math in display orientation: xyxy floats everywhere, xywh only at COCO's edge."""

from __future__ import annotations

import math

from app.annotations.model import Rect

# Boxes smaller than this (pixels, either side) are treated as accidental clicks when drawing.
MIN_BOX_SIZE = 2.0


def normalize_rect(rect: Rect) -> Rect:
    """Return the rect as floats with x1 <= x2 and y1 <= y2."""
    x1, y1, x2, y2 = (float(v) for v in rect)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


def clamp_rect(rect: Rect, width: float, height: float) -> Rect:
    """Return the normalized rect clipped to the image [0, width] x [0, height]."""
    x1, y1, x2, y2 = normalize_rect(rect)
    return (
        min(max(x1, 0.0), float(width)),
        min(max(y1, 0.0), float(height)),
        min(max(x2, 0.0), float(width)),
        min(max(y2, 0.0), float(height)),
    )


def rect_size(rect: Rect) -> tuple[float, float]:
    """Return (width, height) of an xyxy rect (negative if not normalized)."""
    x1, y1, x2, y2 = rect
    return (x2 - x1, y2 - y1)


def rect_area(rect: Rect) -> float:
    """Return the area of an xyxy rect (0 when it is empty or inverted)."""
    w, h = rect_size(rect)
    return max(w, 0.0) * max(h, 0.0)


def rect_iou(a: Rect, b: Rect) -> float:
    """Return the intersection over union of two xyxy rects (0 when both are empty)."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(ix2 - ix1, 0.0) * max(iy2 - iy1, 0.0)
    union = rect_area(a) + rect_area(b) - inter
    return inter / union if union > 0 else 0.0


def is_finite_rect(rect: Rect) -> bool:
    """Return True when all four numbers are finite."""
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in rect)


def is_valid_rect(rect: Rect, min_size: float = 0.0) -> bool:
    """Return True for a finite rect whose sides are both longer than `min_size`."""
    if not is_finite_rect(rect):
        return False
    w, h = rect_size(rect)
    return w > min_size and h > min_size


def xyxy_to_xywh(rect: Rect) -> Rect:
    """Return [x1, y1, x2, y2] as (x, y, w, h) (COCO bbox)."""
    x1, y1, x2, y2 = rect
    return (x1, y1, x2 - x1, y2 - y1)


def xywh_to_xyxy(bbox: Rect) -> Rect:
    """Return COCO (x, y, w, h) as (x1, y1, x2, y2)."""
    x, y, w, h = bbox
    return (x, y, x + w, y + h)
