"""The project file: where it lives, atomic saves, loading with clear errors, autosave, recovery.

By default the project file is `<images>/.detr-studio/project.json`, so it travels with the
folder; when the folder is read-only it goes to a per-user data folder instead. The autosave
file sits beside the project file. A broken project file is never overwritten silently: a copy
named `project.json.broken-<time>` is kept before an error is raised.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from app.annotations.gcpause import paused_gc
from app.annotations.images import PROJECT_DIR_NAME, natural_key, scan_folder
from app.annotations.model import ImageRecord, Project
from app.annotations.project_format import FORMAT_VERSION, project_from_dict, project_to_dict
from detr_model.atomic_file import atomic_write_text

log = logging.getLogger(__name__)

PROJECT_FILE_NAME = "project.json"
AUTOSAVE_FILE_NAME = "autosave.json"
DATA_DIR_ENV = "DETR_STUDIO_DATA_DIR"
RECURSIVE_META_KEY = "recursive_scan"


class ProjectFileError(ValueError):
    """A project file that cannot be loaded; the message names the file and the kept copy."""


# ----- where the project file lives ----------------------------------------------------------


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
    """Return `<root>/.detr-studio/project.json`."""
    return Path(root) / PROJECT_DIR_NAME / PROJECT_FILE_NAME


def user_project_file(root: str | os.PathLike) -> Path:
    """Return the project file for `root` inside the per-user data folder."""
    absolute = os.path.abspath(root)
    digest = hashlib.sha1(absolute.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(absolute).name)[:40] or "root"
    return user_data_dir() / "projects" / f"{name}-{digest}" / PROJECT_FILE_NAME


def _can_write(folder: Path) -> bool:
    project_dir = folder / PROJECT_DIR_NAME
    if project_dir.is_dir():
        return os.access(project_dir, os.W_OK | os.X_OK)
    return os.access(folder, os.W_OK | os.X_OK)


def project_file_for(root: str | os.PathLike) -> Path:
    """Return where the project of image folder `root` is (or will be) saved.

    An existing project file wins (beside the images first, then the per-user one); otherwise
    beside the images when that folder is writable, else the per-user data folder.
    """
    root = Path(root)
    default, user = default_project_file(root), user_project_file(root)
    if default.exists():
        return default
    if user.exists():
        return user
    return default if _can_write(root) else user


def autosave_path(project_file: str | os.PathLike) -> Path:
    """Return the autosave file that belongs to a project file."""
    return Path(project_file).with_name(AUTOSAVE_FILE_NAME)


# ----- saving and loading --------------------------------------------------------------------


def _write(project: Project, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = json.dumps(
            project_to_dict(project), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the project cannot be written as JSON ({exc})") from exc
    atomic_write_text(path, text)


def save_project(project: Project, path: str | os.PathLike | None = None) -> Path:
    """Write the project file atomically and return its path (default: project_file_for)."""
    path = Path(path) if path is not None else project_file_for(project.root)
    _write(project, path)
    log.info("saved %s (%d images)", path, len(project.images))
    return path


def _keep_broken_copy(path: Path) -> Path | None:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    copy = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while copy.exists():
        copy = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        n += 1
    try:
        shutil.copy2(path, copy)
    except OSError as exc:
        log.error("%s: could not keep a copy of the broken file (%s)", path, exc)
        return None
    return copy


def _root_for(path: Path, data: dict) -> Path:
    if path.parent.name == PROJECT_DIR_NAME:
        return path.parent.parent  # beside the images: the folder may have moved
    stored = data.get("root")
    return Path(stored) if isinstance(stored, str) and stored else path.parent


def load_project(path: str | os.PathLike) -> Project:
    """Return the project stored in a project (or autosave) file.

    Raises FileNotFoundError when it does not exist, and ProjectFileError naming the file when
    it is damaged or from a newer version; a damaged file is first copied to
    `<name>.broken-<time>` so later saves cannot lose it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ProjectFileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        problem = f"not a text file ({exc.reason})"
    else:
        try:
            with paused_gc():
                data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError("the file holds no JSON object")
            version = data.get("version")
            if isinstance(version, int) and version > FORMAT_VERSION:
                raise ProjectFileError(
                    f"{path}: written by a newer DETR Studio (format {version}; this version "
                    f"reads up to {FORMAT_VERSION})"
                )
            with paused_gc():
                return project_from_dict(data, _root_for(path, data))
        except ProjectFileError:
            raise
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = f"not a valid project file ({type(exc).__name__}: {exc})"
    copy = _keep_broken_copy(path)
    kept = f"; a copy was kept as {copy.name}" if copy else ""
    raise ProjectFileError(f"{path}: {problem}{kept}")


