"""The data model: lookups, stable category ids, colours, counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.annotations.model import (
    Box,
    Category,
    ImageRecord,
    ImageStatus,
    Project,
    Proposal,
    new_uid,
)


def _project(n: int = 3) -> Project:
    return Project(root=Path("/data"), images=[ImageRecord(path=f"img{i}.jpg") for i in range(n)])


def test_image_lookup_finds_records_by_relative_path() -> None:
    project = _project()
    assert project.image("img1.jpg") is project.images[1]
    with pytest.raises(KeyError, match="img9.jpg"):
        project.image("img9.jpg")


def test_image_lookup_repairs_itself_after_the_list_changes() -> None:
    project = _project()
    project.images.append(ImageRecord(path="late.png"))
    assert project.image("late.png").path == "late.png"


def test_add_images_skips_paths_already_listed() -> None:
    project = _project(2)
    added = project.add_images([ImageRecord(path="img0.jpg"), ImageRecord(path="new.jpg")])
    assert [r.path for r in added] == ["new.jpg"]
    assert len(project.images) == 3


def test_category_ids_are_stable_and_never_reused() -> None:
    project = _project()
    a = project.add_category("cat")
    b = project.add_category("dog")
    assert (a.id, b.id) == (1, 2)
    project.remove_category(b.id)
    c = project.add_category("bird")
    assert c.id == 3
    assert project.category(3) is c
    assert project.category_by_name(" cat ") is a


def test_new_categories_get_distinct_colours() -> None:
    project = _project()
    colors = {project.add_category(f"c{i}").color for i in range(40)}
    assert len(colors) == 40


def test_duplicate_or_empty_category_names_are_refused() -> None:
    project = _project()
    project.add_category("cat")
    with pytest.raises(ValueError):
        project.add_category("cat")
    with pytest.raises(ValueError):
        project.add_category("  ")


def test_next_category_id_follows_the_highest_given_id() -> None:
    project = Project(root=Path("/x"), categories=[Category(7, "a", "#000000")])
    assert project.add_category("b").id == 8


def test_box_helpers_return_changed_copies() -> None:
    box = Box(uid=new_uid(), x1=1, y1=2, x2=3, y2=4, category_id=1)
    moved = box.moved_to((5, 6, 7, 8))
    assert moved.rect == (5.0, 6.0, 7.0, 8.0) and moved.uid == box.uid
    assert box.rect == (1, 2, 3, 4)
    assert box.with_category(2).category_id == 2


def test_an_accepted_proposal_becomes_a_model_box_with_its_score() -> None:
    prop = Proposal(uid="p1", x1=0, y1=0, x2=5, y2=5, category_id=2, score=0.8, model="v1")
    box = prop.to_box()
    assert (box.uid, box.rect, box.category_id, box.score, box.source) == (
        "p1",
        (0, 0, 5, 5),
        2,
        0.8,
        "model",
    )


def test_counts_cover_every_category_and_status() -> None:
    project = _project()
    cat = project.add_category("cat")
    project.add_category("dog")
    project.images[0].boxes.append(Box(new_uid(), 0, 0, 1, 1, cat.id))
    project.images[0].status = ImageStatus.REVIEWED
    assert project.box_counts() == {1: 1, 2: 0}
    assert project.status_counts()[ImageStatus.REVIEWED] == 1
    assert project.status_counts()[ImageStatus.UNLABELED] == 2
