"""An open project without Qt: where it opens from, what it imports, where it is saved, and
what happens when the disk refuses.

`ProjectDocument.open_folder` finds the folder's database (beside the images or in the per-user
folder), or imports an earlier version's `project.json`, or starts a new project from the
images; a read-only folder's project continues in the per-user folder; a damaged database is
kept as a copy and what is readable carries on. While open, `record()` sends each change to
the store. When writes fail, `rescue()` moves the project to the per-user folder; when even
that fails, the caller asks the user for another place (`save_as`). The user's work is always
somewhere, and every message says where.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.annotations import legacy_json, store
from app.annotations.db_file import read_database
from app.annotations.db_salvage import salvage
from app.annotations.db_schema import SchemaError
from app.annotations.images import is_image_name
from app.annotations.model import Project
from app.annotations.project_lock import ProjectLockedError
from app.annotations.project_store import ProjectStore, StoreStatus
from app.annotations.undo import Changed

NOTHING = Changed()  # a change set naming no image: settings and lists are compared anyway

log = logging.getLogger(__name__)

# Asked when an earlier version's autosave is newer than its project file; gets the question
# (both answers spelled out), returns True for Yes.
RecoverQuestion = Callable[[str], bool]
Durable = Callable[[int], None]
SLOW_DISK_S = 60.0  # closing waits this long for writes that are slow but not failing

__all__ = ["CloseResult", "ProjectDocument", "ProjectLockedError", "SaveError", "open_target"]


def open_target(path: str | os.PathLike) -> tuple[str, Path]:
    """Return what a dropped or named path is: ("folder" | "image" | "project" | "coco", path).

    A folder opens as a project; an image opens its folder at that image; a project database
    or an earlier version's project.json / autosave.json opens that project; any other .json
    is a COCO file. ValueError for anything else, FileNotFoundError when it does not exist.
    """
    path = Path(path).resolve()
    if path.is_dir():
        return "folder", path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if is_image_name(path.name):
        return "image", path
    legacy = (legacy_json.PROJECT_FILE_NAME, legacy_json.AUTOSAVE_FILE_NAME)
    if path.suffix.lower() == ".sqlite" or path.name in legacy:
        return "project", path
    if path.suffix.lower() == ".json":
        return "coco", path
    raise ValueError(f"{path.name}: not an image, folder, project or COCO file")


class SaveError(OSError):
    """The project could not be written where asked nor moved; the message says what to do."""


@dataclass(frozen=True)
class CloseResult:
    """Whether closing left every edit on disk, and where, if not where it was."""

    saved: bool
    message: str = ""


def _damaged(exc: BaseException, path: Path) -> bool:
    """Return True for damage worth salvaging (not a newer or foreign file: those stay)."""
    if isinstance(exc, SchemaError):
        return "an empty file" in str(exc) and path.stat().st_size == 0
    return isinstance(exc, sqlite3.DatabaseError)


class ProjectDocument:
    """The project in memory, the database it is written to, and the messages for the user."""

    def __init__(self, project: Project, project_store: ProjectStore) -> None:
        self.project = project
        self.store = project_store
        self.messages: list[str] = []  # what opening did, for the status bar
        self.warnings: list[str] = []  # what opening found wrong: the user must read these
        self._on_durable = project_store.writer.on_durable

    @property
    def path(self) -> Path:
        """Return the database file the project is written to."""
        return self.store.path

    # ----- opening -------------------------------------------------------------------------

    @classmethod
    def open_folder(
        cls,
        folder: str | os.PathLike,
        *,
        ask: RecoverQuestion | None = None,
        on_durable: Durable | None = None,
    ) -> ProjectDocument:
        """Open the project of an image folder (made or imported when there is none).

        Raises FileNotFoundError, ProjectLockedError (open in another window), ProjectFileError
        (a newer or foreign file) and OSError when no place to write the project exists.
        """
        root = Path(folder).resolve()
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: not a folder")
        return cls._open(root, store.project_file_for(root), ask, on_durable)

    @classmethod
    def open_file(
        cls,
        path: str | os.PathLike,
        *,
        ask: RecoverQuestion | None = None,
        on_durable: Durable | None = None,
    ) -> ProjectDocument:
        """Open a project database by its file (an earlier version's .json: its folder)."""
        path = Path(path).resolve()
        if path.suffix.lower() == ".json":
            return cls.open_folder(legacy_json.load_json(path).root, ask=ask, on_durable=on_durable)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such project file")
        return cls._open(None, path, ask, on_durable)

    @classmethod
    def _open(
        cls, root: Path | None, db: Path, ask: RecoverQuestion | None, on_durable: Durable | None
    ) -> ProjectDocument:
        messages: list[str] = []
        warnings: list[str] = []
        if db.parent.is_dir():
            store.remove_leftovers(db)
        name = root.name if root is not None else db.name
        if db.exists():
            doc = cls._open_database(db, root, warnings, on_durable)
        else:
            assert root is not None
            project = cls._import_legacy(root, ask, messages, warnings) or store.new_project(root)
            doc = cls(project, ProjectStore.create(db, project, name=name, on_durable=on_durable))
        if root is not None:
            doc.project.root = root
        added = store.add_new_images(doc.project) if doc.project.root.is_dir() else []
        if added:
            doc.record(Changed(image_list=True))
            messages.append(f"{len(added)} new images found in {doc.project.root.name}")
        doc.messages, doc.warnings = messages, warnings
        return doc

    @classmethod
    def _open_database(
        cls, db: Path, root: Path | None, warnings: list[str], on_durable: Durable | None
    ) -> ProjectDocument:
        name = root.name if root is not None else db.name
        if not store.can_write_database(db):
            return cls._continue_elsewhere(db, warnings, on_durable)
        try:
            project_store, project = ProjectStore.open(db, name=name, on_durable=on_durable)
        except ProjectLockedError:
            raise
        except (sqlite3.Error, ValueError, KeyError) as exc:
            error = store.database_error(db, exc)  # keeps a copy of the file
            if not _damaged(exc, db):
                raise error from exc
            log.error("%s", error)
            found = salvage(db, root or db.parent)
            if found is not None:
                project, what = found.project, found.describe()
            else:
                fallback = root or db.parent
                project = cls._import_legacy(fallback, None, [], []) or store.new_project(fallback)
                what = "nothing could be read; the project starts again from the folder's images"
            project_store = ProjectStore.create(db, project, name=name, on_durable=on_durable)
            warnings.append(f"{error}. {what[:1].upper()}{what[1:]}.")
        return cls(project, project_store)

    @classmethod
    def _continue_elsewhere(
        cls, db: Path, warnings: list[str], on_durable: Durable | None
    ) -> ProjectDocument:
        """A project in a folder we cannot write: read it, go on in the per-user folder."""
        try:
            read = read_database(db, lazy=False, read_only=True)
        except (sqlite3.Error, ValueError, KeyError) as exc:
            raise store.database_error(db, exc) from exc
        project = read.project
        target = store.user_project_file(project.root)
        generation = read.values.get("generation", 1)
        values = {
            "copied_from": str(db),
            "generation": (generation if type(generation) is int else 1) + 1,
        }
        project_store = ProjectStore.create(
            target, project, name=project.root.name, values=values, on_durable=on_durable
        )
        warnings.append(
            f"{db.parent} cannot be written: your changes are saved in {target} (the project "
            "in the folder stays as it was)"
        )
        return cls(project, project_store)

    @staticmethod
    def _import_legacy(
        root: Path, ask: RecoverQuestion | None, messages: list[str], warnings: list[str]
    ) -> Project | None:
        """Return the project of an earlier version's files in `root`, or None if none."""
        legacy = store.legacy_project_file(root)
        if legacy is None:
            return None
        found = legacy_json.find_recovery(legacy)
        prefer_autosave = True
        if found is not None and ask is not None:
            prefer_autosave = ask(found.describe())
        if found is not None and found.project_time_ns is None and not prefer_autosave:
            messages.append(f"Started from the images; {found.autosave_file} was left as it is")
            return None
        try:
            recovered = legacy_json.recover(legacy, prefer_autosave=prefer_autosave)
        except legacy_json.ProjectFileError as exc:
            warnings.append(f"{exc}. The project starts again from the folder's images")
            return None
        if recovered is None:
            return None
        messages.append(
            f"Imported {recovered.source.name} of an earlier version; it stays in "
            f"{recovered.source.parent} as a backup"
        )
        recovered.project.root = root
        return recovered.project

    # ----- while open ----------------------------------------------------------------------

    def record(self, changed: Changed = NOTHING) -> int:
        """Send what an edit changed to the database; return its sequence number."""
        return self.store.record(self.project, changed)

    def status(self) -> StoreStatus:
        """Return whether every recorded change is on disk."""
        return self.store.status()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every recorded change is on disk; True if it is."""
        return self.store.flush(timeout)

    def save(self, timeout: float = 10.0) -> tuple[Path, str]:
        """File → Save: every change on disk and the journal folded into the file.

        Returns (database path, message); the message is not empty when the project had to
        move to be saved. Raises SaveError when it could be saved nowhere.
        """
        try:
            self.store.checkpoint(timeout)  # StillWriting (slow, not failing) goes to the caller
            return self.path, ""
        except OSError as exc:
            message = self.rescue(str(exc))
            self.store.checkpoint(timeout)
            return self.path, message

    def save_as(self, path: str | os.PathLike) -> Path:
        """Write the project to another database file and go on there; return its path."""
        path = Path(path).resolve()
        if path == self.path.resolve():
            return self.save()[0]
        self._move_to(path, {"saved_as_from": str(self.path)})
        return path

    def rescue(self, reason: str) -> str:
        """After writes failed here: go on in the per-user folder; return what to tell the user.

        Raises SaveError when the project is there already or cannot be written there either.
        """
        target = store.user_project_file(self.project.root)
        old = self.path
        if target.resolve() == old.resolve():
            raise SaveError(f"{reason}. Choose another place with File → Save As…")
        try:
            self._move_to(target, {"moved_from": str(old)})  # generation + 1: see _move_to
        except (OSError, sqlite3.Error, ProjectLockedError) as exc:
            raise SaveError(
                f"{reason}. Moving the project to {target} failed too ({exc}). Choose another "
                "place with File → Save As…"
            ) from exc
        return f"Could not save in {old.parent} ({reason}). Your work is saved in {target} now."

    def _move_to(self, target: Path, values: dict) -> None:
        values = {**values, "generation": self.store.generation + 1}
        new = ProjectStore.create(
            target,
            self.project,
            name=self.project.root.name,
            values=values,
            on_durable=self._on_durable,
        )
        old, self.store = self.store, new
        old.abandon()  # what it never wrote is in the new file: written from memory
        log.info("project moved from %s to %s", old.path, target)

    def record_model_version(self, key: str, path: str, created_at: str, info: dict) -> int:
        """Remember a fine-tuned model (file and metrics) in the project database."""
        return self.store.record_model_version(key, path, created_at, info)

    # ----- closing -------------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> CloseResult:
        """Write everything, stop the store and release the lock.

        When the writes fail, the project is moved to the per-user folder first. If that fails
        too, nothing is stopped: `saved` is False, the message says why, and the caller can
        try `save_as` or `discard`.
        """
        message = ""
        if not self._flush_while_working(timeout):
            reason = self.store.status().error or f"{self.path}: saving did not finish"
            try:
                message = self.rescue(reason)
            except SaveError as exc:
                return CloseResult(False, str(exc))
            if not self.store.flush(timeout):
                return CloseResult(False, self.store.status().error or "saving did not finish")
        self.store.close(timeout)
        return CloseResult(True, message)

    def _flush_while_working(self, timeout: float) -> bool:
        """Wait for the writes; a slow disk that is not failing gets SLOW_DISK_S more."""
        if self.store.flush(timeout):
            return True
        if self.store.status().error is None:
            log.warning("%s: writing is slow; waiting up to %.0f s more", self.path, SLOW_DISK_S)
            return self.store.flush(SLOW_DISK_S)
        return False

    def discard(self) -> None:
        """Stop without writing what is not on disk yet (the user chose to lose it)."""
        self.store.abandon()
