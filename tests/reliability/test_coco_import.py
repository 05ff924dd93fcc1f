"""COCO files that are broken, hostile or large, imported through the window and the core:
a readable message or report, nothing half-imported, and 100,000 annotations in seconds.
(Not JSON, a detection list, unknown ids, NaN and outside boxes, `..` and absolute names are
also in tests/annotations/test_coco.py.)"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.annotations.coco import build_coco, import_coco
from app.annotations.coco_import import CocoImportError, parse_coco
from app.annotations.coco_merge import merge_import
from app.annotations.model import Category, ImageRecord, ImageStatus, Project
from tests.annotations.test_coco import project_from_import
from tests.app import conftest as app_fixtures
from tests.app.conftest import open_and_wait

settings, window, image_folder = (
    app_fixtures.settings,
    app_fixtures.window,
    app_fixtures.image_folder,
)  # the window tests' fixtures


def _coco(**changes) -> dict:
    data = {
        "images": [{"id": 1, "file_name": "img0.png", "width": 160, "height": 120}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    data.update(changes)
    return data


BROKEN = {
    "not JSON": b'{"images": [',
    "not UTF-8": b'{"images": [], "x": "\xff\xfe"}',
    "a list of detections": b"[]",
    "images is not a list": json.dumps(_coco(images={"1": "img0.png"})).encode(),
    "no images key": json.dumps({"annotations": [], "categories": []}).encode(),
    "empty file": b"",
}


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_file_that_is_not_coco_gives_a_message_naming_it_and_changes_nothing(
    qtbot, window, image_folder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    open_and_wait(qtbot, window, image_folder)
    path = tmp_path / "labels file.json"
    path.write_bytes(BROKEN[kind])
    before = copy.deepcopy((window.session.project.categories, window.session.project.images))
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, title, text: shown.append((title, text)))
    window.import_coco(path)
    assert len(shown) == 1 and "labels file.json: " in shown[0][1], shown
    assert (window.session.project.categories, window.session.project.images) == before
    assert not window.session.undo_stack.can_undo


WRONG_SHAPES = {
    "entries that are not objects": _coco(
        images=["img0.png", {"id": 1, "file_name": "img0.png"}],
        annotations=[7, {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        categories=[None, {"id": 1, "name": "thing"}],
    ),
    "annotations is not a list": _coco(annotations={"id": 1}),
    "no categories": {k: v for k, v in _coco().items() if k != "categories"},
    "missing ids and keys": _coco(
        images=[{"file_name": "x.png"}, {"id": 1, "file_name": "img0.png"}],
        annotations=[{"image_id": 1, "bbox": [1, 1, 5, 5]}, {"category_id": 1}],
    ),
    "duplicate ids": _coco(
        images=[{"id": 1, "file_name": "img0.png"}, {"id": 1, "file_name": "img1.png"}],
        categories=[{"id": 1, "name": "thing"}, {"id": 1, "name": "other"}],
    ),
    "ids of the wrong type": _coco(
        images=[{"id": [1], "file_name": "img0.png"}, {"id": True, "file_name": "img1.png"}],
        annotations=[{"id": 1, "image_id": {"a": 1}, "category_id": 1, "bbox": [1, 1, 5, 5]}],
    ),
    "numbers as strings": _coco(
        annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": ["1", "1", "5", "5"]}]
    ),
}


@pytest.mark.parametrize("kind", list(WRONG_SHAPES))
def test_entries_of_the_wrong_shape_are_skipped_and_reported(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(WRONG_SHAPES[kind]))
    result = import_coco(path, tmp_path)
    report = result.report
    assert report.skipped_total or report.notes, report.summary()
    # What was read is consistent: every box belongs to a category that exists.
    ids = {c.id for c in result.categories}
    assert all(b.category_id in ids for rec in result.images for b in rec.boxes)
    project = project_from_import(tmp_path, result)
    build_coco(project)  # and it can be exported again


def test_duplicate_ids_keep_the_first_entry_and_say_so() -> None:
    data = WRONG_SHAPES["duplicate ids"]
    result = parse_coco(copy.deepcopy(data), source="dup.json")
    assert [r.path for r in result.images] == ["img0.png"]
    assert [c.name for c in result.categories] == ["thing"]
    assert result.report.skipped == {"duplicate image id": 1, "duplicate category id": 1}
    assert result.boxes == 1


def test_negative_and_outside_boxes_are_clipped_or_skipped_with_a_count() -> None:
    data = _coco(
        annotations=[
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [-5, -5, 10, 10]},  # clipped
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [150, 100, 50, 50]},  # clipped
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [5, 5, -3, 4]},  # negative width
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [-50, 5, 20, 4]},  # outside
        ]
    )
    result = parse_coco(data, source="edge.json")
    assert [b.rect for b in result.images[0].boxes] == [(0, 0, 5, 5), (150, 100, 160, 120)]
    assert result.report.clamped_boxes == 2
    assert result.report.skipped == {"zero-size box": 1, "box outside its image": 1}


@pytest.mark.parametrize(
    ("flag", "crowd"),
    [(0, False), ("0", False), ("false", False), (None, False), (1, True), ("1", True)],
)
def test_iscrowd_written_as_a_string_is_read_as_its_value(flag: object, crowd: bool) -> None:
    data = _coco()
    data["annotations"][0]["iscrowd"] = flag
    result = parse_coco(data, source="crowd.json")
    assert result.boxes == (0 if crowd else 1)
    assert bool(result.report.skipped) == crowd


def test_two_classes_sharing_a_colour_keep_it_through_export_and_import(tmp_path: Path) -> None:
    cats = [Category(1, "cat", "#ff0000"), Category(2, "lynx", "#ff0000")]
    project = Project(root=tmp_path, categories=cats, images=[ImageRecord("a.png", 8, 8)])
    data, _ = build_coco(project)
    again = project_from_import(tmp_path, parse_coco(json.loads(json.dumps(data))))
    assert again.categories == cats
    # Merged into a project that uses red already, a colour the file gives is kept too; one it
    # does not give is made up, unlike every class there.
    other = Project(root=tmp_path, categories=[Category(1, "dog", "#ff0000")])
    data["categories"].append({"id": 3, "name": "owl"})
    merge_import(other, parse_coco(data))
    colours = {c.name: c.color for c in other.categories}
    assert colours["cat"] == colours["lynx"] == "#ff0000"
    assert colours["owl"] not in ("#ff0000",)


def test_boxes_merged_into_an_image_of_known_size_are_clipped_to_it() -> None:
    project = Project(root=Path("/nowhere"), images=[ImageRecord("img0.png", 160, 120)])
    project.add_category("thing")
    data = _coco(images=[{"id": 1, "file_name": "img0.png"}])  # the file does not say the size
    data["annotations"] = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [150, 110, 40, 40]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [500, 500, 10, 10]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
    ]
    cmd = merge_import(project, parse_coco(data))
    rects = [b.rect for b in project.image("img0.png").boxes]
    assert rects == [(150, 110, 160, 120), (1, 2, 4, 6)]
    assert (cmd.added_boxes, cmd.clipped_boxes, cmd.outside_boxes) == (2, 1, 1)
    # Importing the same file again adds nothing: the clipped box is found again.
    again = merge_import(project, parse_coco(data))
    assert again.added_boxes == 0 and again.duplicate_boxes == 2


def _big_file(path: Path, annotations: int, images: int = 2000) -> Path:
    data = {
        "images": [
            {"id": i, "file_name": f"img{i}.jpg", "width": 640, "height": 480}
            for i in range(images)
        ],
        "annotations": [
            {
                "id": k + 1,
                "image_id": k % images,
                "category_id": k % 5 + 1,
                "bbox": [k // images % 600, k // images % 460, 30.5, 20.25],
                "iscrowd": 0,
            }
            for k in range(annotations)
        ],  # fmt: skip
        "categories": [{"id": c, "name": f"class {c}"} for c in range(1, 6)],
    }
    path.write_text(json.dumps(data))
    return path


def _timed_import(window, path: Path, monkeypatch) -> float:
    monkeypatch.setattr(window, "show_report", lambda *a: None)
    started = time.perf_counter()
    window.import_coco(path)
    return time.perf_counter() - started


def test_a_hundred_thousand_annotations_import_through_the_window_in_linear_time(
    qtbot, window, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "big"
    app_fixtures.write_images(folder, count=1)
    open_and_wait(qtbot, window, folder)
    small = _timed_import(window, _big_file(tmp_path / "small.json", 10_000), monkeypatch)
    window.session.undo()
    big = _timed_import(window, _big_file(tmp_path / "big.json", 100_000), monkeypatch)
    project = window.session.project
    assert sum(len(r.boxes) for r in project.images) == 100_000
    assert len(project.categories) == 5
    assert all(r.status == ImageStatus.REVIEWED for r in project.images if r.boxes)
    # Ten times the annotations may cost about ten times as long, never a hundred (quadratic).
    # A ratio within one run, so a busy machine does not matter; bench/coco_import.py prints
    # the seconds.
    assert big / small < 30, f"10,000 in {small:.2f} s, 100,000 in {big:.2f} s"
    window.session.undo()
    assert sum(len(r.boxes) for r in project.images) == 0


def test_hostile_file_names_never_reach_the_project(tmp_path: Path) -> None:
    names = ["../../etc/passwd", "/etc/passwd", "C:\\Windows\\x.png", "a/../../b.png", "x\x00.png"]
    data = _coco(images=[{"id": i, "file_name": n} for i, n in enumerate(names, 2)])
    result = parse_coco(data, tmp_path, source="hostile.json")
    assert result.images == []
    assert result.report.skipped["file_name leaves the image folder"] == len(names)
    with pytest.raises(CocoImportError, match="nowhere.json: cannot read"):
        import_coco(tmp_path / "nowhere.json", tmp_path)
