"""Undoable category edits: add, rename, recolour, merge, delete."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from app.annotations.model import Box, Category, Project, Proposal
from app.annotations.undo import Changed, Command

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class CategoryUsage:
    """How much of the project uses one category (for 'this deletes N boxes' questions)."""

    boxes: int
    proposals: int
    images: int


def category_usage(project: Project, category_id: int) -> CategoryUsage:
    """Return how many boxes, proposals and images use a category."""
    boxes = proposals = images = 0
    for rec in project.images:
        nb = sum(1 for b in rec.boxes if b.category_id == category_id)
        np_ = sum(1 for p in rec.proposals if p.category_id == category_id)
        boxes += nb
        proposals += np_
        images += bool(nb or np_)
    return CategoryUsage(boxes=boxes, proposals=proposals, images=images)


def check_color(color: str) -> str:
    """Return the colour in lower case if it is '#rrggbb' (ValueError otherwise)."""
    if not isinstance(color, str) or not _COLOR.match(color):
        raise ValueError(f"colour must look like #rrggbb, not {color!r}")
    return color.lower()


class AddCategory(Command):
    """Create a category; `category` holds it after the first redo (same id on every redo)."""

    def __init__(self, name: str, color: str | None = None) -> None:
        self.name = name
        self.color = check_color(color) if color is not None else None
        self.category: Category | None = None
        self.text = f"Add class {name.strip()!r}"

    def redo(self, project: Project) -> None:
        if self.category is None:
            self.category = project.add_category(self.name, self.color)
        else:
            if project.category_by_name(self.category.name) is not None:
                raise ValueError(f"category {self.category.name!r} already exists")
            project.insert_category(self.category)

    def undo(self, project: Project) -> None:
        assert self.category is not None
        project.remove_category(self.category.id)

    @property
    def changed(self) -> Changed:
        ids = frozenset({self.category.id}) if self.category else frozenset()
        return Changed(categories=ids, category_list=True)


class RenameCategory(Command):
    """Rename a category (names stay unique)."""

    def __init__(self, category_id: int, name: str) -> None:
        self.category_id = category_id
        self.name = name.strip()
        self._old = ""
        self.text = f"Rename class to {self.name!r}"

    def redo(self, project: Project) -> None:
        cat = project.category(self.category_id)
        if not self.name:
            raise ValueError("a category needs a name")
        other = project.category_by_name(self.name)
        if other is not None and other is not cat:
            raise ValueError(f"category {self.name!r} already exists")
        self._old = cat.name
        cat.name = self.name

    def undo(self, project: Project) -> None:
        project.category(self.category_id).name = self._old

    @property
    def changed(self) -> Changed:
        return Changed(categories=frozenset({self.category_id}))


class RecolorCategory(Command):
    """Give a category another colour."""

    def __init__(self, category_id: int, color: str) -> None:
        self.category_id = category_id
        self.color = check_color(color)
        self._old = ""
        self.text = "Change class colour"

    def redo(self, project: Project) -> None:
        cat = project.category(self.category_id)
        self._old = cat.color
        cat.color = self.color

    def undo(self, project: Project) -> None:
        project.category(self.category_id).color = self._old

    @property
    def changed(self) -> Changed:
        return Changed(categories=frozenset({self.category_id}))


class MergeCategories(Command):
    """Move every box and proposal of `source_id` to `target_id`, then remove the source.

    `moved_boxes` and `moved_proposals` count what moved (after the first redo).
    """

    def __init__(self, source_id: int, target_id: int) -> None:
        if source_id == target_id:
            raise ValueError("cannot merge a class into itself")
        self.source_id = source_id
        self.target_id = target_id
        self._category: Category | None = None
        self._index = 0
        self._boxes: dict[str, set[str]] = {}
        self._proposals: dict[str, set[str]] = {}
        self.moved_boxes = 0
        self.moved_proposals = 0
        self.text = "Merge classes"

    def redo(self, project: Project) -> None:
        project.category(self.target_id)
        self._category = project.category(self.source_id)
        self._boxes, self._proposals = {}, {}
        for rec in project.images:
            box_uids = {b.uid for b in rec.boxes if b.category_id == self.source_id}
            prop_uids = {p.uid for p in rec.proposals if p.category_id == self.source_id}
            if box_uids:
                self._boxes[rec.path] = box_uids
                rec.boxes = [
                    b.with_category(self.target_id) if b.uid in box_uids else b for b in rec.boxes
                ]
            if prop_uids:
                self._proposals[rec.path] = prop_uids
                rec.proposals = [
                    replace(p, category_id=self.target_id) if p.uid in prop_uids else p
                    for p in rec.proposals
                ]
        self.moved_boxes = sum(len(u) for u in self._boxes.values())
        self.moved_proposals = sum(len(u) for u in self._proposals.values())
        self._index = project.remove_category(self.source_id)

    def undo(self, project: Project) -> None:
        assert self._category is not None
        project.insert_category(self._category, self._index)
        for path, uids in self._boxes.items():
            rec = project.image(path)
            rec.boxes = [b.with_category(self.source_id) if b.uid in uids else b for b in rec.boxes]
        for path, uids in self._proposals.items():
            rec = project.image(path)
            rec.proposals = [
                replace(p, category_id=self.source_id) if p.uid in uids else p
                for p in rec.proposals
            ]

    @property
    def changed(self) -> Changed:
        return Changed(
            images=frozenset(self._boxes) | frozenset(self._proposals),
            categories=frozenset({self.source_id, self.target_id}),
            category_list=True,
        )


class DeleteCategory(Command):
    """Remove a category with all its boxes and proposals.

    `deleted_boxes` and `deleted_proposals` count what went (after the first redo).
    """

    def __init__(self, category_id: int) -> None:
        self.category_id = category_id
        self._category: Category | None = None
        self._index = 0
        self._boxes: dict[str, list[tuple[int, Box]]] = {}
        self._proposals: dict[str, list[tuple[int, Proposal]]] = {}
        self.deleted_boxes = 0
        self.deleted_proposals = 0
        self.text = "Delete class"

    def redo(self, project: Project) -> None:
        self._category = project.category(self.category_id)
        self.text = f"Delete class {self._category.name!r}"
        self._boxes, self._proposals = {}, {}
        cid = self.category_id
        for rec in project.images:
            gone_b = [(i, b) for i, b in enumerate(rec.boxes) if b.category_id == cid]
            gone_p = [(i, p) for i, p in enumerate(rec.proposals) if p.category_id == cid]
            if gone_b:
                self._boxes[rec.path] = gone_b
                rec.boxes = [b for b in rec.boxes if b.category_id != cid]
            if gone_p:
                self._proposals[rec.path] = gone_p
                rec.proposals = [p for p in rec.proposals if p.category_id != cid]
        self.deleted_boxes = sum(len(v) for v in self._boxes.values())
        self.deleted_proposals = sum(len(v) for v in self._proposals.values())
        self._index = project.remove_category(cid)

    def undo(self, project: Project) -> None:
        assert self._category is not None
        project.insert_category(self._category, self._index)
        for path, taken in self._boxes.items():
            boxes = project.image(path).boxes
            for i, b in taken:
                boxes.insert(i, b)
        for path, taken in self._proposals.items():
            proposals = project.image(path).proposals
            for i, p in taken:
                proposals.insert(i, p)

    @property
    def changed(self) -> Changed:
        return Changed(
            images=frozenset(self._boxes) | frozenset(self._proposals),
            categories=frozenset({self.category_id}),
            category_list=True,
        )
