"""The session: the one QObject that owns the Project and its undo history.

Every edit goes through `push()` (an undoable command from app.annotations.commands); the
session turns each command's change description into fine-grained signals and hands it to the
open `ProjectDocument`, whose store makes it durable within milliseconds (app/session_saver.py).
Widgets read the project and call the session's typed edits (app/session_edits.py); they never
change the project or build commands themselves. What opening a path does is decided without
Qt in app.annotations.opening; imports and exports are app/project_transfer.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from app.annotations.db_rows import meta_text
from app.annotations.document import CloseResult, ProjectDocument, RecoverQuestion, SaveError
from app.annotations.model import Category, ImageRecord, Project
from app.annotations.opening import (
    LAST_IMAGE_KEY,
    OpenPlan,
    folder_plan,
    plan_open,
    start_image,
)
from app.annotations.undo import Changed, Command, UndoStack
from app.project_transfer import import_coco
from app.session_edits import SessionEdits
from app.session_saver import SessionSaver

log = logging.getLogger(__name__)


class Session(SessionEdits, QObject):
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
        self._open(folder_plan(folder), recover)

    def open_path(self, path: str | Path, *, recover: RecoverQuestion | None = None) -> str:
        """Open what the user dropped or named (see `opening.plan_open`); return a report for
        the user ("" if none) of the COCO file it imported."""
        plan = plan_open(path, project_open=self.project is not None)
        self._open(plan, recover)
        if plan.image:
            self.set_current(plan.image)
        return import_coco(self, plan.coco) if plan.coco else ""

    def _open(self, plan: OpenPlan, recover: RecoverQuestion | None) -> None:
        if plan.opens:
            self._leave()
            self._show(plan.open(recover))

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
        if project is not None and (start := start_image(project)):
            self.set_current(start)
        else:
            self.current_image_changed.emit("")
        if document is not None:
            for line in document.messages + document.warnings:
                self.message.emit(line)
            self.saver.watch()

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

    def sizes_learned(self, paths: Iterable[str]) -> None:
        """Store the image sizes an export or import read from the files (not an edit)."""
        if learned := frozenset(paths):
            self.saver.defer(Changed(images=learned))

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
