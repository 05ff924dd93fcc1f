"""Merging an imported COCO file into a project, as one undoable step."""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.annotations.coco_import import ImportResult
from app.annotations.geometry import clamp_rect, rect_area
from app.annotations.model import (
    Box,
    Category,
    ImageRecord,
    ImageStatus,
    Project,
    generated_color,
    new_uid,
)
from app.annotations.undo import Changed, Command

_RANK = {ImageStatus.UNLABELED: 0, ImageStatus.PROPOSED: 1, ImageStatus.REVIEWED: 2}


@dataclass
class _ImageState:
    boxes: list[Box]
    status: ImageStatus
    width: int | None
    height: int | None

    @classmethod
    def of(cls, rec: ImageRecord) -> _ImageState:
        return cls(list(rec.boxes), rec.status, rec.width, rec.height)

    def apply(self, rec: ImageRecord) -> None:
        rec.boxes = list(self.boxes)
        rec.status, rec.width, rec.height = self.status, self.width, self.height


class MergeImport(Command):
    """Merge imported categories, images and boxes into the project.

    Categories are matched by name; new ones keep the file's id when that id was never used in
    the project, otherwise they get the next free id. Images are matched by path; boxes equal
    to one already there (same corners and class) are not added twice; an image's status only
    moves up (unlabeled < proposed < reviewed); unknown sizes are filled in. Boxes merged into
    an image whose size is known are clipped to it (none left: dropped). A new class keeps the
    colour the file gave it, even one another class has; a made-up colour avoids the others.
    The counts (`added_images`, `merged_images`, `added_boxes`, `duplicate_boxes`,
    `clipped_boxes`, `outside_boxes`, `added_categories`, `matched_categories`) are set by the
    first redo.
    """

    def __init__(self, result: ImportResult) -> None:
        self.result = result
        self.text = f"Import {result.report.source}"
        self._planned = False
        self._new_categories: list[Category] = []
        self._new_images: list[ImageRecord] = []
        self._before: dict[str, _ImageState] = {}
        self._after: dict[str, _ImageState] = {}
        self._matched: set[int] = set()
        self.added_images = self.merged_images = self.added_boxes = self.duplicate_boxes = 0
        self.clipped_boxes = self.outside_boxes = 0
        self.added_categories = self.matched_categories = 0

    def _plan(self, project: Project) -> None:
        cat_map: dict[int, int] = {}
        taken_ids = {c.id for c in project.categories}
        next_id = project.next_category_id
        colors = {c.color for c in project.categories}
        for cat in sorted(self.result.categories, key=lambda c: c.id):
            existing = project.category_by_name(cat.name)
            if existing is not None:
                cat_map[cat.id] = existing.id
                self._matched.add(existing.id)
                continue
            new_id = cat.id if cat.id >= next_id and cat.id not in taken_ids else next_id
            color, k = cat.color, 0
            while color in colors and cat.id not in self.result.given_colors:
                color, k = generated_color(k), k + 1
            new = Category(new_id, cat.name, color)
            taken_ids.add(new_id)
            colors.add(color)
            next_id = max(next_id, new_id + 1)
            cat_map[cat.id] = new_id
            self._new_categories.append(new)

        for imp in self.result.images:
            boxes = [
                b
                if cat_map[b.category_id] == b.category_id
                else b.with_category(cat_map[b.category_id])
                for b in imp.boxes
            ]
            if not project.has_image(imp.path):
                self._new_images.append(replace(imp, boxes=boxes, proposals=[]))
                self.added_boxes += len(boxes)
                continue
            rec = project.image(imp.path)
            before = _ImageState.of(rec)
            after = _ImageState.of(rec)
            size = rec.size or imp.size
            # Compare as exported (clipped to the image), so re-importing our export adds nothing.
            present = {
                (clamp_rect(b.rect, *size) if size else b.rect, b.category_id) for b in rec.boxes
            }
            uids = {b.uid for b in rec.boxes}
            for b in boxes:
                if size and b.rect != (clipped := clamp_rect(b.rect, *size)):
                    if rect_area(clipped) <= 0:
                        self.outside_boxes += 1
                        continue
                    self.clipped_boxes += 1
                    b = b.moved_to(clipped)
                if (b.rect, b.category_id) in present:
                    self.duplicate_boxes += 1
                    continue
                if b.uid in uids:
                    b = replace(b, uid=new_uid())
                present.add((b.rect, b.category_id))
                uids.add(b.uid)
                after.boxes.append(b)
                self.added_boxes += 1
            if _RANK[imp.status] > _RANK[after.status]:
                after.status = imp.status
            if after.width is None or after.height is None:
                after.width, after.height = imp.width, imp.height
            if after != before:
                self._before[rec.path] = before
                self._after[rec.path] = after
            self.merged_images += 1
        self.added_images = len(self._new_images)
        self.added_categories = len(self._new_categories)
        self.matched_categories = len(self._matched)
        self._planned = True

    def redo(self, project: Project) -> None:
        if not self._planned:
            self._plan(project)
        for cat in self._new_categories:
            project.insert_category(cat)
        if self.result.ours and self.result.next_category_id:
            project.next_category_id = max(project.next_category_id, self.result.next_category_id)
        project.add_images(self._new_images)
        for path, state in self._after.items():
            state.apply(project.image(path))

    def undo(self, project: Project) -> None:
        for path, state in self._before.items():
            state.apply(project.image(path))
        if self._new_images:
            added = {rec.path for rec in self._new_images}
            project.images = [rec for rec in project.images if rec.path not in added]
            project.reindex()
        for cat in self._new_categories:
            project.remove_category(cat.id)

    @property
    def changed(self) -> Changed:
        return Changed(
            images=frozenset(self._after) | frozenset(r.path for r in self._new_images),
            categories=frozenset(c.id for c in self._new_categories) | frozenset(self._matched),
            category_list=bool(self._new_categories),
            image_list=bool(self._new_images),
        )

    def report(self) -> str:
        """Return what the merge did for the user: the file's report, then the counts."""
        lines = [
            self.result.report.summary(),
            f"Added {self.added_boxes} boxes ({self.duplicate_boxes} already there), "
            f"{self.added_images} new images, {self.added_categories} new classes.",
        ]
        if self.clipped_boxes or self.outside_boxes:
            lines.append(
                f"{self.clipped_boxes} boxes reached outside their image and were clipped; "
                f"{self.outside_boxes} lay wholly outside it and were left out."
            )
        return "\n".join(lines)


def merge_import(project: Project, result: ImportResult) -> MergeImport:
    """Merge an import into the project now (without undo) and return the command with counts."""
    cmd = MergeImport(result)
    cmd.redo(project)
    return cmd
