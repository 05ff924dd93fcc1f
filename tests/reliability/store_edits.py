"""A fixed schedule of edits: the project after K edits is always the same, so a database
read after a kill can be compared with the exact state it must hold."""

from __future__ import annotations

from pathlib import Path

from app.annotations.commands import AddBox, AddCategory, DeleteBoxes, SetBoxRect, SetProposals
from app.annotations.model import Box, ImageRecord, Project, Proposal
from app.annotations.undo import Changed

EDITS_KEY = "kill_loop_edits"
IMAGES = 12


def image_names() -> list[str]:
    """Return the image files the schedule edits (they need not be real images)."""
    return [f"img{k:02d}.jpg" for k in range(IMAGES)]


def apply_edit(project: Project, i: int) -> Changed:
    """Apply edit number `i` of the schedule to `project`; return what it changed."""
    path = image_names()[i % IMAGES]
    if i == 0:
        cmd = AddCategory("thing")
    elif i % 11 == 5:  # a batch of proposals, as one auto-annotate result
        cmd = SetProposals(
            path, [Proposal(f"p{i}-{j}", j, j, j + 20, j + 30, 1, 0.5 + j / 100) for j in range(8)]
        )
    elif i % 7 == 3 and _has_box(project, i - 1):  # move the box the last edit added
        owner = image_names()[(i - 1) % IMAGES]
        cmd = SetBoxRect(owner, f"k{i - 1}", (i % 40, 1, i % 40 + 15, 25))
    elif i % 13 == 8 and _has_box(project, i - 8):  # delete the box added eight edits ago
        cmd = DeleteBoxes(image_names()[(i - 8) % IMAGES], [f"k{i - 8}"])
    else:
        cmd = AddBox(path, _box(i))
    cmd.redo(project)
    return cmd.changed


def _has_box(project: Project, i: int) -> bool:
    owner = image_names()[i % IMAGES]
    return i >= 0 and any(b.uid == f"k{i}" for b in project.image(owner).boxes)


def _box(i: int) -> Box:
    return Box(f"k{i}", i % 50, i % 30, i % 50 + 10.25, i % 30 + 7.5, 1)


def expected_project(root: Path, edits: int) -> Project:
    """Return the project after the first `edits` edits of the schedule."""
    project = Project(root=root)
    project.add_images(ImageRecord(name) for name in image_names())
    for i in range(edits):
        apply_edit(project, i)
    project.meta[EDITS_KEY] = edits
    return project


def first_difference(got: Project, want: Project) -> str:
    """Return where two projects' classes, boxes, proposals or statuses differ ("" if nowhere)."""
    if [(c.id, c.name) for c in got.categories] != [(c.id, c.name) for c in want.categories]:
        return f"classes {got.categories} != {want.categories}"
    for rec in want.images:
        if not got.has_image(rec.path):
            return f"{rec.path} missing"
        other = got.image(rec.path)
        for what in ("status", "boxes", "proposals"):
            if getattr(other, what) != getattr(rec, what):
                return f"{rec.path} {what}: {getattr(other, what)} != {getattr(rec, what)}"
    return ""
