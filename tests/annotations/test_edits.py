"""The rules behind the session's typed edits, without Qt: what a gesture becomes, in one step."""

from __future__ import annotations

from pathlib import Path

from app.annotations.commands import UndoStack
from app.annotations.edits import (
    DEFAULT_CATEGORY,
    add_box_edit,
    box_rects_edit,
    delete_edit,
    toggle_reviewed_edit,
)
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, Proposal


def _project(*, classes: bool = True) -> Project:
    cats = [Category(1, "cat", "#ff0000"), Category(2, "dog", "#00ff00")] if classes else []
    rec = ImageRecord(
        path="a.jpg",
        width=100,
        height=50,
        boxes=[Box("b1", 0, 0, 10, 10, 1)],
        proposals=[Proposal("p1", 30, 5, 40, 15, 2, 0.9, "m1"), Proposal("p2", 1, 1, 3, 3, 1, 0.4)],
    )
    project = Project(root=Path("/data"), categories=cats, images=[rec])
    project.reindex()
    return project


def test_moving_a_proposal_accepts_it_where_the_user_put_it_in_one_step() -> None:
    project = _project()
    rec = project.image("a.jpg")
    stack = UndoStack()
    cmd = box_rects_edit(rec, {"p1": (20, 10, 45, 30), "b1": (1, 1, 11, 11)}, "Move 2 boxes")
    stack.push(cmd, project)
    rec = project.image("a.jpg")
    assert [p.uid for p in rec.proposals] == ["p2"]
    accepted = next(b for b in rec.boxes if b.uid == "p1")
    assert accepted.rect == (20, 10, 45, 30) and accepted.category_id == 2
    assert next(b for b in rec.boxes if b.uid == "b1").rect == (1, 1, 11, 11)
    stack.undo(project)  # one undo step brings the proposal back where the model put it
    rec = project.image("a.jpg")
    assert {p.uid for p in rec.proposals} == {"p1", "p2"}
    assert [b.uid for b in rec.boxes] == ["b1"] and rec.boxes[0].rect == (0, 0, 10, 10)


def test_moving_boxes_only_moves_them_and_single_nudges_merge() -> None:
    project = _project()
    rec = project.image("a.jpg")
    stack = UndoStack()
    for x in (1, 2, 3):
        stack.push(box_rects_edit(rec, {"b1": (x, 0, 10 + x, 10)}, "Nudge box"), project)
    assert project.image("a.jpg").boxes[0].rect == (3, 0, 13, 10)
    assert len(project.image("a.jpg").proposals) == 2
    stack.undo(project)
    assert project.image("a.jpg").boxes[0].rect == (0, 0, 10, 10)  # three nudges, one step
    assert box_rects_edit(rec, {}, "Move box") is None


def test_a_box_is_clamped_to_its_image_and_an_empty_one_is_refused() -> None:
    project = _project()
    rec = project.image("a.jpg")
    cmd, box = add_box_edit(project, rec, (90, 40, 150, 80), 2)
    assert box.rect == (90, 40, 100, 50) and box.category_id == 2
    cmd.redo(project)
    assert project.image("a.jpg").boxes[-1].uid == box.uid
    assert add_box_edit(project, rec, (120, 60, 150, 80), 1) is None  # wholly outside


def test_an_unknown_class_falls_back_to_the_first_and_no_class_creates_one() -> None:
    project = _project()
    _cmd, box = add_box_edit(project, project.image("a.jpg"), (1, 1, 20, 20), 99)
    assert box.category_id == 1
    bare = _project(classes=False)
    stack = UndoStack()
    cmd, box = add_box_edit(bare, bare.image("a.jpg"), (1, 1, 20, 20), 0)
    stack.push(cmd, bare)
    assert [c.name for c in bare.categories] == [DEFAULT_CATEGORY]
    assert box.category_id == bare.categories[0].id
    stack.undo(bare)  # the class and the box go in one step
    assert bare.categories == [] and [b.uid for b in bare.image("a.jpg").boxes] == ["b1"]


def test_delete_rejects_proposals_and_deletes_boxes_in_one_step() -> None:
    project = _project()
    stack = UndoStack()
    cmd = delete_edit("a.jpg", ["b1"], ["p2"])
    assert cmd.text == "Reject proposal and delete box"
    stack.push(cmd, project)
    rec = project.image("a.jpg")
    assert rec.boxes == [] and [p.uid for p in rec.proposals] == ["p1"]
    stack.undo(project)
    assert len(project.image("a.jpg").boxes) == 1 and len(project.image("a.jpg").proposals) == 2
    assert delete_edit("a.jpg", [], []) is None


def test_toggling_reviewed_goes_back_to_proposed_or_unlabeled() -> None:
    project = _project()
    rec = project.image("a.jpg")
    toggle_reviewed_edit(rec).redo(project)
    assert project.image("a.jpg").status == ImageStatus.REVIEWED
    toggle_reviewed_edit(project.image("a.jpg")).redo(project)
    assert project.image("a.jpg").status == ImageStatus.PROPOSED  # it has proposals
    project.image("a.jpg").proposals = []
    toggle_reviewed_edit(project.image("a.jpg")).redo(project)
    toggle_reviewed_edit(project.image("a.jpg")).redo(project)
    assert project.image("a.jpg").status == ImageStatus.UNLABELED
