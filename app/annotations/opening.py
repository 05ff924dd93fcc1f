"""What opening a path does, without Qt: which project opens, which image shows first, and
which COCO file is imported.

The session follows the plan: it leaves the open project (written to disk) only when another
one opens, opens the `ProjectDocument`, shows `start_image`, and imports the COCO file through
the undo history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.annotations.document import ProjectDocument, RecoverQuestion, open_target
from app.annotations.model import Project

LAST_IMAGE_KEY = "last_image"  # project.meta: the image shown when the project was left


@dataclass(frozen=True)
class OpenPlan:
    """What to open (at most one of folder and project_file), show and import."""

    folder: Path | None = None  # an image folder: its project opens
    project_file: Path | None = None  # a project database (or an earlier project.json)
    image: str | None = None  # the image to show once open (relative path)
    coco: Path | None = None  # a COCO file to merge into the project

    @property
    def opens(self) -> bool:
        """Return True when the plan opens a project (the open one is left first)."""
        return self.folder is not None or self.project_file is not None

    def open(self, ask: RecoverQuestion | None = None) -> ProjectDocument:
        """Open the planned project (ProjectLockedError when another window has it)."""
        if self.project_file is not None:
            return ProjectDocument.open_file(self.project_file, ask=ask)
        assert self.folder is not None, "the plan opens no project"
        return ProjectDocument.open_folder(self.folder, ask=ask)


def folder_plan(folder: str | os.PathLike) -> OpenPlan:
    """Return the plan opening an image folder's project (FileNotFoundError if not a folder)."""
    root = Path(folder).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    return OpenPlan(folder=root)


def plan_open(path: str | os.PathLike, *, project_open: bool) -> OpenPlan:
    """Return what opening a dropped or named path does (see `document.open_target`).

    A folder opens its project; an image opens its folder at that image; a project file opens
    that project; a COCO file is imported into the open project, or, when none is open, into
    its own folder's project.
    """
    kind, target = open_target(path)
    if kind == "folder":
        return OpenPlan(folder=target)
    if kind == "project":
        return OpenPlan(project_file=target)
    if kind == "image":
        return OpenPlan(folder=target.parent, image=target.name)
    return OpenPlan(folder=None if project_open else target.parent, coco=target)


def start_image(project: Project) -> str | None:
    """Return the image to show when the project opens: the one shown when it was left, else
    the first (None without images)."""
    last = project.meta.get(LAST_IMAGE_KEY)
    if isinstance(last, str) and project.has_image(last):
        return last
    return project.images[0].path if project.images else None
