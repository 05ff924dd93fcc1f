"""Box math in display-orientation pixels."""

from __future__ import annotations

import math

from app.annotations.geometry import (
    clamp_rect,
    is_valid_rect,
    normalize_rect,
    rect_area,
    rect_iou,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def test_normalize_orders_corners() -> None:
    assert normalize_rect((10, 8, 2, 4)) == (2.0, 4.0, 10.0, 8.0)


def test_clamp_clips_to_the_image_and_normalizes() -> None:
    assert clamp_rect((-5, 90, 120, -3), 100, 80) == (0.0, 0.0, 100.0, 80.0)
    assert clamp_rect((150, 10, 160, 20), 100, 80) == (100.0, 10.0, 100.0, 20.0)


def test_area_is_zero_for_empty_or_inverted_rects() -> None:
    assert rect_area((0, 0, 4, 2.5)) == 10.0
    assert rect_area((5, 5, 1, 9)) == 0.0


def test_xywh_conversions_are_inverse() -> None:
    rect = (1.5, 2.0, 11.5, 7.0)
    assert xyxy_to_xywh(rect) == (1.5, 2.0, 10.0, 5.0)
    assert xywh_to_xyxy(xyxy_to_xywh(rect)) == rect


def test_validity_needs_finite_numbers_and_a_minimum_size() -> None:
    assert is_valid_rect((0, 0, 3, 3), min_size=2)
    assert not is_valid_rect((0, 0, 2, 3), min_size=2)
    assert not is_valid_rect((0, 0, 0, 3))
    assert not is_valid_rect((0, 0, math.nan, 3))
    assert not is_valid_rect((0, 0, math.inf, 3))


def test_iou_of_overlapping_and_empty_rects() -> None:
    assert rect_iou((0, 0, 2, 2), (1, 0, 3, 2)) == 1 / 3
    assert rect_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0
