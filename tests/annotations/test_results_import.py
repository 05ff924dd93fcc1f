"""A COCO results file becomes proposals (scores kept, for review), never accepted boxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project
from app.annotations.results_import import read_results, results_to_proposals


def _project(root: Path) -> Project:
    return Project(
        root=root,
        categories=[Category(1, "circle", "#ff0000"), Category(2, "square", "#00ff00")],
        images=[
            ImageRecord("a.jpg", 100, 80, boxes=[Box("b1", 1, 1, 9, 9, 2)]),
            ImageRecord("sub/b.jpg", 50, 40),
            ImageRecord("c.jpg"),
        ],
        next_category_id=3,
    )


def _det(file_name: str, bbox, score: float, name: str = "circle") -> dict:
    return {"image_id": 1, "file_name": file_name, "category_id": 7, "category_name": name,
            "bbox": bbox, "score": score}  # fmt: skip


def test_detections_become_scored_proposals_and_boxes_stay(tmp_path: Path) -> None:
    project = _project(tmp_path)
    found = results_to_proposals(
        project,
        [
            _det("a.jpg", [10, 10, 20, 30], 0.6),
            _det(str(tmp_path / "a.jpg"), [50, 40, 80, 60], 0.9, "Square"),  # absolute path
            _det("elsewhere/b.jpg", [0, 0, 10, 10], 0.7),  # the only b.jpg of the project
        ],
        "results:r.json",
    )
    assert [e.path for e in found.edits] == ["a.jpg", "sub/b.jpg"] and found.proposals == 3
    for edit in found.edits:
        edit.redo(project)
    a = project.image("a.jpg")
    assert [p.score for p in a.proposals] == [0.9, 0.6]  # best first
    assert [p.category_id for p in a.proposals] == [2, 1]
    assert a.proposals[0].rect == (50, 40, 100, 80)  # clipped to the 100 x 80 image
    assert a.proposals[1].rect == (10, 10, 30, 40) and a.proposals[1].model == "results:r.json"
    assert [b.uid for b in a.boxes] == ["b1"]  # nothing accepted, nothing removed
    assert a.status == ImageStatus.PROPOSED


def test_unknown_images_and_classes_are_counted_not_guessed(tmp_path: Path) -> None:
    found = results_to_proposals(
        _project(tmp_path),
        [_det("zzz.jpg", [0, 0, 5, 5], 0.9), _det("a.jpg", [0, 0, 5, 5], 0.9, "dog")],
        "m",
    )
    assert found.edits == [] and found.proposals == 0
    assert found.unknown_images == {"zzz.jpg": 1} and found.unknown_classes == {"dog": 1}
    assert "zzz.jpg" in found.summary() and "dog (1)" in found.summary()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "not a JSON file"),
        ('{"images": []}', "not a COCO results file"),
        ('[{"bbox": [0, 0, 1, 1], "score": 0.5, "image_id": 1}]', "has no file_name"),
    ],
)
def test_a_bad_results_file_is_refused_with_its_name(tmp_path: Path, text, problem) -> None:
    path = tmp_path / "results.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem) as info:
        read_results(path)
    assert "results.json" in str(info.value)


def test_a_results_file_reads_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps([_det("a.jpg", [1, 2, 3, 4], 0.5)]))
    assert read_results(path)[0]["bbox"] == [1, 2, 3, 4]
