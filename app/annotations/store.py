"""Where a project lives, and reading or writing a whole project database at once.

A project is a SQLite database, `<images>/.detr-studio/project.sqlite`, so it travels with the
folder; when the folder is read-only it goes to a per-user data folder instead. While a project
is open, `project_store.ProjectStore` writes each edit into it (and `document` decides where
to open, import or move it). Earlier versions kept `project.json` and `autosave.json` in the same
folder; they are imported once (`legacy_json`) and left alone as a backup.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import sys
from pathlib import Path

from app.annotations.db_file import read_database, write_database
from app.annotations.db_schema import SchemaError
from app.annotations.images import PROJECT_DIR_NAME, natural_key, scan_folder
from app.annotations.legacy_json import (
    AUTOSAVE_FILE_NAME,
    PROJECT_FILE_NAME,
    ProjectFileError,
    keep_broken_copy,
    load_json,
)
from app.annotations.model import ImageRecord, Project
from app.annotations.project_lock import ProjectLock
from detr_model.atomic_file import remove_stale_temp_files

log = logging.getLogger(__name__)

__all__ = [
    "AUTOSAVE_FILE_NAME",
    "DATABASE_FILE_NAME",
    "DATA_DIR_ENV",
    "PROJECT_FILE_NAME",
    "ProjectFileError",
    "add_new_images",
    "database_error",
    "default_project_file",
    "load_project",
    "new_project",
    "project_file_for",
    "save_project",
    "user_data_dir",
    "user_project_file",
]

DATABASE_FILE_NAME = "project.sqlite"
DATA_DIR_ENV = "DETR_STUDIO_DATA_DIR"
RECURSIVE_META_KEY = "recursive_scan"
JOURNAL_SUFFIXES = ("-wal", "-shm")
STALE_TEMP_S = 3600.0  # temp files of saves killed this long ago are removed at open


# ----- where the project lives ---------------------------------------------------------------


def user_data_dir() -> Path:
    """Return the per-user folder for projects of read-only image folders."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "detr-studio"


def default_project_file(root: str | os.PathLike) -> Path:
    """Return `<root>/.detr-studio/project.sqlite`."""
    return Path(root) / PROJECT_DIR_NAME / DATABASE_FILE_NAME


def user_project_file(root: str | os.PathLike) -> Path:
    """Return the project database for `root` inside the per-user data folder."""
    absolute = os.path.abspath(root)
    digest = hashlib.sha1(absolute.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(absolute).name)[:40] or "root"
    return user_data_dir() / "projects" / f"{name}-{digest}" / DATABASE_FILE_NAME


def can_write(folder: Path) -> bool:
    """Return True when a project database could be written in `folder/.detr-studio`."""
    project_dir = folder / PROJECT_DIR_NAME
    if project_dir.is_dir():
        return os.access(project_dir, os.W_OK | os.X_OK)
    return os.access(folder, os.W_OK | os.X_OK)


def can_write_database(database: Path) -> bool:
    """Return True when an existing database and its folder can be written."""
    folder_ok = os.access(database.parent, os.W_OK | os.X_OK)
    return folder_ok and (not database.exists() or os.access(database, os.W_OK))


def last_change_ns(database: Path) -> int:
    """Return the newest modification time of a database and its journal (0 if absent)."""
    times = []
    for name in (str(database), f"{database}-wal"):
        try:
            info = os.stat(name)
        except OSError:
            continue
        if info.st_size or name == str(database):  # an empty journal is a reader's, not a change
            times.append(info.st_mtime_ns)
    return max(times, default=0)


def project_file_for(root: str | os.PathLike) -> Path:
    """Return where the project database of image folder `root` is (or will be).

    An existing database wins: beside the images, or the per-user one. When both exist, the
    one of the higher generation (a project moved to the per-user folder because the folder
    could not be written is one generation on), then the one changed last. Otherwise beside
    the images when that folder is writable, else the per-user data folder.
    """
    root = Path(root)
    default, user = default_project_file(root), user_project_file(root)
    existing = [p for p in (default, user) if p.exists()]
    if len(existing) == 2:
        return max(existing, key=lambda p: (database_generation(p), last_change_ns(p)))
    if existing:
        return existing[0]
    return default if can_write(root) else user


