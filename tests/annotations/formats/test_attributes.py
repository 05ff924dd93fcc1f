"""Box attributes (VOC's difficult/truncated, labelme's flags) survive the project file."""

from __future__ import annotations

from pathlib import Path

from app.annotations import store
from app.annotations.model import Box, Category, ImageRecord, Project


def test_box_attributes_survive_saving_and_loading_the_project(tmp_path: Path) -> None:
    box = Box("u1", 1, 2, 3, 4, 1, attributes=(("difficult", True), ("pose", "Left")))
    plain = Box("u2", 1, 2, 3, 4, 1)
    project = Project(
        root=tmp_path,
        categories=[Category(1, "cat", "#ff0000")],
        images=[ImageRecord("a.png", 10, 10, boxes=[box, plain])],
    )
    path = store.save_project(project)
    again = store.load_project(path)
    assert again.image("a.png").boxes == [box, plain]
    assert again.image("a.png").boxes[0].attribute("difficult") is True
    assert again.image("a.png").boxes[1].attribute("difficult", False) is False
