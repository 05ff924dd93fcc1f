"""Recognising a folder that holds YOLO, Pascal VOC or labelme labels (for drag and drop)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from app.annotations.formats.reading import LabelImportError, list_files
from app.annotations.formats.yolo import CLASSES_TXT, find_names_file

_SNIFF_BYTES = 4096
_SNIFF_FILES = 5  # a few files decide; reading every one would be the import itself


@dataclass(frozen=True)
class DetectedLabels:
    """A label layout found in a folder: its format and how many label files it has."""

    folder: Path
    format_id: str
    files: int

    def describe(self) -> str:
        """Return e.g. "120 YOLO label files"."""
        from app.annotations.formats import get_format  # the registry imports this module

        return f"{self.files} {get_format(self.format_id).name} label files"


def _head(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(_SNIFF_BYTES).decode("utf-8", "ignore")
    except OSError:
        return ""


def _looks_like(files: list[Path], marker: str) -> bool:
    return any(marker in _head(f) for f in files[:_SNIFF_FILES])


def detect_labels(folder: str | os.PathLike) -> DetectedLabels | None:
    """Return the label layout `folder` holds (the format with most files), or None.

    YOLO needs a data.yaml/classes.txt or a labels/ folder with .txt files; VOC needs XML
    files whose root is <annotation>; labelme needs JSON files with a "shapes" list. Only a
    few files are opened, so a folder of 10,000 images is recognised in milliseconds.
    """
    folder = Path(folder)
    try:
        files = list_files(folder, suffix="")  # every file; one walk for the three formats
    except LabelImportError:
        return None
    by_suffix: dict[str, list[Path]] = {".txt": [], ".xml": [], ".json": []}
    for f in files:
        group = by_suffix.get(f.suffix.lower())
        if group is not None:
            group.append(f)
    found: list[DetectedLabels] = []
    labels = [f for f in by_suffix[".txt"] if "labels" in f.relative_to(folder).parts]
    if not labels and find_names_file(folder) is not None:
        labels = [f for f in by_suffix[".txt"] if f.name != CLASSES_TXT]
    if labels:
        found.append(DetectedLabels(folder, "yolo", len(labels)))
    if by_suffix[".xml"] and _looks_like(by_suffix[".xml"], "<annotation"):
        found.append(DetectedLabels(folder, "voc", len(by_suffix[".xml"])))
    if by_suffix[".json"] and _looks_like(by_suffix[".json"], '"shapes"'):
        found.append(DetectedLabels(folder, "labelme", len(by_suffix[".json"])))
    return max(found, key=lambda d: d.files, default=None)


def opens_first(folder: str | os.PathLike, project_root: str | os.PathLike | None) -> bool:
    """Return True when importing `folder`'s labels should first open it as the project.

    Labels inside the open project's folder merge into it; any other folder becomes the
    project (as a dropped folder always has), and its labels go there.
    """
    if project_root is None:
        return True
    folder_abs, root_abs = os.path.abspath(folder), os.path.abspath(project_root)
    return not (folder_abs == root_abs or folder_abs.startswith(root_abs + os.sep))
