"""The session: the one QObject that owns the Project and its undo history.

Every edit goes through `push()` (an undoable command from app.annotations.commands); the
session turns each command's change description into fine-grained signals and autosaves within
`AUTOSAVE_DELAY_MS` of any change. Widgets read the project and call the session; they never
change the project themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from app.annotations import formats, store
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
from app.annotations.geometry import clamp_rect, is_valid_rect
from app.annotations.images import is_image_name
from app.annotations.model import Box, Category, ImageRecord, ImageStatus, Project, Rect, new_uid
from app.annotations.undo import Changed, Command, UndoStack

log = logging.getLogger(__name__)

AUTOSAVE_DELAY_MS = 1000
DEFAULT_CATEGORY = "object"
LAST_IMAGE_KEY = "last_image"  # project.meta: the image shown when the project was saved

# Asked when an autosave newer than the project file exists; gets a description, says yes/no.
RecoverQuestion = Callable[[str], bool]


class Session(QObject):
    """Owns `project`, `undo_stack`, the current image and the active class."""

    project_opened = Signal()  # another project (or none) is now loaded
    image_changed = Signal(str)  # boxes, proposals, status or size of one image changed
    images_added = Signal()  # images were added or removed (rescan, import, its undo)
    categories_changed = Signal()  # names, colours, order or the category list changed
    current_image_changed = Signal(str)  # relative path, "" when none
    active_category_changed = Signal(int)  # class used for new boxes (0 when none)
    dirty_changed = Signal(bool)
    counts_changed = Signal()  # status or box counts may have changed
    undo_changed = Signal()  # can_undo / can_redo / texts changed
    message = Signal(str)  # a short line for the status bar
    saved = Signal(str)  # project file path
    autosaved = Signal(str)  # autosave file path

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self.project_file: Path | None = None
        self.undo_stack = UndoStack()
        self.current_path = ""
        self.active_category_id = 0
        self._extra_dirty = False  # changes outside the undo history (sizes, imports)
        self._was_dirty = False
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_DELAY_MS)
        self._autosave.timeout.connect(self.autosave_now)

    # ----- opening and saving --------------------------------------------------------------

    def open_folder(self, folder: str | Path, *, recover: RecoverQuestion | None = None) -> None:
        """Open an image folder: its project file if there is one, else a new project.

        Images added to the folder since the last save are appended. When an autosave is newer
        than the project file, `recover` is asked whether to use it.
        """
        root = Path(folder).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: not a folder")
        if self.project is not None and self.is_dirty():
            self.save()  # leaving a project never loses its edits
        project_file = store.project_file_for(root)
        found = store.find_recovery(project_file)
        recovered = False
        added = []
        if found is not None and (recover is None or recover(found.describe())):
            project = found.load()
            recovered = True
        elif project_file.exists():
            project = store.load_project(project_file)
        else:
            project = store.new_project(root)
        project.root = root
        if recovered or project_file.exists():
            added = store.add_new_images(project)
        self._set_project(project, project_file)
        if recovered or added:
            self._extra_dirty = True
            self._changed()
        if added:
            self.message.emit(f"{len(added)} new images found in {root.name}")
        elif recovered:
            self.message.emit("Recovered the unsaved changes")

    def open_project_file(self, path: str | Path, *, recover: RecoverQuestion | None = None):
        """Open a project file (its image folder is read from the file)."""
        project = store.load_project(Path(path))
        self.open_folder(project.root, recover=recover)

    def open_path(self, path: str | Path, *, recover: RecoverQuestion | None = None) -> str:
        """Open what the user dropped or named; return a report for the user ("" if none).

        A folder opens as a project; an image file opens its folder and shows that image; a
        project file opens its project; any other .json is imported as COCO (into the open
        project, or into its own folder's project when none is open).
        """
        path = Path(path).resolve()
        if path.is_dir():
            self.open_folder(path, recover=recover)
            return ""
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if is_image_name(path.name):
            self.open_folder(path.parent, recover=recover)
            self.set_current(path.name)
            return ""
        if path.suffix.lower() == ".json":
            if path.name in (store.PROJECT_FILE_NAME, store.AUTOSAVE_FILE_NAME):
                self.open_project_file(path, recover=recover)
                return ""
            if self.project is None:
                self.open_folder(path.parent, recover=recover)
            return self.import_coco(path)
        raise ValueError(f"{path.name}: not an image, folder, project or COCO file")

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

    def export_coco(self, path: str | Path, *, only_reviewed: bool = False) -> ExportSummary:
        """Write the project as a COCO file (atomically); return what was written."""
        if self.project is None:
            raise ValueError("nothing to export: no folder is open")
        summary = export_coco(self.project, Path(path), only_reviewed=only_reviewed)
        text = f"Exported {summary.images} images and {summary.annotations} boxes to {path}"
        if summary.skipped_images:
            text += f" ({len(summary.skipped_images)} unreadable images left out)"
        self.message.emit(text)
        return summary

    def close_project(self) -> None:
        """Save if needed and show no project."""
        if self.project is not None and self.is_dirty():
            self.save()
        self._set_project(None, None)

    def set_project(self, project: Project | None, project_file: Path | None = None) -> None:
        """Show an already loaded project (or none); the undo history starts empty."""
        self._set_project(project, project_file)

    def _set_project(self, project: Project | None, project_file: Path | None) -> None:
        self._autosave.stop()
        self.project = project
        self.project_file = project_file
        self.undo_stack.clear()
        self._extra_dirty = False
        self.current_path = ""
        first = project.categories[0].id if project and project.categories else 0
        self.active_category_id = first
        self.project_opened.emit()
        self.categories_changed.emit()
        self.active_category_changed.emit(first)
        self.counts_changed.emit()
        self.undo_changed.emit()
        self._emit_dirty()
        if project is not None and project.images:
            last = project.meta.get(LAST_IMAGE_KEY)
            start = last if isinstance(last, str) and project.has_image(last) else None
            self.set_current(start or project.images[0].path)
        else:
            self.current_image_changed.emit("")

    def save(self) -> Path | None:
        """Write the project file atomically; return its path (None without a project)."""
        if self.project is None:
            return None
        self._autosave.stop()
        if self.current_path:
            self.project.meta[LAST_IMAGE_KEY] = self.current_path
        path = store.save_project(self.project, self.project_file)
        self.project_file = path
        store.discard_autosave(path)
        self.undo_stack.set_clean()
        self._extra_dirty = False
        self._emit_dirty()
        self.saved.emit(str(path))
        self.message.emit(f"Saved {path}")
        return path

    def autosave_now(self) -> Path | None:
        """Write the autosave file if there are unsaved changes; return its path."""
        if self.project is None or not self.is_dirty():
            return None
        try:
            path = store.autosave(self.project, self.project_file)
        except OSError as exc:
            log.error("autosave failed: %s", exc)
            self.message.emit(f"Autosave failed: {exc}")
            return None
        self.autosaved.emit(str(path))
        return path

    def is_dirty(self) -> bool:
        """Return True when the project differs from its project file."""
        return self.project is not None and (self._extra_dirty or not self.undo_stack.clean)

    def autosave_pending(self) -> bool:
        """Return True while an autosave is scheduled."""
        return self._autosave.isActive()

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
        keeps undoing the user's own edits. The change is saved like any other.
        """
        if self.project is None:
            return False
        try:
            cmd.redo(self.project)
        except (KeyError, ValueError) as exc:
            log.info("model edit refused: %s", exc)
            return False
        self._extra_dirty = True
        self._announce(cmd.changed)
        return True

    def set_meta(self, key: str, value: object) -> None:
        """Store a project setting in project.meta (saved with the project)."""
        if self.project is not None and self.project.meta.get(key) != value:
            self.project.meta[key] = value
            self._extra_dirty = True
            self._changed()

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

    def _announce(self, changed: Changed) -> None:
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
        self._changed()

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

    def _changed(self) -> None:
        if not self._autosave.isActive():
            self._autosave.start()
        self._emit_dirty()

    def _emit_dirty(self) -> None:
        dirty = self.is_dirty()
        if dirty != self._was_dirty:
            self._was_dirty = dirty
            self.dirty_changed.emit(dirty)

    # ----- current image and class ---------------------------------------------------------

    def set_current(self, path: str) -> None:
        """Make `path` the image shown on the canvas."""
        if self.project is None or path == self.current_path:
            return
        if path and not self.project.has_image(path):
            raise KeyError(f"no image {path!r} in the project")
        self.current_path = path
        self.current_image_changed.emit(path)

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
            # Not an edit: the title stays clean and no autosave runs just from browsing; the
            # size goes to disk with the next save (it is cheap to learn again otherwise).
            rec.width, rec.height = width, height
            self.image_changed.emit(path)

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
