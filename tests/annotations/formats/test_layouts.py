"""The folder layouts users bring: LabelImg, Roboflow, predictions, polygons; copies and renames."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.annotations import store
from app.annotations.coco_merge import merge_import
from app.annotations.formats import ExportOptions, export_dataset, import_labels
from app.annotations.formats.detect import detect_labels, opens_first
from app.annotations.model import Box, Category, ImageRecord, Project, new_uid
from tests.annotations.formats.support import project_with_boxes, save_image


def read(format_id: str, folder: Path):
    return import_labels(format_id, folder, store.new_project(folder, recursive=True))


def test_labelimg_yolo_labels_beside_the_images_with_classes_txt(tmp_path: Path) -> None:
    save_image(tmp_path / "a.jpg", (100, 100))
    (tmp_path / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    result = read("yolo", tmp_path)
    (rec,) = result.images
    assert [c.name for c in result.categories] == ["cat", "dog"]
    assert rec.boxes[0].rect == pytest.approx((40, 30, 60, 70))
    assert detect_labels(tmp_path).format_id == "yolo"


def test_roboflow_split_folders_predictions_and_polygons(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("train: ../train/images\nnc: 1\nnames: ['cell']\n")
    for split in ("train", "valid"):
        save_image(tmp_path / split / "images" / f"{split}.png", (200, 100))
        (tmp_path / split / "labels").mkdir()
    (tmp_path / "train/labels/train.txt").write_text("0 0.5 0.5 0.5 0.5 0.875\n")
    (tmp_path / "valid/labels/valid.txt").write_text("0 0.1 0.1 0.3 0.1 0.2 0.4\n")
    result = read("yolo", tmp_path)
    boxes = {r.path: r.boxes for r in result.images}
    (scored,) = boxes["train/images/train.png"]
    assert (scored.rect, scored.score) == ((50, 25, 150, 75), 0.875)
    (polygon,) = boxes["valid/images/valid.png"]
    assert polygon.rect == pytest.approx((20, 10, 60, 40))
    assert "1 polygons were read as their bounding boxes." in result.report.notes


def test_images_are_copied_where_links_are_refused(tmp_path: Path, monkeypatch) -> None:
    def no_links(*_args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("app.annotations.formats.writing.os.link", no_links)
    project = project_with_boxes(tmp_path / "photos")
    summary = export_dataset("yolo", project, tmp_path / "yolo", ExportOptions())
    assert (summary.linked_images, summary.copied_images) == (0, 3)
    assert (tmp_path / "yolo/images/a.png").read_bytes() == (tmp_path / "photos/a.png").read_bytes()


def test_images_with_one_name_but_the_extension_are_renamed_and_found_again(tmp_path) -> None:
    root = tmp_path / "photos"
    save_image(root / "a.jpg", (10, 10))
    save_image(root / "a.png", (20, 20))
    cat = Category(1, "cat", "#ff0000")
    project = Project(
        root=root,
        categories=[cat],
        images=[
            ImageRecord("a.jpg", 10, 10, boxes=[Box(new_uid(), 1, 1, 5, 5, 1)]),
            ImageRecord("a.png", 20, 20, boxes=[Box(new_uid(), 2, 2, 15, 15, 1)]),
        ],
    )
    for format_id in ("yolo", "voc", "labelme"):
        target = tmp_path / format_id
        summary = export_dataset(format_id, project, target, ExportOptions())
        assert summary.renamed == ["a.png -> a_png.png"]
        fresh = store.new_project(root)
        merge_import(fresh, import_labels(format_id, target, fresh))
        assert fresh.image("a.png").boxes[0].rect == pytest.approx((2, 2, 15, 15), abs=1e-4)
        assert fresh.image("a.jpg").boxes[0].rect == pytest.approx((1, 1, 5, 5), abs=1e-4)


def test_an_image_folder_without_labels_is_not_mistaken_for_a_dataset(tmp_path: Path) -> None:
    save_image(tmp_path / "a.png", (10, 10))
    (tmp_path / "notes.txt").write_text("holiday photos\n")
    (tmp_path / "ground_truth.json").write_text('{"images": [], "annotations": []}')
    assert detect_labels(tmp_path) is None


def test_detect_names_the_layout_and_where_its_labels_go(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    for format_id in ("yolo", "voc", "labelme"):
        export_dataset(format_id, project, tmp_path / format_id, ExportOptions())
        found = detect_labels(tmp_path / format_id)
        assert (found.format_id, found.files) == (format_id, 3)
    assert opens_first(tmp_path / "yolo", project.root)  # another folder becomes the project
    assert not opens_first(project.root / "sub", project.root)  # inside: merged into it
    assert opens_first(tmp_path / "voc", None)


def test_voc_labelmap_keeps_a_class_whose_name_starts_with_a_hash(tmp_path: Path) -> None:
    # Found by the round-trip property test: "#" was read back as a comment line and lost.
    from app.annotations.formats.voc import read_labelmap

    (tmp_path / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\n#:1,2,3::\n#no colour here\ncat:0,0,255::\n",
        encoding="utf-8",
    )
    assert read_labelmap(tmp_path / "labelmap.txt") == ["#", "cat"]
