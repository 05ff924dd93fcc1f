"""Project files of earlier versions: `project.json` and its `autosave.json`, read for import.

Before the database, a project was one JSON file rewritten whole on save, with an autosave
beside it. Opening such a folder imports the newer usable one of the two into a database once;
both files stay as they are, as a backup. Writing JSON is kept for the benchmark that compares
the two stores, and for tests that make old projects.

A damaged file never escapes as OverflowError, RecursionError or a NaN that loads: each becomes
ProjectFileError naming the file, after a copy `<name>.broken-<time>` is kept.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from app.annotations.gcpause import paused_gc
from app.annotations.images import PROJECT_DIR_NAME
from app.annotations.model import Project
from app.annotations.project_format import FORMAT_VERSION, project_from_dict, project_to_dict
from detr_model.atomic_file import atomic_write_text

log = logging.getLogger(__name__)

PROJECT_FILE_NAME = "project.json"
AUTOSAVE_FILE_NAME = "autosave.json"


class ProjectFileError(ValueError):
    """A project file that cannot be loaded; the message names the file and the kept copy."""


def autosave_path(project_file: str | os.PathLike) -> Path:
    """Return the autosave file that belongs to a project file."""
    return Path(project_file).with_name(AUTOSAVE_FILE_NAME)


# ----- writing (benchmark and tests) ---------------------------------------------------------


def save_json(project: Project, path: str | os.PathLike) -> Path:
    """Write a project as a version-1 JSON file atomically (as earlier versions saved)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        text = json.dumps(
            project_to_dict(project), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: the project cannot be written as JSON ({exc})") from exc
    atomic_write_text(path, text)
    return path


# ----- reading -------------------------------------------------------------------------------


def keep_broken_copy(path: Path, extra_suffixes: tuple[str, ...] = ()) -> Path | None:
    """Copy a damaged file to `<name>.broken-<time>` (with its side files); return the copy."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    copy = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while copy.exists():
        copy = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        n += 1
    try:
        shutil.copy2(path, copy)
        for suffix in extra_suffixes:
            side = Path(f"{path}{suffix}")
            if side.exists():
                shutil.copy2(side, f"{copy}{suffix}")
    except OSError as exc:
        log.error("%s: could not keep a copy of the broken file (%s)", path, exc)
        return None
    return copy


def _root_for(path: Path, data: dict) -> Path:
    if path.parent.name == PROJECT_DIR_NAME:
        return path.parent.parent  # beside the images: the folder may have moved
    stored = data.get("root")
    return Path(stored) if isinstance(stored, str) and stored else path.parent


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def load_json(path: str | os.PathLike) -> Project:
    """Return the project stored in a JSON project (or autosave) file.

    Raises FileNotFoundError when it does not exist, and ProjectFileError naming the file when
    it is damaged or from a newer version; a damaged file is first copied to
    `<name>.broken-<time>`.
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
                data = json.loads(text, parse_constant=_refuse_constant)
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
        except RecursionError:
            problem = "not a valid project file (nested too deeply)"
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            problem = f"not a valid project file ({type(exc).__name__}: {exc})"
    copy = keep_broken_copy(path)
    kept = f"; a copy was kept as {copy.name}" if copy else ""
    raise ProjectFileError(f"{path}: {problem}{kept}")


# ----- which of the two files ----------------------------------------------------------------


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _when(mtime_ns: int) -> str:
    return _dt.datetime.fromtimestamp(mtime_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Recovery:
    """An autosave newer than its project file (or without any project file)."""

    autosave_file: Path
    project_file: Path
    autosave_time_ns: int
    project_time_ns: int | None

    def describe(self) -> str:
        """Return the question to ask, both answers spelled out (Yes: the autosave)."""
        when = _when(self.autosave_time_ns)
        if self.project_time_ns is None:
            return (
                f"This folder has work from {when} that was never saved with File → Save "
                f"({self.autosave_file.name}).\n\nYes imports it. No starts from the folder's "
                "images without it. The file stays where it is either way."
            )
        return (
            f"This folder has unsaved changes from {when} ({self.autosave_file.name}), newer "
            f"than the project saved at {_when(self.project_time_ns)} "
            f"({self.project_file.name}).\n\nYes imports the unsaved changes. No imports the "
            "saved project. Both files stay where they are either way."
        )

    def load(self) -> Project:
        """Return the project stored in the autosave."""
        return load_json(self.autosave_file)


def find_recovery(project_file: str | os.PathLike) -> Recovery | None:
    """Return the autosave beside `project_file` when it is newer than it, else None."""
    project_file = Path(project_file)
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
    """A loaded legacy project and the file it came from."""

    project: Project
    source: Path  # the file read (project or autosave)
    from_autosave: bool


def recover(project_file: str | os.PathLike, *, prefer_autosave: bool = True) -> Recovered | None:
    """Return the newer usable one of a project file and its autosave; None if neither exists.

    With `prefer_autosave` False a newer autosave is used only when the project file is
    unusable. A damaged file falls back to the other one (its copy is kept); when both are
    damaged, the project file's error is raised.
    """
    project_file = Path(project_file)
    auto = autosave_path(project_file)
    found = find_recovery(project_file)
    if found and prefer_autosave:
        order = [(auto, True), (project_file, False)]
    else:
        order = [(project_file, False), (auto, True)]
    error: ProjectFileError | None = None
    for path, from_autosave in order:
        try:
            project = load_json(path)
        except FileNotFoundError:
            continue
        except ProjectFileError as exc:
            log.error("%s", exc)
            if not from_autosave or error is None:
                error = exc
            continue
        return Recovered(project, path, from_autosave)
    if error is not None:
        raise error
    return None
