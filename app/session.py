"""The session: the one QObject that owns the Project and its undo history.

Every edit goes through `push()` (an undoable command from app.annotations.commands); the
session turns each command's change description into fine-grained signals and hands it to the
open `ProjectDocument`, whose store makes it durable within milliseconds (app/session_saver.py).
Widgets read the project and call the session; they never change the project themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.annotations import formats
from app.annotations.coco import ExportSummary, ImportResult, export_coco, import_coco
from app.annotations.coco_merge import MergeImport
from app.annotations.commands import (
    AddBox,
    AddCategory,
    ChangeBoxCategory,
    DeleteBoxes,
    DeleteCategory,
    Macro,
    MergeCategories,
    PasteBoxes,
    RecolorCategory,
    RenameCategory,
    SetBoxRect,
    SetImageStatus,
)
from app.annotations.db_rows import meta_text
from app.annotations.document import (
    CloseResult,
    ProjectDocument,
    RecoverQuestion,
    SaveError,
    open_target,
)
from app.annotations.geometry import clamp_rect, is_valid_rect
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, Rect, new_uid
from app.annotations.results_import import read_results, results_to_proposals
from app.annotations.undo import Changed, Command, UndoStack
from app.session_saver import SessionSaver

log = logging.getLogger(__name__)

DEFAULT_CATEGORY = "object"
LAST_IMAGE_KEY = "last_image"  # project.meta: the image shown when the project was left


class Session(QObject):
    """Owns `project`, `undo_stack`, the current image and the active class."""

    project_opened = Signal()  # another project (or none) is now loaded
    image_changed = Signal(str)  # boxes, proposals, status or size of one image changed
    images_added = Signal()  # images were added or removed (rescan, import, its undo)
    categories_changed = Signal()  # names, colours, order or the category list changed
    current_image_changed = Signal(str)  # relative path, "" when none
    active_category_changed = Signal(int)  # class used for new boxes (0 when none)
    dirty_changed = Signal(bool)  # True while some edit is not on disk (in flight or failing)
    counts_changed = Signal()  # status or box counts may have changed
    undo_changed = Signal()  # can_undo / can_redo / texts changed
    message = Signal(str)  # a short line for the status bar
    saved = Signal(str)  # File → Save finished: database path
    autosaved = Signal(str)  # every edit so far is on disk: database path
    save_failed = Signal(str)  # edits reach no disk: the window offers Save As (message why)
    project_moved = Signal(str)  # writes failed, the project goes on elsewhere (message where)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document: ProjectDocument | None = None
        self._project: Project | None = None
        self.undo_stack = UndoStack()
        self.current_path = ""
        self.active_category_id = 0
        self.saver = SessionSaver(self)

    @property
    def project(self) -> Project | None:
        """Return the open project (None when none)."""
        return self._project

    @project.setter
    def project(self, project: Project | None) -> None:
        # Only for a project kept in memory (tests of widgets): nothing is written.
        self._project = project

    @property
    def project_file(self) -> Path | None:
        """Return the database the open project is written to."""
        return self.document.path if self.document is not None else None

    # ----- opening and closing -------------------------------------------------------------

    def open_folder(self, folder: str | Path, *, recover: RecoverQuestion | None = None) -> None:
        """Open an image folder's project (see ProjectDocument.open_folder); ProjectLockedError
        when another window has it, SaveError when the open project cannot be left saved."""
        root = Path(folder).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: not a folder")
        self._leave()
        self._show(ProjectDocument.open_folder(root, ask=recover))

    def open_project_file(self, path: str | Path, *, recover: RecoverQuestion | None = None):
        """Open a project database file (or an earlier version's project.json: its folder)."""
        path = Path(path).resolve()
        self._leave()
        self._show(ProjectDocument.open_file(path, ask=recover))

    def open_path(self, path: str | Path, *, recover: RecoverQuestion | None = None) -> str:
        """Open what the user dropped or named (see `document.open_target`); return a report
        for the user ("" if none): a COCO file is imported into the open project, or into its
        own folder's project when none is open."""
        kind, target = open_target(path)
        if kind == "project":
            self.open_project_file(target, recover=recover)
        elif kind != "coco" or self.project is None:
            self.open_folder(target if kind == "folder" else target.parent, recover=recover)
        if kind == "image":
            self.set_current(target.name)
        return self.import_coco(target) if kind == "coco" else ""

    def close_project(self) -> CloseResult:
        """Write every edit and show no project; if nothing can be written anywhere, the
        project stays open and the result says why (offer Save As, or `discard_project`)."""
        if self.document is None:
            return CloseResult(True)
        self.saver.record_deferred()
        result = self.document.close()
        if result.saved:
            self._show(None)
            if result.message:
                self.message.emit(result.message)
        return result

    def discard_project(self) -> None:
        """Close without writing what is not on disk yet (the user chose to lose it)."""
        if self.document is not None:
            self.document.discard()
            self._show(None)

    def set_project(self, project: Project | None, project_file: Path | None = None) -> None:
        """Show an in-memory project, written first as a new database (None: show none)."""
        self._leave()
        doc = ProjectDocument.create(project, project_file) if project is not None else None
        self._show(doc)

    def _leave(self) -> None:
        """Close the open project before another opens; raises SaveError when it cannot."""
        if self.document is not None:
            result = self.close_project()
            if not result.saved:
                raise SaveError(result.message)

    def _show(self, document: ProjectDocument | None) -> None:
        self.saver.reset()
        self.document = document
        project = self._project = document.project if document is not None else None
        self.undo_stack.clear()
        self.current_path = ""
        first = project.categories[0].id if project and project.categories else 0
        self.active_category_id = first
        self.project_opened.emit()
        self.categories_changed.emit()
        self.active_category_changed.emit(first)
        self.counts_changed.emit()
        self.undo_changed.emit()
        if project is not None and project.images:
            last = project.meta.get(LAST_IMAGE_KEY)
            start = last if isinstance(last, str) and project.has_image(last) else None
            self.set_current(start or project.images[0].path)
        else:
            self.current_image_changed.emit("")
        if document is not None:
            for line in document.messages + document.warnings:
                self.message.emit(line)
            self.saver.watch()

    # ----- COCO ----------------------------------------------------------------------------

    def import_coco(self, path: str | Path) -> str:
        """Merge a COCO file into the project as one undo step; return the readable report."""
        if self.project is None:
            raise ValueError("open an image folder before importing COCO annotations")
        return self._merge(import_coco(Path(path), self.project.root), Path(path).name)

    def import_labels(self, format_id: str, path: str | Path) -> str:
        """Merge labels in a format of app.annotations.formats as one undo step; return the report."""
        if self.project is None:
            raise ValueError("open an image folder before importing labels")
        result = formats.import_labels(format_id, Path(path), self.project)
        return self._merge(result, Path(path).name)

    def _merge(self, result: ImportResult, name: str) -> str:
        cmd = MergeImport(result)
        if self.push(cmd) is None:
            return result.report.summary()
        lines = [result.report.summary()]
        lines.append(
            f"Added {cmd.added_boxes} boxes ({cmd.duplicate_boxes} already there), "
            f"{cmd.added_images} new images, {cmd.added_categories} new classes."
        )
        if cmd.clipped_boxes or cmd.outside_boxes:
            lines.append(
                f"{cmd.clipped_boxes} boxes reached outside their image and were clipped; "
                f"{cmd.outside_boxes} lay wholly outside it and were left out."
            )
        self.message.emit(f"Imported {name}: {cmd.added_boxes} boxes")
        if not self.current_path and self.project.images:  # a folder whose images came in
            self.set_current(self.project.images[0].path)
        return "\n".join(lines)

    def export_dataset(
        self, format_id: str, target: str | Path, options: formats.ExportOptions
    ) -> formats.DatasetSummary:
        """Write the project in a format of app.annotations.formats; return what was written."""
        if self.project is None:
            raise ValueError("nothing to export: no folder is open")
        summary = formats.export_dataset(format_id, self.project, Path(target), options)
        self.message.emit(
            f"Exported {summary.images} images and {summary.annotations} boxes to {target}"
        )
        return summary

    def import_results(self, path: str | Path) -> str:
        """Add a COCO results file's detections as proposals (scores kept, for review, not
        boxes), as auto-annotate does; return the readable report."""
        if self.project is None:
            raise ValueError("open an image folder before importing detections")
        path = Path(path)
        found = results_to_proposals(self.project, read_results(path), f"results:{path.name}")
        for edit in found.edits:
            self.apply_outside_history(edit)
        self.message.emit(f"Imported {found.proposals} proposals from {path.name}")
        return found.summary()

    def export_coco(self, path: str | Path, *, only_reviewed: bool = False) -> ExportSummary:
        """Write the project as a COCO file (atomically); return what was written."""
        if self.project is None:
            raise ValueError("nothing to export: no folder is open")
        unknown = {rec.path for rec in self.project.images if rec.size is None}
        summary = export_coco(self.project, Path(path), only_reviewed=only_reviewed)
        learned = frozenset(p for p in unknown if self.project.image(p).size is not None)
        if learned:  # the export read these sizes from the files: keep them
            self.saver.defer(Changed(images=learned))
        # The file name only: a full path does not fit the status bar beside its fields.
        name = Path(path).name
        text = f"Exported {summary.images} images and {summary.annotations} boxes to {name}"
        if summary.skipped_images:
            text += f" ({len(summary.skipped_images)} unreadable images left out)"
        self.message.emit(text)
        return summary

    # ----- saving (app/session_saver.py) --------------------------------------------------

    def save(self) -> Path | None:
        """File → Save: every edit on disk, journal folded in; None (save_failed) on failure."""
        return self.saver.save()

    def save_as(self, path: str | Path) -> Path | None:
        """Write the project to another database file and go on there; None on failure."""
        return self.saver.save_as(path)

    def autosave_now(self) -> Path | None:
        """Wait until every edit so far is on disk; return the database path (None if not)."""
        return self.saver.flush()

    def is_dirty(self) -> bool:
        """Return True while some edit is not on disk yet (in flight, or writes failing)."""
        return self.saver.is_dirty()

    def autosave_pending(self) -> bool:
        """Return True while some edit is waiting to be written."""
        return self.saver.is_dirty()

    def batch(self):
        """Return a context manager: every change made inside is one transaction."""
        return self.saver.batch()

    def record_model_version(self, key: str, path: str, created_at: str, info: dict) -> None:
        """Remember a fine-tuned model and its metrics in the project database."""
        self.saver.record_model_version(key, path, created_at, info)

    # ----- editing -------------------------------------------------------------------------

    def push(self, cmd: Command) -> Command | None:
        """Run and record an edit; return it (None if it was refused, with a message)."""
        if self.project is None:
            return None
        try:
            top = self.undo_stack.push(cmd, self.project)
        except (KeyError, ValueError) as exc:
            log.info("edit refused: %s", exc)
            self.message.emit(str(exc).strip("'\""))
            return None
        self._announce(cmd.changed)
        return top

    def apply_outside_history(self, cmd: Command) -> bool:
        """Run an edit the undo history does not record (model results); True if done.

        Auto-annotate results arrive while the user edits: kept out of the history, Ctrl+Z
        keeps undoing the user's own edits. The change is saved like any other, results of one
        event-loop pass in one transaction.
        """
        if self.project is None:
            return False
        try:
            cmd.redo(self.project)
        except (KeyError, ValueError) as exc:
            log.info("model edit refused: %s", exc)
            return False
        self._announce(cmd.changed, defer=True)
        return True

    def set_meta(self, key: str, value: object) -> None:
        """Store a project setting in project.meta (ValueError if it cannot be stored)."""
        if self.project is not None and self.project.meta.get(key) != value:
            meta_text(value)  # refuse NaN or objects JSON cannot hold before they get in
            self.project.meta[key] = value
            self.saver.defer(Changed())

    def undo(self) -> None:
        """Undo the last edit."""
        if self.project is not None and (cmd := self.undo_stack.undo(self.project)):
            self._announce(cmd.changed)
            self.message.emit(f"Undone: {cmd.text}")

    def redo(self) -> None:
        """Redo the last undone edit."""
        if self.project is not None and (cmd := self.undo_stack.redo(self.project)):
            self._announce(cmd.changed)
            self.message.emit(f"Redone: {cmd.text}")

    def _announce(self, changed: Changed, *, defer: bool = False) -> None:
        # Hand over first: the store keeps the box counts the panels read in these signals.
        if defer:
            self.saver.defer(changed)
        else:
            self.saver.record(changed)
        if changed.image_list:
            self._leave_vanished_image()  # before any listener asks for the current record
        if changed.category_list or changed.categories:
            self.categories_changed.emit()
            if self.project is not None and changed.category_list:
                ids = {c.id for c in self.project.categories}
                if self.active_category_id not in ids:
                    self.set_active_category(self.project.categories[0].id if ids else 0)
        if changed.image_list:
            self.images_added.emit()
        for path in sorted(changed.images):
            self.image_changed.emit(path)
        self.counts_changed.emit()
        self.undo_changed.emit()

    def _leave_vanished_image(self) -> None:
        """Show another image when the current one left the project (undo of an import)."""
        if self.project is None or not self.current_path:
            return
        if self.project.has_image(self.current_path):
            return
        self.current_path = ""
        if self.project.images:
            self.set_current(self.project.images[0].path)
        else:
            self.current_image_changed.emit("")

    # ----- current image and class ---------------------------------------------------------

    def set_current(self, path: str) -> None:
        """Make `path` the image shown on the canvas."""
        if self.project is None or path == self.current_path:
            return
        if path and not self.project.has_image(path):
            raise KeyError(f"no image {path!r} in the project")
        self.current_path = path
        self.current_image_changed.emit(path)
        if path:
            self.set_meta(LAST_IMAGE_KEY, path)

    def current_record(self) -> ImageRecord | None:
        """Return the record of the current image (None when none)."""
        if self.project is None or not self.current_path:
            return None
        return self.project.image(self.current_path)

    def absolute_path(self, path: str) -> str:
        """Return the file path of a project-relative image path."""
        assert self.project is not None
        return str(self.project.root / path)

    def set_image_size(self, path: str, width: int, height: int) -> None:
        """Remember an image's display size found by the decoder (not an edit)."""
        if self.project is None or not self.project.has_image(path):
            return
        rec = self.project.image(path)
        if rec.size != (width, height):
            # Not an edit (no undo step), but stored like one: boxes are clamped to this size.
            rec.width, rec.height = width, height
            self.image_changed.emit(path)
            self.saver.defer(Changed(images=frozenset({path})))

    def set_active_category(self, category_id: int) -> None:
        """Choose the class for new boxes."""
        if category_id != self.active_category_id:
            self.active_category_id = category_id
            self.active_category_changed.emit(category_id)

    def category_for_hotkey(self, number: int) -> Category | None:
        """Return the category bound to hotkey `number` (1-9: the n-th category)."""
        if self.project is None or not 1 <= number <= len(self.project.categories):
            return None
        return self.project.categories[number - 1]

    # ----- box edits (the canvas calls these) ----------------------------------------------

    def add_box(self, rect: Rect, category_id: int | None = None) -> Box | None:
        """Add a box to the current image with the active class; return it.

        Creates a first class ("object") when the project has none, in the same undo step.
        """
        rec = self.current_record()
        if rec is None:
            return None
        if rec.size is not None:
            rect = clamp_rect(rect, *rec.size)
        if not is_valid_rect(rect):
            return None
        commands: list[Command] = []
        cid = category_id or self.active_category_id
        if self.project.categories and cid not in {c.id for c in self.project.categories}:
            cid = self.project.categories[0].id
        if not self.project.categories:
            commands.append(AddCategory(DEFAULT_CATEGORY))
            cid = self.project.next_category_id  # the id AddCategory will give
        box = Box(new_uid(), *rect, category_id=cid)
        commands.append(AddBox(rec.path, box))
        cmd = commands[0] if len(commands) == 1 else Macro("Add box", commands)
        if self.push(cmd) is None:
            return None
        if self.active_category_id != cid:
            self.set_active_category(cid)
        return box

    def delete_boxes(self, uids: Iterable[str]) -> None:
        """Delete boxes of the current image."""
        uids = list(uids)
        if uids and self.current_path:
            self.push(DeleteBoxes(self.current_path, uids))

    def set_box_rects(self, rects: dict[str, Rect], text: str = "Move box") -> None:
        """Move or resize boxes of the current image as one undo step."""
        if not rects or not self.current_path:
            return
        merge = "nudge" if text.startswith("Nudge") and len(rects) == 1 else None
        cmds: list[Command] = []
        for uid, rect in rects.items():
            cmd = SetBoxRect(self.current_path, uid, rect, merge_key=merge)
            cmd.text = text
            cmds.append(cmd)
        self.push(cmds[0] if len(cmds) == 1 else Macro(text, cmds))

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
        if rec is None:
            return
        if rec.status == ImageStatus.REVIEWED:
            new = ImageStatus.PROPOSED if rec.proposals else ImageStatus.UNLABELED
        else:
            new = ImageStatus.REVIEWED
        self.set_status([rec.path], new)

    # ----- class edits (the class panel calls these) ---------------------------------------

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
