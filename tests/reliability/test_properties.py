"""Property-based (hypothesis): box geometry, exact COCO round trips of random projects, and
COCO import of arbitrary JSON never failing with anything but its own readable error."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.annotations.coco import build_coco
from app.annotations.coco_import import CocoImportError, parse_coco
from app.annotations.geometry import (
    clamp_rect,
    is_valid_rect,
    normalize_rect,
    rect_area,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project
from tests.annotations.test_coco import project_from_import

COORD = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
SIDE = st.integers(1, 10_000)
RECTS = st.tuples(COORD, COORD, COORD, COORD)
QUICK = settings(max_examples=200, deadline=None)


@QUICK
@given(rect=RECTS, width=SIDE, height=SIDE)
def test_a_clamped_box_lies_inside_its_image_and_clamping_twice_changes_nothing(
    rect, width, height
) -> None:
    x1, y1, x2, y2 = clamped = clamp_rect(rect, width, height)
    assert 0 <= x1 <= x2 <= width and 0 <= y1 <= y2 <= height
    assert clamp_rect(clamped, width, height) == clamped
    assert 0 <= rect_area(clamped) <= width * height
    # A box already inside is left exactly as it was (after ordering its corners).
    x_inside = min(rect[0], rect[2]) >= 0 and max(rect[0], rect[2]) <= width
    if x_inside and min(rect[1], rect[3]) >= 0 and max(rect[1], rect[3]) <= height:
        assert clamped == normalize_rect(rect)


@QUICK
@given(rect=RECTS)
def test_normalised_boxes_have_ordered_corners_and_the_same_area_either_way(rect) -> None:
    x1, y1, x2, y2 = normal = normalize_rect(rect)
    assert x1 <= x2 and y1 <= y2
    assert normalize_rect((x2, y2, x1, y1)) == normal
    assert rect_area(normal) == (x2 - x1) * (y2 - y1)
    assert is_valid_rect(normal) == (x2 > x1 and y2 > y1)


@QUICK
@given(rect=RECTS)
def test_xyxy_and_coco_xywh_convert_back_within_float_rounding(rect) -> None:
    x1, y1, x2, y2 = normalize_rect(rect)
    back = xywh_to_xyxy(xyxy_to_xywh((x1, y1, x2, y2)))
    scale = max(1.0, *(abs(v) for v in (x1, y1, x2, y2)))
    assert all(abs(a - b) <= 1e-9 * scale for a, b in zip(back, (x1, y1, x2, y2), strict=True))


@QUICK
@given(rect=st.tuples(*(st.floats() for _ in range(4))))
def test_a_box_with_nan_or_infinity_is_never_valid(rect) -> None:
    if not all(math.isfinite(v) for v in rect):
        assert not is_valid_rect(rect)


# ----- random projects: export to COCO, import into a new project, nothing changes ----------

# Image paths with spaces, non-ASCII letters and sub-folders; names unique per project.
PATH_PART = st.text(
    st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters=" _-é写"),
    min_size=1,
    max_size=8,
).filter(lambda s: s.strip() == s)
CLASS_NAME = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() == s)
COLORS = st.sampled_from(["#ff0000", "#00aa00", "#123456", "#abcdef"])  # often shared
STATUSES = st.sampled_from(list(ImageStatus))


@st.composite
def projects(draw: st.DrawFn) -> Project:
    """Return a project whose boxes all lie inside their images (export clamps the rest)."""
    names = draw(st.lists(CLASS_NAME, min_size=1, max_size=5, unique=True))
    ids = draw(st.lists(st.integers(1, 500), min_size=len(names), max_size=len(names), unique=True))
    categories = [Category(i, n, draw(COLORS)) for i, n in zip(ids, names, strict=True)]
    parts = draw(st.lists(PATH_PART, min_size=1, max_size=6, unique=True))
    images = []
    for k, part in enumerate(parts):
        width, height = draw(st.integers(1, 4000)), draw(st.integers(1, 4000))
        boxes = []
        for j in range(draw(st.integers(0, 4))):
            x1 = draw(st.floats(0, width, allow_nan=False, exclude_max=True))
            y1 = draw(st.floats(0, height, allow_nan=False, exclude_max=True))
            x2 = draw(st.floats(x1, width, allow_nan=False, exclude_min=True))
            y2 = draw(st.floats(y1, height, allow_nan=False, exclude_min=True))
            source = draw(st.sampled_from(["manual", "model", "import"]))
            score = draw(st.none() | st.floats(0, 1)) if source == "model" else None
            cat = draw(st.sampled_from(categories)).id
            boxes.append(Box(f"u{k}-{j}", x1, y1, x2, y2, cat, score, source))
        folder = "sub dir/" if k % 2 else ""
        images.append(
            ImageRecord(f"{folder}{part}.png", width, height, draw(STATUSES), boxes=boxes)
        )
    next_id = max(ids) + draw(st.integers(1, 3))
    return Project(root=Path("/nowhere"), categories=categories, images=images,
                   next_category_id=next_id)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(project=projects())
def test_a_random_project_exported_to_coco_and_imported_back_is_identical(project) -> None:
    data, summary = build_coco(project)
    assert summary.skipped_boxes == 0 and not summary.skipped_images
    text = json.dumps(data, allow_nan=False)  # what export_coco writes
    result = parse_coco(json.loads(text), source="export.json")
    assert result.report.skipped_total == 0 and result.report.clamped_boxes == 0
    again = project_from_import(project.root, result)
    assert again.categories == sorted(project.categories, key=lambda c: c.id)
    assert again.next_category_id == project.next_category_id
    assert [(r.path, r.size, r.status, r.boxes) for r in again.images] == [
        (r.path, r.size, r.status, r.boxes) for r in project.images
    ]


# ----- any JSON: a project or a CocoImportError, never a crash -------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(["0", "1", "../x.png", "/abs.png", "a.png", "#ff0000"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
KEYS = ["id", "image_id", "category_id", "bbox", "file_name", "width", "height", "name",
        "iscrowd", "score", "color", "detr_studio"]  # fmt: skip
ENTRIES = st.dictionaries(st.sampled_from(KEYS), VALUES | st.lists(COORD, min_size=4, max_size=4))


@settings(max_examples=300, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {"images": st.lists(ENTRIES | VALUES, max_size=4)},
        optional={
            "annotations": st.lists(ENTRIES | VALUES, max_size=6) | VALUES,
            "categories": st.lists(ENTRIES | VALUES, max_size=4) | VALUES,
            "info": st.dictionaries(st.just("detr_studio"), VALUES) | VALUES,
        },
    )
)
def test_any_json_imports_with_a_report_and_a_project_can_be_made_of_it(data) -> None:
    try:
        result = parse_coco(data, source="fuzz.json")
    except CocoImportError as exc:
        assert str(exc).startswith("fuzz.json: ")
        return
    project = project_from_import(Path("/nowhere"), result)
    for rec in project.images:
        for box in rec.boxes:
            assert is_valid_rect(box.rect)
            if rec.size is not None:
                assert clamp_rect(box.rect, *rec.size) == box.rect
    build_coco(project)  # what the import made can be exported again
