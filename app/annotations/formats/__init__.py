"""Label formats other tools read and write: COCO JSON, YOLO (Ultralytics), Pascal VOC XML and
labelme JSON. Each reader returns the ImportResult that MergeImport merges as one undo step;
each writer takes an ExportOptions (only reviewed, split) and writes atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.annotations.coco_import import ImportResult
from app.annotations.formats import coco_files, labelme, voc, yolo
from app.annotations.formats.reading import LabelImportError
from app.annotations.formats.splits import SplitSpec
from app.annotations.formats.writing import DatasetSummary, ExportOptions
from app.annotations.model import Project

__all__ = [
    "FORMATS",
    "DatasetSummary",
    "ExportOptions",
    "LabelFormat",
    "LabelImportError",
    "SplitSpec",
    "export_dataset",
    "get_format",
    "import_labels",
]


@dataclass(frozen=True)
class LabelFormat:
    """One format: its id, the name users know, and whether it is a file or a folder."""

    id: str
    name: str
    folder: bool  # True: import and export pick a folder; False: a .json file
    read: Callable[[Path, Project], ImportResult]
    write: Callable[[Project, Path, ExportOptions], DatasetSummary]
    description: str


FORMATS: tuple[LabelFormat, ...] = (
    LabelFormat(
        "coco", "COCO JSON", False, coco_files.read, coco_files.write,
        "One JSON file; with splits, one file per split (name_train.json, name_val.json).",
    ),
    LabelFormat(
        "yolo", "YOLO (Ultralytics)", True, yolo.read, yolo.write,
        "images/ and labels/ folders (one per split) with data.yaml; images are hard-linked "
        "or copied.",
    ),
    LabelFormat(
        "voc", "Pascal VOC XML", True, voc.read, voc.write,
        "Annotations/ (one XML per image), JPEGImages/, ImageSets/Main/<split>.txt.",
    ),
    LabelFormat(
        "labelme", "labelme JSON", True, labelme.read, labelme.write,
        "Each image with its labelme JSON beside it (one subfolder per split).",
    ),
)  # fmt: skip


def get_format(format_id: str) -> LabelFormat:
    """Return the format with this id (KeyError naming the known ones if unknown)."""
    for fmt in FORMATS:
        if fmt.id == format_id:
            return fmt
    raise KeyError(
        f"unknown label format {format_id!r} (known: {', '.join(f.id for f in FORMATS)})"
    )


def import_labels(format_id: str, path: str | os.PathLike, project: Project) -> ImportResult:
    """Return what `path` holds in that format, for MergeImport (nothing is changed yet)."""
    return get_format(format_id).read(Path(path), project)


def export_dataset(
    format_id: str, project: Project, target: str | os.PathLike, options: ExportOptions
) -> DatasetSummary:
    """Write the project in that format to `target` and return what was written."""
    return get_format(format_id).write(project, Path(target), options)


def suggested_target(project_root: str | os.PathLike, format_id: str) -> Path:
    """Return where an export goes unless the user says otherwise.

    Folders go beside the image folder (``photos_yolo``), so a later scan of the image folder
    does not list the exported copies; COCO goes into it as ``annotations.json``.
    """
    root = Path(project_root)
    if not get_format(format_id).folder:
        return root / "annotations.json"
    return root.parent / f"{root.name}_{format_id}"
