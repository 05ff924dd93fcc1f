"""Labels in and out of the open project: COCO files, the formats of app.annotations.formats,
and detection results.

Each import is one undo step pushed through the session (results, like auto-annotate's, stay
out of the history); each export is written by app.annotations and said in the status bar.
The reading, merging and writing are Qt-free (coco, coco_merge, formats, results_import); this
module only joins them to the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.annotations import formats
from app.annotations.coco import ExportSummary, ImportResult
from app.annotations.coco import export_coco as write_coco
from app.annotations.coco import import_coco as read_coco
from app.annotations.coco_merge import MergeImport
from app.annotations.results_import import read_results, results_to_proposals

if TYPE_CHECKING:
    from app.session import Session


def import_coco(session: Session, path: str | Path) -> str:
    """Merge a COCO file into the project as one undo step; return the readable report."""
    if session.project is None:
        raise ValueError("open an image folder before importing COCO annotations")
    return _merge(session, read_coco(Path(path), session.project.root), Path(path).name)


def import_labels(session: Session, format_id: str, path: str | Path) -> str:
    """Merge labels in a format of app.annotations.formats as one undo step; return the report."""
    if session.project is None:
        raise ValueError("open an image folder before importing labels")
    result = formats.import_labels(format_id, Path(path), session.project)
    return _merge(session, result, Path(path).name)


def _merge(session: Session, result: ImportResult, name: str) -> str:
    cmd = MergeImport(result)
    if session.push(cmd) is None:
        return result.report.summary()
    session.message.emit(f"Imported {name}: {cmd.added_boxes} boxes")
    project = session.project
    if not session.current_path and project.images:  # a folder whose images came in
        session.set_current(project.images[0].path)
    return cmd.report()


def import_results(session: Session, path: str | Path) -> str:
    """Add a COCO results file's detections as proposals (scores kept, for review, not boxes),
    as auto-annotate does; return the readable report."""
    if session.project is None:
        raise ValueError("open an image folder before importing detections")
    path = Path(path)
    found = results_to_proposals(session.project, read_results(path), f"results:{path.name}")
    for edit in found.edits:
        session.apply_outside_history(edit)
    session.message.emit(f"Imported {found.proposals} proposals from {path.name}")
    return found.summary()


def export_dataset(
    session: Session, format_id: str, target: str | Path, options: formats.ExportOptions
) -> formats.DatasetSummary:
    """Write the project in a format of app.annotations.formats; return what was written."""
    if session.project is None:
        raise ValueError("nothing to export: no folder is open")
    summary = formats.export_dataset(format_id, session.project, Path(target), options)
    session.message.emit(
        f"Exported {summary.images} images and {summary.annotations} boxes to {target}"
    )
    return summary


def export_coco(
    session: Session, path: str | Path, *, only_reviewed: bool = False
) -> ExportSummary:
    """Write the project as a COCO file (atomically); return what was written."""
    project = session.project
    if project is None:
        raise ValueError("nothing to export: no folder is open")
    unknown = {rec.path for rec in project.images if rec.size is None}
    summary = write_coco(project, Path(path), only_reviewed=only_reviewed)
    # The export read these sizes from the files: keep them.
    session.sizes_learned(p for p in unknown if project.image(p).size is not None)
    # The file name only: a full path does not fit the status bar beside its fields.
    text = f"Exported {summary.images} images and {summary.annotations} boxes to {Path(path).name}"
    if summary.skipped_images:
        text += f" ({len(summary.skipped_images)} unreadable images left out)"
    session.message.emit(text)
    return summary
