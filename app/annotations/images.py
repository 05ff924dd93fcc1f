"""Image folders: the scan that lists image files without opening them, in natural order.

Reading a file (header size, decoding, limits, errors) is `detr_model.image_file`'s, the one
reader the app and the model share.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from detr_model.image_file import is_image_name

log = logging.getLogger(__name__)

PROJECT_DIR_NAME = ".detr-studio"

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str) -> tuple:
    """Return a sort key that orders 'img2' before 'img10', folder by folder, ignoring case."""
    parts = []
    for component in path.split("/"):
        pieces = _DIGITS.split(component.casefold())
        parts.append(tuple(int(p) if i % 2 else p for i, p in enumerate(pieces)))
    return (tuple(parts), path)


def scan_folder(
    root: str | os.PathLike, *, recursive: bool = False, sort: bool = True
) -> list[str]:
    """Return the image files under root as relative posix paths, sorted naturally (unless
    `sort` is False: 100,000 names take a second to sort, and a caller may need only a few).

    Only names are looked at (no file is opened). Hidden files and folders, including our own
    .detr-studio folder, are skipped; symlinked folders are not followed. Unreadable subfolders
    are logged and skipped; an unreadable root raises OSError naming it.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    found: list[str] = []
    pending: list[tuple[str, str]] = [(os.fspath(root), "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith(".") or name == PROJECT_DIR_NAME:
                        continue
                    if is_image_name(name):
                        if entry.is_file():
                            found.append(prefix + name)
                    elif recursive and entry.is_dir(follow_symlinks=False):
                        pending.append((entry.path, f"{prefix}{name}/"))
        except OSError as exc:
            if not prefix:
                raise OSError(f"{root}: cannot list the folder ({exc.strerror or exc})") from exc
            log.warning("%s: skipped, cannot list (%s)", folder, exc)
    if sort:
        found.sort(key=natural_key)
    return found
