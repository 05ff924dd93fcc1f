"""The edits behind the session's typed methods: which undoable command a gesture becomes.

No Qt here. Widgets call the session (`add_box`, `set_box_rects`, `accept_proposals`, …); the
session asks these functions for the command and pushes it. The rules of the gestures live
here, tested without a window: moving a proposal accepts it where the user put it, a box drawn
in a project without classes creates the first class in the same undo step, one key nudges
merge into one step.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.annotations.commands import (
    AcceptProposals,
    AddBox,
    AddCategory,
    DeleteBoxes,
    Macro,
    RejectProposals,
    SetBoxRect,
    SetImageStatus,
)
from app.annotations.geometry import clamp_rect, is_valid_rect
from app.annotations.model import Box, ImageRecord, ImageStatus, Project, Rect, new_uid
from app.annotations.undo import Command

DEFAULT_CATEGORY = "object"  # the class a first box gets in a project without classes


def add_box_edit(
    project: Project, rec: ImageRecord, rect: Rect, category_id: int
) -> tuple[Command, Box] | None:
    """Return the edit adding a box of `category_id` to `rec`, and the box; None when the
    rect is empty once clamped to the image.

    An unknown class falls back to the first one; a project without classes gets
    DEFAULT_CATEGORY in the same undo step.
    """
    if rec.size is not None:
        rect = clamp_rect(rect, *rec.size)
    if not is_valid_rect(rect):
        return None
    commands: list[Command] = []
    cid = category_id
    if project.categories and cid not in {c.id for c in project.categories}:
        cid = project.categories[0].id
    if not project.categories:
        commands.append(AddCategory(DEFAULT_CATEGORY))
        cid = project.next_category_id  # the id AddCategory will give
    box = Box(new_uid(), *rect, category_id=cid)
    commands.append(AddBox(rec.path, box))
    return (commands[0] if len(commands) == 1 else Macro("Add box", commands)), box


def accept_edit(path: str, uids: list[str], rects: Mapping[str, Rect] | None = None) -> Command:
    """Return the edit accepting proposals as boxes, moved to `rects` where given (one undo step)."""
    accept = AcceptProposals(path, uids)
    if not rects:
        return accept
    moves: list[Command] = [SetBoxRect(path, uid, rect) for uid, rect in rects.items()]
    text = (
        "Accept and adjust proposal"
        if len(uids) == 1
        else f"Accept and adjust {len(uids)} proposals"
    )
    return Macro(text, [accept, *moves])


def box_rects_edit(rec: ImageRecord, rects: Mapping[str, Rect], text: str) -> Command | None:
    """Return the edit moving or resizing boxes of `rec` (one undo step; None when empty).

    A proposal among them is accepted where the user put it. Repeated single-box nudges
    ("Nudge …") merge into one undo step.
    """
    if not rects:
        return None
    proposals = {p.uid for p in rec.proposals}
    moved = {uid: rect for uid, rect in rects.items() if uid in proposals}
    if moved:
        cmd = accept_edit(rec.path, list(moved), moved)
        boxes = [SetBoxRect(rec.path, u, r) for u, r in rects.items() if u not in proposals]
        return Macro(text, [cmd, *boxes]) if boxes else cmd
    merge = "nudge" if text.startswith("Nudge") and len(rects) == 1 else None
    cmds: list[Command] = []
    for uid, rect in rects.items():
        cmd = SetBoxRect(rec.path, uid, rect, merge_key=merge)
        cmd.text = text
        cmds.append(cmd)
    return cmds[0] if len(cmds) == 1 else Macro(text, cmds)


def delete_edit(path: str, box_uids: list[str], proposal_uids: list[str]) -> Command | None:
    """Return one undo step that rejects these proposals and deletes these boxes of an image
    (None when both are empty)."""
    cmds: list[Command] = []
    if proposal_uids:
        cmds.append(RejectProposals(path, proposal_uids))
    if box_uids:
        cmds.append(DeleteBoxes(path, box_uids))
    if len(cmds) <= 1:
        return cmds[0] if cmds else None
    return Macro(" and ".join(c.text.lower() for c in cmds).capitalize(), cmds)


def toggle_reviewed_edit(rec: ImageRecord) -> Command:
    """Return the edit marking the image reviewed, or back to proposed/unlabeled if it was."""
    if rec.status == ImageStatus.REVIEWED:
        new = ImageStatus.PROPOSED if rec.proposals else ImageStatus.UNLABELED
    else:
        new = ImageStatus.REVIEWED
    return SetImageStatus([rec.path], new)
