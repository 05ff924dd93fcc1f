"""Malformed files of each format: a clear message naming the file, the rest imported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.annotations import store
from app.annotations.formats import LabelImportError, import_labels
from tests.annotations.formats.support import save_image


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for name in ("good", "bad", "worse"):
        save_image(root / "images" / f"{name}.png", (100, 50))
    return root


def summary_of(format_id: str, folder: Path):
    result = import_labels(format_id, folder, store.new_project(folder))
    return result, result.report.summary()


def test_yolo_skips_bad_lines_and_names_them(folder: Path) -> None:
    (folder / "data.yaml").write_text("names: [cat, dog]\n")
    labels = folder / "labels"
    labels.mkdir()
    (labels / "good.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.25 0.25 0.1 0.1\n")
    (labels / "bad.txt").write_text("cat 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.1 0.1\n0 50 25 10 10\n")
    (labels / "worse.txt").write_bytes(b"\xff\xfe\x00garbage")
    (labels / "orphan.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    result, text = summary_of("yolo", folder)
    assert result.boxes == 2
    good = next(r for r in result.images if r.path == "images/good.png")
    assert good.boxes[0].rect == pytest.approx((40, 20, 60, 30))
    assert result.report.skipped["not numbers"] == 1
    assert result.report.skipped["class number not in the names"] == 1
    assert result.report.skipped["coordinates not normalised to 0-1"] == 1
    assert result.report.skipped["unreadable label file"] == 1
    assert result.report.skipped["label file without an image"] == 1
    for name in (
        "labels/bad.txt line 1",
        "labels/bad.txt line 2",
        "labels/worse.txt",
        "orphan.txt",
    ):
        assert name in text


def test_yolo_data_yaml_it_cannot_read_is_an_error_naming_it(folder: Path) -> None:
    (folder / "data.yaml").write_text("names:\n  - cat\n  nonsense here\n")
    with pytest.raises(LabelImportError, match=r"data\.yaml: line 3"):
        summary_of("yolo", folder)


def test_voc_skips_broken_and_hostile_files_and_names_them(folder: Path) -> None:
    xml = (
        "<annotation><filename>{}</filename><object><name>cat</name><bndbox><xmin>1</xmin>"
        "<ymin>2</ymin><xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>"
    )
    (folder / "images" / "good.xml").write_text(xml.format("good.png"))
    (folder / "images" / "bad.xml").write_text("<annotation><filename>bad.png</filename>")
    (folder / "images" / "worse.xml").write_text(xml.format("../../../etc/passwd"))
    (folder / "bomb.xml").write_text(
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbbbb">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><annotation>&c;</annotation>'
    )
    (folder / "other.xml").write_text("<svg/>")
    result, text = summary_of("voc", folder)
    assert [(r.path, len(r.boxes)) for r in result.images] == [("images/good.png", 1)]
    assert result.report.skipped["unreadable XML"] == 2  # the broken file and the DTD bomb
    assert result.report.skipped["filename leaves the folder"] == 1
    assert result.report.skipped["not a Pascal VOC file"] == 1
    for name in ("images/bad.xml", "images/worse.xml", "bomb.xml", "other.xml"):
        assert name in text


def test_voc_keeps_difficult_and_truncated_as_attributes(folder: Path) -> None:
    (folder / "images" / "good.xml").write_text(
        "<annotation><filename>good.png</filename><object><name>cat</name><pose>Left</pose>"
        "<truncated>1</truncated><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>30</xmax><ymax>40</ymax></bndbox></object></annotation>"
    )
    result, _ = summary_of("voc", folder)
    (box,) = result.images[0].boxes
    assert dict(box.attributes) == {"difficult": True, "truncated": True, "pose": "Left"}


def test_labelme_skips_other_shapes_by_type_and_refuses_paths_that_leave(folder: Path) -> None:
    rect = {"label": "cat", "points": [[10, 5], [2, 1]], "shape_type": "rectangle"}
    poly = {"label": "cat", "points": [[1, 1], [5, 1], [3, 4]], "shape_type": "polygon"}
    circle = {"label": "dog", "points": [[1, 1], [5, 1]], "shape_type": "circle"}
    images = folder / "images"
    (images / "good.json").write_text(
        json.dumps({"shapes": [rect, poly, circle], "imagePath": "good.png"})
    )
    (images / "bad.json").write_text('{"shapes": [')
    (folder / "elsewhere.json").write_text(
        json.dumps({"shapes": [rect], "imagePath": "../../secret/photo.png"})
    )
    result, text = summary_of("labelme", folder)
    assert [(r.path, [b.rect for b in r.boxes]) for r in result.images] == [
        ("images/good.png", [(2, 1, 10, 5)])
    ]
    assert result.report.skipped["polygon shape (only rectangles are boxes)"] == 1
    assert result.report.skipped["circle shape (only rectangles are boxes)"] == 1
    assert result.report.skipped["not valid JSON"] == 1
    assert result.report.skipped["imagePath leaves the folder"] == 1
    for name in ("images/bad.json", "elsewhere.json", "polygon", "circle"):
        assert name in text


def test_a_folder_that_is_not_there_is_an_error_naming_it(tmp_path: Path) -> None:
    project = store.new_project(tmp_path)
    for format_id in ("yolo", "voc", "labelme"):
        with pytest.raises(LabelImportError, match="missing"):
            import_labels(format_id, tmp_path / "missing", project)
