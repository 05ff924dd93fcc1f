"""Every undoable command: redo changes the project, undo restores it exactly, redo again."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from app.annotations.commands import (
    AcceptProposals,
    AddBox,
    AddCategory,
    ChangeBoxCategory,
    Command,
    DeleteBoxes,
    DeleteCategory,
    Macro,
    MergeCategories,
    PasteBoxes,
    RecolorCategory,
    RejectProposals,
    RenameCategory,
    SetBoxRect,
    SetImageStatus,
    SetProposals,
    UndoStack,
    category_usage,
)
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, Proposal


def _project() -> Project:
    cat, dog = Category(1, "cat", "#ff0000"), Category(2, "dog", "#00ff00")
    a = ImageRecord(
        path="a.jpg",
        width=100,
        height=50,
        boxes=[Box("b1", 0, 0, 10, 10, 1), Box("b2", 5, 5, 20, 20, 2), Box("b3", 1, 1, 2, 2, 1)],
        proposals=[Proposal("p1", 30, 5, 40, 15, 2, 0.9, "m1"), Proposal("p2", 1, 1, 3, 3, 1, 0.4)],
    )
    b = ImageRecord(path="sub/b.jpg", width=30, height=30, boxes=[Box("b4", 0, 0, 5, 5, 2)])
    c = ImageRecord(path="c.jpg")
    return Project(root=Path("/data"), categories=[cat, dog], images=[a, b, c])


def _state(project: Project) -> object:
    # next_category_id is left out on purpose: ids are never handed out twice, even after undo.
    return copy.deepcopy((project.categories, project.images))


def _round_trip(project: Project, cmd: Command) -> tuple[object, object]:
    """Push, undo, redo; check undo restores the original and redo the edited state."""
    stack = UndoStack()
    before = _state(project)
    stack.push(cmd, project)
    after = _state(project)
    assert after != before
    assert stack.undo(project) is cmd
    assert _state(project) == before
    assert stack.redo(project) is cmd
    assert _state(project) == after
    return before, after


def test_add_box_appends_and_undo_removes_it() -> None:
    project = _project()
    _round_trip(project, AddBox("c.jpg", Box("n1", 1, 2, 3, 4, 2)))
    assert project.image("c.jpg").boxes == [Box("n1", 1, 2, 3, 4, 2)]


def test_add_box_with_an_unknown_category_is_refused_and_not_recorded() -> None:
    project = _project()
    stack = UndoStack()
    with pytest.raises(KeyError):
        stack.push(AddBox("c.jpg", Box("n1", 1, 2, 3, 4, 99)), project)
    assert not stack.can_undo and project.image("c.jpg").boxes == []


def test_delete_boxes_restores_them_at_their_old_places() -> None:
    project = _project()
    _round_trip(project, DeleteBoxes("a.jpg", ["b1", "b3"]))
    assert [b.uid for b in project.image("a.jpg").boxes] == ["b2"]


def test_deleting_a_missing_box_changes_nothing() -> None:
    project = _project()
    before = _state(project)
    with pytest.raises(KeyError, match="a.jpg"):
        DeleteBoxes("a.jpg", ["b1", "nope"]).redo(project)
    assert _state(project) == before


def test_set_box_rect_moves_and_normalizes() -> None:
    project = _project()
    _round_trip(project, SetBoxRect("a.jpg", "b2", (30, 40, 10, 20)))
    assert project.image("a.jpg").box("b2").rect == (10, 20, 30, 40)


def test_nudges_with_the_same_merge_key_are_one_undo_step() -> None:
    project = _project()
    stack = UndoStack()
    for dx in range(1, 4):
        stack.push(SetBoxRect("a.jpg", "b1", (dx, 0, 10 + dx, 10), merge_key="nudge"), project)
    assert len(stack) == 1
    assert project.image("a.jpg").box("b1").rect == (3, 0, 13, 10)
    stack.undo(project)
    assert project.image("a.jpg").box("b1").rect == (0, 0, 10, 10)


def test_nudges_do_not_merge_into_the_saved_state() -> None:
    project = _project()
    stack = UndoStack()
    stack.push(SetBoxRect("a.jpg", "b1", (1, 0, 11, 10), merge_key="nudge"), project)
    stack.set_clean()
    stack.push(SetBoxRect("a.jpg", "b1", (2, 0, 12, 10), merge_key="nudge"), project)
    assert len(stack) == 2 and not stack.clean


def test_change_box_category_and_back() -> None:
    project = _project()
    cmd = ChangeBoxCategory("a.jpg", ["b1", "b3"], 2)
    _round_trip(project, cmd)
    assert [b.category_id for b in project.image("a.jpg").boxes] == [2, 2, 2]
    assert cmd.changed.categories == {1, 2}


def test_accept_proposals_turns_them_into_model_boxes() -> None:
    project = _project()
    _round_trip(project, AcceptProposals("a.jpg", ["p1"]))
    rec = project.image("a.jpg")
    assert [p.uid for p in rec.proposals] == ["p2"]
    new = rec.box("p1")
    assert (new.source, new.score, new.category_id, new.rect) == ("model", 0.9, 2, (30, 5, 40, 15))


def test_reject_proposals_drops_them() -> None:
    project = _project()
    _round_trip(project, RejectProposals("a.jpg", ["p1", "p2"]))
    assert project.image("a.jpg").proposals == []


def test_set_proposals_replaces_them_keeps_boxes_and_marks_unlabeled_images_proposed() -> None:
    project = _project()
    new = [Proposal("q1", 0, 0, 4, 4, 1, 0.7)]
    _round_trip(project, SetProposals("c.jpg", new))
    rec = project.image("c.jpg")
    assert rec.proposals == new and rec.status == ImageStatus.PROPOSED
    project.image("a.jpg").status = ImageStatus.REVIEWED
    _round_trip(project, SetProposals("a.jpg", new))
    rec = project.image("a.jpg")
    assert rec.status == ImageStatus.REVIEWED and len(rec.boxes) == 3


def test_add_category_keeps_its_id_across_undo_and_redo() -> None:
    project = _project()
    cmd = AddCategory("bird", "#0000FF")
    _round_trip(project, cmd)
    assert cmd.category is not None and cmd.category.id == 3
    assert project.category(3).color == "#0000ff"
    assert cmd.changed.category_list


def test_rename_and_recolor_category() -> None:
    project = _project()
    _round_trip(project, RenameCategory(1, "kitten"))
    assert project.category(1).name == "kitten"
    _round_trip(project, RecolorCategory(1, "#123456"))
    assert project.category(1).color == "#123456"


def test_renaming_to_an_existing_name_or_a_bad_colour_is_refused() -> None:
    project = _project()
    with pytest.raises(ValueError, match="dog"):
        RenameCategory(1, "dog").redo(project)
    with pytest.raises(ValueError):
        RecolorCategory(1, "red")


def test_merge_categories_moves_boxes_and_proposals_and_counts_them() -> None:
    project = _project()
    assert category_usage(project, 2).boxes == 2
    cmd = MergeCategories(2, 1)
    _round_trip(project, cmd)
    assert (cmd.moved_boxes, cmd.moved_proposals) == (2, 1)
    assert [c.id for c in project.categories] == [1]
    assert all(b.category_id == 1 for r in project.images for b in r.boxes)
    assert all(p.category_id == 1 for r in project.images for p in r.proposals)
    assert cmd.changed.images == {"a.jpg", "sub/b.jpg"}


def test_delete_category_removes_its_boxes_and_proposals_and_counts_them() -> None:
    project = _project()
    usage = category_usage(project, 1)
    assert (usage.boxes, usage.proposals, usage.images) == (2, 1, 1)
    cmd = DeleteCategory(1)
    _round_trip(project, cmd)
    assert (cmd.deleted_boxes, cmd.deleted_proposals) == (2, 1)
    assert [b.uid for b in project.image("a.jpg").boxes] == ["b2"]
    assert [p.uid for p in project.image("a.jpg").proposals] == ["p1"]
    assert project.add_category("new").id == 3  # ids are never reused


def test_set_image_status_for_several_images() -> None:
    project = _project()
    project.image("c.jpg").status = ImageStatus.PROPOSED
    _round_trip(project, SetImageStatus(["a.jpg", "c.jpg"], ImageStatus.REVIEWED))
    assert project.image("c.jpg").status == ImageStatus.REVIEWED


def test_paste_boxes_copies_with_new_ids_clamped_without_duplicates() -> None:
    project = _project()
    source = project.image("a.jpg").boxes
    cmd = PasteBoxes("sub/b.jpg", [*source, Box("x", 40, 40, 50, 50, 1)])
    _round_trip(project, cmd)
    pasted = project.image("sub/b.jpg").boxes[1:]
    assert [b.rect for b in pasted] == [(0, 0, 10, 10), (5, 5, 20, 20), (1, 1, 2, 2)]
    assert not {b.uid for b in pasted} & {b.uid for b in source}
    again = PasteBoxes("sub/b.jpg", source)
    again.redo(project)
    assert again.pasted == []


def test_macro_is_one_undo_step_and_rolls_back_if_a_part_fails() -> None:
    project = _project()
    macro = Macro("Accept all", [AcceptProposals("a.jpg", ["p1"]), DeleteBoxes("a.jpg", ["b1"])])
    _round_trip(project, macro)
    assert macro.changed.images == {"a.jpg"}
    before = _state(project)
    bad = Macro("bad", [DeleteBoxes("a.jpg", ["b2"]), DeleteBoxes("a.jpg", ["missing"])])
    with pytest.raises(KeyError):
        UndoStack().push(bad, project)
    assert _state(project) == before


def test_undo_stack_texts_clean_flag_and_limit() -> None:
    project = _project()
    stack = UndoStack(limit=2)
    assert stack.clean and not stack.can_undo and stack.undo(project) is None
    stack.push(AddBox("c.jpg", Box("n1", 0, 0, 1, 1, 1)), project)
    stack.set_clean()
    stack.push(DeleteBoxes("a.jpg", ["b1"]), project)
    assert stack.undo_text == "Delete box" and not stack.clean
    stack.undo(project)
    assert stack.clean and stack.redo_text == "Delete box"
    stack.push(RenameCategory(1, "x"), project)  # drops the redo branch
    assert not stack.can_redo
    stack.push(RenameCategory(1, "y"), project)  # limit 2: the AddBox step falls off
    assert len(stack) == 2
    stack.undo(project)
    stack.undo(project)
    assert stack.clean and not stack.can_undo  # back at the saved state, still reachable


def test_undo_stack_knows_when_the_saved_state_fell_off_the_history() -> None:
    project = _project()
    stack = UndoStack(limit=2)
    for name in ("x", "y", "z"):
        stack.push(RenameCategory(1, name), project)
    while stack.can_undo:
        stack.undo(project)
        assert not stack.clean
    assert project.category(1).name == "x"


def test_add_category_undo_does_not_hand_out_its_id_again() -> None:
    project = _project()
    stack = UndoStack()
    stack.push(AddCategory("bird"), project)
    stack.undo(project)
    assert project.add_category("fish").id == 4
