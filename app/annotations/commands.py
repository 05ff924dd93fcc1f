"""Undoable edits of boxes, proposals and image statuses (category edits: category_commands).

Every command refers to images by relative path and to boxes by uid, so it stays valid when
the records are reloaded. All commands are also importable from here, with UndoStack and Macro.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from app.annotations.category_commands import (
    AddCategory,
    DeleteCategory,
    MergeCategories,
    RecolorCategory,
    RenameCategory,
    category_usage,
)
from app.annotations.geometry import clamp_rect, is_finite_rect, is_valid_rect, normalize_rect
from app.annotations.model import Box, ImageStatus, Project, Proposal, Rect, new_uid
from app.annotations.undo import Changed, Command, Macro, UndoStack

__all__ = [
    "AcceptProposals",
    "AddBox",
    "AddCategory",
    "ChangeBoxCategory",
    "Changed",
    "Command",
    "DeleteBoxes",
    "DeleteCategory",
    "Macro",
    "MergeCategories",
    "PasteBoxes",
    "RecolorCategory",
    "RejectProposals",
    "RenameCategory",
    "SetBoxRect",
    "SetImageStatus",
    "SetProposals",
    "UndoStack",
    "category_usage",
]


def _check_category(project: Project, category_id: int) -> None:
    project.category(category_id)  # KeyError names the id


def _check_numbers(item: Box | Proposal, path: str) -> None:
    """Refuse NaN or infinite corners and scores at the edit: they could never be stored."""
    score = item.score
    if not is_finite_rect(item.rect) or (score is not None and not math.isfinite(score)):
        raise ValueError(f"{path}: a box needs finite corners and score, not {item.rect}")


def _take(items: list, uids: Iterable[str], what: str, path: str) -> list[tuple[int, object]]:
    """Remove the items with these uids; return (index, item) pairs in ascending index order."""
    wanted = set(uids)
    taken = [(i, item) for i, item in enumerate(items) if item.uid in wanted]
    if len(taken) != len(wanted):
        missing = wanted - {item.uid for _, item in taken}
        raise KeyError(f"{path}: no {what} {sorted(missing)}")
    for i, _ in reversed(taken):
        del items[i]
    return taken


def _put_back(items: list, taken: list[tuple[int, object]]) -> None:
    for i, item in taken:
        items.insert(i, item)


class AddBox(Command):
    """Add one box to an image."""

    def __init__(self, path: str, box: Box) -> None:
        self.path = path
        self.box = box
        self.text = "Add box"

    def redo(self, project: Project) -> None:
        _check_category(project, self.box.category_id)
        _check_numbers(self.box, self.path)
        project.image(self.path).boxes.append(self.box)

    def undo(self, project: Project) -> None:
        _take(project.image(self.path).boxes, [self.box.uid], "box", self.path)

    @property
    def changed(self) -> Changed:
        return Changed(images=frozenset({self.path}), categories=frozenset({self.box.category_id}))


class DeleteBoxes(Command):
    """Delete boxes of one image (undo puts them back at their places)."""

    def __init__(self, path: str, uids: Sequence[str]) -> None:
        self.path = path
        self.uids = list(uids)
        self._taken: list[tuple[int, Box]] = []
        self.text = "Delete box" if len(self.uids) == 1 else f"Delete {len(self.uids)} boxes"

    def redo(self, project: Project) -> None:
        self._taken = _take(project.image(self.path).boxes, self.uids, "box", self.path)

    def undo(self, project: Project) -> None:
        _put_back(project.image(self.path).boxes, self._taken)

    @property
    def changed(self) -> Changed:
        cats = frozenset(b.category_id for _, b in self._taken)
        return Changed(images=frozenset({self.path}), categories=cats)


class SetBoxRect(Command):
    """Move or resize one box. Commands with the same `merge_key` on the same box merge."""

    def __init__(self, path: str, uid: str, rect: Rect, *, merge_key: str | None = None) -> None:
        self.path = path
        self.uid = uid
        self._finite = is_finite_rect(rect)  # before normalizing: min() and max() hide a NaN
        self.rect = normalize_rect(rect)
        self.merge_key = merge_key
        self._old: Rect | None = None
        self.text = "Move box"

    def _set(self, project: Project, rect: Rect) -> None:
        boxes = project.image(self.path).boxes
        for i, b in enumerate(boxes):
            if b.uid == self.uid:
                if self._old is None:
                    self._old = b.rect
                boxes[i] = b.moved_to(rect)
                return
        raise KeyError(f"{self.path}: no box {self.uid}")

    def redo(self, project: Project) -> None:
        if not self._finite:
            raise ValueError(f"{self.path}: a box needs finite corners, not {self.rect}")
        self._set(project, self.rect)

    def undo(self, project: Project) -> None:
        assert self._old is not None
        self._set(project, self._old)

    def merge(self, other: Command) -> bool:
        if (
            self.merge_key is not None
            and isinstance(other, SetBoxRect)
            and other.merge_key == self.merge_key
            and (other.path, other.uid) == (self.path, self.uid)
        ):
            self.rect = other.rect
            return True
        return False

    @property
    def changed(self) -> Changed:
        return Changed(images=frozenset({self.path}))


class ChangeBoxCategory(Command):
    """Give boxes of one image another category."""

    def __init__(self, path: str, uids: Sequence[str], category_id: int) -> None:
        self.path = path
        self.uids = list(uids)
        self.category_id = category_id
        self._old: dict[str, int] = {}
        self.text = "Change class"

    def redo(self, project: Project) -> None:
        _check_category(project, self.category_id)
        boxes = project.image(self.path).boxes
        wanted = set(self.uids)
        found = [i for i, b in enumerate(boxes) if b.uid in wanted]
        if len(found) != len(wanted):
            raise KeyError(f"{self.path}: some boxes are missing")
        self._old = {boxes[i].uid: boxes[i].category_id for i in found}
        for i in found:
            boxes[i] = boxes[i].with_category(self.category_id)

    def undo(self, project: Project) -> None:
        boxes = project.image(self.path).boxes
        for i, b in enumerate(boxes):
            if b.uid in self._old:
                boxes[i] = b.with_category(self._old[b.uid])

    @property
    def changed(self) -> Changed:
        cats = frozenset(self._old.values()) | {self.category_id}
        return Changed(images=frozenset({self.path}), categories=cats)


class AcceptProposals(Command):
    """Turn proposals into boxes (same uid, source "model"); they leave the proposal list."""

    def __init__(self, path: str, uids: Sequence[str]) -> None:
        self.path = path
        self.uids = list(uids)
        self._taken: list[tuple[int, Proposal]] = []
        self.text = (
            "Accept proposal" if len(self.uids) == 1 else f"Accept {len(self.uids)} proposals"
        )

    def redo(self, project: Project) -> None:
        rec = project.image(self.path)
        self._taken = _take(rec.proposals, self.uids, "proposal", self.path)
        rec.boxes.extend(p.to_box() for _, p in self._taken)

    def undo(self, project: Project) -> None:
        rec = project.image(self.path)
        _take(rec.boxes, [p.uid for _, p in self._taken], "box", self.path)
        _put_back(rec.proposals, self._taken)

    @property
    def changed(self) -> Changed:
        cats = frozenset(p.category_id for _, p in self._taken)
        return Changed(images=frozenset({self.path}), categories=cats)


class RejectProposals(Command):
    """Drop proposals of one image."""

    def __init__(self, path: str, uids: Sequence[str]) -> None:
        self.path = path
        self.uids = list(uids)
        self._taken: list[tuple[int, Proposal]] = []
        self.text = (
            "Reject proposal" if len(self.uids) == 1 else f"Reject {len(self.uids)} proposals"
        )

    def redo(self, project: Project) -> None:
        self._taken = _take(project.image(self.path).proposals, self.uids, "proposal", self.path)

    def undo(self, project: Project) -> None:
        _put_back(project.image(self.path).proposals, self._taken)

    @property
    def changed(self) -> Changed:
        return Changed(images=frozenset({self.path}))


class SetProposals(Command):
    """Replace an image's proposals (auto-annotate); boxes stay.

    With `mark_proposed`, an UNLABELED image that receives proposals becomes PROPOSED.
    """

    def __init__(self, path: str, proposals: Sequence[Proposal], *, mark_proposed: bool = True):
        self.path = path
        self.proposals = list(proposals)
        self.mark_proposed = mark_proposed
        self._old: list[Proposal] = []
        self._old_status: ImageStatus | None = None
        self.text = "Set proposals"

    def redo(self, project: Project) -> None:
        for p in self.proposals:
            _check_category(project, p.category_id)
            _check_numbers(p, self.path)
        rec = project.image(self.path)
        self._old = rec.proposals
        self._old_status = rec.status
        rec.proposals = list(self.proposals)
        if self.mark_proposed and self.proposals and rec.status == ImageStatus.UNLABELED:
            rec.status = ImageStatus.PROPOSED

    def undo(self, project: Project) -> None:
        rec = project.image(self.path)
        rec.proposals = self._old
        assert self._old_status is not None
        rec.status = self._old_status

    @property
    def changed(self) -> Changed:
        return Changed(images=frozenset({self.path}))


class SetImageStatus(Command):
    """Set the status of several images."""

    def __init__(self, paths: Sequence[str], status: ImageStatus) -> None:
        self.paths = list(paths)
        self.status = ImageStatus(status)
        self._old: dict[str, ImageStatus] = {}
        self.text = f"Mark {self.status.value}"

    def redo(self, project: Project) -> None:
        records = [project.image(p) for p in self.paths]
        self._old = {rec.path: rec.status for rec in records}
        for rec in records:
            rec.status = self.status

    def undo(self, project: Project) -> None:
        for path, status in self._old.items():
            project.image(path).status = status

    @property
    def changed(self) -> Changed:
        return Changed(images=frozenset(self.paths))


class PasteBoxes(Command):
    """Copy boxes onto an image with fresh uids.

    Boxes are clamped to the image when its size is known; boxes that become empty and exact
    duplicates of a box already there (same rect and category) are skipped. `pasted` lists the
    boxes added.
    """

    def __init__(self, path: str, boxes: Sequence[Box]) -> None:
        self.path = path
        self.source_boxes = list(boxes)
        self.pasted: list[Box] | None = None
        self.text = "Paste boxes"

    def redo(self, project: Project) -> None:
        rec = project.image(self.path)
        if self.pasted is None:
            for b in self.source_boxes:
                _check_category(project, b.category_id)
            existing = {(b.rect, b.category_id) for b in rec.boxes}
            pasted = []
            for b in self.source_boxes:
                rect = normalize_rect(b.rect)
                if rec.size is not None:
                    rect = clamp_rect(rect, *rec.size)
                if not is_valid_rect(rect) or (rect, b.category_id) in existing:
                    continue
                existing.add((rect, b.category_id))
                pasted.append(Box(new_uid(), *rect, b.category_id, b.score, b.source))
            self.pasted = pasted
        rec.boxes.extend(self.pasted)

    def undo(self, project: Project) -> None:
        assert self.pasted is not None
        _take(project.image(self.path).boxes, [b.uid for b in self.pasted], "box", self.path)

    @property
    def changed(self) -> Changed:
        cats = frozenset(b.category_id for b in self.pasted or [])
        return Changed(images=frozenset({self.path}), categories=cats)
