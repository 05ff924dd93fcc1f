"""COCO export and import: pycocotools loads our files, ids are stable, foreign files import."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from app.annotations.coco import export_coco, import_coco
from app.annotations.coco_import import CocoImportError, ImportResult, parse_coco
from app.annotations.coco_merge import MergeImport, merge_import
from app.annotations.commands import DeleteCategory, UndoStack
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project
from detr_model import atomic_file as atomic


def project_from_import(root: str | Path, result: ImportResult) -> Project:
    """Return a new project for `root` holding exactly what the import read (ids kept)."""
    project = Project(root=Path(root))
    merge_import(project, result)
    return project


def _project(root: Path) -> Project:
    """Three images on disk (one with unknown size, one EXIF-rotated, one without boxes)."""
    Image.new("RGB", (64, 48)).save(root / "a.png")
    (root / "sub").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 30)).save(root / "sub" / "b.jpg", exif=exif.tobytes())
    Image.new("RGB", (10, 10)).save(root / "c.png")
    cats = [Category(1, "cat", "#ff0000"), Category(3, "dog", "#00ff00")]
    images = [
        ImageRecord(
            "a.png",
            64,
            48,
            ImageStatus.REVIEWED,
            boxes=[
                Box("u1", 0.1, 0.2, 10.3, 20.7, 1),
                Box("u2", 30, 10, 70, 60, 3, score=0.75, source="model"),  # crosses the edge
                Box("u3", 100, 100, 120, 120, 1),  # entirely outside: dropped
            ],
        ),
        ImageRecord("sub/b.jpg", status=ImageStatus.PROPOSED, boxes=[Box("u4", 1, 2, 11, 22, 3)]),
        ImageRecord("c.png", 10, 10),
    ]
    return Project(root=root, categories=cats, images=images, next_category_id=5)


def test_export_lists_every_image_with_ids_from_one_and_relative_names(tmp_path: Path) -> None:
    project = _project(tmp_path)
    out = tmp_path / "out.json"
    summary = export_coco(project, out)
    data = json.loads(out.read_text())
    assert [i["id"] for i in data["images"]] == [1, 2, 3]
    assert [i["file_name"] for i in data["images"]] == ["a.png", "sub/b.jpg", "c.png"]
    assert [a["id"] for a in data["annotations"]] == [1, 2, 3]
    assert all(a["iscrowd"] == 0 for a in data["annotations"])
    assert {"info", "licenses", "images", "annotations", "categories"} <= set(data)
    assert [(c["id"], c["name"]) for c in data["categories"]] == [(1, "cat"), (3, "dog")]
    assert (summary.images, summary.annotations, summary.skipped_boxes) == (3, 3, 1)


def test_export_reads_unknown_sizes_in_display_orientation(tmp_path: Path) -> None:
    project = _project(tmp_path)
    export_coco(project, tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text())
    assert (data["images"][1]["width"], data["images"][1]["height"]) == (30, 40)
    assert project.image("sub/b.jpg").size == (30, 40)


def test_export_clamps_boxes_and_area_is_width_times_height(tmp_path: Path) -> None:
    export_coco(_project(tmp_path), tmp_path / "out.json")
    anns = json.loads((tmp_path / "out.json").read_text())["annotations"]
    assert anns[1]["bbox"] == [30.0, 10.0, 34.0, 38.0]
    for ann in anns:
        assert ann["area"] == ann["bbox"][2] * ann["bbox"][3]


def test_export_only_reviewed_keeps_reviewed_images(tmp_path: Path) -> None:
    export_coco(_project(tmp_path), tmp_path / "out.json", only_reviewed=True)
    data = json.loads((tmp_path / "out.json").read_text())
    assert [i["file_name"] for i in data["images"]] == ["a.png"]


def test_category_ids_stay_stable_after_a_class_is_deleted(tmp_path: Path) -> None:
    project = _project(tmp_path)
    UndoStack().push(DeleteCategory(1), project)
    project.add_category("bird")
    export_coco(project, tmp_path / "out.json")
    cats = json.loads((tmp_path / "out.json").read_text())["categories"]
    assert [(c["id"], c["name"]) for c in cats] == [(3, "dog"), (5, "bird")]


def test_pycocotools_loads_the_export_and_perfect_detections_score_ap_one(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    export_coco(_project(tmp_path), out)
    gt = COCO(str(out))
    assert sorted(gt.getImgIds()) == [1, 2, 3] and sorted(gt.getCatIds()) == [1, 3]
    dets = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "bbox": a["bbox"],
            "score": 1.0,
        }
        for a in gt.dataset["annotations"]
    ]
    ev = COCOeval(gt, gt.loadRes(dets), iouType="bbox")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # AP @[.5:.95]
    assert ev.stats[1] == pytest.approx(1.0)  # AP50


def test_our_own_file_round_trips_exactly(tmp_path: Path) -> None:
    project = _project(tmp_path)
    export_coco(project, tmp_path / "out.json")
    result = import_coco(tmp_path / "out.json", tmp_path)
    assert result.ours and result.report.skipped_total == 0 and result.report.missing_files == 0
    again = project_from_import(tmp_path, result)
    assert again.categories == project.categories
    assert again.next_category_id == 5
    for old, new in zip(project.images, again.images, strict=True):
        kept = [b for b in old.boxes if b.uid != "u3"]  # u3 lay outside the image
        if old.path == "a.png":
            kept[1] = kept[1].moved_to((30, 10, 64, 48))  # clamped on export
        assert (new.path, new.size, new.status, new.boxes) == (old.path, old.size, old.status, kept)
    assert again.image("a.png").boxes[0].rect == (0.1, 0.2, 10.3, 20.7)  # exact floats


FOREIGN = {
    "images": [
        {"id": 0, "file_name": "img0.jpg", "width": 100, "height": 80, "license": 3},
        {"id": 1, "file_name": "folder\\img1.jpg", "width": 50, "height": 50},
        {"id": 2, "file_name": "./img2.jpg"},
    ],
    "annotations": [
        {"id": 0, "image_id": 0, "category_id": 0, "bbox": [10, 10, 20, 30], "extra": "x"},
        {"id": 1, "image_id": 1, "category_id": 7, "bbox": [40, 40, 20, 20], "area": 5},
        {"id": 2, "image_id": 2, "category_id": 7, "bbox": [1, 1, 2, 2], "iscrowd": 0},
    ],
    "categories": [{"id": 0, "name": "person"}, {"id": 7, "name": "car", "supercategory": "v"}],
}


def test_foreign_files_with_zero_based_ids_and_missing_fields_import(tmp_path: Path) -> None:
    result = parse_coco(copy.deepcopy(FOREIGN), tmp_path, source="foreign.json")
    assert [(c.id, c.name) for c in result.categories] == [(1, "person"), (2, "car")]
    assert [r.path for r in result.images] == ["img0.jpg", "folder/img1.jpg", "img2.jpg"]
    assert result.images[2].size is None
    assert result.images[0].boxes[0].rect == (10, 10, 30, 40)
    assert result.images[0].boxes[0].source == "import"
    assert result.images[1].boxes[0].rect == (40, 40, 50, 50)  # clipped to the 50x50 image
    assert result.report.clamped_boxes == 1 and result.report.missing_files == 3
    assert result.images[0].status == ImageStatus.REVIEWED
    assert "renumbered" in result.report.summary()


@pytest.mark.parametrize(
    "name",
    [
        "../x.jpg",
        "a/../../x.jpg",
        "/etc/passwd",
        "C:\\x.jpg",
        "c:x.jpg",
        "\\\\srv\\share\\x.jpg",
        "",
    ],
)
def test_file_names_leaving_the_image_folder_are_refused(tmp_path: Path, name: str) -> None:
    data = {
        "images": [{"id": 1, "file_name": name}, {"id": 2, "file_name": "ok.jpg"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}],
        "categories": [{"id": 1, "name": "a"}],
    }
    result = parse_coco(data, tmp_path)
    assert [r.path for r in result.images] == ["ok.jpg"]
    assert result.report.skipped_total == 2  # the image and its annotation


def test_bad_entries_are_skipped_and_counted_in_a_readable_report(tmp_path: Path) -> None:
    text = json.dumps(
        {
            "images": [{"id": 5, "file_name": "a.jpg", "width": 20, "height": 20}],
            "annotations": [
                {"id": 1, "image_id": 5, "category_id": 1},
                {"id": 2, "image_id": 5, "category_id": 1, "bbox": [0, 0, math.nan, 3]},
                {"id": 3, "image_id": 9, "category_id": 1, "bbox": [0, 0, 3, 3]},
                {"id": 4, "image_id": 5, "category_id": 99, "bbox": [0, 0, 3, 3]},
                {"id": 5, "image_id": 5, "category_id": 1, "bbox": [2, 2, 0, 3]},
                {"id": 6, "image_id": 5, "category_id": 1, "bbox": [50, 50, 3, 3]},
                {"id": 7, "image_id": 5, "category_id": 1, "bbox": [0, 0, 3, 3], "iscrowd": 1},
                {"id": 8, "image_id": 5, "category_id": 1, "bbox": [1, 1, 3, 3]},
            ],
            "categories": [{"id": 1, "name": "a"}],
        }
    )  # json writes NaN as a bare token, as some tools do
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = import_coco(path, tmp_path)
    report = result.report
    assert result.boxes == 1
    assert report.skipped == {
        "missing bbox": 1,
        "bbox has non-finite numbers": 1,
        "unknown image id": 1,
        "unknown category id": 1,
        "zero-size box": 1,
        "box outside its image": 1,
        "crowd region (iscrowd=1)": 1,
    }
    text = report.summary()
    assert "Skipped 7 entries" in text and "annotation 4: unknown category id 99" in text


def test_files_that_are_not_coco_raise_an_error_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [')
    with pytest.raises(CocoImportError, match=r"broken.json: not valid JSON \(line 1"):
        import_coco(broken, tmp_path)
    results = tmp_path / "results.json"
    results.write_text("[]")
    with pytest.raises(CocoImportError, match="results.json: a list of detections"):
        import_coco(results, tmp_path)


def test_merge_matches_categories_by_name_and_does_not_duplicate_boxes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    export_coco(project, tmp_path / "out.json")
    before = copy.deepcopy((project.categories, project.images))
    data = json.loads((tmp_path / "out.json").read_text())
    data["categories"].append({"id": 2, "name": "fox"})  # id 2 was handed out before: not reused
    data["annotations"].append({"id": 99, "image_id": 3, "category_id": 2, "bbox": [1, 1, 4, 4]})
    data["images"].append({"id": 4, "file_name": "new.png", "width": 5, "height": 5})
    stack = UndoStack()
    cmd = stack.push(MergeImport(parse_coco(data, tmp_path)), project)
    assert isinstance(cmd, MergeImport)
    assert (cmd.added_categories, cmd.matched_categories, cmd.added_images) == (1, 2, 1)
    assert (cmd.added_boxes, cmd.duplicate_boxes) == (1, 3)
    fox = project.category_by_name("fox")
    assert fox is not None and fox.id == 5
    assert project.image("c.png").boxes[0].category_id == 5
    assert cmd.changed.image_list and cmd.changed.category_list
    stack.undo(project)
    assert (project.categories, project.images) == before
    assert not project.has_image("new.png")
    stack.redo(project)
    assert project.has_image("new.png") and project.category(5).name == "fox"


def test_merge_import_moves_status_up_and_fills_sizes(tmp_path: Path) -> None:
    project = Project(root=tmp_path, images=[ImageRecord("a.jpg")])
    project.add_category("cat")
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 9, "height": 7}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 4, "bbox": [1, 1, 2, 2]}],
        "categories": [{"id": 4, "name": "cat"}],
    }
    merge_import(project, parse_coco(data))
    rec = project.image("a.jpg")
    assert (rec.size, rec.status, rec.boxes[0].category_id) == ((9, 7), ImageStatus.REVIEWED, 1)


def test_export_leaves_out_unreadable_images_of_unknown_size_and_says_so(tmp_path: Path) -> None:
    project = _project(tmp_path)
    project.images.append(ImageRecord("gone.jpg"))
    summary = export_coco(project, tmp_path / "out.json")
    assert summary.images == 3
    assert summary.skipped_images == ["gone.jpg: file not found"]
    names = [i["file_name"] for i in json.loads((tmp_path / "out.json").read_text())["images"]]
    assert "gone.jpg" not in names


def test_a_failed_coco_export_keeps_the_previous_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project(root=tmp_path, images=[ImageRecord("a.jpg", 4, 4)])
    out = tmp_path / "out.json"
    export_coco(project, out)
    old = out.read_text()
    project.images.append(ImageRecord("b.jpg", 4, 4))
    monkeypatch.setattr(atomic.os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        export_coco(project, out)
    assert out.read_text() == old