def database_generation(database: Path) -> int:
    """Return how many moves a database is from the project's first file (0 if unreadable)."""
    try:
        # immutable: no journal files appear just from looking (the value is set at creation,
        # so it is in the main file); this must not change which copy looks newer.
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            row = conn.execute("SELECT value FROM project WHERE key = 'generation'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    value = row[0] if row else "1"
    return int(value) if value.isdigit() else 0


def legacy_project_file(root: str | os.PathLike) -> Path | None:
    """Return the `project.json` (or lone `autosave.json`) an earlier version left, if any."""
    root = Path(root)
    for folder in (root / PROJECT_DIR_NAME, user_project_file(root).parent):
        project_file = folder / PROJECT_FILE_NAME
        if project_file.exists() or (folder / AUTOSAVE_FILE_NAME).exists():
            return project_file
    return None


def remove_leftovers(database: Path) -> int:
    """Delete temp files of killed saves beside a database (older than an hour); return count."""
    removed = 0
    for name in (database.name, PROJECT_FILE_NAME, AUTOSAVE_FILE_NAME):
        removed += remove_stale_temp_files(database.with_name(name), older_than_s=STALE_TEMP_S)
    if removed:
        log.info("%s: removed %d temp files of interrupted saves", database.parent, removed)
    return removed


# ----- whole projects ------------------------------------------------------------------------


def database_error(path: Path, exc: BaseException) -> ProjectFileError:
    """Return the error for a database that cannot be read, after keeping a copy of it."""
    if isinstance(exc, sqlite3.DatabaseError):
        problem = f"damaged or not a database ({exc})"
    elif isinstance(exc, SchemaError):
        problem = str(exc)
    else:
        problem = f"not a valid project database ({type(exc).__name__}: {exc})"
    copy = keep_broken_copy(path, JOURNAL_SUFFIXES) if path.exists() else None
    kept = f"; a copy was kept as {copy.name}" if copy else ""
    return ProjectFileError(f"{path}: {problem}{kept}")


def load_project(path: str | os.PathLike) -> Project:
    """Return the whole project stored in a database (or an earlier version's JSON file).

    Reads without taking the project lock (a snapshot of the last committed state). Raises
    FileNotFoundError, or ProjectFileError naming the file (a copy of a damaged one is kept).
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        return load_json(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such project file")
    try:
        project = read_database(path, lazy=False, read_only=True).project
    except (sqlite3.Error, ValueError, KeyError) as exc:
        raise database_error(path, exc) from exc
    return project


def save_project(project: Project, path: str | os.PathLike | None = None) -> Path:
    """Write the whole project as a new database (replacing the file); return its path.

    Default: project_file_for(project.root). Refused with ProjectLockedError while a window
    has that project open; a failure leaves the old file as it was.
    """
    path = Path(path) if path is not None else project_file_for(project.root)
    with ProjectLock(path, project.root.name):
        write_database(path, project)
    log.info("saved %s (%d images)", path, len(project.images))
    return path


# ----- keeping the image list in step with the folder ----------------------------------------


def new_project(root: str | os.PathLike, *, recursive: bool = False) -> Project:
    """Return a fresh project listing the images of `root` (no file is written)."""
    project = Project(root=Path(root), meta={RECURSIVE_META_KEY: recursive})
    add_new_images(project)
    return project


def add_new_images(project: Project, *, recursive: bool | None = None) -> list[ImageRecord]:
    """Add images found in the folder but not yet listed; return the added records.

    Images that vanished from the folder keep their annotations. `recursive` defaults to the
    project's `meta["recursive_scan"]`. The list stays in natural path order.
    """
    if recursive is None:
        recursive = bool(project.meta.get(RECURSIVE_META_KEY, False))
    # Reopening a 100,000-image folder usually finds nothing new: compare names first, sort
    # and build records only for what is new.
    listed = {rec.path for rec in project.images}
    new = [p for p in scan_folder(project.root, recursive=recursive, sort=False) if p not in listed]
    if not new:
        return []
    new.sort(key=natural_key)
    added = project.add_images(ImageRecord(path=p) for p in new)
    project.images.sort(key=lambda rec: natural_key(rec.path))
    return added