# ----- autosave and recovery -----------------------------------------------------------------


def autosave(project: Project, project_file: str | os.PathLike | None = None) -> Path:
    """Write the autosave file beside the project file atomically and return its path."""
    target = project_file if project_file is not None else project_file_for(project.root)
    path = autosave_path(target)
    _write(project, path)
    return path


def discard_autosave(root_or_project_file: str | os.PathLike) -> None:
    """Delete the autosave (after a save); accepts the image folder or the project file."""
    given = Path(root_or_project_file)
    if given.is_dir():
        candidates = [default_project_file(given), user_project_file(given)]
    else:
        candidates = [given]
    for project_file in candidates:
        try:
            autosave_path(project_file).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("%s: could not remove the autosave (%s)", project_file, exc)


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _when(mtime_ns: int) -> str:
    return _dt.datetime.fromtimestamp(mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Recovery:
    """An autosave newer than the project file (or without any project file)."""

    autosave_file: Path
    project_file: Path
    autosave_time_ns: int
    project_time_ns: int | None

    def describe(self) -> str:
        """Return a sentence for the 'recover unsaved changes?' question."""
        when = _when(self.autosave_time_ns)
        if self.project_time_ns is None:
            return f"Unsaved work from {when} was found (the project was never saved)."
        return (
            f"Unsaved changes from {when} are newer than the project saved at "
            f"{_when(self.project_time_ns)}."
        )

    def load(self) -> Project:
        """Return the project stored in the autosave."""
        return load_project(self.autosave_file)


def find_recovery(root_or_project_file: str | os.PathLike) -> Recovery | None:
    """Return the autosave that is newer than its project file, or None.

    Leftover temp files of interrupted saves are never considered.
    """
    given = Path(root_or_project_file)
    project_file = project_file_for(given) if given.is_dir() else given
    auto = autosave_path(project_file)
    auto_time = _mtime_ns(auto)
    if auto_time is None:
        return None
    project_time = _mtime_ns(project_file)
    if project_time is not None and project_time >= auto_time:
        return None
    return Recovery(auto, project_file, auto_time, project_time)


@dataclass(frozen=True)
class Recovered:
    """A loaded project and the file it came from."""

    project: Project
    source: Path  # the file read (project or autosave)
    project_file: Path  # where the next save goes
    from_autosave: bool


def recover(root_or_project_file: str | os.PathLike) -> Recovered | None:
    """Return the newer of the project file and its autosave, loaded; None if neither exists.

    A damaged file falls back to the other one (its copy is kept, see load_project); when both
    are damaged, the project file's error is raised.
    """
    given = Path(root_or_project_file)
    project_file = project_file_for(given) if given.is_dir() else given
    auto = autosave_path(project_file)
    found = find_recovery(project_file)
    order = [(auto, True), (project_file, False)] if found else [(project_file, False)]
    if not found and auto.exists():
        order.append((auto, True))  # older autosave: only if the project file is unusable
    error: ProjectFileError | None = None
    for path, from_autosave in order:
        try:
            project = load_project(path)
        except FileNotFoundError:
            continue
        except ProjectFileError as exc:
            log.error("%s", exc)
            if not from_autosave or error is None:
                error = exc
            continue
        return Recovered(project, path, project_file, from_autosave)
    if error is not None:
        raise error
    return None


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
    paths = scan_folder(project.root, recursive=recursive)
    added = project.add_images(ImageRecord(path=p) for p in paths)
    if added:
        project.images.sort(key=lambda rec: natural_key(rec.path))
    return added
