"""EXIF-rotated images: every format writes and reads boxes in display orientation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from defusedxml.ElementTree import parse

from app.annotations import store
from app.annotations.coco_merge import merge_import
from app.annotations.formats import ExportOptions, export_dataset, import_labels
from tests.annotations.formats.support import project_with_boxes, save_image, without_boxes

# sub/b.jpg is stored 40x30 with orientation 6: shown 30 wide, 40 high; its box is (2, 3, 20, 35).


def test_yolo_normalises_by_the_displayed_size(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    export_dataset("yolo", project, tmp_path / "yolo", ExportOptions())
    (line,) = (tmp_path / "yolo/labels/sub/b.txt").read_text().splitlines()
    index, cx, cy, w, h = line.split()
    assert index == "1"  # dog: the second class by id
    assert float(cx) == pytest.approx(11 / 30, abs=1e-6)
    assert float(cy) == pytest.approx(19 / 40, abs=1e-6)
    assert (float(w), float(h)) == pytest.approx((18 / 30, 32 / 40), abs=1e-6)


def test_voc_states_the_displayed_size_and_corners(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    export_dataset("voc", project, tmp_path / "voc", ExportOptions())
    root = parse(tmp_path / "voc/Annotations/sub/b.xml").getroot()
    assert (root.findtext("size/width"), root.findtext("size/height")) == ("30", "40")
    corners = [root.findtext(f"object/bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")]
    assert corners == ["2", "3", "20", "35"]


def test_labelme_states_the_displayed_size_and_corners(tmp_path: Path) -> None:
    project = project_with_boxes(tmp_path / "photos")
    export_dataset("labelme", project, tmp_path / "lm", ExportOptions())
    data = json.loads((tmp_path / "lm/sub/b.json").read_text())
    assert (data["imageWidth"], data["imageHeight"]) == (30, 40)
    assert data["shapes"][0]["points"] == [[2, 3], [20, 35]]
    assert data["imagePath"] == "b.jpg"


@pytest.mark.parametrize("format_id", ["yolo", "voc", "labelme"])
def test_rotated_boxes_come_back_where_they_were(tmp_path: Path, format_id: str) -> None:
    project = project_with_boxes(tmp_path / "photos")
    export_dataset(format_id, project, tmp_path / "out", ExportOptions())
    fresh = without_boxes(project)
    fresh.image("sub/b.jpg").width = fresh.image("sub/b.jpg").height = None  # read from the file
    merge_import(fresh, import_labels(format_id, tmp_path / "out", fresh))
    (box,) = fresh.image("sub/b.jpg").boxes
    assert box.rect == pytest.approx((2, 3, 20, 35), abs=40e-6)
    assert fresh.image("sub/b.jpg").size == (30, 40)


def test_labelme_file_made_on_the_unrotated_pixels_is_refused_by_name(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    save_image(folder / "r.jpg", (40, 30), orientation=6)
    shape = {"label": "cat", "points": [[1, 1], [39, 29]], "shape_type": "rectangle"}
    (folder / "r.json").write_text(
        json.dumps({"shapes": [shape], "imagePath": "r.jpg", "imageWidth": 40, "imageHeight": 30})
    )
    project = store.new_project(folder)
    result = import_labels("labelme", folder, project)
    assert result.boxes == 0
    assert "r.json" in result.report.summary()
    assert "EXIF" in result.report.summary()
