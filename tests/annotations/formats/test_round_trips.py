"""Property-based round trips: any project exported in a format and imported back has the same
boxes (within 1e-6 of the image size) and the same classes, EXIF-rotated images included."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.annotations.coco_merge import merge_import
from app.annotations.formats import ExportOptions, SplitSpec, export_dataset, import_labels
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, new_uid
from tests.annotations.formats.support import boxes_by_image, save_image, without_boxes

# (stored size, EXIF orientation): odd sizes, long thin images, and rotations that swap sides.
POOL = {
    "p/tiny.png": ((7, 5), None),
    "p/photo.png": ((64, 48), None),
    "p/wide.png": ((1000, 20), None),
    "p/tall.png": ((17, 401), None),
    "q/rot90.jpg": ((40, 30), 6),
    "q/rot270.jpg": ((50, 20), 8),
    "q/upside_down.jpg": ((30, 20), 3),
    "q/photo.jpg": ((33, 25), None),  # same stem as p/photo.png, another folder
    "p/photo.jpg": ((12, 9), None),  # same stem in the same folder: one is renamed on export
}
SWAPS = {6, 8}

# Class names from anywhere in Unicode but control characters and those XML cannot hold.
NAMES = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=10,
).filter(lambda s: s.strip() == s)


@pytest.fixture(scope="module")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pool") / "photos"
    for path, (size, orientation) in POOL.items():
        save_image(root / path, size, orientation=orientation)
    return root


def display_size(path: str) -> tuple[int, int]:
    (w, h), orientation = POOL[path]
    return (h, w) if orientation in SWAPS else (w, h)


@st.composite
def projects(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, list[tuple]]]]:
    """Return (class names, [(image path, [(class index, rect)])])."""
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    paths = draw(
        st.lists(st.sampled_from(sorted(POOL)), min_size=1, max_size=len(POOL), unique=True)
    )
    images = []
    for path in paths:
        w, h = display_size(path)
        boxes = []
        for _ in range(draw(st.integers(0, 4))):
            x1 = draw(st.floats(0, w - 0.5, allow_nan=False))
            y1 = draw(st.floats(0, h - 0.5, allow_nan=False))
            x2 = draw(st.floats(x1 + 0.01, w, allow_nan=False))
            y2 = draw(st.floats(y1 + 0.01, h, allow_nan=False))
            boxes.append((draw(st.integers(0, len(names) - 1)), (x1, y1, x2, y2)))
        images.append((path, boxes))
    return names, images


def build(root: Path, names: list[str], images: list[tuple[str, list[tuple]]]) -> Project:
    cats = [Category(i + 5, n, "#123456") for i, n in enumerate(names)]  # ids not from 1
    records = [
        ImageRecord(
            path,
            *display_size(path),
            ImageStatus.REVIEWED,
            boxes=[Box(new_uid(), *rect, cats[k].id) for k, rect in boxes],
        )
        for path, boxes in images
    ]
    return Project(root=root, categories=cats, images=records)


@pytest.mark.parametrize("format_id", ["yolo", "voc", "labelme", "coco"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=projects(), split=st.booleans(), seed=st.integers(0, 3))
def test_export_then_import_gives_the_same_boxes_and_classes(
    image_root: Path, format_id: str, data, split: bool, seed: int
) -> None:
    names, images = data
    project = build(image_root, names, images)
    spec = SplitSpec(0.5, 0.3, 0.2, seed=seed) if split else None
    with tempfile.TemporaryDirectory(dir=image_root.parent) as out:
        target = Path(out) / ("export.json" if format_id == "coco" else "export")
        summary = export_dataset(format_id, project, target, ExportOptions(split=spec))
        assert summary.images == len(images)
        fresh = without_boxes(project)
        if format_id == "coco" and split:  # one file per split: import each
            for name in summary.splits:
                merge_import(fresh, import_labels("coco", Path(out) / f"export_{name}.json", fresh))
        else:
            result = import_labels(format_id, target, fresh)
            assert result.report.skipped_total == 0, result.report.summary()
            merge_import(fresh, result)

    assert sorted(c.name for c in fresh.categories) == sorted(names)
    expected, got = boxes_by_image(project), boxes_by_image(fresh)
    assert set(got) == set(expected)
    for path in expected:
        tol = 1e-6 * max(display_size(path))
        # Both ways: a box exactly equal to another is merged into it on import (MergeImport).
        assert covered(expected[path], got[path], tol), (path, expected[path], got[path])
        assert covered(got[path], expected[path], tol), (path, expected[path], got[path])


def covered(boxes: list, others: list, tol: float) -> bool:
    """Return True when every (name, rect) has one of the same name within `tol` in `others`."""
    return all(
        any(
            name == other_name
            and max(abs(a - b) for a, b in zip(rect, other_rect, strict=True)) <= tol
            for other_name, other_rect in others
        )
        for name, rect in boxes
    )
