"""The typed edits of the session: what the canvas, the panels and the actions ask for.

Each method finds the command in app.annotations (commands, category_commands, edits: the
rules of the gestures, tested without Qt) and pushes it through the session, so widgets never
build commands. `Session` inherits these; they use only its `project`, `current_path`,
`current_record`, `push`, `apply_outside_history`, the active class and `message`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from app.annotations.category_commands import CategoryUsage, category_usage
from app.annotations.commands import (
    AddCategory,
    ChangeBoxCategory,
    DeleteCategory,
    MergeCategories,
    PasteBoxes,
    RecolorCategory,
    RejectProposals,
    RenameCategory,
    SetImageStatus,
    SetProposals,
)
from app.annotations.edits import (
    accept_edit,
    add_box_edit,
    box_rects_edit,
    delete_edit,
    toggle_reviewed_edit,
)
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, Proposal, Rect
from app.annotations.undo import Command

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance


class SessionEdits:
    """Box, proposal, status and class edits, each one undo step (mixed into Session)."""

    # Session's state and methods these use (declared for readers and type checkers).
    project: Project | None
    current_path: str
    active_category_id: int
    message: SignalInstance
    push: Callable[[Command], Command | None]
    apply_outside_history: Callable[[Command], bool]
    current_record: Callable[[], ImageRecord | None]
    set_active_category: Callable[[int], None]

    # ----- box edits (the canvas calls these) ----------------------------------------------

    def add_box(self, rect: Rect, category_id: int | None = None) -> Box | None:
        """Add a box to the current image with the active class; return it (None if refused).

        Creates a first class ("object") when the project has none, in the same undo step.
        """
        rec = self.current_record()
        if rec is None:
            return None
        edit = add_box_edit(self.project, rec, rect, category_id or self.active_category_id)
        if edit is None or self.push(edit[0]) is None:
            return None
        box = edit[1]
        self.set_active_category(box.category_id)  # the class the box got (the first, if new)
        return box

    def delete_boxes(self, uids: Iterable[str], proposal_uids: Iterable[str] = ()) -> None:
        """Delete boxes of the current image and reject its proposals `proposal_uids` (one step)."""
        if self.current_path:
            cmd = delete_edit(self.current_path, list(uids), list(proposal_uids))
            if cmd is not None:
                self.push(cmd)

    def set_box_rects(self, rects: dict[str, Rect], text: str = "Move box") -> None:
        """Move or resize boxes of the current image as one undo step; a proposal moved or
        resized is accepted where the user put it."""
        rec = self.current_record()
        cmd = box_rects_edit(rec, rects, text) if rec is not None else None
        if cmd is not None:
            self.push(cmd)

    def accept_proposals(self, uids: Iterable[str]) -> None:
        """Turn proposals of the current image into boxes (one undo step)."""
        uids = list(uids)
        if uids and self.current_path:
            self.push(accept_edit(self.current_path, uids))

    def reject_proposals(self, uids: Iterable[str]) -> None:
        """Reject proposals of the current image (one undo step)."""
        uids = list(uids)
        if uids and self.current_path:
            self.push(RejectProposals(self.current_path, uids))

    def set_model_proposals(self, path: str, proposals: list[Proposal]) -> bool:
        """Replace an image's proposals by a model's (outside the undo history); True if done."""
        return self.apply_outside_history(SetProposals(path, proposals))

    def change_category(self, uids: Iterable[str], category_id: int) -> None:
        """Give boxes of the current image another class."""
        uids = list(uids)
        if uids and self.current_path:
            self.push(ChangeBoxCategory(self.current_path, uids, category_id))

    def paste_boxes(self, path: str, boxes: list[Box]) -> int:
        """Copy boxes onto an image; return how many were added."""
        if not boxes or self.project is None:
            return 0
        cmd = PasteBoxes(path, boxes)
        if self.push(cmd) is None:
            return 0
        return len(cmd.pasted or [])

    def set_status(self, paths: Iterable[str], status: ImageStatus) -> None:
        """Set the review status of images."""
        paths = list(paths)
        if paths:
            self.push(SetImageStatus(paths, status))

    def toggle_reviewed(self) -> None:
        """Mark the current image reviewed, or back to unlabeled/proposed if it was."""
        rec = self.current_record()
        if rec is not None:
            self.push(toggle_reviewed_edit(rec))

    # ----- class edits (the class panel calls these) ---------------------------------------

    def category_usage(self, category_id: int) -> CategoryUsage:
        """Return how many boxes, proposals and images use a class (0s without a project)."""
        if self.project is None:
            return CategoryUsage(boxes=0, proposals=0, images=0)
        return category_usage(self.project, category_id)

    def add_category(self, name: str, color: str | None = None) -> Category | None:
        """Create a class; return it (None if the name is empty or taken)."""
        cmd = AddCategory(name, color)
        if self.push(cmd) is None:
            return None
        if not self.active_category_id and cmd.category is not None:
            self.set_active_category(cmd.category.id)
        return cmd.category

    def rename_category(self, category_id: int, name: str) -> bool:
        """Rename a class; return True if done."""
        return self.push(RenameCategory(category_id, name)) is not None

    def recolor_category(self, category_id: int, color: str) -> bool:
        """Give a class another colour; return True if done."""
        try:
            cmd = RecolorCategory(category_id, color)
        except ValueError as exc:
            self.message.emit(str(exc))
            return False
        return self.push(cmd) is not None

    def merge_categories(self, source_id: int, target_id: int) -> int:
        """Move every box of `source_id` to `target_id` and remove the source; return boxes moved."""
        cmd = MergeCategories(source_id, target_id)
        return cmd.moved_boxes if self.push(cmd) is not None else 0

    def delete_category(self, category_id: int) -> int:
        """Delete a class with its boxes and proposals; return the boxes deleted."""
        cmd = DeleteCategory(category_id)
        return cmd.deleted_boxes if self.push(cmd) is not None else 0
